"""The shared loopback Mastodon with a scenario in front of it that misbehaves on purpose.

:class:`FaultServer` is :class:`~bsarchive.demo.FixtureMastodon` (serving :data:`STATUSES`)
whose hook hands every request to the scenario first, with the request's raw socket: so a
scenario can stall after the headers, reset the connection mid-body or stream a chunked
body forever, which no well-behaved server does. A scenario that returns False lets the
server answer as it always does (the timeline, nodeinfo). Binds 127.0.0.1 only; ``stop()``
also ends every connection a scenario holds open, so no scenario outlives its test.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon

# What a scenario does with a request (its raw socket, its path and query): answer it
# (None or True) or leave it to the server (False).
Scenario = Callable[["FaultServer", socket.socket, str], bool | None]


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(conn: socket.socket, status: str, body: bytes, **headers: str) -> None:
    hdrs = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    conn.sendall(_head(status, hdrs) + body)


def statuses(n: int) -> list[dict[str, object]]:
    return [synthetic_status(i, viewer="fault.example", local_id=900 + i) for i in range(n)]


def page(n: int = 3) -> bytes:
    return json.dumps(statuses(n)).encode()


# What the server's own tag timeline holds: the page a scenario that lets it answer gives.
STATUSES = statuses(3)


class FaultServer(FixtureMastodon):
    def __init__(self, scenario: Scenario) -> None:
        super().__init__(STATUSES, hook=self._scenario_first)
        self.scenario = scenario
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []

    @property
    def hits(self) -> int:
        return len(self.requests)

    def stop(self) -> None:
        self._stop.set()
        for conn in list(self._conns):  # a stalled scenario's client and thread let go
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        super().stop()

    def stopped(self) -> bool:
        return self._stop.is_set()

    def _scenario_first(
        self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]
    ) -> bool:
        conn = handler.connection
        self._conns.append(conn)
        if self.scenario(self, conn, handler.path) is False:
            return False
        handler.close_connection = True  # what the scenario wrote is all there is
        return True


# -- scenarios -------------------------------------------------------------------------


def rate_limited_seconds(server: FaultServer, conn: socket.socket, path: str) -> bool:
    if server.hits > 1:
        return False  # the server's own answer
    respond(conn, "429 Too Many Requests", b'{"error":"Too many requests"}', Retry_After="1")
    return True


def rate_limited_http_date(server: FaultServer, conn: socket.socket, path: str) -> bool:
    if server.hits > 1:
        return False
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    respond(conn, "429 Too Many Requests", b"{}", Retry_After=when)
    return True


def flapping_503(server: FaultServer, conn: socket.socket, path: str) -> bool:
    if server.hits % 2 == 0:
        return False
    respond(conn, "503 Service Unavailable", b"<html>busy</html>", Content_Type="text/html")
    return True


def always_503(server: FaultServer, conn: socket.socket, path: str) -> None:
    respond(conn, "503 Service Unavailable", b"down")


def stalled(server: FaultServer, conn: socket.socket, path: str) -> None:
    conn.sendall(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "1000"}))
    conn.sendall(b'[{"id":')
    server._stop.wait(30)


def reset_mid_body(server: FaultServer, conn: socket.socket, path: str) -> None:
    body = page(20)
    conn.sendall(
        _head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))})
    )
    conn.sendall(body[: len(body) // 2])
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def truncated_json(server: FaultServer, conn: socket.socket, path: str) -> None:
    body = page(5)
    respond(conn, "200 OK", body[: len(body) - 40])


def html_challenge(server: FaultServer, conn: socket.socket, path: str) -> None:
    body = (
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
        b"<body>Checking your browser</body></html>"
    )
    respond(conn, "200 OK", body, Content_Type="text/html; charset=UTF-8")


def gzip_bomb(server: FaultServer, conn: socket.socket, path: str) -> None:
    # ~1 GiB of zeros compresses to ~1 MiB; stream it as gzip.
    block = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    conn.sendall(_head("200 OK", {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                  "Transfer-Encoding": "chunked"}))  # fmt: skip
    try:
        for _ in range(16):  # 16 gzip members of 64 MiB each: 1 GiB inflated
            conn.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
    except OSError:
        pass


def endless_chunked(server: FaultServer, conn: socket.socket, path: str) -> None:
    conn.sendall(
        _head("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    )
    chunk = b"[" + b" " * 65536
    try:
        while not server.stopped():
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            chunk = b" " * 65536
    except OSError:
        pass


def redirect_loop(server: FaultServer, conn: socket.socket, path: str) -> None:
    respond(conn, "302 Found", b"", Location=path)


def redirect_to_javascript(server: FaultServer, conn: socket.socket, path: str) -> None:
    respond(conn, "302 Found", b"", Location="javascript:alert(1)")


def redirect_chain(server: FaultServer, conn: socket.socket, path: str) -> None:
    hop = int(path.rsplit("hop=", 1)[1]) if "hop=" in path else 0
    sep = "&" if "?" in path else "?"
    respond(conn, "302 Found", b"", Location=f"{path.split('&hop=')[0]}{sep}hop={hop + 1}")


def invalid_utf8_and_nul(server: FaultServer, conn: socket.socket, path: str) -> None:
    statuses = [synthetic_status(i, viewer="fault.example", local_id=900 + i) for i in range(2)]
    statuses[0]["content"] = "<p>nul \u0000 here #bsnopen</p>"
    body = json.dumps(statuses).encode()
    body = body.replace(b"Post 1 from", b"Post 1 \xff\xfe from")
    respond(conn, "200 OK", body if "max_id" not in path else b"[]")


def deeply_nested(server: FaultServer, conn: socket.socket, path: str) -> None:
    respond(conn, "200 OK", b"[" * 200_000 + b"]" * 200_000)


def link_to_other_host(server: FaultServer, conn: socket.socket, path: str) -> None:
    link = '<http://169.254.169.254/api/v1/timelines/tag/bsnopen?max_id=1>; rel="next"'
    respond(conn, "200 OK", page(2), Link=link)


# -- feed scenarios (issue 4) ---------------------------------------------------------------

RSS = "application/rss+xml; charset=utf-8"


def _rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Faulty</title><link>https://faulty.example/</link>{items}</channel></rss>"
    ).encode()


def _item(n: int, author: str = "Writer") -> str:
    return (
        f"<item><title>Open night {n}</title><link>https://faulty.example/{n}/</link>"
        f"<author>{author}</author><category>bsnopen</category>"
        "<pubDate>Tue, 29 Jun 2010 18:00:00 +0000</pubDate>"
        "<description>#bsnopen</description></item>"
    )


def feed_billion_laughs(server: FaultServer, conn: socket.socket, path: str) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
        for i in range(10)
    )
    body = _rss(_item(1, "&lol9;"), f"<!DOCTYPE rss [{entities}]>")
    respond(conn, "200 OK", body, Content_Type=RSS)


def feed_xxe(server: FaultServer, conn: socket.socket, path: str) -> None:
    body = _rss(_item(1, "&xxe;"), '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    respond(conn, "200 OK", body, Content_Type=RSS)


def feed_regex_bait(server: FaultServer, conn: socket.socket, path: str) -> None:
    # feedparser's e-mail regex is super-linear on long author text without an address.
    bait = "a" * 200_000 + "@" + "a." * 50_000
    respond(conn, "200 OK", _rss(_item(1, bait) + _item(2)), Content_Type=RSS)


def feed_50_mb(server: FaultServer, conn: socket.socket, path: str) -> None:
    item = _item(1).encode()
    size = 50 * 1024 * 1024
    conn.sendall(_head("200 OK", {"Content-Type": RSS, "Content-Length": str(size)}))
    sent = 0
    chunk = item * (65536 // len(item))
    with contextlib.suppress(OSError):
        while sent < size and not server.stopped():
            conn.sendall(chunk)
            sent += len(chunk)


# -- stalls under the default timeouts (issue 15) --------------------------------------------


def silent_after_headers(server: FaultServer, conn: socket.socket, path: str) -> None:
    conn.sendall(_head("200 OK", {"Content-Type": RSS, "Content-Length": "4096"}))
    server._stop.wait(180)


def dripping(server: FaultServer, conn: socket.socket, path: str) -> None:
    """A body of 4096 bytes sent one byte every two seconds."""
    conn.sendall(_head("200 OK", {"Content-Type": RSS, "Content-Length": "4096"}))
    body = _rss(_item(1)).ljust(4096)
    for byte in body:
        conn.sendall(bytes([byte]))
        if server._stop.wait(2.0):
            return


# 10 MB (under the 10 MiB cap) at 256 KiB/s: about 37 s, a slow but steady link.
STEADY_BYTES = 10_000_000
STEADY_RATE = 256 * 1024
STEADY_ITEMS = 400


def steady_10_mb_feed(server: FaultServer, conn: socket.socket, path: str) -> None:
    """A 10 MB feed of STEADY_ITEMS long posts, sent at STEADY_RATE in 16 KiB pieces."""
    pad = (STEADY_BYTES - len(_rss(""))) // STEADY_ITEMS - len(_item(0))
    items = "".join(
        _item(n).replace("#bsnopen", "#bsnopen " + "x" * pad) for n in range(STEADY_ITEMS)
    )
    body = _rss(items)
    conn.sendall(_head("200 OK", {"Content-Type": RSS, "Content-Length": str(len(body))}))
    piece = 16 * 1024
    start = time.monotonic()
    for sent in range(0, len(body), piece):
        ahead = start + sent / STEADY_RATE - time.monotonic()
        if ahead > 0 and server._stop.wait(ahead):
            return
        conn.sendall(body[sent : sent + piece])
