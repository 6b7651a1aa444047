"""The one HTTP client: timeouts, bounded retries, rate limits, size caps, token scoping,
conditional GET and the private-address guard.

Nothing else in bsarchive constructs an ``httpx.Client``. Sources call :meth:`Http.get` and
get back a fully read, size-capped :class:`Response` (or a :class:`~bsarchive.errors.FetchError`
for transport failures). HTTP error statuses are returned, not raised, so each source decides
what a 404 means; :func:`raise_for_status` maps the usual ones.

Rules kept here, once:
- A token is attached only to requests whose origin is the token's instance; redirects are
  followed by hand so every hop is re-checked (a redirect to another host loses the token).
  Tokens never appear in logs or error messages.
- Retries (connect errors, broken connections, 502/503/504/500) are bounded, with
  exponential backoff and jitter. A read timeout or a dripping body is a stall, not a
  transient error: it ends the request. One deadline (``total_timeout``) bounds a request,
  retries and body included, so a stalled server ends its source within a minute.
- Rate limits are spent to the full and never overdrawn, per origin and per bucket: Mastodon
  counts every API request in a general bucket and paging requests (``max_id``/``min_id``/
  ``since_id``/``page``) also in a paging bucket with a longer window; its
  ``X-RateLimit-*`` headers describe whichever is closer to its limit (ties: general), so
  they switch between the two (PROTOCOL.md §6). :class:`RateLimits` keeps both buckets as
  fixed windows aligned on the epoch, attributes each answer's headers to the bucket whose
  window ends when Reset says (:func:`shown_buckets`), learns limits and window lengths
  from them, counts each request in every bucket it falls into (requests in flight on
  other threads included) and holds a request until all its buckets have room. Until a
  server sends headers on successful answers (Mastodon 3.1/4.1 timelines send them only on
  a 429), non-loopback hosts are paced from the documented budgets
  (``HttpSettings.budget_*``); loopback is never throttled by Mastodon, so only
  header-driven limits apply there. A 429 waits for ``Retry-After`` (seconds or HTTP-date)
  or the end of the refusing bucket's window; any server-imposed wait longer than
  ``max_wait`` ends that source with :class:`RateLimitedError`. :meth:`Http.waited`
  reports the time spent.
- Bodies are decompressed here (gzip/deflate only) with a bounded output, so a gzip bomb
  stops at the size cap instead of filling memory.
- Untrusted URLs (links found in posts) connect only to public addresses unless private
  networks are allowed; the check runs on the address actually connected to.

This module knows nothing about Mastodon, feeds or the database.
"""

from __future__ import annotations

import email.utils
import ipaddress
import itertools
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urljoin, urlsplit

import httpcore
import httpx
import httpx_sse

from bsarchive import __version__
from bsarchive.errors import (
    AuthRequiredError,
    BlockedAddressError,
    FetchError,
    GoneError,
    RateLimitedError,
    TooLargeError,
)
from bsarchive.urls import (
    IPAddress,
    Resolver,
    address_phrase,
    is_public_address,
    resolve_public,
)

log = logging.getLogger(__name__)

USER_AGENT = f"bsarchive/{__version__} (+https://github.com/bsarchive/bsarchive; event archiver)"
# Statuses worth a retry: transient server trouble (RFC 9110 §15.6).
RETRY_STATUSES = frozenset({500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MiB = 1024 * 1024
# Mastodon's rack-attack ``paging_request?``: any of these (non-blank) puts a request in the
# paging bucket too (PROTOCOL.md §1, config/initializers/rack_attack.rb).
PAGING_PARAMS = frozenset({"max_id", "min_id", "since_id", "page"})
# Header-less pacing spreads a budget of N per P seconds as N/10 per P/10 (and never more
# than N per P), so a long run neither bursts the whole budget nor sleeps a whole period.
PACING_SLICES = 10
# Two window ends closer than this are the same window (Mastodon's are whole seconds once the
# request's sub-second fraction is dropped; other servers' may drift with latency).
_SAME_WINDOW = 0.5
# Window ends kept per bucket to learn its period from their spacing.
_ENDS_KEPT = 4
# Waits shorter than this are float noise, not a budget.
_EPSILON = 1e-6

BucketName = Literal["general", "paging"]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Client limits. Defaults suit real servers; tests pass short ones."""

    connect_timeout: float = 10.0
    # Silence this long ends the request, and is not retried: a server that stops sending
    # is not having a transient hiccup.
    read_timeout: float = 30.0
    # Wall-clock cap on one request, every retry and body included but rate-limit waits not,
    # so a stalled or dripping server ends its source well within a minute.
    total_timeout: float = 50.0
    # A body must come at MIN_RATE bytes/s on average once RATE_GRACE seconds have passed
    # since its first byte: a trickle (a byte every few seconds) is a stall, not a body.
    min_rate: float = 1024.0
    rate_grace: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    # Longest single wait for a rate limit or Retry-After before giving up on a source.
    max_wait: float = 300.0
    max_bytes: int = 10 * MiB
    max_redirects: int = 5
    per_host: int = 2
    concurrency: int = 8
    allow_private_networks: bool = False
    user_agent: str = USER_AGENT
    # Documented Mastodon budgets (requests, seconds) used to pace a non-loopback host that
    # sends no X-RateLimit-* headers: 300 / 5 min per IP or token for /api/*, and 300 / 15
    # min for paging requests (PROTOCOL.md §1). None turns that pacing off.
    budget_general: tuple[int, float] | None = (300, 300.0)
    budget_paging: tuple[int, float] | None = (300, 900.0)
    # Pace loopback hosts as well (Mastodon never throttles them; benches and tests that
    # stand in for a remote server do).
    pace_loopback: bool = False


@dataclass(frozen=True, slots=True)
class Response:
    """A fully read response."""

    url: str  # final URL after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    requests: int = 1
    waited: float = 0.0
    history: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def links(self) -> dict[str, str]:
        """``Link`` header (RFC 8288) as rel -> absolute URL."""
        return parse_link_header(self.header("link") or "", self.url)


_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_RE = re.compile(r"""rel\s*=\s*"?([^";]+)"?""")


def parse_link_header(value: str, base: str) -> dict[str, str]:
    """Parse an RFC 8288 ``Link`` header into ``{rel: absolute url}`` (first one wins)."""
    links: dict[str, str] = {}
    for match in _LINK_RE.finditer(value):
        target, params = match.group(1), match.group(2)
        rel = _REL_RE.search(params)
        if not rel:
            continue
        for name in rel.group(1).split():
            links.setdefault(name.lower(), urljoin(base, target.strip()))
    return links


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, ports defaulted, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def request_buckets(url: str) -> tuple[BucketName, ...]:
    """The rate-limit buckets a request counts in, its own first: a paging request (one
    carrying ``max_id``/``min_id``/``since_id``/``page``) counts in both."""
    query = parse_qs(urlsplit(url).query)
    if any(name in PAGING_PARAMS for name in query):
        return ("paging", "general")
    return ("general",)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback address literals (Mastodon never throttles them)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (``getaddrinfo``): the addresses the
    guard checks before connecting."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _GuardedBackend(httpcore.SyncBackend):
    """Resolve, refuse non-public addresses, connect to a checked address, then verify the
    peer the socket is actually connected to (no DNS-rebinding gap). The rules are
    ``urls.py``'s, the same that refuse a link before it is fetched
    (:func:`bsarchive.urls.resolve_public`, :func:`bsarchive.urls.is_public_address`)."""

    def __init__(self, resolver: Resolver, is_public: Callable[[IPAddress], bool]) -> None:
        self.resolver = resolver
        self.is_public = is_public

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_public(host, port, self.resolver, is_public=self.is_public)
        except BlockedAddressError as e:
            raise _BlockedAddress(f"{host} {e.message}") from e
        except FetchError as e:
            raise httpcore.ConnectError(e.message) from e
        last: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
                continue
            sock = stream.get_extra_info("socket")
            peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
            if not self.is_public(peer):
                stream.close()
                raise _BlockedAddress(f"{host} connected to {address_phrase(peer)}")
            return stream
        assert last is not None
        raise last


class _BlockedAddress(httpcore.ConnectError):
    """Raised inside the transport; turned into BlockedAddressError at the boundary."""


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(
        self, limits: httpx.Limits, ssl_context: ssl.SSLContext, backend: _GuardedBackend
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, retries=0)
        # httpx has no public hook for the network backend; swap the pool it built for one
        # that resolves through the guard. Everything else about the transport is unchanged.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@dataclass(frozen=True, slots=True)
class RateInfo:
    """What one answer's ``X-RateLimit-*`` headers say: ``remaining`` of ``limit`` requests
    until ``end`` (epoch seconds), about one of the buckets the request counted in."""

    limit: int | None
    remaining: int
    end: float
    span: float  # seconds from the answer to ``end``


def parse_rate_end(value: str | None, now: float) -> float | None:
    """Epoch seconds at which the window named by ``X-RateLimit-Reset`` ends.

    Mastodon sends an ISO 8601 timestamp computed as ``now + period - int(now) % period``:
    the window's end, a whole second (windows are aligned on the epoch), plus the request's
    sub-second fraction. The fraction is dropped so the next window is used as soon as it
    opens (PROTOCOL.md §6). Epoch seconds and delta seconds (other servers) are taken as is.
    """
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return float(math.floor(when.timestamp()))
    if not math.isfinite(number):
        return None
    return number if number > 1e9 else now + max(0.0, number)


def read_rate_headers(
    headers: Mapping[str, str], now: float, *, refused: bool = False
) -> RateInfo | None:
    """The ``X-RateLimit-*`` headers (lower-case names) of an answer received at ``now``
    (epoch seconds), or None when Reset (or, unless the answer ``refused`` the request
    with a 429, Remaining) is missing or unreadable."""
    remaining = _int_header(headers.get("x-ratelimit-remaining"))
    if remaining is None and refused:
        remaining = 0
    end = parse_rate_end(headers.get("x-ratelimit-reset"), now)
    if remaining is None or end is None:
        return None
    limit = _int_header(headers.get("x-ratelimit-limit"))
    return RateInfo(limit=limit, remaining=remaining, end=end, span=max(0.0, end - now))


@dataclass
class Bucket:
    """One rate-limit bucket of one origin as the client knows it: a fixed window of
    ``period`` seconds aligned on the epoch (rack-attack's ``now / period`` keys) allowing
    ``limit`` requests, learnt from the headers that describe it, else the documented
    ``budget``. Pure: every method takes the time (epoch seconds)."""

    budget: tuple[int, float] | None  # documented (requests, seconds)
    limit: int | None = None
    period: float | None = None
    end: float | None = None  # end of the current window; None: unknown
    used: int = 0  # requests the server has counted in the current window, at least
    in_flight: int = 0  # sent and not yet answered
    seen: bool = False  # a header has described (or bounded) this bucket
    ends: list[float] = field(default_factory=list)  # window ends seen, to learn the period
    done: list[float] = field(default_factory=list)  # answer times, for header-less pacing

    def __post_init__(self) -> None:
        if self.budget is not None:
            self.limit = max(1, self.budget[0]) if self.limit is None else self.limit
            self.period = self.budget[1] if self.period is None else self.period

    def expected_end(self, now: float) -> float | None:
        """End of the window ``now`` falls in, as far as known."""
        if self.end is not None and self.end > now:
            return self.end
        if not self.period or self.period <= 0:
            return None
        if self.end is not None:
            return self.end + self.period * (math.floor((now - self.end) / self.period) + 1)
        return float((math.floor(now) // self.period + 1) * self.period)

    def roll(self, now: float) -> None:
        """Move to the window ``now`` falls in. A new window holds only the requests still
        in flight (sent before it opened, they may still be counted in it)."""
        if self.end is not None and now < self.end:
            return
        if self.end is not None:
            self.used = self.in_flight
        self.end = self.expected_end(now)

    def delay(self, now: float) -> float:
        """Seconds until the window has room for one more request (0: go)."""
        self.roll(now)
        if self.limit is None or self.end is None or self.used < self.limit:
            return 0.0
        return self.end - now

    def send(self, now: float) -> None:
        self.roll(now)
        self.used += 1
        self.in_flight += 1

    def settle(self, now: float) -> None:
        """One of this bucket's requests was answered (or failed)."""
        self.in_flight = max(0, self.in_flight - 1)
        if self.budget is not None:
            self.done.append(now)

    def learn(self, info: RateInfo, now: float, exact: bool) -> None:
        """Take in headers that describe this bucket (``exact``), or that may describe it
        or a bucket ending at the same time (then they bound it from below, nothing more).

        The server's count covers the answered requests; the ones still in flight are added,
        as they may not have been counted yet.
        """
        self.roll(now)
        if info.end <= now:
            return  # a window that has already ended: nothing to learn
        self.seen = True
        if exact:
            self._learn_period(info)
            if info.limit is not None:
                self.limit = info.limit
        limit = self.limit if self.limit is not None else self.used + info.remaining
        if self.limit is None:
            self.limit = limit
        count = max(0, limit - info.remaining) + self.in_flight
        if self.end is not None and abs(info.end - self.end) <= _SAME_WINDOW:
            self.used = max(self.used, count)
        elif exact or self.end is None:
            # Two windows of one bucket are never both ahead: the server's wins over ours
            # (placed from a period that did not fit, or before any header).
            self.end, self.used = info.end, count

    def _learn_period(self, info: RateInfo) -> None:
        """Keep the period while the window ends seen fit it (aligned, long enough); else
        take the spacing of the ends seen (their greatest common divisor) or, with one
        end, the shortest period that can explain it."""
        if not any(abs(info.end - e) <= _SAME_WINDOW for e in self.ends):
            self.ends = sorted([*self.ends, info.end])[-_ENDS_KEPT:]
        if self.period and _fits_period(self.period, self.ends, info.span):
            return
        spacing = 0
        for a, b in itertools.pairwise(self.ends):
            spacing = math.gcd(spacing, round(b - a))
        longest = math.ceil(max(info.span, 1.0) - _EPSILON)
        self.period = float(max(spacing, longest))

    def pace_delay(self, now: float) -> float:
        """Seconds until the documented budget allows one more request (0: go).

        A request counts from when it is sent until ``period`` after its answer, the latest
        the server can have counted it, so no window the server draws holds more than N.
        """
        if self.budget is None:
            return 0.0
        n, period = self.budget
        n = max(1, n)
        while self.done and self.done[0] + period <= now:
            del self.done[0]
        per = max(1, n // PACING_SLICES)
        delay = 0.0
        for limit, span in ((n, period), (per, period * per / n)):
            recent = [t for t in self.done if t + span > now]
            excess = self.in_flight + len(recent) - limit + 1
            if excess <= 0:
                continue
            wait = recent[excess - 1] + span - now if excess <= len(recent) else span / limit
            delay = max(delay, wait)
        return delay


def _fits_period(period: float, ends: list[float], span: float) -> bool:
    """Whether window ends seen ``span`` seconds ahead fit windows of ``period`` aligned on
    the epoch."""
    if span > period + _SAME_WINDOW:
        return False
    for end in ends:
        off = end % period
        if min(off, period - off) > _SAME_WINDOW / 2:
            return False
    return True


def shown_buckets(
    names: tuple[BucketName, ...], info: RateInfo, buckets: Mapping[BucketName, Bucket], now: float
) -> tuple[tuple[BucketName, ...], bool]:
    """Which of a request's buckets its answer's headers describe, and whether surely.

    Mastodon describes the bucket "closest to exceeding" (ties go to the general one;
    PROTOCOL.md §6), so a paging request's headers may be either. The window end tells them
    apart: the bucket whose current window ends then. When both end then (the paging window's
    last general window), either may be meant: the count bounds both, as they reset together.
    A bucket with no known window is the one meant when the other's window does not fit;
    failing all that, the request's own bucket.
    """
    if len(names) == 1:
        return names, True
    ends = {name: buckets[name].expected_end(now) for name in names}
    same = tuple(
        n for n in names if (e := ends[n]) is not None and abs(e - info.end) <= _SAME_WINDOW
    )
    if len(same) == 1:
        return same, True
    if same:
        return same, False
    unknown = tuple(n for n in names if ends[n] is None)
    if len(unknown) == 1:
        return unknown, True
    return names[:1], True


@dataclass
class RateLimits:
    """Both rate-limit buckets of one origin. Pure: every method takes the time (epoch
    seconds); the caller holds the host's lock, sleeps, and sends.

    Windows are enforced once the server has shown headers on a successful answer, or while
    header-less pacing applies (``paced``), or for a bucket a header (a 429's) described.
    """

    general: Bucket
    paging: Bucket
    paced: bool  # header-less pacing applies (non-loopback, no X-RateLimit-* on a 2xx/3xx yet)
    headers_seen: bool = False  # a successful answer carried X-RateLimit-*

    def bucket(self, name: BucketName) -> Bucket:
        return self.general if name == "general" else self.paging

    def delay(self, names: tuple[BucketName, ...], now: float) -> tuple[float, str, bool]:
        """(seconds, why, whether the server asked for it) before a request counted in
        ``names`` may go: the longest any of its buckets needs."""
        delay, why, asked = 0.0, "", False
        for name in names:
            bucket = self.bucket(name)
            if self.paced or self.headers_seen or bucket.seen:
                window = bucket.delay(now)
                if window > delay:
                    delay, asked = window, bucket.seen
                    why = f"{name} rate limit reached" if asked else f"pacing to the {name} budget"
            if self.paced:
                pace = bucket.pace_delay(now)
                if pace > delay:
                    delay, why, asked = pace, f"pacing to the {name} budget", False
        return delay, why, asked

    def send(self, names: tuple[BucketName, ...], now: float) -> None:
        for name in names:
            self.bucket(name).send(now)

    def answer(
        self,
        names: tuple[BucketName, ...],
        now: float,
        status: int | None,
        headers: Mapping[str, str],
    ) -> RateInfo | None:
        """Count an answered (``status``) or failed (None) request and learn from its
        headers; returns what they said."""
        for name in names:
            self.bucket(name).settle(now)
        if status is None:
            return None
        info = read_rate_headers(headers, now, refused=status == 429)
        if info is None:
            return None
        # Only a successful answer proves the server reports its budget: Mastodon 3.1/4.1
        # send X-RateLimit-* on a 429 but on no 200 of a timeline (PROTOCOL.md §1), and
        # dropping the documented pacing after such a 429 bursts into a 429 per window.
        if status is not None and status < 400:
            self.paced = False
            self.headers_seen = True
        buckets = {name: self.bucket(name) for name in names}
        shown, exact = shown_buckets(names, info, buckets, now)
        for name in shown:
            self.bucket(name).learn(info, now, exact)
        return info


@dataclass
class _HostState:
    semaphore: threading.BoundedSemaphore
    limits: RateLimits
    lock: threading.Lock = field(default_factory=threading.Lock)
    blocked_until: float = 0.0  # epoch; a Retry-After or a bare 429 holds the whole host
    blocked_why: str = ""
    waited: float = 0.0  # wall time during which a request to this origin had to wait
    waited_until: float = 0.0  # end of the waits counted so far

    def count_wait(self, now: float, seconds: float) -> None:
        """Add a wait to ``waited``, counting time two threads wait together only once."""
        end = now + seconds
        self.waited += max(0.0, end - max(now, self.waited_until))
        self.waited_until = max(self.waited_until, end)


class Http:
    """The shared client. Thread-safe: sources run in worker threads and share it."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        tokens: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver = system_resolver,
        is_public: Callable[[IPAddress], bool] = is_public_address,
    ) -> None:
        """``transport`` replaces the network for trusted requests; ``resolver`` and
        ``is_public`` are the guard's name lookup and rule set (tests only)."""
        self.settings = s = settings or HttpSettings()
        self._tokens = {origin(url): token for url, token in (tokens or {}).items() if token}
        self._sleep = sleep
        self._monotonic = monotonic
        self._now = now
        self._rng = rng or random.Random()
        timeout = httpx.Timeout(s.read_timeout, connect=s.connect_timeout)
        limits = httpx.Limits(max_connections=max(4, s.concurrency * 2))
        headers = {"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"}
        # One TLS context for both clients: loading the CA bundle is ~25 ms each time.
        ssl_context = httpx.create_ssl_context()
        self._trusted = httpx.Client(
            verify=ssl_context,
            timeout=timeout,
            limits=limits,
            headers=headers,
            follow_redirects=False,
            transport=transport,
        )
        if s.allow_private_networks:
            self._untrusted = self._trusted
        else:
            self._untrusted = httpx.Client(
                timeout=timeout,
                limits=limits,
                headers=headers,
                follow_redirects=False,
                transport=_GuardedTransport(
                    limits, ssl_context, _GuardedBackend(resolver, is_public)
                ),
            )
        self._global = threading.BoundedSemaphore(max(1, s.concurrency))
        self._hosts: dict[tuple[str, str, int], _HostState] = {}
        self._hosts_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------

    def has_token(self, url: str) -> bool:
        """Whether requests to ``url``'s origin carry a token (never the token itself)."""
        return origin(url) in self._tokens

    def share_token(self, instance_url: str, other_url: str) -> bool:
        """Let requests to ``other_url``'s origin carry the token of ``instance_url``'s,
        when it is that instance's own host: the same host (another port or path) or a
        subdomain of it (``streaming.mastodon.social`` for ``mastodon.social``), on the same
        scheme. Anything else is another party: the token is not shared (False)."""
        token = self._tokens.get(origin(instance_url))
        if token is None:
            return False
        scheme, host, _port = origin(instance_url)
        other_scheme, other_host, _ = origin(other_url)
        if other_scheme != scheme or not host or not other_host:
            return False
        if other_host != host and not other_host.endswith("." + host):
            return False
        self._tokens.setdefault(origin(other_url), token)
        return True

    @contextmanager
    def events(
        self,
        url: str,
        *,
        idle_timeout: float,
        max_event_bytes: int = MiB,
        untrusted: bool = False,
    ) -> Iterator[EventStream]:
        """Open a server-sent event stream (``text/event-stream``) at ``url``.

        The stream stays open until the caller leaves the block. It carries the token of
        its origin only (as :meth:`get`), connects within ``connect_timeout``, and passes
        the private-address guard when ``untrusted``. Redirects are not followed (the
        caller sees the 3xx status). ``idle_timeout`` bounds the silence between two
        reads: a server sends a heartbeat comment well within it (Mastodon: every 15 s),
        so silence that long means the stream is dead. A line longer than
        ``max_event_bytes`` ends the stream (memory stays bounded). Not rate-limited
        here: one connection, held, is what streaming servers ask for.

        Raises:
            FetchError: cannot connect (BlockedAddressError for a refused address).
        """
        s = self.settings
        # identity: the line cap counts the bytes as sent; SSE is text and rarely compressed
        headers = {
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
            "Accept-Encoding": "identity",
        }
        token = self._tokens.get(origin(url))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        client = self._untrusted if untrusted else self._trusted
        timeout = httpx.Timeout(idle_timeout, connect=s.connect_timeout)
        try:
            with client.stream("GET", url, headers=headers, timeout=timeout) as r:
                yield EventStream(url, r, max_event_bytes)
        except (httpx.TransportError, _Stalled) as e:
            _raise_if_blocked(url, e)
            if isinstance(e, httpx.ReadTimeout):
                raise FetchError(url, f"stream silent for {idle_timeout:g}s (no heartbeat)") from e
            raise FetchError(url, _describe(e, s)) from e
        except httpx_sse.SSEError as e:
            raise FetchError(url, f"not an event stream ({e})") from e

    def close(self) -> None:
        self._trusted.close()
        if self._untrusted is not self._trusted:
            self._untrusted.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def paging_room(self, url: str) -> tuple[int, int] | None:
        """(requests left, limit) in the current window of the paging bucket of ``url``'s
        origin, as far as this client knows it (headers seen, or the documented budget it
        paces to); None when nothing limits it (a loopback server without headers)."""
        state = self._host(origin(url))
        with state.lock:
            limits = state.limits
            bucket = limits.paging
            if not (limits.paced or limits.headers_seen or bucket.seen) or bucket.limit is None:
                return None
            bucket.roll(self._clock())
            return max(0, bucket.limit - bucket.used), bucket.limit

    def waited(self, url: str) -> float:
        """Seconds this client has waited on rate limits and pacing for the origin of ``url``."""
        state = self._host(origin(url))
        with state.lock:
            return state.waited

    def get(
        self,
        url: str,
        *,
        accept: str | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        untrusted: bool = False,
        same_host_only: bool = False,
    ) -> Response:
        """GET ``url``, following redirects by hand, and read the whole (capped) body.

        Raises:
            FetchError: transport failure after retries, too many redirects, a rate-limit
                wait over ``max_wait`` (RateLimitedError), a body over the cap
                (TooLargeError), a non-public address for an untrusted URL
                (BlockedAddressError).
        """
        s = self.settings
        extra = dict(headers or {})
        if accept:
            extra["Accept"] = accept
        if etag:
            extra["If-None-Match"] = etag
        if last_modified:
            extra["If-Modified-Since"] = last_modified
        cap = max_bytes or s.max_bytes
        history: list[str] = []
        requests = 0
        waited = 0.0
        current = url
        start_origin = origin(url)
        for _hop in range(s.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                raise FetchError(
                    url, f"refusing to follow a redirect to a {scheme or 'non-http'} URL"
                )
            if same_host_only and origin(current)[1] != start_origin[1]:
                raise FetchError(url, f"redirected to another host ({urlsplit(current).hostname})")
            response, n, w = self._get_once(current, extra, cap, untrusted)
            requests += n
            waited += w
            if response.status in REDIRECT_STATUSES and response.header("location"):
                history.append(current)
                current = urljoin(current, response.header("location") or "")
                continue
            if response.status in REDIRECT_STATUSES:
                raise FetchError(url, f"HTTP {response.status} redirect without a Location")
            if response.status == 304 and not (etag or last_modified):
                # Not Modified answers a conditional request; to a plain one it says nothing.
                raise FetchError(url, "HTTP 304 Not Modified to a request that was not conditional")
            return Response(
                url=current,
                status=response.status,
                headers=response.headers,
                body=response.body,
                requests=requests,
                waited=waited,
                history=tuple(history),
            )
        raise FetchError(url, f"too many redirects (more than {s.max_redirects})")

    # -- internals ------------------------------------------------------------------------

    def _host(self, key: tuple[str, str, int]) -> _HostState:
        with self._hosts_lock:
            state = self._hosts.get(key)
            if state is None:
                s = self.settings
                state = _HostState(
                    threading.BoundedSemaphore(max(1, s.per_host)),
                    RateLimits(
                        Bucket(s.budget_general),
                        Bucket(s.budget_paging),
                        paced=s.pace_loopback or not is_loopback_host(key[1]),
                    ),
                )
                self._hosts[key] = state
            return state

    def _wait(self, url: str, state: _HostState, seconds: float, why: str) -> float:
        if seconds > self.settings.max_wait:
            raise RateLimitedError(
                url,
                f"{why}: the server asks to wait {seconds:.0f}s, more than --max-wait "
                f"{self.settings.max_wait:.0f}s",
                hint="run again later or raise --max-wait",
            )
        if seconds > 0:
            log.info("%s: %s, waiting %.1fs", urlsplit(url).netloc, why, seconds)
            with state.lock:
                state.count_wait(self._clock(), seconds)
            self._sleep(seconds)
        return max(0.0, seconds)

    def _get_once(
        self, url: str, headers: dict[str, str], cap: int, untrusted: bool
    ) -> tuple[Response, int, float]:
        """One logical request with retries; returns (response, requests made, seconds waited)."""
        s = self.settings
        key = origin(url)
        state = self._host(key)
        token = self._tokens.get(key)
        send_headers = dict(headers)
        if token:
            send_headers["Authorization"] = f"Bearer {token}"
        client = self._untrusted if untrusted else self._trusted
        buckets = request_buckets(url)
        attempts = 0
        waited = 0.0
        rate_waits = 0
        # Rate-limit and Retry-After waits move the deadline: max_wait bounds those.
        deadline = self._monotonic() + s.total_timeout
        while True:
            pause = self._acquire(url, state, buckets)
            waited += pause
            deadline += pause
            attempts += 1
            response: Response | None = None
            try:
                with state.semaphore, self._global:
                    response = self._send(client, url, send_headers, cap, deadline)
            except (httpx.TransportError, _Stalled) as e:
                _raise_if_blocked(url, e)
                if attempts <= s.retries and _is_retryable(e):
                    backoff = self._backoff(url, state, attempts, _describe(e, s), deadline)
                    if backoff is not None:
                        waited += backoff
                        continue
                raise FetchError(url, _describe(e, s)) from e
            except httpx.InvalidURL as e:
                # httpx reads a redirect's Location before handing the response over: one
                # it cannot parse (javascript:, mailto:, data:, junk) fails the send itself.
                raise FetchError(url, f"refusing a redirect to an unusable URL ({e})") from e
            finally:
                self._settle(state, buckets, response)
            if response.status == 429:
                rate_waits += 1
                if rate_waits > 5:
                    raise RateLimitedError(url, "HTTP 429 Too Many Requests, repeatedly")
                self._hold(state, response, rate_waits)
                continue
            if response.status in RETRY_STATUSES and attempts <= s.retries:
                delay = parse_retry_after(response.header("retry-after"), self._now())
                if delay is not None:
                    pause = self._wait(url, state, delay, f"HTTP {response.status}")
                    waited += pause
                    deadline += pause
                    continue
                backoff = self._backoff(url, state, attempts, f"HTTP {response.status}", deadline)
                if backoff is not None:
                    waited += backoff
                    continue
            return response, attempts, waited

    def _clock(self) -> float:
        """Epoch seconds from the injected clock: rate-limit windows are aligned on it."""
        return self._now().timestamp()

    def _acquire(self, url: str, state: _HostState, buckets: tuple[BucketName, ...]) -> float:
        """Wait until every bucket of the request has room, then count it as sent.

        Returns the seconds waited. Raises RateLimitedError when the server asks for a wait
        over ``max_wait``; our own pacing waits are never refused.
        """
        waited = 0.0
        while True:
            with state.lock:
                now = self._clock()
                delay, why, asked = state.limits.delay(buckets, now)
                if state.blocked_until - now > delay:
                    delay, why, asked = state.blocked_until - now, state.blocked_why, True
                if delay <= _EPSILON:
                    state.limits.send(buckets, now)
                    return waited
            if asked and delay > self.settings.max_wait:
                raise RateLimitedError(
                    url,
                    f"{why}: the server asks to wait {delay:.0f}s, more than --max-wait "
                    f"{self.settings.max_wait:.0f}s",
                    hint="run again later or raise --max-wait",
                )
            level = logging.INFO if asked else logging.DEBUG
            log.log(level, "%s: %s, waiting %.1fs", urlsplit(url).netloc, why, delay)
            with state.lock:
                state.count_wait(self._clock(), delay)
            self._sleep(delay)
            waited += delay

    def _settle(
        self, state: _HostState, buckets: tuple[BucketName, ...], response: Response | None
    ) -> None:
        """Count an answered (or failed) request in its buckets and learn from its headers."""
        with state.lock:
            status = None if response is None else response.status
            headers = {} if response is None else response.headers
            state.limits.answer(buckets, self._clock(), status, headers)

    def _hold(self, state: _HostState, response: Response, n: int) -> None:
        """After a 429: hold the host for ``Retry-After``, or back off. Without Retry-After
        (Mastodon), the bucket its headers describe already holds until its window ends."""
        now = self._clock()
        retry_after = parse_retry_after(response.header("retry-after"), self._now())
        if retry_after is None and read_rate_headers(response.headers, now, refused=True):
            return
        delay = retry_after if retry_after is not None else self.settings.backoff * 2.0**n
        with state.lock:
            state.blocked_until = max(state.blocked_until, now + delay)
            state.blocked_why = "HTTP 429 Too Many Requests"
            if delay <= self.settings.max_wait:
                # The wait starts now, with the answer; _acquire's sleep falls inside it.
                state.count_wait(now, delay)

    def _backoff(
        self, url: str, state: _HostState, attempt: int, why: str, deadline: float
    ) -> float | None:
        """Sleep before retry ``attempt``; None (no sleep) when the retry could not start
        before the request's deadline."""
        base: float = self.settings.backoff * 2.0 ** (attempt - 1)
        delay = min(base + self._rng.uniform(0, self.settings.backoff), self.settings.max_wait)
        if self._monotonic() + delay >= deadline:
            return None
        log.info("%s: %s, retry %d in %.1fs", urlsplit(url).netloc, why, attempt, delay)
        self._sleep(delay)
        return delay

    def _send(
        self, client: httpx.Client, url: str, headers: dict[str, str], cap: int, deadline: float
    ) -> Response:
        s = self.settings
        left = deadline - self._monotonic()
        if left <= 0:
            raise _Stalled(f"response not complete after {s.total_timeout:g}s")
        # No single wait may outlast the request's deadline either.
        timeout = httpx.Timeout(min(s.read_timeout, left), connect=min(s.connect_timeout, left))
        with client.stream("GET", url, headers=headers, timeout=timeout) as r:
            hdrs = {k.lower(): v for k, v in r.headers.items()}
            if r.status_code in REDIRECT_STATUSES or r.status_code == 304:
                return Response(url=url, status=r.status_code, headers=hdrs, body=b"")
            declared = hdrs.get("content-length", "")
            encoding = hdrs.get("content-encoding", "").strip().lower()
            if declared.isdigit() and not encoding and int(declared) > cap:
                raise TooLargeError(
                    url, f"response body is {int(declared)} bytes, over the cap of {cap}"
                )
            pace = _BodyPace(deadline, s.total_timeout, s.min_rate, s.rate_grace, self._monotonic)
            body = _read_capped(r.iter_raw(), encoding, cap, url, pace)
        return Response(url=url, status=r.status_code, headers=hdrs, body=body)


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: its ``event:`` name (``message`` when none) and its data."""

    name: str
    data: str


class EventStream:
    """An open event stream (:meth:`Http.events`): the status and headers, then events.

    Comment lines (heartbeats) are read and dropped by the SSE parser; they still count
    as traffic, so they keep the idle timeout from firing."""

    def __init__(self, url: str, response: httpx.Response, max_event_bytes: int) -> None:
        self.url = url
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._response = response
        self._cap = max_event_bytes

    def __iter__(self) -> Iterator[Event]:
        """The stream's events until the server closes it.

        Raises:
            FetchError (through :meth:`Http.events`): the stream broke, went silent, sent
                a line over the cap, or is no event stream.
        """
        self._response.stream = _CappedLines(self._response.stream, self._cap, self.url)
        for sse in httpx_sse.EventSource(self._response).iter_sse():
            yield Event(sse.event or "message", sse.data)


class _CappedLines(httpx.SyncByteStream):
    """A response body that ends with :class:`_Stalled` once a line (bytes between two
    newlines) outgrows ``cap``: an endless line must not fill memory in the SSE parser."""

    def __init__(self, inner: Any, cap: int, url: str) -> None:
        self._inner = inner
        self._cap = cap
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        run = 0  # bytes since the last newline
        for chunk in self._inner:
            cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            run = len(chunk) - cut - 1 if cut >= 0 else run + len(chunk)
            if run > self._cap:
                raise _Stalled(f"an event line over {self._cap} bytes; the stream is dropped")
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(float(value.strip())))
    except (ValueError, OverflowError):
        return None


class _Stalled(Exception):
    """The response outlasted the request's deadline, or its body came too slowly.
    ``str()`` is the complete description."""


@dataclass
class _BodyPace:
    """Ends a body that outlasts the deadline or drips: once ``grace`` seconds have passed
    since its first byte, it must have come at ``min_rate`` bytes/s on average. Counting
    from the first byte, a server that thinks before sending is not taken for a drip."""

    deadline: float
    total: float  # the timeout the deadline stands for, for the message
    min_rate: float
    grace: float
    monotonic: Callable[[], float]
    first: float | None = None
    received: int = 0

    def check(self, size: int) -> None:
        now = self.monotonic()
        if now > self.deadline:
            raise _Stalled(f"response not complete after {self.total:g}s")
        if self.first is None:
            self.first = now
        self.received += size
        elapsed = now - self.first
        if elapsed > self.grace and self.received < self.min_rate * elapsed:
            raise _Stalled(
                f"response stalled: {self.received} bytes in {elapsed:.0f}s "
                f"(under {self.min_rate:g} bytes/s)"
            )


def _read_capped(
    chunks: Iterable[bytes], encoding: str, cap: int, url: str, pace: _BodyPace
) -> bytes:
    """Read and decode (gzip/deflate) at most ``cap`` bytes of body, bounded in time."""
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")
    out = bytearray()
    for chunk in chunks:
        pace.check(len(chunk))
        if decoder is None:
            out += chunk
        else:
            data = chunk
            while data:
                try:
                    piece = decoder.decompress(data, cap + 1 - len(out))
                except zlib.error as e:
                    raise FetchError(url, f"corrupt {encoding} body: {e}") from e
                out += piece
                if len(out) > cap:
                    break
                data = decoder.unconsumed_tail
        if len(out) > cap:
            raise TooLargeError(url, f"response body over the cap of {cap} bytes")
    return bytes(out)


def _raise_if_blocked(url: str, e: BaseException) -> None:
    """Raise :class:`BlockedAddressError` for ``url`` when the guard refused ``e``'s
    connection (a private address), so the user is told why and how to allow it. httpx
    re-raises transport errors as its own: the guard's refusal is looked for inside."""
    cause: BaseException | None = e
    for _ in range(10):
        if cause is None:
            return
        if isinstance(cause, _BlockedAddress):
            raise BlockedAddressError(
                url, str(cause), hint="use --allow-private-networks to allow"
            ) from e
        cause = cause.__cause__ or cause.__context__


def _is_retryable(e: Exception) -> bool:
    # Not a read timeout nor a stall: a server that stops sending mid-answer is not having
    # a transient hiccup, and retrying it would hold the source for minutes (issue 15).
    return isinstance(
        e,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.RemoteProtocolError
        | httpx.ReadError
        | httpx.WriteError,
    ) and not isinstance(e, httpx.UnsupportedProtocol)


def _describe(e: Exception, s: HttpSettings) -> str:
    if isinstance(e, httpx.ConnectTimeout):
        return f"connect timed out after {s.connect_timeout:g}s"
    if isinstance(e, httpx.ReadTimeout):
        return f"no data for {s.read_timeout:g}s (read timeout)"
    if isinstance(e, _Stalled):
        return str(e)
    if isinstance(e, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection broken mid-response ({_short(e)})"
    if isinstance(e, httpx.ConnectError):
        return f"cannot connect ({_short(e)})"
    return f"{type(e).__name__}: {_short(e)}"


def _short(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


def raise_for_status(response: Response, subject: str, *, auth_hint: str | None = None) -> None:
    """Map an error status to the matching :class:`FetchError` subclass."""
    status = response.status
    if status < 400:
        return
    if status in (401, 403):
        raise AuthRequiredError(
            subject, f"HTTP {status}: access refused", hint=auth_hint, status=status
        )
    if status in (404, 410):
        word = "Gone" if status == 410 else "Not Found"
        raise GoneError(subject, f"HTTP {status} {word}", status=status)
    raise FetchError(subject, f"HTTP {status}", status=status)
