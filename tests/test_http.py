"""The shared client: header parsing, caps, retries, token scoping, the address guard."""

from __future__ import annotations

import gzip
import ipaddress
import threading
import zlib
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bsarchive.errors import BlockedAddressError, FetchError, RateLimitedError, TooLargeError
from bsarchive.http import (
    Http,
    HttpSettings,
    parse_link_header,
    parse_rate_end,
    parse_retry_after,
    system_resolver,
)
from bsarchive.urls import is_public_address

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
FAST = HttpSettings(
    connect_timeout=2, read_timeout=2, total_timeout=5, retries=2, backoff=0.0, max_wait=5
)


def test_link_header_real_mastodon_shape() -> None:
    value = (
        '<http://host/api/v1/timelines/tag/T?limit=10&max_id=117440825433321368>; rel="next", '
        '<http://host/api/v1/timelines/tag/T?limit=10&min_id=117440825481806171>; rel="prev"'
    )
    assert parse_link_header(value, "http://host/x") == {
        "next": "http://host/api/v1/timelines/tag/T?limit=10&max_id=117440825433321368",
        "prev": "http://host/api/v1/timelines/tag/T?limit=10&min_id=117440825481806171",
    }
    assert parse_link_header("</page/2>; rel=next", "https://h/feed") == {
        "next": "https://h/page/2"
    }
    assert parse_link_header("garbage", "https://h/") == {}


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Tue, 01 Dec 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Tue, 01 Dec 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_rate_reset_iso_epoch_and_delta() -> None:
    now = NOW.timestamp()
    # Mastodon's ISO reset carries the request's fraction: the window ends on the second.
    assert parse_rate_end("2026-12-01T12:05:00.609574Z", now) == now + 300
    assert parse_rate_end(str(now + 60), now) == now + 60
    assert parse_rate_end("45", now) == now + 45
    assert parse_rate_end("never", now) is None


def test_token_is_sent_only_to_its_origin_and_dropped_on_redirect(httpserver: HTTPServer) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        seen: dict[str, Any] = {}

        def record(name: str) -> Any:
            def handler(request: Request) -> Response:
                seen[name] = request.headers.get("Authorization")
                return Response("[]", content_type="application/json")

            return handler

        other.expect_request("/landing").respond_with_handler(record("other"))
        httpserver.expect_request("/start").respond_with_response(
            Response(status=302, headers={"Location": other.url_for("/landing")})
        )
        httpserver.expect_request("/own").respond_with_handler(record("own"))
        base = httpserver.url_for("/").rstrip("/")
        with Http(FAST, tokens={base: "tok-123"}) as client:
            response = client.get(httpserver.url_for("/start"))
            client.get(httpserver.url_for("/own"))
        assert response.status == 200
        assert response.history == (httpserver.url_for("/start"),)
        assert seen == {"other": None, "own": "Bearer tok-123"}
    finally:
        other.stop()


def test_gzip_bomb_stops_at_the_cap(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    httpserver.expect_request("/bomb").respond_with_response(
        Response(bomb, headers={"Content-Encoding": "gzip"}, content_type="application/json")
    )
    client = Http(HttpSettings(**{**_fields(FAST), "max_bytes": 1024 * 1024}))
    with client, pytest.raises(TooLargeError, match="over the cap of 1048576 bytes"):
        client.get(httpserver.url_for("/bomb"))


def test_deflate_and_gzip_bodies_are_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gz").respond_with_response(
        Response(gzip.compress(b"hello"), headers={"Content-Encoding": "gzip"})
    )
    httpserver.expect_request("/df").respond_with_response(
        Response(zlib.compress(b"world"), headers={"Content-Encoding": "deflate"})
    )
    with Http(FAST) as client:
        assert client.get(httpserver.url_for("/gz")).body == b"hello"
        assert client.get(httpserver.url_for("/df")).body == b"world"


def test_5xx_is_retried_then_reported(httpserver: HTTPServer) -> None:
    calls = {"n": 0}

    def flapping(request: Request) -> Response:
        calls["n"] += 1
        return Response("busy", status=503) if calls["n"] < 3 else Response("ok")

    httpserver.expect_request("/flap").respond_with_handler(flapping)
    with Http(FAST) as client:
        response = client.get(httpserver.url_for("/flap"))
    assert (response.status, response.body, response.requests) == (200, b"ok", 3)

    httpserver.expect_request("/down").respond_with_response(Response("down", status=503))
    with Http(FAST) as client:
        assert client.get(httpserver.url_for("/down")).status == 503


def test_rate_limit_headers_pause_the_host(httpserver: HTTPServer) -> None:
    slept: list[float] = []
    reset = "2026-12-01T12:00:04.000000Z"
    httpserver.expect_request("/limited").respond_with_response(
        Response("[]", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    )
    clock = {"t": 100.0}

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["t"] += seconds

    def now() -> datetime:  # the wall clock moves with the sleeps
        return NOW + timedelta(seconds=clock["t"] - 100.0)

    with Http(FAST, sleep=sleep, monotonic=lambda: clock["t"], now=now) as client:
        client.get(httpserver.url_for("/limited"))
        client.get(httpserver.url_for("/limited"))
    assert slept == [pytest.approx(4.0)]

    long_reset = "2026-12-01T13:00:00Z"
    httpserver.expect_request("/later").respond_with_response(
        Response("", status=429, headers={"X-RateLimit-Reset": long_reset})
    )
    with (
        Http(FAST, sleep=sleep, now=lambda: NOW) as client,
        pytest.raises(RateLimitedError, match="asks to wait 3600s"),
    ):
        client.get(httpserver.url_for("/later"))


def test_redirect_loop_and_odd_schemes(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/loop").respond_with_response(
        Response(status=302, headers={"Location": "/loop"})
    )
    httpserver.expect_request("/file").respond_with_response(
        Response(status=302, headers={"Location": "file:///etc/passwd"})
    )
    with Http(FAST) as client:
        with pytest.raises(FetchError, match="too many redirects"):
            client.get(httpserver.url_for("/loop"))
        with pytest.raises(FetchError, match="redirect to a file URL"):
            client.get(httpserver.url_for("/file"))


def test_untrusted_urls_never_reach_loopback(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/secret").respond_with_data("internal")
    port = httpserver.port
    with Http(FAST) as client:
        for host in ("127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1"):
            with pytest.raises(BlockedAddressError, match="a loopback address 127.0.0.1"):
                client.get(f"http://{host}:{port}/secret", untrusted=True)
        # Trusted (configured) sources may use loopback.
        assert client.get(f"http://127.0.0.1:{port}/secret").body == b"internal"
    allowed = HttpSettings(**{**_fields(FAST), "allow_private_networks": True})
    with Http(allowed) as client:
        assert client.get(f"http://127.0.0.1:{port}/secret", untrusted=True).body == b"internal"


def test_redirect_from_public_name_to_loopback_is_refused(httpserver: HTTPServer) -> None:
    # A blog at news.example (a public host: 127.0.0.2 stands in for its address, the one
    # address the rule set is told to take for public) answers with a redirect into
    # loopback. The guard, with urls.py's rules, refuses the second connection.
    httpserver.expect_request("/secret").respond_with_data("internal")
    inner = f"http://127.0.0.1:{httpserver.port}/secret"

    class Blog(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = b"a public page" if self.path == "/page" else b""
            self.send_response(200 if body else 302)
            if not body:
                self.send_header("Location", inner)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    public = ThreadingHTTPServer(("127.0.0.2", 0), Blog)
    thread = threading.Thread(target=public.serve_forever, daemon=True)
    thread.start()
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.2"] if host == "news.example" else system_resolver(host, port)

    def rules(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return str(ip) == "127.0.0.2" or is_public_address(ip)

    blog = f"http://news.example:{public.server_address[1]}"
    try:
        with Http(FAST, resolver=resolver, is_public=rules) as client:
            assert client.get(f"{blog}/page", untrusted=True).body == b"a public page"
            with pytest.raises(BlockedAddressError) as info:
                client.get(f"{blog}/post", untrusted=True)
    finally:
        public.shutdown()
        public.server_close()
        thread.join(timeout=5)
    assert str(info.value) == (
        f"{inner}: 127.0.0.1 is a loopback address 127.0.0.1"
        " (use --allow-private-networks to allow)"
    )
    assert set(asked) == {"news.example"}  # a literal address is judged without a lookup
    assert len(httpserver.log) == 0  # the loopback server was never reached


def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/secret").respond_with_data("internal")
    with (
        Http(FAST, resolver=lambda host, port: ["127.0.0.1"]) as client,
        pytest.raises(BlockedAddressError, match="resolves to a loopback address 127.0.0.1"),
    ):
        client.get(f"http://intranet.example:{httpserver.port}/secret", untrusted=True)
    assert len(httpserver.log) == 0


def _fields(settings: HttpSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def test_a_redirect_without_location_and_an_unasked_304_are_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/nowhere").respond_with_response(Response(status=302))
    httpserver.expect_request("/same").respond_with_response(Response(status=304))
    with Http(FAST) as client:
        with pytest.raises(FetchError, match="HTTP 302 redirect without a Location"):
            client.get(httpserver.url_for("/nowhere"))
        with pytest.raises(FetchError, match="304 Not Modified to a request that was not cond"):
            client.get(httpserver.url_for("/same"))
        # Asked with a validator, 304 is the answer it should be.
        assert client.get(httpserver.url_for("/same"), etag='"v1"').status == 304
