"""``bsarchive watch``: live capture until stopped (issue 18).

One thread per (instance, tag) runs :func:`bsarchive.sources.streaming.watch_tag`
(catch-up over REST, then the hashtag stream, or polling); everything they make goes
through one bounded queue (backpressure: a watcher waits while the writer is behind,
memory stays bounded) to the calling thread, the only writer, which stores what is ready
in one transaction (a burst of events is a few transactions, each page still whole with
its cursor). The reaction pass fetches in its own thread and queues its outcomes the same
way. Another thread renders the digest (atomically: temp file + rename) and the live wall
on their schedule from a read-only connection, so the writer never waits for a render.

Sequencing only, as :mod:`bsarchive.archive`: parsing is the sources', SQL the store's.
Ctrl-C / SIGTERM reach the writer as KeyboardInterrupt: what is queued is stored, then
the watch ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bsarchive.archive import (
    ReactionPlan,
    RunResult,
    begin_run,
    cursor_for,
    fetch_context,
    fetch_planned,
    finish_reactions,
    http_settings,
    plan_reactions,
    put_unless_stopped,
    store_reaction,
)
from bsarchive.config import Settings
from bsarchive.errors import ConfigError, StoreError
from bsarchive.export import build
from bsarchive.export.build import DigestFormat
from bsarchive.export.digest import render_html, render_markdown, render_wall
from bsarchive.http import Http
from bsarchive.models import Deletion, Sighting, SourceResult, iso
from bsarchive.policy import screen_page
from bsarchive.sources import FetchContext
from bsarchive.sources.activitypub import fetch_outbox
from bsarchive.sources.feeds import fetch_feed
from bsarchive.sources.reactions import ReactionResult
from bsarchive.sources.streaming import (
    FEED_EVERY,
    IDLE_TIMEOUT,
    Emitted,
    StreamDeletion,
    poll_every,
    poll_source,
    watch_tag,
)
from bsarchive.store import ExportFilter, Store

log = logging.getLogger(__name__)

# Items (pages, deletions) waiting for the writer: enough for a burst of events while a
# transaction commits; a watcher blocks beyond it (backpressure, never unbounded memory).
QUEUE_ITEMS = 512
# Items stored in one transaction at most.
BATCH_ITEMS = 256
# The writer's SQLite page cache, KiB. A watch appends: the pages it writes are the tails
# of the tables and the index pages new keys land on, so it needs far less than a fetch or
# an import (store CACHE_KIB, 32 MiB), and a full 32 MiB cache is memory that grows for
# the first minutes of every watch (bench_watch: RSS +27 MiB from the first minute on).
WRITER_CACHE_KIB = 4096


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """What ``watch`` adds to the fetch settings."""

    poll_seconds: float | None = None  # None: POLL_SHARE of each instance's paging budget
    idle_timeout: float = IDLE_TIMEOUT
    digest: Path | None = None
    digest_every: float = 120.0
    digest_format: DigestFormat = "html"
    serve: tuple[str, int] | None = None  # (host, port) of the live wall
    feed_seconds: float = FEED_EVERY  # feeds and outboxes re-read at most this often
    # The reaction pass (links in new posts -> articles, comment feeds re-read) runs this
    # often when the settings ask for reactions; None: never.
    reactions_seconds: float | None = 300.0


@dataclass
class WatchResult:
    new: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    opted_out: int = 0  # of the skipped: by accounts that opted out (policy.screen_page)
    reactions: int = 0  # new blog reactions
    failed: set[str] = field(default_factory=set)  # the sources that failed a read
    modes: dict[str, str] = field(default_factory=dict)
    last_stored: datetime | None = None  # when the writer last committed something
    per_minute: float = 0.0  # posts stored in the last minute


# New articles one reaction pass fetches at most, so that new links wait at most one short
# pass; the next one goes on where it stopped.
REACTIONS_PER_PASS = 50
# Seconds between two calls of the status callback (the TTY status line).
STATUS_EVERY = 1.0
# The meta row a running watch stamps every HEARTBEAT_EVERY seconds and empties when it
# stops cleanly: `doctor` tells a stuck or killed watch by it.
HEARTBEAT_KEY = "watch_heartbeat"
HEARTBEAT_EVERY = 60.0
# The live wall is rendered when a reload finds it older than the archive, at most once
# every WALL_GAP seconds (many screens reloading at once make one render); the reload
# waits for it at most WALL_WAIT seconds (then gets the page as it is).
WALL_GAP = 0.5
WALL_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class _PassDone:
    """The reaction thread's last item: every outcome before it is queued."""

    plan: ReactionPlan


# What the writer stores: the watchers' pages and deletions, the reaction pass's outcomes.
Queued = Emitted | ReactionResult | _PassDone

Status = Callable[[str], None]
Progress = Callable[[WatchResult], None]


def run_watch(
    settings: Settings,
    store: Store,
    options: WatchOptions,
    *,
    client: Http | None = None,
    status: Status | None = None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    stop: threading.Event | None = None,
) -> WatchResult:
    """Watch every configured source until interrupted (KeyboardInterrupt, raised again
    once what is queued is stored), until ``stop`` is set (embedding, tests), or until a
    watcher thread fails with a bug."""
    specs = [spec for spec in settings.sources() if spec.kind == "mastodon"]
    others = [spec for spec in settings.sources() if spec.kind != "mastodon"]
    # A held stream is a pooled connection too: room for every stream and the catch-ups.
    limits = http_settings(settings)
    limits = replace(limits, concurrency=max(limits.concurrency, len(specs) + 1))
    http = client or Http(limits, tokens=settings.tokens)
    ctx = replace(fetch_context(settings, now), stop=stop or threading.Event())
    store.limit_cache(WRITER_CACHE_KIB)
    writer = _Writer(store, settings, options, ctx, now, status, progress)
    writer.http = http
    if options.serve is not None:
        writer.wall = Wall(*options.serve, options.digest_every, fresh=writer.wall_fresh)
    writer.digest_now(first=True)  # a digest that cannot be written is said at once (exit 2)
    run_id = begin_run(settings, store, now(), "watch", _options(options))
    threads: list[threading.Thread] = []
    if writer.wall is not None:
        writer.wall.start()
        if status is not None:
            status(f"bsarchive: watch: the live wall is at {writer.wall.url}")
    try:
        tags_on: dict[str, int] = {}
        for spec in specs:
            tags_on[spec.url] = tags_on.get(spec.url, 0) + 1
        for spec in specs:
            work = partial(
                watch_tag, http, spec, cursor_for(store, spec), ctx, writer.put, writer.report,
                poll_seconds=options.poll_seconds or poll_every(tags_on[spec.url]),
                idle_timeout=options.idle_timeout, backoff=settings.backoff or 1.0,
            )  # fmt: skip
            threads.append(_started(writer, work, spec.key))
        for spec in others:
            read = fetch_feed if spec.kind == "feed" else fetch_outbox
            work = partial(
                poll_source, http, spec, store.get_cursor(spec.key), ctx, writer.put, read,
                every=options.feed_seconds,
            )  # fmt: skip
            threads.append(_started(writer, work, spec.key))
        if options.digest is not None or writer.wall is not None:
            threads.append(_started(writer, writer.render_loop, "digest"))
        writer.run()
    finally:
        ctx.stop.set()
        with contextlib.suppress(KeyboardInterrupt):
            writer.drain()
            http.close()  # ends streams blocked in a read
            for t in [*threads, *filter(None, [writer.reacting])]:
                t.join(timeout=5)
        if writer.wall is not None:
            writer.wall.stop()
        with contextlib.suppress(StoreError, KeyboardInterrupt):
            writer.beat(stopping=True)
            r = writer.result
            store.finish_run(
                run_id, now(), r.new, r.updated, len(r.failed),
                skipped=r.skipped, opted_out=r.opted_out, reactions=r.reactions,
            )  # fmt: skip
    return writer.result


def _started(writer: _Writer, work: Callable[[], None], key: str) -> threading.Thread:
    t = threading.Thread(target=writer.guard, args=(work,), name=f"watch {key}")
    t.daemon = True
    t.start()
    return t


class _Writer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        options: WatchOptions,
        ctx: FetchContext,
        now: Callable[[], datetime],
        status: Status | None,
        progress: Progress | None = None,
    ) -> None:
        self.store, self.settings, self.options = store, settings, options
        self.ctx, self.now, self.status, self.progress = ctx, now, status, progress
        self.next_status = 0.0
        self.next_heartbeat = 0.0
        self.reporting = threading.Lock()  # watchers reporting modes at once
        self.http: Http | None = None
        self.next_reactions = time.monotonic() + (options.reactions_seconds or 0.0)
        self.minute: deque[tuple[float, int]] = deque()  # (monotonic, new) of recent batches
        self.queue: queue.Queue[Queued] = queue.Queue(maxsize=QUEUE_ITEMS)
        self.reacting: threading.Thread | None = None  # a reaction pass fetching
        self.reactions = RunResult()  # what the reaction passes stored
        self.result = WatchResult()
        self.bugs: list[BaseException] = []
        # A batch whose transaction an interrupt rolled back: stored again by drain().
        self.inflight: list[Queued] = []
        self.rendering = threading.Lock()  # one render at a time: the loop's or drain()'s
        self.wall: Wall | None = None
        # The wall's freshness: ``stored`` counts the commits that changed what it shows,
        # ``shown`` is the count its page was rendered at; ``asked`` a reload found it
        # behind. One condition for them all: a reload waits on it for the render.
        self.fresh = threading.Condition()
        self.stored = 0
        self.shown = -1
        self.asked = False
        self.wall_at = 0.0  # monotonic time of the last wall render

    # -- watcher threads ------------------------------------------------------------------

    def put(self, item: Queued) -> bool:
        """What a watcher hands its outcomes to (archive.put_unless_stopped)."""
        return put_unless_stopped(self.queue, item, self.ctx.stop)

    def report(self, key: str, words: str) -> None:
        # Copy on write: the writer and the status line read the modes while watchers
        # report theirs, and a dict must not grow under a reader's iteration.
        with self.reporting:
            self.result.modes = {**self.result.modes, key: words}
        log.info("%s: %s", key, words)
        if self.status is not None:
            self.status(f"bsarchive: watch: {_name(key)}: {words}")

    def guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as e:  # a bug: end the watch and show it
            self.bugs.append(e)
            self.ctx.stop.set()

    # -- the writer (calling thread) ------------------------------------------------------

    def run(self) -> None:
        while not self.ctx.stop.is_set():
            try:
                first = self.queue.get(timeout=0.5)
            except queue.Empty:
                first = None
            if first is not None:
                self.store_batch([first, *self._ready()])
            if time.monotonic() >= self.next_heartbeat:
                self.beat()
            if self._reactions_due():
                self.reaction_pass()
            if self.progress is not None and time.monotonic() >= self.next_status:
                self.next_status = time.monotonic() + STATUS_EVERY
                self.progress(self.result)
        if self.bugs:
            raise self.bugs[0]

    def _reactions_due(self) -> bool:
        every = self.options.reactions_seconds
        if not (self.settings.reactions and every and self.http is not None):
            return False
        return self.reacting is None and time.monotonic() >= self.next_reactions

    def _capped(self) -> Settings:
        s = self.settings
        return replace(s, max_reactions=min(s.max_reactions, REACTIONS_PER_PASS))

    def reaction_pass(self) -> None:
        """Start a pass over the links of posts stored since the last one, as ``fetch``
        does, at most REACTIONS_PER_PASS new articles: planned here (store reads), fetched
        in a thread whose outcomes come through the queue like the watchers' pages, so
        stream events keep being stored meanwhile; finished by :meth:`_pass_done`."""
        plan = plan_reactions(self._capped(), self.store, self.now)
        t = threading.Thread(
            target=self.guard, args=(partial(self._fetch_reactions, plan),),
            name="watch reactions", daemon=True,
        )  # fmt: skip
        self.reacting = t
        t.start()

    def _fetch_reactions(self, plan: ReactionPlan) -> None:
        assert self.http is not None
        for outcome in fetch_planned(plan, self._capped(), self.http, self.ctx, self.now):
            if not self.put(outcome):
                return
        self.put(_PassDone(plan))

    def _pass_done(self, plan: ReactionPlan) -> None:
        """Every outcome of the pass is stored: move its mark, link replies to archived
        parents, schedule the next pass."""
        finish_reactions(plan, self.settings, self.store, self.ctx, self.now)
        self.store.resolve_replies()
        if self.reactions.reactions:
            log.info("watch: %d new reactions", self.reactions.reactions)
        self.result.reactions += self.reactions.reactions
        self.reactions = RunResult()
        self.reacting = None
        self.next_reactions = time.monotonic() + (self.options.reactions_seconds or 0.0)

    def beat(self, *, stopping: bool = False) -> None:
        self.next_heartbeat = time.monotonic() + HEARTBEAT_EVERY
        self.store.set_meta(HEARTBEAT_KEY, "" if stopping else iso(self.now()) or "")

    def drain(self) -> None:
        """Store what the watchers queued before the stop (bounded by the queue)."""
        batch = self.inflight + self._ready(QUEUE_ITEMS)
        if batch:
            self.store_batch(batch)
        if self.options.digest is not None:
            with contextlib.suppress(ConfigError, StoreError):
                self.digest_now()

    def _ready(self, most: int = BATCH_ITEMS - 1) -> list[Queued]:
        ready: list[Queued] = []
        while len(ready) < most:
            try:
                ready.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return ready

    def store_batch(self, batch: list[Queued]) -> None:
        """Store ``batch`` in one transaction; counted once it is committed. A finished
        reaction pass is closed after the commit."""
        now = self.now()
        self.inflight = batch
        done = WatchResult()
        passes: list[ReactionPlan] = []
        with self.store.grouped():
            for item in batch:
                if isinstance(item, StreamDeletion):
                    done.deleted += self._delete(item, now)
                elif isinstance(item, ReactionResult):
                    store_reaction(self.store, item, self.reactions, self.now)
                elif isinstance(item, _PassDone):
                    passes.append(item.plan)
                elif isinstance(item, SourceResult):
                    self.store.record_source_result(item, now)
                    if item.error:
                        done.failed.add(item.key)
                else:
                    page = screen_page(item, include_opted_out=self.settings.include_opted_out)
                    saved = self.store.save_page(page, now)
                    done.new += saved.new
                    done.updated += saved.updated
                    done.skipped += page.skipped
                    done.opted_out += len(item.items) - len(page.items)
        self.inflight = []
        if (
            done.new
            or done.updated
            or done.deleted
            or any(isinstance(i, ReactionResult) for i in batch)
        ):
            with self.fresh:  # committed: a page rendered from now on shows it
                self.stored += 1
        for plan in passes:
            self._pass_done(plan)
        r = self.result
        r.new, r.updated = r.new + done.new, r.updated + done.updated
        r.deleted, r.skipped = r.deleted + done.deleted, r.skipped + done.skipped
        r.opted_out += done.opted_out
        r.failed |= done.failed
        r.last_stored = now
        clock = time.monotonic()
        self.minute.append((clock, done.new))
        while self.minute and self.minute[0][0] < clock - 60:
            self.minute.popleft()
        r.per_minute = float(sum(n for _, n in self.minute))

    def _delete(self, item: StreamDeletion, now: datetime) -> int:
        uri = self.store.uri_seen_as(item.source, item.local_id)
        if uri is None:
            log.info("%s: delete of status %s, not archived", item.source, item.local_id)
            return 0
        sighting = Sighting(item.source, item.local_id, None, item.fetched_at, item.fetched_from)
        return self.store.save_items([Deletion(uri, sighting)], now).updated

    def render_loop(self) -> None:
        """Render the digest and the wall every ``digest_every`` seconds until the stop,
        and the wall alone when a reload finds it behind the archive (:meth:`wall_fresh`),
        in their own thread from a read-only connection (WAL), so that the writer never
        waits for a render: reading a whole archive for the digest takes seconds."""
        reader = self.store.reader()
        every = self.options.digest_every
        next_digest = time.monotonic() + every
        try:
            while not self.ctx.stop.is_set():
                with self.fresh:
                    left = next_digest - time.monotonic()
                    self.fresh.wait_for(lambda: self.asked, timeout=max(0.0, min(0.5, left)))
                    asked, self.asked = self.asked, False
                try:
                    if time.monotonic() >= next_digest:
                        next_digest = time.monotonic() + every
                        self.digest_now(store=reader)
                    elif asked:
                        # Many screens reloading at once: one render per WALL_GAP.
                        self.ctx.stop.wait(self.wall_at + WALL_GAP - time.monotonic())
                        self.digest_now(store=reader, wall_only=True)
                except StoreError as e:
                    log.warning("%s: cannot render the digest: %s", e.subject, e.message)
        finally:
            reader.close()

    def wall_fresh(self) -> None:
        """Called by the wall before it serves its page: when something was committed
        since the page was rendered, have it rendered again and wait for it (at most
        WALL_WAIT seconds), so a reload shows every post stored before it."""
        with self.fresh:
            wanted = self.stored
            if self.shown >= wanted:
                return
            self.asked = True
            self.fresh.notify_all()
            self.fresh.wait_for(lambda: self.shown >= wanted, timeout=WALL_WAIT)

    def digest_now(
        self, *, first: bool = False, store: Store | None = None, wall_only: bool = False
    ) -> None:
        """Render the live wall for ``--serve`` (its bounded reads) and, unless
        ``wall_only``, rewrite the ``--digest`` file (the whole archive read, in one
        snapshot): a temp file beside it, renamed over it (readers never see half a
        file). Read from ``store``, the writer's by default. The first write's failure
        is a ConfigError; later ones are logged."""
        if self.options.digest is None and self.wall is None:
            return
        with self.rendering:
            store = store or self.store
            if self.wall is not None:
                self._render_wall(store)
            if not wall_only:
                self._render_digest(store, first)

    def _title(self, store: Store) -> tuple[str, list[str]]:
        tags = self.settings.tags or store.archived_tags()
        return build.default_title(self.settings.title, tags), list(tags)

    def _render_wall(self, store: Store) -> None:
        assert self.wall is not None
        with self.fresh:
            stored = self.stored  # the render's snapshot starts after: it holds them
        now = self.now()
        title, tags = self._title(store)
        data = build.wall_data(store, title=title, tags=tags, now=now)
        self.wall.update(render_wall(data, now=now, refresh=self.wall.refresh), self._stats())
        with self.fresh:
            self.shown = max(self.shown, stored)
            self.wall_at = time.monotonic()
            self.fresh.notify_all()

    def _render_digest(self, store: Store, first: bool) -> None:
        path = self.options.digest
        if path is None:
            return
        title, tags = self._title(store)
        with store.reading() as source:  # the whole archive, read as exports read it
            data = build.digest_data(
                source, ExportFilter(), title=title, tags=tags, generated_at=self.now()
            )
        fmt = self.options.digest_format
        text = render_html(data) if fmt == "html" else render_markdown(data)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8", newline="")
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if first:
                raise ConfigError(str(path), f"cannot write the digest: {e.strerror}") from None
            log.warning("%s: cannot write the digest: %s", path, e.strerror)

    def _stats(self) -> dict[str, object]:
        r = self.result
        return {
            "new": r.new,
            "updated": r.updated,
            "deleted": r.deleted,
            "skipped": r.skipped,
            "modes": {_name(key): words for key, words in sorted(r.modes.items())},
            "posts_last_minute": r.per_minute,
            "last_stored_at": iso(r.last_stored),
            "generated_at": iso(self.now()),
        }


class Wall:
    """``--serve``: the live wall and its counts over HTTP, from memory (one page, bounded).

    ``/`` is the latest wall page (:func:`render_wall`: newest posts, posts per minute,
    latest reactions), brought up to date by ``fresh`` before it is served (so a reload
    shows every post stored before it), which reloads itself every ``every`` seconds with
    a meta refresh (its CSP forbids scripts); ``/stats.json`` the watch's counts and
    modes. Anything else is
    404; only GET and HEAD."""

    def __init__(
        self, host: str, port: int, every: float, *, fresh: Callable[[], None] = lambda: None
    ) -> None:
        self.lock = threading.Lock()
        self.fresh = fresh  # called before the page is served: brings it up to date
        self.page = b"<!doctype html><title>bsarchive</title><p>Starting\xe2\x80\xa6</p>"
        self.stats = b"{}"
        self.refresh = max(1, round(every))  # seconds between two reloads of the page
        try:
            self.server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as e:
            raise ConfigError("--serve", f"cannot listen on {host}:{port}: {e.strerror}") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="wall")
        self.thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def update(self, page: str, stats: dict[str, object]) -> None:
        body = page.encode("utf-8")
        counts = json.dumps(stats, ensure_ascii=False, sort_keys=True).encode("utf-8")
        with self.lock:
            self.page, self.stats = body, counts

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        wall = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "bsarchive-wall"

            def log_message(self, format: str, *args: object) -> None:
                log.debug("wall: " + format, *args)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server API
                self.answer(head=True)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                self.answer()

            def answer(self, head: bool = False) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/":
                    wall.fresh()
                with wall.lock:
                    page, stats = wall.page, wall.stats
                if path == "/":
                    self.reply(200, page, "text/html; charset=utf-8", head)
                elif path == "/stats.json":
                    self.reply(200, stats, "application/json", head)
                else:
                    self.reply(404, b"not found\n", "text/plain; charset=utf-8", head)

            def reply(self, status: int, body: bytes, kind: str, head: bool) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        return Handler


def _name(key: str) -> str:
    """``mastodon:https://host#tag`` -> ``host #tag``."""
    body = key.split(":", 1)[1] if ":" in key else key
    url, _, tag = body.partition("#")
    return f"{urlsplit(url).netloc or url} #{tag}" if tag else (urlsplit(url).netloc or url)


def _options(o: WatchOptions) -> dict[str, object]:
    """What only a watch is asked, added to the fetch recipe (archive.run_options) for
    provenance: how often it polls, re-reads feeds and follows links, and its digest."""
    return {
        "poll_seconds": o.poll_seconds,
        "feed_seconds": o.feed_seconds,
        "reactions_seconds": o.reactions_seconds,
        "digest": str(o.digest) if o.digest else None,
        "digest_every": o.digest_every,
    }
