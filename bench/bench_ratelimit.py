"""Rate-limit benchmark (issues 9 and 15): a long backfill against Mastodon's two buckets.

A loopback Mastodon-like server (a separate process) throttles as Mastodon's rack-attack
does (PROTOCOL.md §1 and §6), scaled down so a run takes seconds, not hours:

- every ``/api/*`` request counts in the general bucket, and one carrying ``page``,
  ``min_id``, ``max_id`` or ``since_id`` also in the paging bucket; windows are fixed and
  aligned on the epoch (``int(now) // period``); a request over a limit gets a 429
  ``{"error":"Too many requests"}`` without ``Retry-After`` (the general throttle is checked
  first and a refused request is not counted further);
- ``X-RateLimit-Limit/-Remaining/-Reset`` describe the bucket closest to exhaustion (the
  smallest ``limit - count``, ties to the general one), a 429's the bucket that refused it;
  Reset is ``now + period - int(now) % period`` in ISO 8601 with microseconds (up to a
  second after the window's end);
- in ``headers`` mode every answer carries the headers (Mastodon 4.7); in ``no-headers``
  mode only a 429 does (Mastodon 3.1/4.1 timelines).

Scaling (``--scale``, default 150 on time and 30 on counts): Mastodon's 300 / 300 s general
and 300 / 900 s paging become 10 / 2 s and 10 / 6 s. The client is told the same scaled
documented budgets (``HttpSettings.budget_*``) and paces the loopback server as it would a
remote one (``pace_loopback``), so header-less pacing works at the scaled pace; everything
else is ``python -m bsarchive fetch --tag bsnopen --mastodon URL --no-reactions`` as shipped.

It serves a tag timeline of STATUSES statuses (pages of 40) and prints, per mode: requests,
429s, wall time from the first request to the last, the achieved rate as a share of the
binding (paging) bucket's rate, and the share of the paging budget used in the windows the
run filled from start to end (the first and last are partial).
Usage: ``python bench/bench_ratelimit.py [--statuses 2000] [--scale 150] [--count-scale 30]``.
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
# Mastodon's documented budgets (PROTOCOL.md §1): (requests, seconds).
GENERAL = (300, 300)
PAGING = (300, 900)
PAGING_PARAMS = ("page", "min_id", "max_id", "since_id")

# The CLI as shipped, told the scaled budgets and to pace loopback like a remote server.
DRIVER = r"""
import sys
from dataclasses import replace
import bsarchive.archive as archive
from bsarchive.cli import main
general, paging = (int(sys.argv[1]), float(sys.argv[2])), (int(sys.argv[3]), float(sys.argv[4]))
shipped = archive.http_settings
archive.http_settings = lambda s: replace(
    shipped(s), budget_general=general, budget_paging=paging, pace_loopback=True
)
sys.argv = ["bsarchive", *sys.argv[5:]]
main()
"""


def scaled(budget: tuple[int, int], args: argparse.Namespace) -> tuple[int, int]:
    requests, seconds = budget
    return max(1, requests // args.count_scale), max(1, seconds // args.scale)


def serve(
    statuses: int,
    buckets: list[tuple[str, int, int]],
    headers_on_success: bool,
    ready: Any,
    stop: Any,
    stats: Any,
) -> None:
    sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent)]  # the package, fixtures/
    from fixtures.synthetic import synthetic_instances

    from bsarchive.demo import FixtureMastodon

    lock = threading.Lock()
    counts: Counter[tuple[str, int]] = Counter()
    outcomes: Counter[int] = Counter()
    times: list[float] = []
    local = threading.local()

    def rate_headers(limit: int, count: int, period: int, now: float) -> dict[str, str]:
        reset = datetime.fromtimestamp(now + period - int(now) % period, UTC)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - count)),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def hook(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
        paging = any(query.get(name, [""])[0] for name in PAGING_PARAMS)
        matched = [b for b in buckets if b[0] == "general" or paging]
        with lock:
            now = time.time()
            times.append(now)
            seen: list[tuple[int, int, int]] = []  # (limit - count, index, ...) per throttle
            refused: dict[str, str] | None = None
            for i, (name, limit, period) in enumerate(matched):
                key = (name, int(now) // period)
                counts[key] += 1
                if counts[key] > limit:
                    refused = rate_headers(limit, counts[key], period, now)
                    break
                seen.append((limit - counts[key], i, counts[key]))
            outcomes[429 if refused else 200] += 1
            local.headers = {}
            if not refused and headers_on_success:
                _, i, count = min(seen)  # closest to exceeding; ties to the first (general)
                _, limit, period = matched[i]
                local.headers = rate_headers(limit, count, period, now)
        if refused is not None:
            handler.send(429, b'{"error":"Too many requests"}', refused)
            return True
        return False

    timeline = synthetic_instances(statuses, instances=1)[0]
    server = FixtureMastodon(
        timeline, hook=hook, extra_headers=lambda: dict(getattr(local, "headers", {}))
    ).start()
    ready.put(server.url)
    stop.wait(timeout=3600)
    server.stop()
    stats.put({"counts": dict(counts), "outcomes": dict(outcomes), "times": times})


def measure(headers_on_success: bool, args: argparse.Namespace) -> dict[str, Any]:
    general, paging = scaled(GENERAL, args), scaled(PAGING, args)
    buckets = [("general", *general), ("paging", *paging)]
    ctx = multiprocessing.get_context("spawn")
    ready, stats = ctx.Queue(), ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(
        target=serve,
        args=(args.statuses, buckets, headers_on_success, ready, stop, stats),
        daemon=True,
    )
    server.start()
    try:
        url = ready.get(timeout=120)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-c", DRIVER, *map(str, (*general, *paging)), "fetch",
                   "--tag", "bsnopen", "--mastodon", url, "--db", f"{tmp}/bs.db",
                   "--no-reactions", "-q", "--max-wait", "60"]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"bsarchive failed: {proc.stderr[-2000:]}")
    finally:
        stop.set()
        result = stats.get(timeout=30)
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    times: list[float] = result["times"]
    counts: dict[tuple[str, int], int] = result["counts"]
    limit, period = paging
    windows = sorted(w for (name, w) in counts if name == "paging")
    inner = windows[1:-1]  # the first and last windows are partial by nature
    used = sum(min(counts[("paging", w)], limit) for w in inner)
    paging_requests = sum(n for (name, _), n in counts.items() if name == "paging")
    span = times[-1] - times[0]
    return {
        "requests": len(times),
        "429": result["outcomes"].get(429, 0),
        "wall": span,
        # Requests after the first, over the time from the first to the last.
        "share": (paging_requests - 1) / span / (limit / period) if span else 0.0,
        "inner": (used, limit * len(inner)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=2000)
    parser.add_argument("--scale", type=int, default=150, help="divide Mastodon's windows")
    parser.add_argument("--count-scale", type=int, default=30, help="divide its limits")
    args = parser.parse_args()
    (gl, gp), (pl, pp) = scaled(GENERAL, args), scaled(PAGING, args)
    print(
        f"{args.statuses} statuses in pages of 40; Mastodon's {GENERAL[0]}/{GENERAL[1]} s "
        f"general and {PAGING[0]}/{PAGING[1]} s paging scaled to {gl}/{gp} s and {pl}/{pp} s "
        f"(paging binds: {pl / pp:.2f} req/s); fixed epoch-aligned windows, headers for the "
        "bucket closest to exhaustion (ties: general), 429 without Retry-After"
    )
    print(f"  {'mode':22s} {'requests':>8s} {'429s':>5s} {'wall s':>7s} "
          f"{'% of binding rate':>17s} {'paging budget used (full windows)':>34s}")  # fmt: skip
    for name, headers in (("headers on 2xx", True), ("no headers on 2xx", False)):
        r = measure(headers, args)
        used, full = r["inner"]
        inner = f"{used}/{full} = {100 * used / full:.0f}%" if full else "-"
        print(
            f"  {name:22s} {r['requests']:8d} {r['429']:5d} {r['wall']:7.2f} "
            f"{100 * r['share']:16.0f}% {inner:>34s}"
        )


if __name__ == "__main__":
    main()
