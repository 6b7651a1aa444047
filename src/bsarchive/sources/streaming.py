"""Live capture of one Mastodon hashtag (``bsarchive watch``, issue 18): the streaming API
where a token allows it, else polling the tag timeline (PROTOCOL.md §6).

Each (instance, tag) runs :func:`watch_tag` in a thread of its own: a REST catch-up from
the cursor first (:func:`~bsarchive.sources.mastodon.fetch_tag_timeline`, so nothing
posted while it was not connected is missed), then the hashtag stream
(``GET /api/v1/streaming/hashtag?tag=NAME``, server-sent events) until it ends or falls
silent, then again, with backoff and jitter. Without a token (Mastodon 4.2+ refuses
anonymous streams), or when the stream is refused or keeps failing, each catch-up is a
poll, spaced to spend at most :data:`POLL_SHARE` of the instance's paging budget.

Feeds and outboxes are re-read by :func:`poll_source` on their own schedule (conditional
GET, the server's Cache-Control, a floor of :data:`FEED_EVERY`).

What it makes is handed to ``emit``: a :class:`~bsarchive.models.Page` per catch-up page
or stream event (with the cursor that becomes true once it is stored), or a
:class:`StreamDeletion`, a ``delete`` event naming only the status id (the store knows
which post that is). No database access; statuses are parsed by ``mastodon_parse``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote, urlsplit

from bsarchive.errors import AuthRequiredError, FetchError, ParseError, SourceError
from bsarchive.http import Event, Http, origin
from bsarchive.models import Boost, Cursor, Item, Page, Post, SourceResult, SourceSpec
from bsarchive.sources import FetchContext, Source
from bsarchive.sources.mastodon import decode_json, fetch_tag_timeline, id_order
from bsarchive.sources.mastodon_parse import parse_status

log = logging.getLogger(__name__)

# Mastodon's streaming server sends a heartbeat comment (`:thump`) every 15 s
# (streaming/index.js); two missed ones and some latency: the stream is dead.
IDLE_TIMEOUT = 40.0
# The paging budget polls are counted in: 300 requests per 15 minutes (PROTOCOL.md §1, §6),
# and the share of it polling may spend, leaving the rest to catch-ups, re-checks and
# other clients on the same address. One tag polled every 30 s spends 30 / 15 min: 10%.
PAGING_BUDGET = (300, 900.0)
POLL_SHARE = 0.10
# Reconnect backoff: the first retry after about `backoff` seconds, doubling up to this.
MAX_BACKOFF = 60.0
# A stream failing this many times in a row (no event in between) gives way to polling;
# the stream is tried again after STREAM_RETRY seconds.
STREAM_FAILURES = 5
STREAM_RETRY = 600.0


class _Unavailable(FetchError):
    """The server has no stream to give at this address (not a transient failure)."""


@dataclass(frozen=True, slots=True)
class StreamDeletion:
    """A ``delete`` event: status ``local_id`` on ``source`` (a host) is gone. The post is
    found through its sighting there (the payload names no uri)."""

    source_key: str
    source: str
    local_id: str
    fetched_at: datetime
    fetched_from: str


# A SourceResult says how the source is doing (stored by the writer for ``stats``): a
# success after each catch-up or read, an error when one fails or the stream does.
Emitted = Page | StreamDeletion | SourceResult
# Hands an item to the writer; False when the watch is stopping (the item was not taken).
Emit = Callable[[Emitted], bool]
# Says which mode a source is in: (source key, words such as "streaming").
Report = Callable[[str, str], None]


def poll_every(tags: int, share: float = POLL_SHARE) -> float:
    """Seconds between polls of an instance carrying ``tags`` tags so that the polls
    (one paging request per tag when nothing new came) spend at most ``share`` of its
    documented paging budget: 30 s for one tag at 10%."""
    requests, period = PAGING_BUDGET
    return period * max(1, tags) / (requests * share)


def stream_base(client: Http, base: str) -> str:
    """The streaming server's base URL: ``configuration.urls.streaming`` from
    ``/api/v2/instance`` (``wss://`` read as ``https://``), else the API host itself."""
    try:
        response = client.get(f"{base}/api/v2/instance", accept="application/json")
        data = decode_json(response.body, base, "instance") if response.status == 200 else None
    except SourceError:
        data = None
    found: object = data
    for key in ("configuration", "urls", "streaming"):
        found = found.get(key) if isinstance(found, dict) else None
    if not isinstance(found, str):
        return base
    parts = urlsplit(found.strip())
    scheme = {"wss": "https", "ws": "http", "https": "https", "http": "http"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        return base
    return f"{scheme}://{parts.netloc}"


def hashtag_stream_url(base: str, tag: str) -> str:
    return f"{base}/api/v1/streaming/hashtag?tag={quote(tag, safe='')}"


def parse_event(
    event: Event, spec: SourceSpec, url: str, ctx: FetchContext
) -> tuple[Post, Boost | None] | StreamDeletion | None:
    """What one stream event means: a post (``update``, ``status.update``: a new version
    when its text changed), a :class:`StreamDeletion`, or None for events to skip (each
    logged: malformed JSON, unknown names, a post without the tag or outside the window).
    """
    host = urlsplit(spec.url).netloc
    now = ctx.now()
    if event.name == "delete":
        local_id = decode_id(event.data)
        if not local_id:
            log.warning("%s: a delete event without a status id; skipped", url)
            return None
        return StreamDeletion(spec.key, host, local_id, now, url)
    if event.name not in ("update", "status.update"):
        log.info("%s: skipping a %r event", url, event.name)
        return None
    try:
        data = decode_json(event.data.encode("utf-8", "replace"), url, f"{event.name} event")
        if not isinstance(data, dict):
            raise ParseError(url, f"{event.name} event is not a status object")
        post, boost = parse_status(data, instance=host, fetched_at=now, fetched_from=url)
    except ParseError as e:
        log.warning("%s: skipping an event: %s", url, e.message)
        return None
    if spec.tag not in post.tags:
        log.warning("%s: skipping %s: it does not carry #%s", url, post.uri, spec.tag)
        return None
    if not ctx.in_window(post.created_at):
        return None
    return post, boost


def _newer(cursor: Cursor, local_id: str | None) -> Cursor:
    if local_id is None or (
        cursor.newest is not None and id_order(local_id) <= id_order(cursor.newest)
    ):
        return cursor
    return replace(cursor, newest=local_id)


@dataclass
class _Watch:
    client: Http
    spec: SourceSpec
    cursor: Cursor
    ctx: FetchContext
    emit: Emit
    report: Report
    poll_seconds: float
    idle_timeout: float
    backoff: float
    rng: random.Random
    monotonic: Callable[[], float]
    stream_retry: float = STREAM_RETRY
    mode: str = ""

    @property
    def subject(self) -> str:
        return f"{self.spec.url} #{self.spec.tag}"

    def wait(self, seconds: float) -> None:
        self.ctx.stop.wait(max(0.0, seconds))

    def say(self, mode: str) -> None:
        """Report the mode when it changes."""
        if mode != self.mode:
            self.mode = mode
            self.report(self.spec.key, mode)

    def health(self, error: Exception | None = None) -> None:
        """Hand the writer how the source did (a success, or ``error``)."""
        self.emit(SourceResult(self.spec.key, error=str(error) if error else None))

    def pause(self, failures: int) -> float:
        """Backoff with full jitter before retry ``failures``."""
        ceiling = min(MAX_BACKOFF, self.backoff * 2.0 ** max(0, failures - 1))
        return self.rng.uniform(ceiling / 2, ceiling)

    def catch_up(self) -> bool:
        """Read everything above the cursor over REST (a backfill too, the first time).
        False when the watch is stopping; SourceError when the timeline fails."""
        for page in fetch_tag_timeline(self.client, self.spec, self.cursor, self.ctx):
            if not self.emit(page):
                return False
            # Later catch-ups start from the newest id, not the first one's look-back.
            self.cursor = replace(page.cursor, lookback=None)
        return not self.ctx.stop.is_set()

    def stream(self, url: str, untrusted: bool) -> bool:
        """Store the stream's events until it ends; whether it was healthy (events came,
        or it stayed open past the idle timeout: a quiet tag, a proxy's time limit).

        Raises:
            AuthRequiredError: the stream was refused (401/403).
            FetchError: it could not be opened, broke or fell silent.
        """
        got = 0
        opened = self.monotonic()
        with self.client.events(url, idle_timeout=self.idle_timeout, untrusted=untrusted) as s:
            if s.status in (401, 403):
                raise AuthRequiredError(url, f"HTTP {s.status}: stream refused", status=s.status)
            if 300 <= s.status < 500 and s.status != 429:
                # No stream here (404: no streaming API; 3xx: it lives elsewhere, and
                # following a redirect would take the token along): poll instead.
                raise _Unavailable(url, f"HTTP {s.status} from the stream", status=s.status)
            if s.status != 200:
                raise FetchError(url, f"HTTP {s.status} from the stream", status=s.status)
            self.say(f"streaming {url}")
            for event in s:
                got += 1
                item = parse_event(event, self.spec, url, self.ctx)
                if item is None:
                    continue
                if isinstance(item, StreamDeletion):
                    if not self.emit(item):
                        break
                    continue
                post, boost = item
                # The timeline's id of the entry: the boost's own for a boost.
                self.cursor = _newer(self.cursor, (boost or post).sighting.local_id)
                items: tuple[Item, ...] = (post,) if boost is None else (post, boost)
                if not self.emit(Page(self.spec.key, items, self.cursor, requests=0)):
                    break
                if self.ctx.stop.is_set():
                    break
        return got > 0 or self.monotonic() - opened > self.idle_timeout

    def stream_target(self) -> tuple[str | None, bool, str]:
        """(stream URL or None to poll, whether it is another origin, why polling)."""
        if not self.client.has_token(self.spec.url):
            return None, False, "no token for this instance"
        base = stream_base(self.client, self.spec.url)
        other = origin(base) != origin(self.spec.url)
        if other and not self.client.share_token(self.spec.url, base):
            host = urlsplit(base).netloc
            return None, False, f"streaming host {host} is not this instance's; token kept"
        return hashtag_stream_url(base, self.spec.tag or ""), other, ""

    def run(self) -> None:
        url, untrusted, why = self.stream_target()
        polls = f"polling every {self.poll_seconds:g}s"
        self.say(f"streaming {url}" if url else f"{polls} ({why})")
        failures = 0  # in a row: catch-ups and streams
        stream_again = 0.0
        while not self.ctx.stop.is_set():
            try:
                if not self.catch_up():
                    return
                self.health()
            except SourceError as e:
                self.health(e)
                failures += 1
                delay = max(self.pause(failures), 0.0 if url else self.poll_seconds)
                log.warning("%s: catch-up failed (%s); again in %.1fs", self.subject, e, delay)
                self.wait(delay)
                continue
            if url is None or self.monotonic() < stream_again:
                failures = 0
                self.wait(self.poll_seconds)
                continue
            try:
                healthy = self.stream(url, untrusted)
                failures = 0 if healthy else failures + 1
                why = "the server closed the stream"
            except AuthRequiredError as e:
                self.health(e)
                self.say(f"{polls} (stream refused: {e.message})")
                url = None
                continue
            except _Unavailable as e:
                self.health(e)
                failures = STREAM_FAILURES
                why = e.message
            except FetchError as e:
                self.health(e)
                failures += 1
                why = e.message
            if self.ctx.stop.is_set():
                return
            if failures >= STREAM_FAILURES:
                self.say(f"{polls} (stream failing: {why}; tried again in {self.stream_retry:g}s)")
                stream_again = self.monotonic() + self.stream_retry
                failures = 0
                continue
            delay = self.pause(max(1, failures))
            log.info("%s: %s; reconnecting in %.1fs", self.subject, why, delay)
            self.wait(delay)


def watch_tag(
    client: Http,
    spec: SourceSpec,
    cursor: Cursor,
    ctx: FetchContext,
    emit: Emit,
    report: Report,
    *,
    poll_seconds: float,
    idle_timeout: float = IDLE_TIMEOUT,
    backoff: float = 1.0,
    rng: random.Random | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    stream_retry: float = STREAM_RETRY,
) -> None:
    """Watch ``spec`` (an instance and a tag) until ``ctx.stop`` is set: catch up, stream
    or poll, catch up again on every reconnect. Failures are logged and retried (a watch
    outlives an instance's bad minutes); nothing here ends the watch but ``ctx.stop``."""
    _Watch(
        client, spec, cursor, ctx, emit, report, poll_seconds, idle_timeout, backoff,
        rng or random.Random(), monotonic, stream_retry,
    ).run()  # fmt: skip


# Feeds and outboxes are re-read this often at most (their Cache-Control / Retry-After may
# ask for longer): a blog's feed changes a few times an hour at the busiest.
FEED_EVERY = 300.0


def poll_source(
    client: Http,
    spec: SourceSpec,
    cursor: Cursor,
    ctx: FetchContext,
    emit: Emit,
    read: Source,
    *,
    every: float = FEED_EVERY,
) -> None:
    """Re-read a feed or an outbox with ``read`` (its usual reader: conditional GET, its
    cursor) every ``every`` seconds, or later when the server asked (``not_before``),
    until ``ctx.stop``. A failure is logged and tried again next time; a feed gone (410)
    is left alone."""
    while not ctx.stop.is_set():
        try:
            for page in read(client, spec, cursor, ctx):
                if not emit(page):
                    return
                cursor = page.cursor
            emit(SourceResult(spec.key))
        except SourceError as e:
            emit(SourceResult(spec.key, error=str(e)))
            if cursor.gone:
                log.warning("%s: %s; no longer watched", spec.url, e)
                return
            log.warning("%s: %s; tried again in %gs", spec.url, e, every)
        delay = every
        if cursor.not_before is not None:
            delay = max(delay, (cursor.not_before - ctx.now()).total_seconds())
        ctx.stop.wait(delay)


def decode_id(data: str) -> str:
    """A ``delete`` payload's status id: Mastodon sends it bare; some send it as JSON."""
    text = data.strip()
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            return text.strip('"')
        return str(value)
    return text
