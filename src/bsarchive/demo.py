"""``bsarchive demo``: the whole pipeline offline, on bundled fixtures served on 127.0.0.1.

Also home of :class:`FixtureMastodon`, a small Mastodon-like server (tag timeline with
``max_id``/``min_id``/``since_id`` and ``Link`` pagination, single statuses) that the demo,
the tests and the benchmarks share. It binds to loopback only and is always stopped.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import httpx

from bsarchive.archive import http_settings, run_fetch
from bsarchive.config import Instance, Settings
from bsarchive.export.build import DigestFormat, write_digest
from bsarchive.export.csv import write_csv
from bsarchive.export.jsonl import write_jsonl
from bsarchive.http import Http
from bsarchive.sources.mastodon import id_order
from bsarchive.store import ArchiveLock, ExportFilter, Store

DEMO_INSTANCES = ("civic.example", "social.example", "town.example")
# The demo's instances and blogs: the top-level fixtures/demo/, which the wheel carries as
# this data package (pyproject.toml maps it; fixtures/make_demo.py writes the instances).
DEMO_DATA = "bsarchive.demo_data"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) is not worth a traceback on stderr.
        pass


class _QuietHandler(BaseHTTPRequestHandler):
    """What both loopback servers' handlers share: HTTP/1.1 keep-alive, no Nagle, no log."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the
    # client's delayed ACK (40 ms on Linux) and a 0 ms benchmark measures that.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # silence
        pass


class _LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) with its thread: started, always
    stopped and joined. Subclasses make ``self._server`` with their handler."""

    _server: _QuietServer
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FixtureMastodon(_LoopbackServer):
    """A loopback server answering like one Mastodon instance for a fixed set of statuses.

    ``hook(handler, path, query)`` may answer a request itself (return True) so tests can
    inject faults; ``latency`` sleeps before each answer (benchmarks).
    """

    def __init__(
        self,
        statuses: Sequence[dict[str, Any]],
        *,
        latency: float = 0.0,
        hook: Callable[[BaseHTTPRequestHandler, str, dict[str, list[str]]], bool] | None = None,
        extra_headers: Callable[[], dict[str, str]] | None = None,
        software: str = "mastodon",
    ) -> None:
        self.software = software
        self.set_statuses(statuses)
        self.latency = latency
        self.hook = hook
        self.extra_headers = extra_headers
        self.requests: list[str] = []
        self.auth_headers: list[str | None] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_statuses(self, statuses: Sequence[dict[str, Any]]) -> None:
        """Replace what the server holds (tests add, edit and delete statuses this way)."""
        self.statuses = sorted(statuses, key=lambda s: id_order(str(s["id"])), reverse=True)
        self.by_id = {str(s["id"]): s for s in self.statuses}
        self._encoded = {str(s["id"]): json.dumps(s).encode() for s in self.statuses}
        self._by_tag: dict[str, tuple[list[dict[str, Any]], list[tuple[int, str]]]] = {}

    def _tagged(self, tag: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
        """Statuses carrying ``tag``, oldest first, with their sort keys (cached)."""
        tag = tag.lower()
        if tag not in self._by_tag:
            asc = [
                s
                for s in reversed(self.statuses)
                if any(str(t.get("name", "")).lower() == tag for t in s.get("tags", []))
            ]
            self._by_tag[tag] = (asc, [id_order(str(s["id"])) for s in asc])
        return self._by_tag[tag]

    def timeline(self, tag: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """Mastodon's semantics: newest first; ``max_id`` older than, ``since_id`` newer
        than (newest page), ``min_id`` the page immediately newer than the id."""
        limit = max(1, min(int(query.get("limit", ["20"])[0]), 40))
        asc, keys = self._tagged(tag)
        lo, hi = 0, len(asc)
        if "max_id" in query:
            hi = bisect.bisect_left(keys, id_order(query["max_id"][0]))
        for key in ("since_id", "min_id"):
            if key in query:
                lo = max(lo, bisect.bisect_right(keys, id_order(query[key][0])))
        if lo >= hi:
            return []
        if "min_id" in query:
            return asc[lo : min(hi, lo + limit)][::-1]
        return asc[max(lo, hi - limit) : hi][::-1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fixture = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                fixture.requests.append(self.path)
                fixture.auth_headers.append(self.headers.get("Authorization"))
                if fixture.latency:
                    time.sleep(fixture.latency)
                if fixture.hook and fixture.hook(self, parts.path, query):
                    return
                path = parts.path
                if path.startswith("/api/v1/timelines/tag/"):
                    tag = unquote(path.rsplit("/", 1)[1])
                    page = fixture.timeline(tag, query)
                    body = b"[" + b",".join(fixture._encoded[str(s["id"])] for s in page) + b"]"
                    headers = {}
                    if page:
                        # Links name the host the client asked for, as a real server does.
                        host = self.headers.get("Host") or fixture.url.split("//", 1)[1]
                        limit = query.get("limit", ["20"])[0]
                        base = f"http://{host}{parts.path}?limit={limit}"
                        headers["Link"] = (
                            f'<{base}&max_id={page[-1]["id"]}>; rel="next", '
                            f'<{base}&min_id={page[0]["id"]}>; rel="prev"'
                        )
                    self.send(200, body, headers)
                elif path.startswith("/api/v1/statuses/"):
                    status_id = path.rsplit("/", 1)[1]
                    if status_id in fixture._encoded:
                        self.send(200, fixture._encoded[status_id])
                    else:
                        self.send(404, b'{"error":"Record not found"}')
                elif path.startswith("/tags/") and path.endswith(".rss"):
                    host = self.headers.get("Host") or fixture.url.split("//", 1)[1]
                    tag = unquote(path[len("/tags/") : -len(".rss")])
                    rss = tag_rss(host.split(":")[0], tag, fixture._tagged(tag)[0][::-1][:20])
                    self.send(200, rss, {"Content-Type": "application/rss+xml; charset=utf-8"})
                elif path == "/.well-known/nodeinfo":
                    href = f"{fixture.url}/nodeinfo/2.0"
                    rel = "http://nodeinfo.diaspora.software/ns/schema/2.0"
                    self.send(200, json.dumps({"links": [{"rel": rel, "href": href}]}).encode())
                elif path == "/nodeinfo/2.0":
                    software = {"name": fixture.software, "version": "4.3.2"}
                    doc = {"version": "2.0", "protocols": ["activitypub"], "software": software}
                    self.send(200, json.dumps(doc).encode())
                else:
                    self.send(404, b'{"error":"Not Found"}')

            def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for name, value in {
                    "Content-Type": "application/json; charset=utf-8",
                    **(fixture.extra_headers() if fixture.extra_headers else {}),
                    **(headers or {}),
                }.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def demo_statuses(instance: str) -> list[dict[str, Any]]:
    data = resources.files(DEMO_DATA).joinpath(f"{instance}.json").read_text("utf-8")
    statuses: list[dict[str, Any]] = json.loads(data)
    return statuses


def tag_rss(host: str, tag: str, statuses: Sequence[dict[str, Any]]) -> bytes:
    """``/tags/TAG.rss`` as Mastodon renders it (PROTOCOL.md §2): no item titles, the
    status ``url`` as guid and link, the HTML escaped in the description, one category
    per tag; ``statuses`` newest first."""
    items = []
    for status in statuses:
        when = datetime.fromisoformat(str(status["created_at"]).replace("Z", "+00:00"))
        categories = "".join(
            f"<category>{escape(str(t.get('name', '')))}</category>" for t in status["tags"]
        )
        url = escape(str(status.get("url") or status["uri"]))
        items.append(
            f'<item><guid isPermaLink="true">{url}</guid><link>{url}</link>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(str(status['content']))}</description>{categories}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:webfeeds="http://webfeeds.org/rss/1.0" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>#{escape(tag)}</title>"
        f"<description>Public posts tagged #{escape(tag)}</description>"
        f"<link>https://{escape(host)}/tags/{escape(tag)}</link>"
        "<generator>Mastodon v4.3.2</generator>" + "".join(items) + "</channel></rss>\n"
    ).encode()


class DemoWeb(_LoopbackServer):
    """A loopback server standing in for the blogs the demo's posts link to: files under
    ``fixtures/demo/web/HOST/PATH`` (``index.html``/``index.xml`` for a path ending in
    ``/``), chosen by the request's Host header. Always stopped, like FixtureMastodon."""

    def __init__(self) -> None:
        self.root = resources.files(DEMO_DATA).joinpath("web")
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())

    def hosts(self) -> list[str]:
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir())

    def page(self, host: str, path: str) -> tuple[bytes, str] | None:
        """The file for ``path`` on ``host`` and its content type, or None."""
        parts = [p for p in unquote(path).split("/") if p]
        if any(p in (".", "..") for p in parts) or host not in self.hosts():
            return None
        node = self.root.joinpath(host, *parts)
        for candidate in (node.joinpath("index.html"), node.joinpath("index.xml"), node):
            if candidate.is_file():
                body = candidate.read_bytes()
                head = body[:300]
                kind = (
                    "application/rss+xml"
                    if b"<rss" in head
                    else "application/atom+xml"
                    if b"<feed" in head
                    else "text/html"
                )
                return body, kind + "; charset=utf-8"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                host = (self.headers.get("Host") or "").split(":")[0]
                found = web.page(host, urlsplit(self.path).path)
                body, kind = found or (b"<h1>Not found</h1>", "text/html; charset=utf-8")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class _LoopbackTransport(httpx.HTTPTransport):
    """Sends the demo's requests for ``social.example`` and the blogs to the loopback
    servers standing in for them, the Host header unchanged, so the archive names the
    instances and sites as a real run would, not a loopback port."""

    def __init__(self, ports: dict[str, int]) -> None:
        super().__init__(retries=0)
        self._ports = ports

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = self._ports.get(request.url.host)
        if port is not None:
            request.url = request.url.copy_with(host="127.0.0.1", port=port)
        return super().handle_request(request)


# The demo's sources: the three instances' tag timelines, one instance's tag RSS and a
# WordPress blog's feed; the posts link to a WordPress, a Blogger and a Ghost blog.
DEMO_FEEDS = ("http://social.example/tags/bsnopen.rss", "http://podnosh.example/blog/feed/")


def run_demo(out: Path, report: Callable[[str], None] | None = None) -> int:
    """Serve the demo instances and blogs on loopback, fetch, export, and report where
    the files are."""
    say = report or (lambda _line: None)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    for stale in out.glob("demo.db*"):  # each demo starts afresh
        stale.unlink()
    servers = [FixtureMastodon(demo_statuses(name)).start() for name in DEMO_INSTANCES]
    web = DemoWeb().start()
    ports = {
        name: int(s.url.rsplit(":", 1)[1]) for name, s in zip(DEMO_INSTANCES, servers, strict=True)
    }
    ports.update(dict.fromkeys(web.hosts(), web.port))
    try:
        settings = Settings(
            db=db,
            title="Big Society Network open night (demo)",
            tags=("bsnopen",),
            instances=tuple(Instance(f"http://{name}") for name in DEMO_INSTANCES),
            feeds=DEMO_FEEDS,
            # The blogs stand on loopback here; a real run keeps this off.
            allow_private_networks=True,
        )
        settings = replace(settings, retries=1, backoff=0.05)
        with (
            Http(http_settings(settings), transport=_LoopbackTransport(ports)) as client,
            ArchiveLock(db) as lock,
            Store(db) as store,
        ):
            lock.acquire()
            result = run_fetch(settings, store, client=client)
            stats = store.stats()
        say(
            f"fetched {len(servers)} demo instances and {len(DEMO_FEEDS)} feeds: "
            f"{result.new} new posts, {result.reactions} blog reactions, "
            f"{len(result.failures)} failed"
        )
    finally:
        web.stop()
        for server in servers:
            server.stop()
    with Store(db, readonly=True) as store:
        with (out / "demo.csv").open("wb") as fcsv:
            write_csv(store, fcsv, ExportFilter())
        with (out / "demo.jsonl").open("wb") as fb:
            write_jsonl(store, fb, ExportFilter())
        digests: tuple[tuple[str, DigestFormat], ...] = (
            ("demo-digest.html", "html"),
            ("demo-digest.md", "markdown"),
        )
        for name, fmt in digests:
            with (out / name).open("w", newline="", encoding="utf-8") as f:
                write_digest(
                    store, f, ExportFilter(), fmt=fmt, title=settings.title, tags=settings.tags
                )
    say(
        f"archive: {stats.posts} posts by {stats.authors} people, {stats.first} to "
        f"{stats.last}; {stats.reactions} reactions with {stats.comments} comments"
    )
    for name in ("demo.db", "demo.csv", "demo.jsonl", "demo-digest.md"):
        say(f"  {out / name}")
    say(f"digest: {out / 'demo-digest.html'}")
    return result.exit_code
