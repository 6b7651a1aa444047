"""Feed benchmark (issue 4): bsarchive vs reader vs feed-to-sqlite on the same feeds.

Serves FEEDS RSS 2.0 feeds of ENTRIES tagged entries each, with ETag and Last-Modified (a
matching ``If-None-Match``/``If-Modified-Since`` gets 304), from HOSTS loopback servers on
different ports (different origins, so per-host politeness applies per server) in a
separate process, then times, each in its own process on a fresh database:

- bsarchive: ``bsarchive fetch --tag bsnopen --feed ... --no-reactions``, first run and a
  re-run with every feed unchanged;
- reader: ``make_reader(db)``, ``add_feed`` for each, ``update_feeds()`` (its default, one
  worker) and ``update_feeds(workers=8)``, first run and re-run;
- feed-to-sqlite: its CLI ``feed-to-sqlite DB URL...``, first run and re-run;
- the floor: the simplest code doing the same I/O and writes (httpx with 8 threads and
  conditional GET, lxml, one row per entry, a transaction per feed), first run and re-run.

Prints wall times and ratios; asserts nothing. Usage:
``python bench/bench_feeds.py [--feeds 200] [--entries 50] [--hosts 20] [--latency 0.0]
[--reader-path DIR]``.
Traffic goes only to 127.0.0.1; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parent.parent / "src" / "bsarchive"

READER = r"""
import sys
from reader import make_reader
db, workers, urls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
reader = make_reader(db)
existing = {f.url for f in reader.get_feeds()}
for url in urls:
    if url not in existing:
        reader.add_feed(url)
reader.update_feeds(workers=workers)
print(reader.get_entry_counts().total)
reader.close()
"""

FLOOR = r"""
import sqlite3, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
from lxml import etree
db, urls = sys.argv[1], sys.argv[2:]
conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, etag TEXT, modified TEXT)")
conn.execute("CREATE TABLE IF NOT EXISTS entries (guid TEXT PRIMARY KEY, feed TEXT, title TEXT,"
             " link TEXT, published TEXT, author TEXT, summary TEXT, tags TEXT)")
validators = {u: (e, m) for u, e, m in conn.execute("SELECT url, etag, modified FROM feeds")}
client = httpx.Client(limits=httpx.Limits(max_connections=40))
DC = "{http://purl.org/dc/elements/1.1/}creator"

def get(url):
    etag, modified = validators.get(url, (None, None))
    headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}
    return url, client.get(url, headers=headers)

with ThreadPoolExecutor(8) as pool:
    for url, response in pool.map(get, urls):
        if response.status_code == 304:
            continue
        root = etree.fromstring(response.content)
        rows = [(i.findtext("guid"), url, i.findtext("title"), i.findtext("link"),
                 i.findtext("pubDate"), i.findtext(DC), i.findtext("description"),
                 " ".join(c.text or "" for c in i.iter("category")))
                for i in root.iter("item")]
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT OR REPLACE INTO feeds VALUES (?, ?, ?)",
                     (url, response.headers.get("etag"), response.headers.get("last-modified")))
        conn.execute("COMMIT")
print(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
"""


def _feed(host: int, n: int, entries: int) -> bytes:
    items = []
    for e in range(entries):
        link = f"https://blog{host}.example/{n}/2010/06/29/entry-{e}/"
        minute, second = divmod(e, 60)
        items.append(
            f"<item><title>Open night notes {n}.{e}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>Tue, 29 Jun 2010 18:{minute:02d}:{second:02d} +0000</pubDate>"
            f"<dc:creator>Writer {n}</dc:creator><category>bsnopen</category>"
            f"<description>&lt;p&gt;What we heard at the Big Society Network open night, "
            f"part {e}: budgets, open data and the tea urn. #bsnopen&lt;/p&gt;</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Blog {n}</title><link>https://blog{host}.example/{n}/</link>"
        f"<description>Notes</description>{''.join(items)}</channel></rss>"
    ).encode()


def _serve(hosts: int, feeds: int, entries: int, latency: float, ports: Any, ready: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stamp = format_datetime(datetime(2010, 6, 30, tzinfo=UTC), usegmt=True)
    servers = []
    for h in range(hosts):
        bodies = {f"/feed/{n}.xml": _feed(h, n, entries) for n in range(h, feeds, hosts)}
        etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, b in bodies.items()}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            _bodies, _etags = bodies, etags

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if latency:
                    time.sleep(latency)
                body = self._bodies.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = self._etags[self.path]
                if (
                    self.headers.get("If-None-Match") == etag
                    or self.headers.get("If-Modified-Since") == stamp
                ):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", stamp)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports.append(server.server_address[1])
    ready.set()
    threading.Event().wait()


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"  ! exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return elapsed, proc.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.0)
    # reader vendors an old feedparser that imports `sgmllib`; install sgmllib3k somewhere
    # apart (`pip install --target DIR sgmllib3k`) so bsarchive's own feedparser is unchanged.
    parser.add_argument("--reader-path", default="", help="extra PYTHONPATH for reader")
    args = parser.parse_args()
    # Time the tool as installed (pip byte-compiles it), not a source tree recompiled on
    # every start when PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(str(SRC), quiet=1)

    manager = multiprocessing.Manager()
    ports = manager.list()
    ready = manager.Event()
    proc = multiprocessing.Process(
        target=_serve,
        args=(args.hosts, args.feeds, args.entries, args.latency, ports, ready),
        daemon=True,
    )
    proc.start()
    ready.wait(30)
    port_list = list(ports)
    urls = [f"http://127.0.0.1:{port_list[n % args.hosts]}/feed/{n}.xml" for n in range(args.feeds)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_feeds_"))
    results: dict[str, tuple[float, float]] = {}
    try:
        print(
            f"{args.feeds} feeds x {args.entries} entries on {args.hosts} loopback hosts, "
            f"latency {args.latency * 1000:.0f} ms"
        )
        config = tmp / "bench.toml"
        config.write_text("")
        db = tmp / "bsarchive.db"
        cmd = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", str(db),
               "--config", str(config), "--no-reactions", "-q"]  # fmt: skip
        for url in urls:
            cmd += ["--feed", url]
        env = {**os.environ, "BSARCHIVE_CONFIG": str(config)}
        first, _ = _timed(cmd, env)
        rerun, _ = _timed(cmd, env)
        results["bsarchive"] = (first, rerun)
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM reactions").fetchone()[0]
        print(f"bsarchive       first {first:6.2f}s  re-run {rerun:6.2f}s  ({stored} reactions)")

        floor_db = tmp / "floor.db"
        floor_cmd = [sys.executable, "-c", FLOOR, str(floor_db), *urls]
        first, out = _timed(floor_cmd)
        rerun, _ = _timed(floor_cmd)
        results["floor"] = (first, rerun)
        print(f"floor           first {first:6.2f}s  re-run {rerun:6.2f}s  ({out} entries)")

        for workers in (1, 8):
            rdb = tmp / f"reader{workers}.sqlite"
            script = [sys.executable, "-c", READER, str(rdb), str(workers), *urls]
            reader_env = {**os.environ, "PYTHONPATH": args.reader_path}
            first, out = _timed(script, reader_env)
            rerun, _ = _timed(script, reader_env)
            results[f"reader w={workers}"] = (first, rerun)
            print(
                f"reader w={workers:<2}     first {first:6.2f}s  re-run {rerun:6.2f}s  "
                f"({out} entries)"
            )

        fdb = tmp / "fts.db"
        f2s = shutil.which("feed-to-sqlite", path=str(BIN)) or "feed-to-sqlite"
        first, _ = _timed([f2s, str(fdb), *urls])
        rerun, _ = _timed([f2s, str(fdb), *urls])
        results["feed-to-sqlite"] = (first, rerun)
        with sqlite3.connect(fdb) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            counted = sum(
                conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for t in tables
                if t != "feeds"
            )
        print(f"feed-to-sqlite  first {first:6.2f}s  re-run {rerun:6.2f}s  ({counted} rows)")

        ours_first, ours_rerun = results["bsarchive"]
        print(f"bsarchive re-run / first run: {ours_rerun / ours_first:.2f}x")
        for name, (first, rerun) in results.items():
            if name == "bsarchive":
                continue
            print(
                f"{name}: first run {first / ours_first:.1f}x bsarchive's time, "
                f"re-run {rerun / ours_rerun:.1f}x"
            )
    finally:
        proc.terminate()
        proc.join(5)
        manager.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
