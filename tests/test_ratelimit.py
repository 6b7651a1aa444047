"""Rate limits spent to the full: header-driven and header-less pacing, per bucket."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fixtures.synthetic import synthetic_instances, synthetic_status

from bsarchive import archive
from bsarchive.demo import FixtureMastodon
from bsarchive.errors import RateLimitedError
from bsarchive.http import Bucket, Http, HttpSettings, RateLimits, request_buckets

from .conftest import Cli

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
FAST = HttpSettings(
    connect_timeout=2, read_timeout=2, total_timeout=5, retries=2, backoff=0.0, max_wait=60
)
TOO_MANY = b'{"error":"Too many requests"}'


def iso(when: datetime) -> str:
    """Mastodon's X-RateLimit-Reset shape: ISO 8601 with microseconds."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reply(
    status: int, headers: dict[str, str] | None = None, content: bytes = b""
) -> httpx.Response:
    # A streamed body, as from the network (Http reads responses with iter_raw).
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))


class FakeClock:
    """Time that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.t += seconds

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.t)

    def client(self, handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Http:
        settings = HttpSettings(**{**_fields(FAST), **kw})
        return Http(
            settings,
            sleep=self.sleep,
            monotonic=self.monotonic,
            now=self.now,
            transport=httpx.MockTransport(handler),
        )


class FixedWindow:
    """A server-side fixed-window limiter like rack-attack's: every request counts, the
    ones over the limit get 429 without Retry-After."""

    def __init__(self, limit: int, period: float, seconds: Callable[[], float]) -> None:
        self.limit, self.period, self.seconds = limit, period, seconds
        self.lock = threading.Lock()
        self.counts: Counter[int] = Counter()
        self.statuses: list[int] = []

    def hit(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            t = self.seconds()
            window = int(t // self.period)
            self.counts[window] += 1
            used = self.counts[window]
            end = NOW + timedelta(seconds=(window + 1) * self.period)
            status = 200 if used <= self.limit else 429
            self.statuses.append(status)
            return status, {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.limit - used)),
                "X-RateLimit-Reset": iso(end),
            }

    def handler(self, request: httpx.Request) -> httpx.Response:
        status, headers = self.hit()
        return reply(status, headers=headers, content=b"[]" if status == 200 else TOO_MANY)


def test_requests_are_classified_by_query() -> None:
    base = "https://m.example/api/v1/timelines/tag/bsnopen"
    assert request_buckets(f"{base}?limit=40") == ("general",)
    assert request_buckets(f"{base}?limit=40&max_id=1") == ("paging", "general")
    assert request_buckets(f"{base}?min_id=1") == ("paging", "general")
    assert request_buckets(f"{base}?since_id=1") == ("paging", "general")
    assert request_buckets("https://m.example/users/a/outbox?page=true") == ("paging", "general")
    assert request_buckets(f"{base}?max_id=") == ("general",)  # blank is not paging
    assert request_buckets("https://m.example/api/v1/statuses/1") == ("general",)


def test_headers_are_spent_to_zero_then_wait_exactly_until_reset() -> None:
    clock = FakeClock()
    server = FixedWindow(3, 10.0, lambda: clock.t)
    with clock.client(server.handler) as client:
        for _ in range(9):
            assert client.get("http://127.0.0.1:9/api/v1/timelines/public").status == 200
        assert client.waited("http://127.0.0.1:9/") == 20.0
    assert clock.slept == [10.0, 10.0]
    assert dict(server.counts) == {0: 3, 1: 3, 2: 3}
    assert server.statuses == [200] * 9


def test_reset_fraction_is_the_request_time_not_the_window_end() -> None:
    # Mastodon sends now + period - int(now) % period: the window end (NOW + 5 s) plus the
    # sub-second part of the request's time. The next window opens on the whole second.
    clock = FakeClock()
    clock.t = 0.609574
    reset = "2026-12-01T12:00:05.609574Z"

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})

    with clock.client(handler) as client:
        client.get("https://mastodon.example/api/v1/instance")
        response = client.get("https://mastodon.example/api/v1/instance")
    assert clock.slept == [4.390426]
    assert response.waited == pytest.approx(4.390426)


def test_paging_and_general_buckets_are_separate() -> None:
    clock = FakeClock()
    reset = iso(NOW + timedelta(seconds=30))
    seen: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path + ("?p" if request.url.params else ""), clock.t))
        # The paging bucket is spent; the general one has room.
        remaining = "0" if "max_id" in request.url.params else "250"
        return reply(200, headers={"X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset})

    with clock.client(handler) as client:
        client.get("http://127.0.0.1:9/api/v1/timelines/tag/t?max_id=5")
        client.get("http://127.0.0.1:9/api/v1/timelines/tag/t")
        client.get("http://127.0.0.1:9/api/v1/statuses/1")
        client.get("http://127.0.0.1:9/api/v1/timelines/tag/t?max_id=4")
    assert seen == [
        ("/api/v1/timelines/tag/t?p", 0.0),
        ("/api/v1/timelines/tag/t", 0.0),
        ("/api/v1/statuses/1", 0.0),
        ("/api/v1/timelines/tag/t?p", 30.0),
    ]


def test_429_without_retry_after_waits_for_the_reset_and_goes_on() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(clock.t)
        if len(calls) == 1:
            headers = {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": iso(NOW + timedelta(seconds=7)),
            }
            return reply(429, headers=headers, content=TOO_MANY)
        return reply(200, content=b"[]")

    with clock.client(handler) as client:
        response = client.get("https://mastodon.example/api/v1/timelines/tag/t")
        assert client.waited("https://mastodon.example/") == 7.0
    assert (response.status, response.requests, response.waited) == (200, 2, 7.0)
    assert calls == [0.0, 7.0]


def test_429_reset_beyond_max_wait_ends_the_source() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        reset = iso(NOW + timedelta(seconds=900))
        return reply(429, headers={"X-RateLimit-Reset": reset}, content=TOO_MANY)

    with (
        clock.client(handler) as client,
        pytest.raises(RateLimitedError, match="asks to wait 900s, more than --max-wait 60s"),
    ):
        client.get("https://mastodon.example/api/v1/timelines/tag/t?max_id=1")
    assert clock.slept == []


def test_headerless_pacing_spreads_requests_for_a_remote_origin() -> None:
    clock = FakeClock()
    seen: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host + ("?p" if request.url.params else ""), clock.t))
        return reply(200, content=b"[]")  # like Mastodon 4.1 timelines: no headers

    # 10 per 10 s general (spread as 1 per 1 s), 10 per 30 s paging (1 per 3 s).
    with clock.client(handler, budget_general=(10, 10.0), budget_paging=(10, 30.0)) as client:
        client.get("https://m.example/api/v1/timelines/tag/t")
        client.get("https://m.example/api/v1/timelines/tag/t?max_id=9")
        client.get("https://m.example/api/v1/timelines/tag/t?max_id=8")
        client.get("https://m.example/api/v1/statuses/1")
        client.get("https://m.example/api/v1/statuses/2")
        # Loopback is safelisted by Mastodon: no pacing without headers.
        for _ in range(3):
            client.get("http://127.0.0.1:9/api/v1/statuses/1")
        assert client.waited("https://m.example/") == 6.0
    assert seen == [
        ("m.example", 0.0),
        ("m.example?p", 1.0),  # the general bucket's second
        ("m.example?p", 4.0),  # the paging bucket's 3 s
        ("m.example", 5.0),
        ("m.example", 6.0),
        ("127.0.0.1", 6.0),
        ("127.0.0.1", 6.0),
        ("127.0.0.1", 6.0),
    ]


def test_headerless_pacing_keeps_every_window_within_budget() -> None:
    clock = FakeClock()
    server = FixedWindow(10**6, 300.0, lambda: clock.t)

    def handler(request: httpx.Request) -> httpx.Response:
        server.hit()
        return reply(200, content=b"[]")

    with clock.client(handler) as client:  # documented 300 / 5 min
        for _ in range(700):
            client.get("https://m.example/api/v1/statuses/1")
    # Spread 30 per 30 s; any 300 s window holds at most 300, and the rate is the budget.
    assert max(server.counts.values()) == 300
    assert clock.t == pytest.approx(690.0)
    assert clock.slept[:3] == [30.0, 30.0, 30.0]


def test_429_headers_do_not_end_headerless_pacing() -> None:
    # Mastodon 3.1/4.1 timelines: no X-RateLimit-* on a 200, but a 429 carries them
    # (PROTOCOL.md §1). The paging bucket is 300 / 15 min per IP.
    clock = FakeClock()
    server = FixedWindow(300, 900.0, lambda: clock.t)
    server.counts[0] = 200  # another client on the same IP has used part of the window
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = server.hit()
        if status == 200:
            sent.append(clock.t)
            return reply(200, content=b"[]")
        return reply(429, headers=headers, content=TOO_MANY)

    with clock.client(handler, max_wait=1000) as client:
        for i in range(1200):
            client.get(f"https://m.example/api/v1/timelines/tag/t?max_id={10**6 - i}")
    # The one 429 the other client's usage makes unavoidable, then none: after the reset the
    # documented budget still paces the host (before the fix: a burst of 300 and a 429 in
    # every window).
    assert server.statuses == [200] * 100 + [429] + [200] * 1100
    assert server.statuses[101:].count(429) == 0
    # Window 0 holds the other client's 200 and our 100 plus the refused request.
    assert dict(server.counts) == {0: 301, 1: 300, 2: 300, 3: 300, 4: 200}
    # Spread 30 per 90 s, never the whole budget at once.
    assert max(sum(1 for t in sent if start <= t < start + 90.0) for start in sent) == 30
    assert clock.t == pytest.approx(4140.0)


def test_headers_on_a_200_after_a_429_still_drive_the_limits() -> None:
    clock = FakeClock()
    server = FixedWindow(300, 900.0, lambda: clock.t)
    server.counts[0] = 300  # window 0 is spent: the first answer is a 429
    with clock.client(server.handler, max_wait=1000) as client:
        for i in range(100):
            client.get(f"https://m.example/api/v1/timelines/tag/t?max_id={10**6 - i}")
    # 4.7.3 sends the headers on every answer: after the reset they, not the documented
    # budget's 30 per 90 s, set the pace, so the 100 go out at once.
    assert server.statuses == [429] + [200] * 100
    assert clock.slept == [900.0]


def test_pacing_can_be_turned_off() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(200, content=b"[]")

    with clock.client(handler, budget_general=None, budget_paging=None) as client:
        for _ in range(400):
            client.get("https://m.example/api/v1/statuses/1?max_id=3")
    assert clock.slept == []


class ScaledClock:
    """Real time running SPEED times faster, so threads really overlap but tests stay short."""

    SPEED = 50.0

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.SPEED)

    def monotonic(self) -> float:
        return (time.monotonic() - self.t0) * self.SPEED

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.monotonic())


def test_two_threads_never_overdraw_the_remaining_budget() -> None:
    clock = ScaledClock()
    server = FixedWindow(4, 2.0, clock.monotonic)

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = server.hit()
        time.sleep(0.005)  # 0.25 s scaled: both threads are in flight together
        return reply(status, headers=headers, content=b"[]")

    client = Http(
        HttpSettings(**{**_fields(FAST), "total_timeout": 1000.0}),  # scaled time runs fast
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        now=clock.now,
        transport=httpx.MockTransport(handler),
    )
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(12):
                client.get(f"http://127.0.0.1:9/api/v1/timelines/tag/t?max_id={n}{i}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    with client:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert server.statuses == [200] * 24
    assert max(server.counts.values()) == 4


def test_loopback_server_enforcing_a_window_draws_no_429() -> None:
    start = time.time()
    # Windows are counted from NOW; real time maps onto them by the epoch offset.
    limiter = FixedWindow(10, 1.0, lambda: time.time() - NOW.timestamp())

    def limited(handler: Any, path: str, query: Any) -> bool:
        status, headers = limiter.hit()
        handler.send(status, b"[]" if status == 200 else TOO_MANY, headers)
        return True

    with FixtureMastodon([], hook=limited) as server, Http(FAST) as client:
        url = f"{server.url}/api/v1/timelines/tag/t"
        got: list[int] = []

        def worker() -> None:
            for i in range(15):
                got.append(client.get(f"{url}?max_id={i}").status)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        waited = client.waited(url)
    assert got == [200] * 30
    assert limiter.statuses == [200] * 30
    # Spent to the full but for the one request the other thread may have in flight: the
    # server may or may not have counted it when an answer says what is left.
    assert max(limiter.counts.values()) in (9, 10)
    assert 0.0 < waited < time.time() - start


def _fields(settings: HttpSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


# -- two buckets (issue 15): the pure accounting, then a fetch end to end ---------------------

T0 = NOW.timestamp()  # a multiple of 900: every window of these tests starts on it
BOTH: tuple[Literal["paging", "general"], ...] = ("paging", "general")


def mastodon_headers(limit: int, remaining: int, period: int, now: float) -> dict[str, str]:
    """Mastodon's X-RateLimit-* for an answer at ``now`` (epoch seconds): the Reset is
    now + period - int(now) % period, microseconds and all."""
    reset = datetime.fromtimestamp(now + period - int(now) % period, UTC)
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": iso(reset),
    }


def test_headers_that_switch_bucket_leave_each_bucket_its_own_window() -> None:
    # General 3 / 10 s, paging 3 / 30 s, as documented. Three paging requests: both counts
    # are equal, so the headers describe the general bucket (ties go to it) and say nothing
    # of the paging one, which is spent too.
    limits = RateLimits(Bucket((3, 10.0)), Bucket((3, 30.0)), paced=False)
    for i, remaining in enumerate((2, 1, 0)):
        t = T0 + 0.25 * (i + 1)
        assert limits.delay(BOTH, t) == (0.0, "", False)
        limits.send(BOTH, t)
        limits.answer(BOTH, t + 0.01, 200, mastodon_headers(3, remaining, 10, t))
    assert limits.delay(("general",), T0 + 1) == (9.0, "general rate limit reached", True)
    assert limits.delay(BOTH, T0 + 1) == (29.0, "pacing to the paging budget", False)
    # A new general window: a request that pages still waits for the paging window's end
    # (the headers never described it: our own count holds it), one that does not may go.
    assert limits.delay(("general",), T0 + 10) == (0.0, "", False)
    assert limits.delay(BOTH, T0 + 10) == (20.0, "pacing to the paging budget", False)
    assert limits.delay(BOTH, T0 + 30) == (0.0, "", False)


def test_a_paging_window_end_in_the_headers_is_told_apart_from_the_general_one() -> None:
    limits = RateLimits(Bucket((300, 300.0)), Bucket((300, 900.0)), paced=False)
    t = T0 + 400.5  # general window ends at T0 + 600, paging at T0 + 900
    limits.send(("general",), t)
    limits.answer(("general",), t, 200, mastodon_headers(300, 250, 300, t))
    limits.send(BOTH, t)
    # The paging bucket is the one closer to its limit: Reset names its window.
    limits.answer(BOTH, t, 200, mastodon_headers(300, 0, 900, t))
    assert (limits.paging.seen, limits.paging.end, limits.paging.used) == (True, T0 + 900, 300)
    assert (limits.general.end, limits.general.used) == (T0 + 600, 51)
    assert limits.delay(("general",), t) == (0.0, "", False)
    assert limits.delay(BOTH, t) == (499.5, "paging rate limit reached", True)


def test_windows_ending_together_hold_both_buckets_until_then() -> None:
    # In the paging window's last general window both end at T0 + 900: the headers may
    # describe either, so the count bounds both, until then.
    limits = RateLimits(Bucket((300, 300.0)), Bucket((300, 900.0)), paced=False)
    t = T0 + 700.0
    limits.send(BOTH, t)
    limits.answer(BOTH, t, 200, mastodon_headers(300, 0, 300, t))
    assert (limits.general.used, limits.paging.used) == (300, 300)
    assert limits.delay(("general",), t) == (200.0, "general rate limit reached", True)
    assert limits.delay(BOTH, T0 + 900) == (0.0, "", False)


def test_window_lengths_and_limits_are_learnt_from_the_headers() -> None:
    # A server whose general bucket is 100 / 60 s, not the documented 300 / 300 s.
    limits = RateLimits(Bucket((300, 300.0)), Bucket((300, 900.0)), paced=False)
    for t, remaining in ((T0 + 30.5, 99), (T0 + 61.5, 99), (T0 + 62.5, 98)):
        limits.send(("general",), t)
        limits.answer(("general",), t, 200, mastodon_headers(100, remaining, 60, t))
    assert (limits.general.limit, limits.general.period) == (100, 60.0)
    assert (limits.general.end, limits.general.used) == (T0 + 120, 2)
    # The window after the next one is placed from the learnt length, without a header.
    assert limits.general.expected_end(T0 + 130) == T0 + 180
    # The paging bucket is still the documented one.
    assert (limits.paging.limit, limits.paging.period) == (300, 900.0)


def test_a_429_for_a_paging_request_holds_the_bucket_that_refused_it() -> None:
    limits = RateLimits(Bucket((300, 300.0)), Bucket((300, 900.0)), paced=True)
    t = T0 + 100.0
    limits.send(BOTH, t)
    headers = mastodon_headers(300, 0, 900, t)
    del headers["x-ratelimit-remaining"]  # a 429 means nothing is left, said or not
    limits.answer(BOTH, t, 429, headers)
    assert limits.paced  # headers on a 429 only: the documented pacing stays (Mastodon 4.1)
    assert limits.delay(("general",), t)[0] < 1.0
    assert limits.delay(BOTH, t) == (800.0, "paging rate limit reached", True)


class TwoBuckets:
    """Mastodon's rack-attack throttles, scaled down: every request in the general bucket,
    paging ones also in the paging bucket; windows aligned on the epoch; the headers
    describe the bucket closest to its limit (ties: general), a 429's the one refusing."""

    def __init__(self, general: tuple[int, int], paging: tuple[int, int], headers: bool) -> None:
        self.buckets = {"general": general, "paging": paging}
        self.headers = headers  # on successful answers (a 429 always has them)
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, int]] = Counter()
        self.statuses: list[int] = []
        self.local = threading.local()

    def hook(self, handler: Any, path: str, query: dict[str, list[str]]) -> bool:
        paging = any(query.get(p, [""])[0] for p in ("page", "min_id", "max_id", "since_id"))
        names = ["general", "paging"] if paging else ["general"]
        with self.lock:
            now = time.time()
            seen: list[tuple[int, int, dict[str, str]]] = []
            refused: dict[str, str] | None = None
            for i, name in enumerate(names):
                limit, period = self.buckets[name]
                key = (name, int(now) // period)
                self.counts[key] += 1
                headers = mastodon_headers(limit, max(0, limit - self.counts[key]), period, now)
                if self.counts[key] > limit:
                    refused = headers
                    break
                seen.append((limit - self.counts[key], i, headers))
            self.statuses.append(429 if refused else 200)
            self.local.headers = min(seen)[2] if seen and self.headers else {}
        if refused is not None:
            handler.send(429, TOO_MANY, refused)
            return True
        return False

    def extra_headers(self) -> dict[str, str]:
        return dict(getattr(self.local, "headers", {}))


def test_fetch_against_both_buckets_draws_no_429(
    cli: Cli, servers: Any, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two instances throttling like Mastodon with 6 / 1 s general and 6 / 2 s paging, one
    # sending the headers on every answer (4.7), one only on a 429 (3.1/4.1); the client is
    # told those documented budgets and paces loopback as a remote server. 18 pages each.
    shipped = archive.http_settings
    monkeypatch.setattr(
        archive,
        "http_settings",
        lambda s: replace(
            shipped(s), budget_general=(6, 1.0), budget_paging=(6, 2.0), pace_loopback=True
        ),
    )
    limiters = [TwoBuckets((6, 1), (6, 2), headers=h) for h in (True, False)]
    timelines = synthetic_instances(2 * 17 * 40, instances=2, shared=0.0)
    urls = [
        servers(t, hook=lim.hook, extra_headers=lim.extra_headers).url
        for t, lim in zip(timelines, limiters, strict=True)
    ]
    start = time.monotonic()
    result = cli(
        "fetch", "--tag", "bsnopen", "--db", str(cli.db), "--config", str(fast_config),
        "--mastodon", urls[0], "--mastodon", urls[1], "--no-reactions",
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(2 * 17 * 40,)]
    for limiter in limiters:
        assert len(limiter.statuses) >= 18
        assert limiter.statuses.count(429) == 0
        assert max(n for (name, _), n in limiter.counts.items() if name == "paging") <= 6
    # Paced, not serialised: both sources ran together at about the paging rate (3 / s).
    assert elapsed < 20, elapsed


def test_the_default_recheck_takes_a_share_of_a_small_servers_budget(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    # A server allowing 10 paging requests a window (Mastodon's is 300), telling so in its
    # headers: the re-check after a catch-up spends a fifth of it, and draws no 429.
    limiter = TwoBuckets((100, 60), (10, 60), headers=True)
    timeline = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(200)]
    server = servers(timeline, hook=limiter.hook, extra_headers=limiter.extra_headers)
    args = ["fetch", "--tag", "bsnopen", "--db", str(cli.db), "--config", str(fast_config),
            "--mastodon", server.url, "--no-reactions"]  # fmt: skip
    first = cli(*args)
    assert first.exit_code == 0, first.output
    backfill = len(server.requests)  # 5 pages of 40 and the empty one
    second = cli(*args)
    assert second.exit_code == 0, second.output
    # One catch-up, then a walk of the 200 stored posts (5 pages) cut to a share of the
    # window as the client has learnt it from the headers: never more than half of the 10,
    # never a wait, never a 429. (Usually 2, a fifth of 10; the client's reading of which
    # bucket a header describes can leave it a larger share, as much as 4, on some runs.)
    walk = [r for r in server.requests[backfill + 1 :] if "max_id=" in r]
    assert 1 <= len(walk) <= 5, server.requests[backfill:]
    assert limiter.statuses.count(429) == 0
