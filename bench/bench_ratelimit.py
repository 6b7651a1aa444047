"""Rate-limit benchmark (issue 9): a long backfill against a throttling server.

A loopback Mastodon-like server (a separate process) enforces Mastodon's 300 requests /
5 min scaled down to LIMIT requests per PERIOD seconds: fixed windows aligned to the epoch,
every request counted (as rack-attack does), ``X-RateLimit-Limit/-Remaining/-Reset`` (ISO
8601 with microseconds) on every answer, and over the limit a 429
``{"error":"Too many requests"}`` without ``Retry-After``. It serves a tag timeline of
PAGES pages of 40. In the same run, each on a fresh server and database:

- bsarchive: ``python -m bsarchive fetch --tag bsnopen --mastodon URL --no-reactions``;
- Mastodon.py with its default ``ratelimit_method="wait"``: ``timeline_hashtag`` +
  ``fetch_next`` until the end.

Prints, for each: requests, 429s, wall time, requests/s against the allowed rate, and the
use of the budget in the windows the run filled from start to end (the first and last are
partial). Usage: ``python bench/bench_ratelimit.py [--pages 150] [--limit 30] [--period 3]``.
Traffic goes only to 127.0.0.1; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

PEER = r"""
import sys
from mastodon import Mastodon
api = Mastodon(api_base_url=sys.argv[1], version_check_mode="none", request_timeout=30)
n = 0
page = api.timeline_hashtag("bsnopen", limit=40)
while page:
    n += len(page)
    page = api.fetch_next(page)
print(n)
"""


def serve(
    pages: int,
    limit: int,
    period: float,
    ready: Any,
    stop: Any,
    stats: Any,
) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    from bsarchive.demo import FixtureMastodon, synthetic_instances

    lock = threading.Lock()
    counts: Counter[int] = Counter()
    statuses: Counter[int] = Counter()
    local = threading.local()

    def hook(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
        with lock:
            now = time.time()
            window = int(now // period)
            counts[window] += 1
            used = counts[window]
            reset = datetime.fromtimestamp((window + 1) * period, UTC)
            local.headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - used)),
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            statuses[429 if used > limit else 200] += 1
        if used > limit:
            handler.send(429, b'{"error":"Too many requests"}')
            return True
        return False

    def headers() -> dict[str, str]:
        return dict(getattr(local, "headers", {}))

    timeline = synthetic_instances(pages * 40, instances=1)[0]
    server = FixtureMastodon(timeline, hook=hook, extra_headers=headers).start()
    ready.put(server.url)
    stop.wait(timeout=3600)
    server.stop()
    stats.put({"windows": dict(counts), "statuses": dict(statuses)})


def measure(name: str, cmd: list[str], args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, stats = ctx.Queue(), ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(
        target=serve, args=(args.pages, args.limit, args.period, ready, stop, stats), daemon=True
    )
    server.start()
    try:
        url = ready.get(timeout=120)
        with tempfile.TemporaryDirectory() as tmp:
            full = [part.replace("{url}", url).replace("{tmp}", tmp) for part in cmd]
            start = time.perf_counter()
            proc = subprocess.run(full, capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
    finally:
        stop.set()
        result = stats.get(timeout=30)
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    windows: dict[int, int] = result["windows"]
    ordered = [windows[w] for w in sorted(windows)]
    inner = ordered[1:-1]  # the first and last windows are partial by nature
    return {
        "requests": sum(ordered),
        "429": result["statuses"].get(429, 0),
        "wall": wall,
        "inner_used": sum(min(n, args.limit) for n in inner),
        "inner_allowed": args.limit * len(inner),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--period", type=float, default=3.0)
    args = parser.parse_args()
    allowed = args.limit / args.period
    bs = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--mastodon", "{url}",
          "--db", "{tmp}/bs.db", "--no-reactions", "-q"]  # fmt: skip
    runs = {
        "bsarchive": bs,
        "Mastodon.py wait": [sys.executable, "-c", PEER, "{url}"],
    }
    print(
        f"{args.pages} pages of 40; server allows {args.limit} requests / {args.period:g} s "
        f"({allowed:g} req/s), fixed windows, 429 without Retry-After"
    )
    print(f"  {'client':18s} {'requests':>8s} {'429s':>5s} {'wall s':>7s} {'req/s':>6s} "
          f"{'% allowed':>9s} {'budget used (full windows)':>27s}")  # fmt: skip
    for name, cmd in runs.items():
        r = measure(name, cmd, args)
        ok = r["requests"] - r["429"]
        rate = ok / r["wall"]
        used, full = r["inner_used"], r["inner_allowed"]
        inner = f"{used}/{full} = {100 * used / full:.0f}%" if full else "-"
        print(
            f"  {name:18s} {r['requests']:8d} {r['429']:5d} {r['wall']:7.2f} {rate:6.2f} "
            f"{100 * rate / allowed:8.0f}% {inner:>27s}"
        )


if __name__ == "__main__":
    main()
