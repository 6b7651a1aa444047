"""Time `bsarchive import twarc` on synthetic twarc2 lines against the floor and a peer.

Writes N (default 1,000,000; ``--tweets N``) lines shaped like `twarc2 flatten` output (the
generator of bench_twarc_parse.py: one in five a retweet with its original embedded, words
from a Zipf-like vocabulary) to a temporary file, then times, each in its own process on a
fresh database:

- bsarchive: ``bsarchive import twarc FILE`` (posts, boosts, authors, tags, links,
  sightings, raw JSON, FTS index), with its peak RSS (os.wait4);
- the floor: the simplest code doing the same reading and writing: orjson per line, one
  row (uri, created_at, author, text, raw line) per tweet into one table with a unique
  key, ``executemany`` in batches, and an FTS5 index over the text;
- the peer: ``sqlite-utils insert DB tweets FILE --nl`` then ``sqlite-utils enable-fts``
  (what a researcher would type to get twarc output into SQLite and search it).

Then times `bsarchive search` (Store.search: top 20 with snippets) over bsarchive's
archive: a rare pair, a word in ~1% of tweets, one in ~7%, and the event hashtag, which is
in every tweet (too many to rank: the newest come first). Issue 8 targets: >= 20,000
tweets/s, < 300 MB, query < 100 ms. No assertions.

    .venv/bin/python bench/bench_import.py [--tweets N]
"""

from __future__ import annotations

import argparse
import compileall
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_twarc_parse import write_lines  # noqa: E402

from bsarchive.store import Store  # noqa: E402

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parent.parent / "src" / "bsarchive"

FLOOR = r"""
import sqlite3, sys, orjson
path, db = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA synchronous = NORMAL")
conn.execute("CREATE TABLE tweets (id INTEGER PRIMARY KEY, uri TEXT UNIQUE, created_at TEXT,"
             " author TEXT, text TEXT, raw TEXT)")
conn.execute("CREATE VIRTUAL TABLE tweets_fts USING fts5(text, content='tweets',"
             " content_rowid='id')")
rows = []

def flush():
    conn.execute("BEGIN")
    last = conn.execute("SELECT coalesce(max(id), 0) FROM tweets").fetchone()[0]
    conn.executemany("INSERT OR IGNORE INTO tweets (uri, created_at, author, text, raw)"
                     " VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO tweets_fts (rowid, text) SELECT id, text FROM tweets"
                 " WHERE id > ?", (last,))
    conn.execute("COMMIT")
    rows.clear()

with open(path, "rb") as lines:
    for line in lines:
        t = orjson.loads(line)
        user = t["author"]["username"]
        rows.append((f"https://twitter.com/{user}/status/{t['id']}", t["created_at"], user,
                     t["text"], line.decode()))
        if len(rows) >= 10000:
            flush()
flush()
"""


def _run(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of one child process."""
    began = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and child.stderr:
        print(f"  ! {cmd[0]} exit {code}: {child.stderr.read().decode()[-300:]}")
    return elapsed, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tweets", type=int, default=1_000_000)
    count = parser.parse_args().tweets
    # Time the tool as installed (pip byte-compiles it), not a source tree recompiled on
    # every start when PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(str(SRC), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / "flat.jsonl", Path(tmp) / "event.db"
        write_lines(path, count)
        ours, rss, code = _run(
            [sys.executable, "-m", "bsarchive", "import", "twarc", str(path), "--db", str(db)]
        )
        floor_db = str(Path(tmp) / "floor.db")
        floor, floor_rss, _ = _run([sys.executable, "-c", FLOOR, str(path), floor_db])
        peer_db = str(Path(tmp) / "peer.db")
        utils = str(BIN / "sqlite-utils")
        peer, peer_rss, _ = _run([utils, "insert", peer_db, "tweets", str(path), "--nl"])
        fts, _, _ = _run([utils, "enable-fts", peer_db, "tweets", "text"])
        with sqlite3.connect(db) as conn:
            posts, boosts = conn.execute(
                "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM boosts)"
            ).fetchone()
            timings = {}
            with Store(db, readonly=True) as store:  # what `bsarchive search` runs
                for query in ("hackney AND funding", "tea", "open", "bsnopen"):
                    t0 = time.perf_counter()
                    found = store.search(query, limit=20)
                    ms = (time.perf_counter() - t0) * 1000
                    hits = conn.execute(
                        "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", (query,)
                    ).fetchone()[0]
                    ranked = "ranked" if found and found[0].rank is not None else "newest first"
                    timings[query] = (ms, hits, ranked)
        size = db.stat().st_size
    print(f"{count:,} twarc2 lines -> {posts:,} posts, {boosts:,} boosts (exit {code})")
    print(f"bsarchive       {ours:6.1f} s  {count / ours:9,.0f} tweets/s  peak RSS {rss:4.0f} MB"
          f"  archive {size / 1e6:,.0f} MB")  # fmt: skip
    print(f"floor           {floor:6.1f} s  {count / floor:9,.0f} tweets/s  peak RSS "
          f"{floor_rss:4.0f} MB")  # fmt: skip
    print(f"sqlite-utils    {peer + fts:6.1f} s  {count / (peer + fts):9,.0f} tweets/s  peak RSS "
          f"{peer_rss:4.0f} MB (insert {peer:.1f} s + enable-fts {fts:.1f} s)")  # fmt: skip
    print(f"bsarchive / floor: {ours / floor:.2f}x; sqlite-utils / bsarchive: "
          f"{(peer + fts) / ours:.2f}x")  # fmt: skip
    for query, (ms, hits, ranked) in timings.items():
        shown = min(20, hits)
        print(f"search {query!r}: {shown} of {hits:,} matches ({ranked}), snippets, {ms:.0f} ms")


if __name__ == "__main__":
    main()
