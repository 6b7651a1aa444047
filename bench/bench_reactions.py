"""Reaction-pass benchmark (issue 5): bsarchive's time against the ideal schedule.

Serves ARTICLES linked articles spread over HOSTS loopback blogs (distinct ports on
127.0.0.1 are distinct hosts), each answer delayed by LATENCY seconds, from a separate
process so the servers don't compete with the client for the GIL. Every blog serves
``/robots.txt``, its articles (JSON-LD metadata, a per-post comment feed link) and each
article's WordPress-style comment feed with three comments.

The archive is prepared with one post per article (the post's ``links`` column), then the
reaction pass runs alone (no configured sources) through ``archive.run_fetch`` with
``--allow-private-networks``, for each ``--concurrency`` value.

Ideal schedule: every request takes LATENCY; at most ``min(concurrency, 2 * HOSTS)`` are in
flight, and at most 2 per host; robots.txt -> article -> comment feed is a chain of 3. So
ideal = LATENCY * max(ceil(R / min(C, 2H)), ceil(R_host / 2), 3) with R all requests and
R_host those of one host. Prints time, ideal, the ratio, the time bare httpx takes for the
same requests with no politeness (this machine's floor), and peak RSS; no assertions.
Usage: ``python bench/bench_reactions.py [--articles 500] [--hosts 50] [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Reaction {n} | Blog {h}</title>
<link rel="alternate" type="application/rss+xml" href="/post/{n}/feed/">
<script type="application/ld+json">{{"@type": "BlogPosting", "headline": "Reaction {n}",
"author": {{"name": "Writer {h}"}}, "datePublished": "2010-06-30T09:00:00Z"}}</script>
</head><body><article><p>{body}</p></article></body></html>"""

COMMENTS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Comments on: Reaction {n}</title><link>{base}/post/{n}/</link><description>c</description>
{items}</channel></rss>"""

ITEM = """<item><title>By: Reader {c}</title><link>{base}/post/{n}/#comment-{c}</link>
<dc:creator>Reader {c}</dc:creator><pubDate>Wed, 30 Jun 2010 12:0{c}:00 +0000</pubDate>
<guid isPermaLink="false">{base}/?p={n}#comment-{c}</guid>
<description>Comment {c} on reaction {n}</description></item>"""


def serve(hosts: int, latency: float, ports: multiprocessing.Queue[int]) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            time.sleep(latency)
            host = self.server.server_address[1]
            base = f"http://127.0.0.1:{host}"
            parts = self.path.strip("/").split("/")
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nDisallow: /private/\n", "text/plain"
            elif len(parts) == 2 and parts[0] == "post":
                text = ("The open night was busy and friendly. " * 20).strip()
                page = ARTICLE.format(n=parts[1], h=host, body=text)
                body, kind = page.encode(), "text/html; charset=utf-8"
            elif len(parts) == 3 and parts[2] == "feed":
                n = parts[1]
                items = "".join(ITEM.format(base=base, n=n, c=c) for c in range(1, 4))
                body = COMMENTS.format(n=n, base=base, items=items).encode()
                kind = "application/rss+xml"
            else:
                body, kind = b"not found", "text/plain"
                self.send_response(404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for _ in range(hosts):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports.put(server.server_address[1])
    threading.Event().wait()  # until terminated by the parent


def prepare(db: Path, urls: list[str]) -> None:
    from bsarchive.models import Author, Post, Sighting
    from bsarchive.store import Store

    when = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)
    posts = [
        Post(
            uri=f"https://social.example/users/u{n % 40}/statuses/{n}",
            url=f"https://social.example/@u{n % 40}/{n}",
            created_at=when,
            author=Author(handle=f"@u{n % 40}@social.example"),
            content_html=f'<p><a href="{url}">{url}</a></p>',
            text=url,
            sighting=Sighting("social.example", str(n), None, when, "bench"),
            links=(url,),
        )
        for n, url in enumerate(urls)
    ]
    with Store(db) as store:
        store.save_items(posts, when)


def run(db: Path, concurrency: int, max_new: int) -> tuple[float, int, int, int]:
    from bsarchive.archive import run_fetch
    from bsarchive.config import Settings
    from bsarchive.store import Store

    settings = Settings(
        db=db,
        tags=("bsnopen",),
        reactions=True,
        max_reactions=max_new,
        allow_private_networks=True,
        concurrency=concurrency,
    )
    with Store(db) as store:
        start = time.perf_counter()
        result = run_fetch(settings, store)
        elapsed = time.perf_counter() - start
        stats = store.stats()
    return elapsed, result.reactions, stats.comments, result.exit_code


def floor(urls: list[str], bases: list[str], concurrency: int) -> float:
    """The same requests with bare httpx in a thread pool, no limits, parsing or storage:
    what this machine and these servers allow (the ideal assumes zero CPU)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    client = httpx.Client(limits=httpx.Limits(max_connections=2 * concurrency))
    requests = [f"{b}/robots.txt" for b in bases]
    requests += [u for url in urls for u in (url, url + "feed/")]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client.get, requests))
    client.close()
    return time.perf_counter() - start


def ideal(articles: int, hosts: int, concurrency: int, latency: float) -> float:
    per_host = math.ceil(articles / hosts) * 2 + 1  # article + comment feed each, robots.txt
    total = articles * 2 + hosts
    slots = min(concurrency, 2 * hosts)
    return latency * max(math.ceil(total / slots), math.ceil(per_host / 2), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[8, 32, 100])
    args = parser.parse_args()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(args.hosts, args.latency, ports), daemon=True
    )
    server.start()
    try:
        bases = [f"http://127.0.0.1:{ports.get(timeout=30)}" for _ in range(args.hosts)]
        urls = [f"{bases[n % args.hosts]}/post/{n}/" for n in range(args.articles)]
        print(
            f"{args.articles} articles on {args.hosts} hosts, {args.latency * 1000:.0f} ms "
            "per request, robots.txt + article + comment feed"
        )
        for concurrency in args.concurrency:
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "bench.db"
                prepare(db, urls)
                took, new, comments, code = run(db, concurrency, args.articles)
            best = ideal(args.articles, args.hosts, concurrency, args.latency)
            bare = floor(urls, bases, concurrency)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"--concurrency {concurrency:>3}: {took:6.2f} s, ideal {best:5.2f} s, "
                f"ratio {took / best:4.2f}x; bare httpx {bare:5.2f} s; "
                f"{new} reactions, {comments} comments, "
                f"exit {code}; peak RSS {rss:.0f} MB"
            )
    finally:
        server.terminate()
        server.join(timeout=5)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
