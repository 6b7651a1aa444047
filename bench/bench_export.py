"""Export benchmark (issue 6): CSV/JSONL of a 1,000,000-post archive vs ``sqlite3 -csv``,
and the HTML digest of a 10,000-post archive.

Builds the archives with bsarchive's own schema (rows inserted directly with
``executemany``, full-text triggers dropped while building: building is not what is
measured), then times, each in its own process: ``sqlite3 -csv`` selecting the same
columns in the same order (the floor), ``bsarchive export csv`` and ``bsarchive export
jsonl``, with peak RSS from ``os.wait4``; and ``bsarchive digest --format html`` with the
output size. Prints figures and ratios; asserts nothing. Usage:
``python bench/bench_export.py [--posts 1000000] [--digest-posts 10000]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bsarchive.store import Store  # noqa: E402

WORDS = [
    "big",
    "society",
    "network",
    "open",
    "night",
    "community",
    "groups",
    "volunteers",
    "localism",
    "council",
    "tea",
    "charities",
    "youth",
    "climate",
    "diversity",
    "participation",
    "engagement",
    "government",
    "funding",
    "ideas",
]

# The same columns, joins and order as `export csv` produces for posts.
FLOOR_SQL = """
SELECT 'post', p.id, p.uri, p.url, p.created_at, a.handle, a.name, p.text, p.tags, p.links,
       p.in_reply_to_uri, p.boosts, p.replies, p.favourites, p.source, p.seen_on, NULL,
       p.edited_at, p.deleted_at, p.fetched_at, p.fetched_from, p.version
FROM posts p JOIN authors a ON a.id = p.author_id ORDER BY p.created_at, p.id
"""


def build(db: Path, posts: int) -> None:
    rng = random.Random(20100629)
    with Store(db) as store:
        conn = store.db
        for trigger in ("posts_fts_insert",):
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO authors (id, handle, name, url) VALUES (?, ?, ?, ?)",
            [
                (
                    i,
                    f"@user{i}@home{i % 40}.example",
                    f"User {i}",
                    f"https://home{i % 40}.example/@user{i}",
                )
                for i in range(1, 2001)
            ],
        )
        batch = []
        for n in range(posts):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) + " #bsnopen"
            day, hour = 29 + n // 3_000_000, (n // 60000) % 24
            created = f"2010-06-{day:02d}T{hour:02d}:{(n // 1000) % 60:02d}:{n % 60:02d}.000Z"
            host = f"home{n % 40}.example"
            batch.append(
                (
                    f"https://{host}/users/u/statuses/{10**17 + n}",
                    f"https://{host}/@u/{10**17 + n}",
                    created,
                    1 + n % 2000,
                    f"<p>{text}</p>",
                    text,
                    "bsnopen",
                    "https://blog.example/post" if n % 10 == 0 else "",
                    n % 5,
                    n % 3,
                    n % 11,
                    "mastodon",
                    f"{host} viewer.example",
                    "{}",
                    "2026-12-01T00:00:00.000Z",
                    "https://viewer.example/api/v1/timelines/tag/bsnopen",
                    "0.1.0",
                    "2026-12-01T00:00:00.000Z",
                    "2026-12-01T00:00:00.000Z",
                )
            )
            if len(batch) == 50_000:
                _insert(conn, batch)
                batch = []
        if batch:
            _insert(conn, batch)
        conn.execute("COMMIT")


def _insert(conn: object, rows: list[tuple[object, ...]]) -> None:
    conn.executemany(  # type: ignore[attr-defined]
        """
        INSERT INTO posts (uri, url, created_at, author_id, content_html, text, tags, links,
            boosts, replies, favourites, source, seen_on, raw, fetched_at, fetched_from,
            version, first_seen_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        rows,
    )


def _build_in_child(db: Path, posts: int) -> None:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    code += (
        f"from bench_export import build; build(__import__('pathlib').Path({str(db)!r}), {posts})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, float]:
    start = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{cmd[:4]} failed: {err[-1000:]}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--digest-posts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per export (median)")
    args = parser.parse_args()
    sqlite3 = shutil.which("sqlite3")
    bs = [sys.executable, "-m", "bsarchive"]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        t0 = time.perf_counter()
        # Build in a child so this process stays small: a forked child's peak RSS starts
        # at its parent's (os.wait4 would report the builder's memory, not the export's).
        _build_in_child(db, args.posts)
        print(f"built {args.posts:,} posts in {time.perf_counter() - t0:.1f} s")
        results: dict[str, tuple[float, float]] = {}
        runs: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.repeat):  # interleaved, so disk and cache noise hits all alike
            if sqlite3:
                floor_cmd = [sqlite3, "-csv", "-header", str(db), FLOOR_SQL]
                runs.setdefault("sqlite3 -csv", []).append(timed(floor_cmd, Path(tmp) / "f.csv"))
            csv_cmd = [*bs, "export", "csv", "--db", str(db), "-o", f"{tmp}/a.csv"]
            runs.setdefault("export csv", []).append(timed(csv_cmd))
            jsonl_cmd = [*bs, "export", "jsonl", "--db", str(db), "-o", f"{tmp}/a.jsonl"]
            runs.setdefault("export jsonl", []).append(timed(jsonl_cmd))
        for name, samples in runs.items():  # median time, largest RSS
            times = sorted(t for t, _ in samples)
            results[name] = (times[len(times) // 2], max(rss for _, rss in samples))
        print(f"\n{args.posts:,} posts (median of {args.repeat} runs)")
        for name, (t, rss) in results.items():
            print(f"  {name:14s} {t:7.2f} s   peak RSS {rss:6.1f} MB")
        if sqlite3:
            floor = results["sqlite3 -csv"][0]
            print(
                f"  csv / sqlite3 -csv:   {results['export csv'][0] / floor:.2f}x (target <= 1.5x)"
            )
            print(
                f"  jsonl / sqlite3 -csv: {results['export jsonl'][0] / floor:.2f}x (target <= 2x)"
            )

        small = Path(tmp) / "small.db"
        _build_in_child(small, args.digest_posts)
        out = Path(tmp) / "digest.html"
        t, rss = timed([*bs, "digest", "--format", "html", "--db", str(small), "-o", str(out)])
        print(
            f"\ndigest of {args.digest_posts:,} posts: {t:.2f} s, "
            f"{out.stat().st_size / 1e6:.2f} MB, peak RSS {rss:.1f} MB (targets < 5 s, < 5 MB)"
        )


if __name__ == "__main__":
    main()
