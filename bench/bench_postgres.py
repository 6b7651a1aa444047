"""PostgreSQL benchmark (issue 19): the same fetch into PostgreSQL and SQLite, the floor,
and 1, 2 and 4 collectors sharing one archive.

Starts a throwaway PostgreSQL cluster (tests/support/pg.py: Debian's server programs, on
127.0.0.1 only, stopped at the end) and loopback Mastodon-like servers in a separate
process (so they do not compete with the client for the GIL), then times, each in its own
process and on a fresh database:

1. ``bsarchive fetch`` of N statuses from 3 instances sharing 70% of them into SQLite and
   into PostgreSQL; the floor: httpx + orjson, one thread per instance, psycopg
   ``executemany`` of (uri, json) and (uri, instance, id) with ``ON CONFLICT DO NOTHING``,
   a commit per page;
2. 1, 2 and 4 collectors (``bsarchive fetch`` processes started together) over 12
   instances with LATENCY seconds per request, wall time until the last ends: the
   collectors divide the instances between them, so more collectors must be faster until
   the servers' latency bounds it.

3. ``bsarchive import twarc`` of TWEETS twarc2 lines into SQLite and PostgreSQL.

Usage: ``python bench/bench_postgres.py [--statuses 20000] [--latency 0.03] [--tweets N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_fetch import timed  # noqa: E402
from bench_twarc_parse import write_lines  # noqa: E402
from tests.support.pg import Cluster, cluster  # noqa: E402

FLOOR = r"""
import sys, threading, httpx, orjson, psycopg
url = sys.argv[1]
with psycopg.connect(url, autocommit=True) as db:
    db.execute("CREATE TABLE posts (uri TEXT PRIMARY KEY, json TEXT)")
    db.execute("CREATE TABLE seen (uri TEXT, instance TEXT, id TEXT, PRIMARY KEY (uri, instance))")
def run(base):
    with httpx.Client() as client, psycopg.connect(url) as db:
        next_url = f"{base}/api/v1/timelines/tag/bsnopen?limit=40"
        while next_url:
            r = client.get(next_url)
            statuses = orjson.loads(r.content)
            if not statuses:
                break
            with db.cursor() as cur:
                cur.executemany("INSERT INTO posts VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                [(s["uri"], orjson.dumps(s).decode()) for s in statuses])
                cur.executemany("INSERT INTO seen VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                                [(s["uri"], base, s["id"]) for s in statuses])
            db.commit()
            next_url = r.links.get("next", {}).get("url")
threads = [threading.Thread(target=run, args=(b,)) for b in sys.argv[2:]]
[t.start() for t in threads]
[t.join() for t in threads]
with psycopg.connect(url) as db:
    print(db.execute("SELECT count(*) FROM posts").fetchone()[0])
"""


def serve(statuses: int, instances: int, shared: float, latency: float, ready: Any,
          stop: Any) -> None:  # fmt: skip
    sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent)]  # the package, fixtures/
    from fixtures.synthetic import synthetic_instances

    from bsarchive.demo import FixtureMastodon

    servers = [
        FixtureMastodon(t, latency=latency).start()
        for t in synthetic_instances(statuses, instances=instances, shared=shared)
    ]
    ready.put([s.url for s in servers])
    stop.wait(timeout=3600)
    for s in servers:
        s.stop()


class Servers:
    """Loopback instances in a process of their own, for the ``with`` block."""

    def __init__(self, statuses: int, instances: int, shared: float, latency: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready: Any = ctx.Queue()
        self.stop = ctx.Event()
        self.process = ctx.Process(
            target=serve,
            args=(statuses, instances, shared, latency, self.ready, self.stop),
            daemon=True,
        )

    def __enter__(self) -> list[str]:
        self.process.start()
        return list(self.ready.get(timeout=300))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def fetch_cmd(db: str, urls: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--no-reactions"]
    cmd += ["--db", db, "-q"]
    for url in urls:
        cmd += ["--mastodon", url]
    return cmd


def engines(pg: Cluster, statuses: int, latency: float, tmp: Path) -> None:
    with Servers(statuses, 3, 0.7, latency) as urls:
        sqlite_t, sqlite_rss, _ = timed(fetch_cmd(str(tmp / "bs.db"), urls))
        pg_t, pg_rss, _ = timed(fetch_cmd(pg.fresh("bench_bs"), urls))
        floor_t, floor_rss, count = timed(
            [sys.executable, "-c", FLOOR, pg.fresh("bench_floor"), *urls]
        )
        assert int(count) == statuses, count
    copy = [sys.executable, "-m", "bsarchive", "copy", str(tmp / "bs.db"), pg.fresh("bench_cp")]
    copy_t, copy_rss, _ = timed([*copy, "-q"])
    export = [sys.executable, "-m", "bsarchive", "export", "csv", "-o", str(tmp / "x.csv")]
    sqlite_export_t, _, _ = timed([*export, "--db", str(tmp / "bs.db")])
    pg_export_t, pg_export_rss, _ = timed([*export, "--db", pg.url("bench_cp")])
    print(f"\n{statuses} statuses, 3 instances, 70% shared, {latency * 1000:.0f} ms per request")
    print(f"  bsarchive -> SQLite      {sqlite_t:7.2f} s   peak RSS {sqlite_rss:6.1f} MB")
    print(f"  bsarchive -> PostgreSQL  {pg_t:7.2f} s   peak RSS {pg_rss:6.1f} MB")
    print(f"  floor -> PostgreSQL      {floor_t:7.2f} s   peak RSS {floor_rss:6.1f} MB")
    print(
        f"  PostgreSQL / SQLite: {pg_t / sqlite_t:.2f}x; bsarchive / floor: {pg_t / floor_t:.2f}x"
    )
    print(f"  copy SQLite -> PostgreSQL {copy_t:6.2f} s   peak RSS {copy_rss:6.1f} MB")
    print(
        f"  export csv: SQLite {sqlite_export_t:.2f} s, PostgreSQL (a local copy)"
        f" {pg_export_t:.2f} s, peak RSS {pg_export_rss:.1f} MB"
    )


def collectors(pg: Cluster, statuses: int, latency: float) -> None:
    print(f"\n12 instances, {statuses} statuses in all (50% shared), {latency * 1000:.0f} ms"
          " per request: collectors started together on one PostgreSQL archive")  # fmt: skip
    with Servers(statuses, 12, 0.5, latency) as urls:
        base = None
        for n in (1, 2, 4):
            url = pg.fresh(f"bench_c{n}")
            start = time.perf_counter()
            procs = [
                subprocess.Popen(fetch_cmd(url, urls), stderr=subprocess.PIPE, text=True)
                for _ in range(n)
            ]
            codes = [p.wait(timeout=3600) for p in procs]
            wall = time.perf_counter() - start
            assert set(codes) <= {0, 75} and 0 in codes, codes
            base = base or wall
            print(f"  {n} collector{'s' if n > 1 else ' '}  {wall:7.2f} s   {base / wall:.2f}x")


def imports(pg: Cluster, tweets: int, tmp: Path) -> None:
    """``bsarchive import twarc`` of ``tweets`` twarc2 lines into SQLite and PostgreSQL."""
    lines = tmp / "tweets.jsonl"
    write_lines(lines, tweets)
    print(f"\nimport of {tweets} twarc2 lines (one in five a retweet)")
    rates = {}
    for name, db in (("SQLite", str(tmp / "import.db")), ("PostgreSQL", pg.fresh("bench_i"))):
        t, rss, _ = timed(
            [sys.executable, "-m", "bsarchive", "import", "twarc", str(lines), "--db", db, "-q"]
        )
        rates[name] = tweets / t
        print(f"  bsarchive -> {name:10s} {t:7.2f} s  {tweets / t:9,.0f} tweets/s  {rss:6.1f} MB")
    print(f"  PostgreSQL / SQLite: {rates['SQLite'] / rates['PostgreSQL']:.2f}x the time")


def bulk(pg: Cluster, rows: int) -> None:
    """The bulk insert bsarchive uses (INSERT ... SELECT FROM unnest(binary arrays) ON
    CONFLICT) against COPY into a staging table then INSERT ... SELECT ... ON CONFLICT,
    for ``rows`` posts in batches of 10,000 (an import's), into the archive's own table."""
    import psycopg

    from bsarchive.dburl import DatabaseUrl
    from bsarchive.store import PgStore

    columns = ("uri", "url", "created_at", "author_id", "text", "raw", "source", "fetched_at",
               "fetched_from", "version", "first_seen_at", "updated_at")  # fmt: skip
    made = [
        (f"https://x.example/status/{n}", f"https://x.example/@a/{n}", "2010-06-29T18:00:00.000Z",
         1, f"post {n} about the big society " * 4, f'{{"id": "{n}", "text": "{"x" * 1500}"}}',
         "twitter", "2026-12-07T10:00:00.000Z", "file", "0.1.0", "2026-12-07T10:00:00.000Z",
         "2026-12-07T10:00:00.000Z")
        for n in range(rows)
    ]  # fmt: skip
    times = {}
    for way in ("unnest", "COPY"):
        url = pg.fresh("bench_bulk")
        PgStore(DatabaseUrl(url)).close()  # the archive's schema, indexes and search column
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO authors (id, handle) VALUES (1, '@a')")
            names = ", ".join(columns)
            start = time.perf_counter()
            for at in range(0, rows, 10_000):
                batch = made[at : at + 10_000]
                with conn.transaction():
                    if way == "unnest":
                        types = ", ".join(
                            "%b::bigint[]" if c == "author_id" else "%b::text[]" for c in columns
                        )
                        conn.execute(
                            f"INSERT INTO posts ({names}) SELECT * FROM unnest({types})"
                            " ON CONFLICT (uri) DO NOTHING",
                            [list(c) for c in zip(*batch, strict=True)],
                        )
                    else:
                        conn.execute(
                            f"CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT {names}"
                            " FROM posts WITH NO DATA"
                        )
                        with conn.cursor().copy(f"COPY staging ({names}) FROM STDIN") as copy:
                            for row in batch:
                                copy.write_row(row)
                        conn.execute(
                            f"INSERT INTO posts ({names}) SELECT {names} FROM staging"
                            " ON CONFLICT (uri) DO NOTHING"
                        )
            times[way] = time.perf_counter() - start
    print(f"\nbulk insert of {rows} posts in batches of 10,000 into the archive's posts table")
    for way, t in times.items():
        print(f"  {way:7s} {t:6.2f} s  {rows / t:9,.0f} rows/s")
    print(f"  COPY / unnest: {times['COPY'] / times['unnest']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--collector-statuses", type=int, default=12_000)
    parser.add_argument("--tweets", type=int, default=200_000)
    args = parser.parse_args()
    import tempfile

    with cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        engines(pg, args.statuses, 0.0, Path(tmp))
        (Path(tmp) / "l").mkdir()
        engines(pg, args.statuses, args.latency, Path(tmp) / "l")
        collectors(pg, args.collector_statuses, args.latency)
        imports(pg, args.tweets, Path(tmp))
        bulk(pg, 50_000)


if __name__ == "__main__":
    main()
