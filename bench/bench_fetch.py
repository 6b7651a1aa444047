"""Backfill benchmark (issue 3): bsarchive vs the floor vs a Mastodon.py loop.

Serves N statuses from 3 loopback instances sharing 70% of them, with LATENCY seconds per
request, from a separate process (so the servers don't compete with the client for the
GIL), then times, each in its own process and on a fresh database:

- bsarchive: ``bsarchive fetch --tag bsnopen --mastodon ... --reactions off``;
- floor: the simplest code doing the same I/O and writes: httpx + orjson, one thread per
  instance following ``Link`` pagination, ``executemany`` of (uri, instance, id, json);
- peer: what a user would glue together: Mastodon.py ``timeline_hashtag`` + ``fetch_next``,
  one instance after another, each status upserted with sqlite-utils.

Then a re-run with nothing new (issue 14), bsarchive with its defaults (the re-check of
recent posts included) against the floor's re-run (``min_id`` from its newest stored id,
until an empty page), with the requests each sent.

Prints wall time, peak RSS and ratios, for N and 2N. Usage:
``python bench/bench_fetch.py [--statuses 20000] [--latency 0.03] [--skip-peer]``.
Traffic goes only to 127.0.0.1; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

FLOOR = r"""
import sqlite3, sys, threading, httpx, orjson
db = sqlite3.connect(sys.argv[1], check_same_thread=False)
db.execute("CREATE TABLE posts (uri TEXT PRIMARY KEY, json TEXT)")
db.execute("CREATE TABLE seen (uri TEXT, instance TEXT, id TEXT, PRIMARY KEY (uri, instance))")
lock = threading.Lock()
def run(base):
    with httpx.Client() as client:
        url = f"{base}/api/v1/timelines/tag/bsnopen?limit=40"
        while url:
            r = client.get(url)
            statuses = orjson.loads(r.content)
            if not statuses:
                break
            with lock:
                db.executemany("INSERT OR IGNORE INTO posts VALUES (?, ?)",
                               [(s["uri"], orjson.dumps(s).decode()) for s in statuses])
                db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                               [(s["uri"], base, s["id"]) for s in statuses])
                db.commit()
            url = r.links.get("next", {}).get("url")
threads = [threading.Thread(target=run, args=(b,)) for b in sys.argv[2:]]
[t.start() for t in threads]
[t.join() for t in threads]
print(db.execute("SELECT count(*) FROM posts").fetchone()[0])
"""

FLOOR_RERUN = r"""
import sqlite3, sys, httpx, orjson
db = sqlite3.connect(sys.argv[1])
with httpx.Client() as client:
    for base in sys.argv[2:]:
        newest = max((i for (i,) in db.execute("SELECT id FROM seen WHERE instance = ?", (base,))),
                     key=lambda i: (len(i), i))
        while True:
            r = client.get(f"{base}/api/v1/timelines/tag/bsnopen?limit=40&min_id={newest}")
            statuses = orjson.loads(r.content)
            if not statuses:
                break
            db.executemany("INSERT OR IGNORE INTO posts VALUES (?, ?)",
                           [(s["uri"], orjson.dumps(s).decode()) for s in statuses])
            db.commit()
            newest = statuses[0]["id"]
print(db.execute("SELECT count(*) FROM posts").fetchone()[0])
"""

PEER = r"""
import sys, sqlite_utils
from mastodon import Mastodon
db = sqlite_utils.Database(sys.argv[1])
for base in sys.argv[2:]:
    api = Mastodon(api_base_url=base, version_check_mode="none", request_timeout=30)
    page = api.timeline_hashtag("bsnopen", limit=40)
    while page:
        for s in page:
            db["posts"].upsert({"uri": s["uri"], "id": str(s["id"]), "instance": base,
                                "created_at": str(s["created_at"]), "content": s["content"],
                                "account": s["account"]["acct"]}, pk="uri")
        page = api.fetch_next(page)
print(db["posts"].count)
"""


def serve(statuses: int, latency: float, ready: Any, stop: Any, hits: Any) -> None:
    sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent)]  # the package, fixtures/
    from fixtures.synthetic import synthetic_instances

    from bsarchive.demo import FixtureMastodon

    def counting(*_: Any) -> bool:
        with hits.get_lock():
            hits.value += 1
        return False  # counted; the server answers as usual

    servers = [
        FixtureMastodon(t, latency=latency, hook=counting).start()
        for t in synthetic_instances(statuses)
    ]
    ready.put([s.url for s in servers])
    stop.wait(timeout=3600)
    for s in servers:
        s.stop()


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (seconds, peak RSS MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed: {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, out.strip() or err.strip()


def run_round(statuses: int, latency: float, skip_peer: bool) -> dict[str, tuple[float, float]]:
    ctx = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    hits = ctx.Value("i", 0)
    server = ctx.Process(target=serve, args=(statuses, latency, ready, stop, hits), daemon=True)
    server.start()
    results: dict[str, tuple[float, float]] = {}

    def counted(cmd: list[str]) -> tuple[float, float, str, int]:
        before = hits.value
        t, rss, out = timed(cmd)
        return t, rss, out, hits.value - before

    try:
        urls = ready.get(timeout=120)
        with tempfile.TemporaryDirectory() as tmp:
            bs = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--no-reactions",
                  "--db", f"{tmp}/bs.db", "-q"]  # fmt: skip
            for url in urls:
                bs += ["--mastodon", url]
            t, rss, _ = timed(bs)
            results["bsarchive"] = (t, rss)
            t, rss, count = timed([sys.executable, "-c", FLOOR, f"{tmp}/floor.db", *urls])
            results["floor"] = (t, rss)
            assert int(count) == statuses, count
            if not skip_peer:
                t, rss, count = timed([sys.executable, "-c", PEER, f"{tmp}/peer.db", *urls])
                results["Mastodon.py loop"] = (t, rss)
            import sqlite3

            with sqlite3.connect(f"{tmp}/bs.db") as db:
                stored = db.execute("SELECT count(*) FROM posts").fetchone()[0]
            assert stored == statuses, stored
            # A re-run with nothing new: bsarchive with its defaults, the floor's catch-up.
            t, rss, _, sent = counted(bs)
            results["bsarchive re-run"] = (t, rss)
            results["bsarchive re-run requests"] = (sent, 0)
            t, rss, _, sent = counted([sys.executable, "-c", FLOOR_RERUN, f"{tmp}/floor.db", *urls])
            results["floor re-run"] = (t, rss)
            results["floor re-run requests"] = (sent, 0)
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args()
    rounds = [args.statuses] if args.no_scaling else [args.statuses, args.statuses * 2]
    report: dict[int, dict[str, tuple[float, float]]] = {}
    for n in rounds:
        report[n] = run_round(n, args.latency, args.skip_peer or n != args.statuses)
        print(f"\n{n} statuses, 3 instances, 70% shared, {args.latency * 1000:.0f} ms per request")
        for name, (t, rss) in report[n].items():
            if name.endswith("requests"):
                print(f"  {name:26s} {t:7.0f}")
            else:
                print(f"  {name:26s} {t:7.2f} s   peak RSS {rss:6.1f} MB")
        floor = report[n]["floor"][0]
        print(f"  bsarchive / floor: {report[n]['bsarchive'][0] / floor:.2f}x")
        r = report[n]
        print(
            f"  re-run, bsarchive / floor: {r['bsarchive re-run'][0] / r['floor re-run'][0]:.2f}x"
            f" time, {r['bsarchive re-run requests'][0] / r['floor re-run requests'][0]:.2f}x"
            " requests"
        )
        if "Mastodon.py loop" in report[n]:
            peer = report[n]["Mastodon.py loop"][0]
            print(f"  Mastodon.py loop / bsarchive: {peer / report[n]['bsarchive'][0]:.2f}x")
    if len(rounds) == 2:
        a, b = (report[n]["bsarchive"][0] for n in rounds)
        print(f"\nscaling: {rounds[1]} statuses took {b / a:.2f}x the time of {rounds[0]}")
    print(json.dumps({str(k): v for k, v in report.items()}))


if __name__ == "__main__":
    main()
