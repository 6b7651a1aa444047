"""Time `bsarchive import twarc` on synthetic twarc2 flattened lines, and one FTS query.

Writes N (default 1,000,000; ``--tweets N``) lines shaped like `twarc2 flatten` output (the
generator of bench_twarc_parse.py: one in five a retweet with its original embedded) to a
temporary file, runs the real CLI in a child process, and prints tweets per second, the
child's peak RSS (os.wait4) and the time of one full-text query over the result. Issue 8
targets: >= 20,000 tweets/s, < 300 MB, query < 100 ms. No assertions.

    .venv/bin/python bench/bench_import.py [--tweets N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_twarc_parse import write_lines  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tweets", type=int, default=1_000_000)
    count = parser.parse_args().tweets
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / "flat.jsonl", Path(tmp) / "event.db"
        write_lines(path, count)
        began = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "bsarchive", "import", "twarc", str(path), "--db", str(db)],
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - began
        summary = child.stderr.read().decode().strip() if child.stderr else ""
        with sqlite3.connect(db) as conn:
            posts, boosts = conn.execute(
                "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM boosts)"
            ).fetchone()
            timings = {}
            for query in ("hackney AND funding", "tea"):
                t0 = time.perf_counter()
                conn.execute(
                    "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? ORDER BY rank LIMIT 20",
                    (query,),
                ).fetchall()
                timings[query] = (time.perf_counter() - t0) * 1000
        size = db.stat().st_size
    print(summary)
    print(
        f"{count:,} lines -> {posts:,} posts, {boosts:,} boosts in {elapsed:.1f} s: "
        f"{count / elapsed:,.0f} tweets/s (exit {os.waitstatus_to_exitcode(status)}); "
        f"peak RSS {usage.ru_maxrss / 1024:.0f} MB; archive {size / 1e6:.0f} MB"
    )
    for query, ms in timings.items():
        print(f"FTS query {query!r} (top 20 by rank): {ms:.0f} ms")


if __name__ == "__main__":
    main()
