"""A loopback server for feeds and ActivityPub documents, with ETag/Last-Modified.

Routes map a path to a fixed answer; a route with an ``etag`` answers 304 to a matching
``If-None-Match``. Every request's path and headers are recorded. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Answer an HTML page unless the Accept header is exactly this (content negotiation).
    html_unless_accept: str | None = None
    # Set when the route is asked for.
    reached: threading.Event | None = None
    # A slow server: until this is set (at most HOLD_MOST seconds), the body is dripped a
    # byte every DRIP seconds (each read well within a client's read timeout).
    hold: threading.Event | None = None


HOLD_MOST = 8.0
DRIP = 0.25


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-answer is not a test failure


class FeedServer:
    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.seen: list[Seen] = []
        self.asked = threading.Event()  # set by the first request
        self._lock = threading.Lock()
        self._server = _Quiet(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.seen.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                server.asked.set()
                # Like a real server, a query the route does not name is ignored.
                route = server.routes.get(self.path) or server.routes.get(
                    self.path.split("?", 1)[0]
                )
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                wanted = route.html_unless_accept
                if wanted is not None and self.headers.get("Accept") != wanted:
                    self._send(
                        200, b"<!DOCTYPE html><html>profile</html>", {"Content-Type": "text/html"}
                    )
                    return
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", headers)
                    return
                if route.reached is not None:
                    route.reached.set()
                self._send(route.status, route.body, headers, route.hold)

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str],
                hold: threading.Event | None = None,
            ) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                sent, deadline = 0, time.monotonic() + HOLD_MOST
                while hold is not None and sent < len(body) - 1 and time.monotonic() < deadline:
                    if hold.wait(DRIP):
                        break
                    self.wfile.write(body[sent : sent + 1])
                    self.wfile.flush()
                    sent += 1
                self.wfile.write(body[sent:])

        return Handler
