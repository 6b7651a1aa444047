"""Live-capture benchmark (issue 18): ``bsarchive watch`` on 3 streams at a steady rate,
plus 100 feeds.

Three loopback Mastodon-like servers that stream (tests/support/streaming.py) each get
their share of RATE posts per second for SECONDS seconds, sent as ``update`` events on the
hashtag stream; ``python -m bsarchive watch`` as shipped stores them, while it re-reads
FEEDS blog feeds (one loopback FeedServer, conditional GET: a 304 after the first read)
every FEED_EVERY seconds. Printed: the time from an event sent to its row stamped in the
archive (``posts.first_seen_at``, taken in the transaction that stores it; median and
p99), CPU seconds per 1,000 posts, and the watch's RSS sampled every 5 s, with its value at
one minute and at the end and the growth between (the issue: flat after the first minute).

Usage: ``python bench/bench_watch.py [--rate 50] [--seconds 60] [--feeds 100]
[--feed-every 30] [--wall-every 10] [--tracemalloc]`` (the issue's figure is ``--seconds
600``; ``--wall-every`` adds ``--serve``: the live wall rendered that often;
``--tracemalloc`` prints where Python's heap grew after the first minute). Traffic goes
only to 127.0.0.1; servers and the watch are stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.feed_server import FeedServer, Route  # noqa: E402
from tests.support.streaming import TOKEN, StreamingMastodon, status  # noqa: E402

STREAMS = 3

# ``--tracemalloc``: the watch runs under this, which snapshots Python's allocations at
# each SIGUSR1 (sent at one minute and at the end) and prints, at the second, the 12
# allocation sites that grew most between the two. SQLite's own memory (its page cache)
# is not Python's: RSS growth that this does not show is there.
TRACEMALLOC = """
import os, signal, sys, tracemalloc
tracemalloc.start(6)
marks = []
def mark(*_):
    snap = tracemalloc.take_snapshot()
    if marks:
        lines = ["tracemalloc: growth since the first minute, by site:"]
        for stat in snap.compare_to(marks[0], "traceback")[:12]:
            lines.append(f"  {stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d}")
            lines += ["    " + line for line in stat.traceback.format(limit=4)]
        total = sum(s.size_diff for s in snap.compare_to(marks[0], "filename"))
        lines.append(f"tracemalloc: total {total / 1024:+.0f} KiB")
        out = os.environ["BENCH_TRACEMALLOC"]
        with open(out + ".tmp", "w") as f:
            f.write("\\n".join(lines) + "\\n")
        os.replace(out + ".tmp", out)
    marks.append(snap)
signal.signal(signal.SIGUSR1, mark)
sys.argv[0] = "bsarchive"
from bsarchive.cli import main
main()
"""


def feed(n: int) -> bytes:
    """A small blog feed about the event: two entries."""
    items = "".join(
        f"<item><guid>https://blog{n}.example/{k}</guid><link>https://blog{n}.example/{k}</link>"
        f"<title>Notes {k}</title><category>bsnopen</category>"
        f"<pubDate>Tue, 29 Jun 2010 2{k}:00:00 +0000</pubDate>"
        f"<description>Notes from the open night, part {k}</description></item>"
        for k in (1, 2)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Blog {n}</title><link>https://blog{n}.example/</link>{items}</channel></rss>"
    ).encode()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0, help="posts per second, in all")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--feed-every", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--wall-every", type=float, default=0.0, help="seconds; serve the live wall (0: no)"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="print Python's allocation growth"
    )
    args = parser.parse_args()
    routes = {f"/feed/{i}": Route(feed(i), etag=f'"v{i}"') for i in range(args.feeds)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "watch.db"
        servers = [StreamingMastodon([status(0, 1_000_000)]).__enter__() for _ in range(STREAMS)]
        feeds = FeedServer(routes).start()
        proc: subprocess.Popen[bytes] | None = None
        try:
            hosts = ",".join(f"{s.url.split('//', 1)[1]}={TOKEN}" for s in servers)
            env = dict(os.environ, BSARCHIVE_MASTODON_TOKEN=hosts)
            env["BENCH_TRACEMALLOC"] = str(Path(tmp) / "tracemalloc.txt")
            run = ["-c", TRACEMALLOC] if args.tracemalloc else ["-m", "bsarchive"]
            cmd = [sys.executable, *run, "watch", "-q", "--tag", "bsnopen",
                   "--db", str(db)]  # fmt: skip
            for s in servers:
                cmd += ["--mastodon", s.url]
            cmd += ["--feed-every", f"{args.feed_every:g}s", "--no-reactions"]
            for path in routes:
                cmd += ["--feed", feeds.url + path]
            if args.wall_every:
                cmd += ["--serve", "127.0.0.1:0", "--every", f"{args.wall_every:g}s"]
            proc = subprocess.Popen(cmd, env=env)
            for s in servers:
                if not s.wait_connections(1, within=60):
                    raise SystemExit("a stream did not open")
            cpu0 = cpu_seconds(proc.pid)
            sent: dict[str, float] = {}
            rss: list[tuple[float, int]] = []
            start = time.time()
            n = 0
            next_rss = 0.0
            marked = False
            while (now := time.time()) - start < args.seconds:
                due = int((now - start) * args.rate)
                while n < due:
                    n += 1
                    post = status(n, 1_000_000 + n)
                    sent[post["uri"]] = time.time()
                    servers[n % STREAMS].send("update", json.dumps(post))
                if now - start >= next_rss:
                    rss.append((now - start, rss_kib(proc.pid)))
                    next_rss += 5.0
                if args.tracemalloc and not marked and now - start >= 60:
                    proc.send_signal(signal.SIGUSR1)
                    marked = True
                time.sleep(0.005)
            deadline = time.time() + 60
            latencies: list[float] = []
            while time.time() < deadline:
                with sqlite3.connect(db, timeout=10) as c:
                    rows = c.execute("SELECT uri, first_seen_at FROM posts").fetchall()
                if len(rows) >= n + 1:
                    latencies = [
                        datetime.fromisoformat(seen.replace("Z", "+00:00")).timestamp() - sent[uri]
                        for uri, seen in rows
                        if uri in sent
                    ]
                    break
                time.sleep(0.1)
            cpu = cpu_seconds(proc.pid) - cpu0
            rss.append((time.time() - start, rss_kib(proc.pid)))
            if args.tracemalloc and marked:
                proc.send_signal(signal.SIGUSR1)
                found = Path(env["BENCH_TRACEMALLOC"])
                deadline = time.time() + 300  # a snapshot compared takes a while
                while not found.exists() and time.time() < deadline:
                    time.sleep(0.5)
                if found.exists():
                    print(found.read_text(), end="")
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            for s in servers:
                s.__exit__()
            feeds.stop()
    if not latencies:
        raise SystemExit(f"not every post was stored within a minute of the last ({n} sent)")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    asked = len(feeds.seen)
    print(f"watch: {n} posts at {args.rate:g}/s over {STREAMS} streams for {args.seconds:g}s, "
          f"{args.feeds} feeds every {args.feed_every:g}s ({asked} feed requests)")  # fmt: skip
    print(f"  event sent -> row stamped: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms (clock resolution 1 ms)")  # fmt: skip
    print(f"  CPU: {cpu / n * 1000:.2f} s per 1,000 posts")
    print("  RSS (s, MiB): " + ", ".join(f"{t:.0f}: {k / 1024:.0f}" for t, k in rss))
    print("  " + rss_growth(rss))


def rss_growth(rss: list[tuple[float, int]]) -> str:
    """RSS at the first sample from one minute on and at the last, and the growth
    between them (the issue: flat after the first minute)."""
    later = [(t, k) for t, k in rss if t >= 60]
    if len(later) < 2:
        return "RSS growth after the first minute: run at least 65 s to measure it"
    (t0, k0), (t1, k1) = later[0], later[-1]
    return (
        f"RSS at {t0:.0f} s {k0 / 1024:.1f} MiB, at {t1:.0f} s {k1 / 1024:.1f} MiB: "
        f"growth after the first minute {(k1 - k0) / 1024:+.1f} MiB"
    )


if __name__ == "__main__":
    main()
