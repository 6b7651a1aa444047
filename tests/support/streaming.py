"""A loopback Mastodon that streams: :class:`~bsarchive.demo.FixtureMastodon`'s REST API
plus ``/api/v2/instance`` and the hashtag stream (server-sent events, PROTOCOL.md §6).

Tests post, edit and delete statuses through it while ``watch`` runs: each change is
made to the REST timeline and sent to the open streams, as a real server does. The
stream answers 401 without the right token (Mastodon 4.2+). Every stream loop ends when
the server stops or the stream is dropped.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon

TOKEN = "watch-test-token"
# Seconds between heartbeats (Mastodon: 15; short here so idle timeouts are testable).
HEARTBEAT = 0.5


def status(n: int, local_id: int, **kw: Any) -> dict[str, Any]:
    return synthetic_status(n, viewer="127.0.0.1", local_id=local_id, **kw)


class StreamingMastodon:
    """The server and the streams open on it; a context manager that always stops it."""

    def __init__(self, statuses: list[dict[str, Any]], *, token: str | None = TOKEN) -> None:
        self.token = token
        self.statuses = {str(s["id"]): s for s in statuses}
        self.streams: list[queue.Queue[bytes | None]] = []
        self.lock = threading.Lock()
        self.opened = threading.Condition(self.lock)
        self.connections = 0
        self.stream_auth: list[str | None] = []
        self.closing = threading.Event()
        self.muted = threading.Event()  # set: open streams fall silent (no heartbeats)
        self.stream_status = 200  # another status: stream requests get it, no stream
        self.server = FixtureMastodon(statuses, hook=self._hook)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> StreamingMastodon:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.drop()
        self.server.stop()

    # -- what tests do --------------------------------------------------------------------

    def wait_connections(self, n: int, within: float = 20.0) -> bool:
        """Whether ``n`` streams have been opened so far (bounded wait, woken on each)."""
        with self.opened:
            return self.opened.wait_for(lambda: self.connections >= n, timeout=within)

    def post(self, s: dict[str, Any], *, stream: bool = True) -> None:
        self._set(s)
        if stream:
            self.send("update", json.dumps(s))

    def edit(self, s: dict[str, Any]) -> None:
        self._set(s)
        self.send("status.update", json.dumps(s))

    def delete(self, local_id: str) -> None:
        with self.lock:
            self.statuses.pop(local_id, None)
            self.server.set_statuses(list(self.statuses.values()))
        self.send("delete", local_id)

    def send(self, event: str, data: str) -> None:
        self.raw(f"event: {event}\ndata: {data}\n\n".encode())

    def raw(self, chunk: bytes) -> None:
        with self.lock:
            for q in self.streams:
                q.put(chunk)

    def drop(self) -> None:
        """Close every open stream (the server restarting, a proxy timing out)."""
        self.raw_end()

    def raw_end(self) -> None:
        with self.lock:
            for q in self.streams:
                q.put(None)
            self.streams = []

    def _set(self, s: dict[str, Any]) -> None:
        with self.lock:
            self.statuses[str(s["id"])] = s
            self.server.set_statuses(list(self.statuses.values()))

    # -- the server side ------------------------------------------------------------------

    def _hook(
        self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]
    ) -> bool:
        if path == "/api/v2/instance":
            host = handler.headers.get("Host")
            doc = {"domain": host, "configuration": {"urls": {"streaming": f"ws://{host}"}}}
            body = json.dumps(doc).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return True
        if path != "/api/v1/streaming/hashtag":
            return False
        auth = handler.headers.get("Authorization")
        self.stream_auth.append(auth)
        if self.token is not None and auth != f"Bearer {self.token}":
            body = b'{"error":"Missing access token"}'
            handler.send_response(401)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return True
        if self.stream_status != 200:
            handler.send_response(self.stream_status)
            handler.send_header("Location", "http://10.0.0.1/api/v1/streaming/hashtag")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        q: queue.Queue[bytes | None] = queue.Queue()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        with self.opened:
            self.streams.append(q)
            self.connections += 1
            self.opened.notify_all()
        self._pump(handler, q)
        return True

    def _pump(self, handler: BaseHTTPRequestHandler, q: queue.Queue[bytes | None]) -> None:
        """Write queued events, a heartbeat when idle; end on a drop or the server's stop."""
        try:
            self._chunk(handler, b":)\n")
            while not self.closing.is_set():
                try:
                    chunk = q.get(timeout=HEARTBEAT)
                except queue.Empty:
                    if self.muted.is_set():
                        continue
                    chunk = b":thump\n"
                if chunk is None:
                    break
                self._chunk(handler, chunk)
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away
        handler.close_connection = True

    @staticmethod
    def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
