"""One archival run: sources -> items -> store.

Each source runs in a worker thread and yields pages into a bounded queue; this module's
main loop is the only writer, storing each page with its cursor in one transaction. A
failing source is recorded as a :class:`SourceResult` with its error and the run goes on.

Sequencing only: decisions live in pure functions (``dedupe``, ``urls``), I/O in ``http``,
SQL in ``store``. No printing: progress goes to a callback.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import urlsplit

from bsarchive import __version__
from bsarchive.config import Settings
from bsarchive.discovery import candidate_servers, refusal
from bsarchive.errors import LockHeldError, SourceError, StoreError
from bsarchive.http import Http, HttpSettings
from bsarchive.models import Cursor, Item, Page, SourceResult, SourceSpec, iso
from bsarchive.policy import screen_page
from bsarchive.sources import FetchContext, Offload, P, R, Source, in_process
from bsarchive.sources.activitypub import fetch_outbox
from bsarchive.sources.feeds import fetch_feed
from bsarchive.sources.mastodon import (
    LOOKBACK,
    RATE_WINDOW,
    fetch_tag_timeline,
    parent_uris,
    recheck_budget,
    recheck_key,
    recheck_tag_timeline,
)
from bsarchive.sources.nodeinfo import probe_instance
from bsarchive.sources.reactions import (
    COMMENTS_KEY_PREFIX,
    KnownReaction,
    LinkGroup,
    ReactionResult,
    Robots,
    fetch_comment_updates,
    fetch_reactions,
    plan_links,
)
from bsarchive.store import IMPORT_BATCH, PackedItems, Store, pack_items
from bsarchive.urls import article_key

if TYPE_CHECKING:  # the import loop imports its parser when it runs: no twarc import at fetch
    from bsarchive.sources.twarc import TwarcLine

log = logging.getLogger(__name__)

# The sources row remembering the newest post whose links the reaction pass has read.
LINKS_KEY = "reactions:links"
# The newest post version (edit) whose links the reaction pass has planned.
EDITS_KEY = "reactions:edits"
# Posts whose links were planned by a pass allowed to reach private addresses: a run with
# --allow-private-networks plans again the links earlier passes refused for lack of it.
PRIVATE_KEY = "reactions:private"

# Pages buffered between fetchers and the writer: bounds memory while keeping every
# instance's next request in flight while the previous page is stored.
QUEUE_PAGES = 16


@dataclass
class RunResult:
    results: list[SourceResult] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    skipped: int = 0
    # Of the skipped: items by accounts that opted out (policy.screen_page), left out.
    opted_out: int = 0
    reactions: int = 0
    # Reaction pages and comment feeds that could not be read (logged; never fail the run).
    reaction_failures: int = 0
    discovered: list[str] = field(default_factory=list)
    # Sources another run on the same archive holds (PostgreSQL): left to it, not failed.
    held: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[SourceResult]:
        return [r for r in self.results if r.error]

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


@dataclass(frozen=True, slots=True)
class Progress:
    """What the CLI may draw: one event per stored page or finished source."""

    source: str
    new: int
    updated: int
    done: bool = False
    error: str | None = None


ProgressCallback = Callable[[Progress], None]


def http_settings(s: Settings) -> HttpSettings:
    return HttpSettings(
        connect_timeout=s.connect_timeout,
        read_timeout=s.read_timeout,
        total_timeout=s.total_timeout,
        retries=s.retries,
        backoff=s.backoff,
        max_wait=s.max_wait,
        concurrency=s.concurrency,
        allow_private_networks=s.allow_private_networks,
    )


def fetch_context(s: Settings, now: Callable[[], datetime]) -> FetchContext:
    return FetchContext(
        tags=s.tags,
        since=s.since,
        until=s.until,
        max_pages=s.max_pages,
        include_opted_out=s.include_opted_out,
        refetch_gone=s.refetch_gone,
        now=now,
    )


# Each kind of configured source and what reads it (the Source protocol: one seam).
_SOURCES: dict[str, Source] = {
    "mastodon": fetch_tag_timeline,
    "feed": fetch_feed,
    "outbox": fetch_outbox,
}


def _pages_for(client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext) -> Iterator[Page]:
    read = _SOURCES.get(spec.kind)
    if read is None:
        raise SourceError(spec.url, f"{spec.kind} sources are not supported yet")
    return read(client, spec, cursor, ctx)


_DONE = object()
# A source's last word when another run holds it (store.source_claims).
_HELD = object()
# The reaction pass, held by one run at a time like a source.
REACTIONS_CLAIM = "reactions"
# A source to run: its key and what makes its pages.
Job = tuple[str, Callable[[], Iterator[Page]]]


def run_fetch(
    settings: Settings,
    store: Store,
    *,
    client: Http | None = None,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunResult:
    """Fetch every configured source into ``store``; return per-source results."""
    with _feed_parser(settings, store) as offload:
        return _run_fetch(settings, store, client, progress, now, offload)


def _run_fetch(
    settings: Settings,
    store: Store,
    client: Http | None,
    progress: ProgressCallback | None,
    now: Callable[[], datetime],
    offload: Offload,
) -> RunResult:
    own_client = client is None
    http = client or Http(http_settings(settings), tokens=settings.tokens)
    ctx = replace(fetch_context(settings, now), offload=offload)
    result = RunResult()
    started = now()
    run_id = begin_run(settings, store, started)
    try:
        jobs: list[Job] = []
        for spec in settings.sources():
            jobs.append((spec.key, _bind(http, spec, cursor_for(store, spec), ctx)))
        _Drain(store, http, ctx, result, progress, now, settings).run(jobs)
        if jobs and len(result.held) == len(jobs):
            raise LockHeldError(
                str(store.path),
                "another bsarchive run is fetching every source of this archive",
                hint="use --wait to wait for it",
            )
        if settings.discover and settings.tags and not ctx.stop.is_set():
            _discover(settings, store, http, ctx, result, progress, now)
        if settings.refresh_hours and not ctx.stop.is_set():
            since = started - timedelta(hours=settings.refresh_hours)
            specs = [spec for spec in settings.sources() if spec.kind == "mastodon"]
            if settings.discover:
                # Discovered servers' posts get edits and deletions too; like reading
                # their timelines, this is untrusted and never fails the run.
                specs += [
                    SourceSpec("mastodon", base, tag=tag, discovered=True)
                    for _host, base in _usable_discovered(settings, store)
                    for tag in settings.tags
                ]
            _recheck(specs, store, http, ctx, result, progress, now, settings, since, started)
        if settings.reactions and not ctx.stop.is_set():
            follow_reactions(settings, store, http, ctx, result, now)
        store.resolve_replies()
        if not ctx.stop.is_set():
            _ask_for_reply_parents(settings, store, http, now)
    except BaseException:
        ctx.stop.set()
        raise
    finally:
        store.finish_run(
            run_id, now(), result.new, result.updated, len(result.failures),
            skipped=result.skipped, opted_out=result.opted_out, reactions=result.reactions,
        )  # fmt: skip
        _record_requests(settings, store, result, now())
        if own_client:
            http.close()
    return result


# A run likely to parse this many feeds parses them in a second process: parsing is most
# of a feed's cost and holds the GIL that the writer and the HTTP threads need (issue 4).
FEEDS_FOR_A_PARSER = 8


@contextlib.contextmanager
def _feed_parser(settings: Settings, store: Store) -> Iterator[Offload]:
    """An :class:`Offload` that parses in a forked worker process, or ``in_process``.

    Feeds read before with an ETag or Last-Modified will most likely answer 304, so only
    the others count. The worker is forked here, before the run starts any thread
    (forking a process with threads can copy a held lock). Parsers are pure functions,
    so nothing but bytes in and models out crosses; if the worker dies, parsing goes on
    in this process.

    A process pool, not the import's pipe (``_parsed_in_worker``): the fetch threads' calls
    queue up in the pool while the worker parses. Issue 16 tried the import's forked
    worker here, answering one call at a time through a duplex pipe: bench_feeds' first
    run (200 feeds x 50 entries) took 1.89-2.11 s against the pool's 1.29-1.71 s (three
    runs each, alternated).
    """
    feeds = 0
    for spec in settings.sources():
        if spec.kind == "feed":
            cursor = store.get_cursor(spec.key)
            feeds += not (cursor.etag or cursor.last_modified)
    if sys.platform != "linux" or feeds < FEEDS_FOR_A_PARSER:
        yield in_process
        return
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        pool.submit(int).result()  # fork the worker now, not at the first feed
    except (OSError, BrokenProcessPool) as e:  # no process to be had: parse here
        log.info("parsing feeds in this process: no worker (%s)", e)
        pool.shutdown(wait=False, cancel_futures=True)
        yield in_process
        return

    def offload(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except (BrokenProcessPool, RuntimeError):  # the worker died: parse here
            return fn(*args, **kwargs)

    try:
        yield offload
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _die_with_parent(parent: int) -> None:
    """In a forked worker: be sent SIGTERM when the parent dies (killed, say), rather than
    wait for work for ever (Linux prctl PR_SET_PDEATHSIG). A parent that died before this
    ran sends nothing: the worker then ends here."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's "stop cleanly" handler
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _discover(
    settings: Settings,
    store: Store,
    http: Http,
    ctx: FetchContext,
    result: RunResult,
    progress: ProgressCallback | None,
    now: Callable[[], datetime],
) -> None:
    """``--discover``: read the tag on every server the conversation touches (issues 9, 15).

    Servers found usable on earlier runs are read again first; then the servers the
    archive points at (authors, boosters, mentioned accounts, replied-to posts) are probed
    (NodeInfo) and read, round after round, since posts from one discovered server reveal
    more, until none is new or ``--max-instances`` servers were contacted in this run
    (probes count). Refusals are recorded with their reason (a 401; an empty timeline from
    a server whose instance document says its hashtag feeds are disabled) and left alone
    for a while (``discovery.RETRY_REFUSED_AFTER``). Discovered servers are
    untrusted: their URLs pass the private-address guard, and their failures do not fail
    the run.
    """
    tried = _configured_hosts(settings)
    refused: dict[str, datetime] = {}
    earlier = _usable_discovered(settings, store)
    usable = [base for _host, base in earlier]
    contacted = {host for host, _base in earlier}
    software: dict[str, str] = {}
    for host, _base, ok, _reason, checked in store.known_instances():
        if ok:
            tried.add(host)
        else:  # tried again once RETRY_REFUSED_AFTER has passed
            refused[host] = checked
    # Every round but the last contacts at least one new server: the cap bounds the rounds.
    for _round in range(settings.max_instances + 1):
        if ctx.stop.is_set():
            break
        drain = _Drain(store, http, ctx, result, progress, now, settings, best_effort=True)
        errors = drain.run(
            [job for base in usable for job in _tag_jobs(http, store, base, settings, ctx)]
        )
        for key, error in errors.items():
            words = refusal(error)  # 401, hashtag feeds turned off, ...: left alone a while
            if words:
                host = urlsplit(_url_of(key)).netloc
                store.record_instance(host, _url_of(key), False, software.get(host, ""), "",
                                      words, now())  # fmt: skip
        room = settings.max_instances - len(contacted)
        if room <= 0 or ctx.stop.is_set():
            break  # the servers found last were read above; no further probing
        servers = candidate_servers(
            store.discovery_addresses(), known=tried, refused=refused, now=now(), limit=room
        )
        usable = []
        for host, base in servers:
            tried.add(host)
            contacted.add(host)
            info = probe_instance(http, base)
            software[host] = info.software
            store.record_instance(host, base, info.usable, info.software, info.version,
                                  info.reason, now())  # fmt: skip
            if info.usable:
                usable.append(base)
                result.discovered.append(base)
            else:
                log.info("discovery: %s skipped: %s", host, info.reason)
        if not usable:
            break


def _tag_jobs(
    http: Http, store: Store, base: str, settings: Settings, ctx: FetchContext
) -> list[Job]:
    jobs = []
    for tag in settings.tags:
        spec = SourceSpec("mastodon", base, tag=tag, discovered=True)
        jobs.append((spec.key, _bind(http, spec, cursor_for(store, spec), ctx)))
    return jobs


def follow_reactions(
    settings: Settings,
    store: Store,
    http: Http,
    ctx: FetchContext,
    result: RunResult,
    now: Callable[[], datetime],
) -> None:
    """The reaction pass: links in stored posts -> articles and comments (issue 5).

    Best effort: every refusal or failure is logged by ``sources.reactions`` and skipped;
    nothing here can fail the run. Comment feeds of known reactions are re-read with
    conditional GET, their ETag/Last-Modified kept under ``comments:<feed url>``.

    Three steps, so that ``watch`` can fetch in another thread while its one writer
    stores: :func:`plan_reactions` (reads the store), :func:`fetch_planned` (network
    only), :func:`store_reaction` for each outcome and :func:`finish_reactions`.
    """
    if not store.source_claims().take(REACTIONS_CLAIM):
        log.info("reaction pass: another run on this archive is doing it")
        return
    plan = plan_reactions(settings, store, now)
    for outcome in fetch_planned(plan, settings, http, ctx, now):
        store_reaction(store, outcome, result, now)
    finish_reactions(plan, settings, store, ctx, now)


@dataclass
class ReactionPlan:
    """What one reaction pass fetches, and how far it got (:func:`fetch_planned` counts)."""

    known: dict[str, KnownReaction]
    links: list[tuple[int, str, str]]  # (post row id, uri, url) of the links read
    fetch: tuple[LinkGroup, ...]
    mark: Cursor
    last_edit: int
    feeds: list[tuple[str, str, Cursor]]  # (reaction url, comment feed, its cursor)
    tried: int = 0  # planned articles tried
    requests: int = 0


def plan_reactions(settings: Settings, store: Store, now: Callable[[], datetime]) -> ReactionPlan:
    """Read what the pass needs from the store; store the links that only relink."""
    stored = store.stored_reactions()
    known: dict[str, KnownReaction] = {}
    for r in stored:
        seen = KnownReaction(r.url, r.fetched_at, r.fetched_from, frozenset(r.linked_from))
        for url in (r.url, r.original_url):
            if url:
                known.setdefault(article_key(url), seen)
    # Links are read once: only posts stored since the last complete pass (their row ids
    # grow) or edited since (their versions' row ids grow), so skipped links and shortener
    # variants are not fetched again every run.
    mark = store.get_cursor(LINKS_KEY)
    edits = store.get_cursor(EDITS_KEY)
    last_edit = store.last_version_id()
    start = int(mark.newest or 0)
    if settings.allow_private_networks:
        start = min(start, int(store.get_cursor(PRIVATE_KEY).newest or 0))
    links = store.post_links(start, int(edits.newest or 0))
    plan = plan_links(
        [(uri, url) for _, uri, url in links],
        skip_hosts=[i.url for i in settings.instances],
        known=known,
    )
    if plan.relink:
        store.save_items(plan.relink, now())
    feeds = [
        (r.url, r.comments_feed, store.get_cursor(COMMENTS_KEY_PREFIX + r.comments_feed))
        for r in stored
        if r.comments_feed
    ]
    return ReactionPlan(known, links, plan.fetch, mark, last_edit, feeds)


def fetch_planned(
    plan: ReactionPlan,
    settings: Settings,
    http: Http,
    ctx: FetchContext,
    now: Callable[[], datetime],
) -> Iterator[ReactionResult]:
    """Fetch the planned articles, then re-read the known comment feeds: network only, no
    store (safe in another thread); counts what it tried in ``plan``."""
    robots = Robots(http)
    fetched = fetch_reactions(
        http,
        plan.fetch,
        known={key: k.url for key, k in plan.known.items()},
        now=now,
        max_new=settings.max_reactions,
        concurrency=settings.concurrency,
        include_opted_out=settings.include_opted_out,
        robots=robots,
        stop=ctx.stop,
    )
    for outcome in fetched:
        plan.tried += 1
        plan.requests += outcome.requests
        yield outcome
    yield from fetch_comment_updates(
        http, plan.feeds, now=now, concurrency=settings.concurrency, robots=robots, stop=ctx.stop
    )


def finish_reactions(
    plan: ReactionPlan,
    settings: Settings,
    store: Store,
    ctx: FetchContext,
    now: Callable[[], datetime],
) -> None:
    """Move the links mark past the pass, only when every planned article was tried: when
    --max-reactions (or a stop) left some, the next pass plans the same posts again."""
    links = plan.links
    if links and plan.tried == len(plan.fetch) and not ctx.stop.is_set():
        newest = str(max(int(plan.mark.newest or 0), *(pid for pid, _, _ in links)))
        with store.grouped():
            page = Page(LINKS_KEY, (), Cursor(newest=newest), requests=plan.requests)
            store.save_page(page, now())
            store.save_page(Page(EDITS_KEY, (), Cursor(newest=str(plan.last_edit))), now())
            if settings.allow_private_networks:
                store.save_page(Page(PRIVATE_KEY, (), Cursor(newest=newest)), now())


# Reply parents asked of each instance per run (one request each): a reply to an untagged
# post names its parent only by an id on the instance that served it.
MAX_PARENT_LOOKUPS = 100
PARENTS_KEY_PREFIX = "parents:"


def _ask_for_reply_parents(
    settings: Settings, store: Store, http: Http, now: Callable[[], datetime]
) -> None:
    """Give replies whose parent is not archived (it does not carry the tag) the parent's
    uri, asked of the instance that named it. Each reply is asked about once: a cursor per
    instance remembers the last post tried, found or not."""
    for inst in settings.instances:
        key = PARENTS_KEY_PREFIX + inst.url
        after = int(store.get_cursor(key).newest or 0)
        replies = store.unresolved_replies(urlsplit(inst.url).netloc, after, MAX_PARENT_LOOKUPS)
        if not replies:
            continue
        found = parent_uris(http, inst.url, list(dict.fromkeys(local for _, local in replies)))
        parents = [(pid, found[local]) for pid, local in replies if local in found]
        last = str(max(pid for pid, _ in replies))
        store.set_reply_parents(parents, Page(key, (), Cursor(newest=last)), now())


def store_reaction(
    store: Store, outcome: ReactionResult, result: RunResult, now: Callable[[], datetime]
) -> None:
    if outcome.reaction is not None:
        store.save_items([outcome.reaction], now())
        if outcome.outcome == "new":
            result.reactions += 1
    elif outcome.outcome == "skipped":
        result.skipped += 1
    elif outcome.outcome == "failed":
        result.reaction_failures += 1
    if outcome.comments_failed:
        result.reaction_failures += 1
    if outcome.comments is not None:
        store.save_page(outcome.comments, now())


def _bind(
    http: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
) -> Callable[[], Iterator[Page]]:
    return lambda: _pages_for(http, spec, cursor, ctx)


def _configured_hosts(settings: Settings) -> set[str]:
    return {urlsplit(i.url).netloc.lower() for i in settings.instances}


def _usable_discovered(settings: Settings, store: Store) -> list[tuple[str, str]]:
    """(host, base url) of the servers discovery found usable, not configured ones, up to
    ``--max-instances``: the servers a run with ``--discover`` reads and refreshes."""
    configured = _configured_hosts(settings)
    usable = [
        (host, base)
        for host, base, ok, _reason, _checked in store.known_instances()
        if ok and host not in configured
    ]
    return usable[: settings.max_instances]


def _recheck(
    specs: list[SourceSpec],
    store: Store,
    http: Http,
    ctx: FetchContext,
    result: RunResult,
    progress: ProgressCallback | None,
    now: Callable[[], datetime],
    settings: Settings,
    since: datetime,
    started: datetime,
) -> None:
    """The default re-check (issue 14): posts first stored since ``since`` (and before
    this run) are read again on each server of ``specs`` (tag timelines), walking its tag
    timelines, to record edits and deletions. Each server's walk spends at most its
    re-check budget (``recheck_budget``: a share of the server's rate budget, counted over
    the runs of its rate window), split between the tags; a walk that runs out goes on at
    the next run. Best effort: a failure is logged and kept for ``stats``, the run's exit
    code is the sources' own."""
    jobs: list[Job] = []
    window = started - RATE_WINDOW
    for base in dict.fromkeys(spec.url for spec in specs):
        host = urlsplit(base).netloc
        sent, rechecked = store.requests_since(host, window)
        budget = recheck_budget(
            sent + _requests_to(result, base), rechecked, http.paging_room(base)
        )
        if budget <= 0:
            log.info("%s: re-check deferred: the server's rate budget is spent", base)
            continue
        mine = [spec for spec in specs if spec.url == base]
        claimed: set[str] = set()
        for spec in mine:
            assert spec.tag is not None
            targets = [
                (t.uri, t.local_id)
                for t in store.recheck_targets(host, spec.tag, since, started)
                if t.uri not in claimed
            ]
            claimed.update(uri for uri, _ in targets)
            if targets:
                cursor = store.get_cursor(recheck_key(spec))
                share = max(1, budget // len(mine))
                job = _bind_recheck(http, spec, targets, cursor, ctx, share)
                jobs.append((recheck_key(spec), job))
    _Drain(store, http, ctx, result, progress, now, settings, best_effort=True).run(jobs)


def _bind_recheck(
    http: Http,
    spec: SourceSpec,
    targets: list[tuple[str, str]],
    cursor: Cursor,
    ctx: FetchContext,
    budget: int,
) -> Callable[[], Iterator[Page]]:
    return lambda: recheck_tag_timeline(http, spec, targets, cursor, ctx, budget=budget)


def _requests_to(result: RunResult, base: str) -> int:
    """Requests this run has sent to the instance at ``base`` so far (its sources)."""
    return sum(r.requests for r in result.results if _url_of(r.key) == base)


def _record_requests(settings: Settings, store: Store, result: RunResult, at: datetime) -> None:
    """Record what this run sent to each instance, re-check apart, for later runs' budgets."""
    bases = [i.url for i in settings.instances] + [
        _url_of(r.key) for r in result.results if r.key.startswith(("mastodon:", "recheck:"))
    ]
    for base in dict.fromkeys(bases):
        rechecked = sum(
            r.requests
            for r in result.results
            if _url_of(r.key) == base and r.key.startswith("recheck:")
        )
        with contextlib.suppress(StoreError):  # a locked archive must not hide the run's end
            store.record_requests(urlsplit(base).netloc, at, _requests_to(result, base), rechecked)


def cursor_for(store: Store, spec: SourceSpec) -> Cursor:
    """The stored cursor of ``spec``, with the look-back of a tag timeline's catch-up."""
    cursor = store.get_cursor(spec.key)
    if spec.kind == "mastodon" and cursor.newest is not None:
        host = urlsplit(spec.url).netloc
        cursor = replace(cursor, lookback=store.lookback_id(host, cursor.newest, LOOKBACK))
    return cursor


_T = TypeVar("_T")


def put_unless_stopped(bounded: queue.Queue[_T], item: _T, stop: threading.Event) -> bool:
    """Put ``item`` on the ``bounded`` queue, waiting for room while the run goes on; False
    when ``stop`` is set first (the writer is no longer reading: the source stops too)."""
    while not stop.is_set():
        try:
            bounded.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


class _Drain:
    """Runs sources in worker threads and stores their pages in the calling thread: each
    page with its cursor in one transaction, together with whatever other pages are ready
    at that moment.

    At most ``--concurrency`` sources run at once, one thread each, taken in order (per-host
    politeness is kept by ``http.py``). A source's pages go through a bounded queue, so
    memory stays bounded while every source's next request is in flight; its last word
    (done, or the error it failed with) always arrives, stopping or not. With
    ``best_effort`` (discovered servers, the re-check) a failure is logged and kept for
    ``stats`` but does not make the run a partial failure.
    """

    def __init__(
        self,
        store: Store,
        http: Http,
        ctx: FetchContext,
        result: RunResult,
        progress: ProgressCallback | None,
        now: Callable[[], datetime],
        settings: Settings,
        *,
        best_effort: bool = False,
    ) -> None:
        self.store, self.http, self.ctx, self.result = store, http, ctx, result
        self.progress, self.now, self.settings = progress, now, settings
        self.best_effort = best_effort
        self.queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=QUEUE_PAGES)
        self.pending: set[str] = set()
        self.counts: dict[str, SourceResult] = {}
        self.errors: dict[str, SourceError] = {}
        self.bugs: list[BaseException] = []
        self.claims = store.source_claims()

    def run(self, jobs: list[Job]) -> dict[str, SourceError]:
        """Run ``jobs`` (source key, page iterator factory) to the end; return the error
        each failed source raised. A bug in a source is raised here."""
        if not jobs:
            return {}
        self.pending = {key for key, _ in jobs}
        self.counts = {key: SourceResult(key) for key, _ in jobs}
        self.stamps = self.store.source_stamps([key for key, _ in jobs])
        threads = self._start(jobs)
        try:
            while self.pending:
                with self.store.grouped():
                    for key, payload in self._ready():
                        self._handle(key, payload)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: what is stored stays; leave at once
            self.ctx.stop.set()
            raise
        finally:
            if self.bugs or self.pending:
                self.ctx.stop.set()
            if not self.pending:  # every source said its last word: the threads are ending
                for t in threads:
                    t.join(timeout=5)
        if self.bugs:
            raise self.bugs[0]
        return self.errors

    # -- worker threads -------------------------------------------------------------------

    def _start(self, jobs: list[Job]) -> list[threading.Thread]:
        waiting = list(reversed(jobs))
        taking = threading.Lock()

        def runner() -> None:
            while True:
                with taking:
                    if not waiting:
                        return
                    key, make = waiting.pop()
                if self.ctx.stop.is_set():
                    self._last_word(key, _DONE)
                elif not self.claims.take(key, self.stamps.get(key)):
                    self._last_word(key, _HELD)
                else:
                    self._work(key, make)

        threads = [
            threading.Thread(target=runner, name=f"source runner {n}", daemon=True)
            for n in range(min(len(jobs), max(1, self.settings.concurrency)))
        ]
        for t in threads:
            t.start()
        return threads

    def _work(self, key: str, make: Callable[[], Iterator[Page]]) -> None:
        try:
            for page in make():
                if not put_unless_stopped(self.queue, (key, page), self.ctx.stop):
                    break  # stopping: this page is not stored, its cursor not moved
            self._last_word(key, _DONE)
        except BaseException as e:  # a SourceError, or a bug surfaced in the main thread
            self._last_word(key, e)

    def _last_word(self, key: str, payload: object) -> None:
        # Always delivered, stopping or not: the writer waits for every source's.
        self.queue.put((key, payload))

    # -- the writer (calling thread) ------------------------------------------------------

    def _ready(self) -> list[tuple[str, object]]:
        """The next item, and whatever else is ready with it (stored in one transaction)."""
        ready = [self.queue.get()]
        while len(ready) < QUEUE_PAGES:
            try:
                ready.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return ready

    def _handle(self, key: str, payload: object) -> None:
        if isinstance(payload, Page):
            self._store(key, payload)
            return
        self.pending.discard(key)
        if payload is _HELD:
            log.info("%s: another run on this archive is reading it", key)
            self.result.held.append(key)
            return
        if isinstance(payload, SourceError):
            self.errors[key] = payload
        elif isinstance(payload, BaseException):
            self.bugs.append(payload)
            self.ctx.stop.set()
        self._finish(key)

    def _store(self, key: str, page: Page) -> None:
        seen = len(page.items)
        page = screen_page(page, include_opted_out=self.settings.include_opted_out)
        self.result.opted_out += seen - len(page.items)
        saved = self.store.save_page(page, self.now())
        so_far = self.counts[key]
        self.counts[key] = replace(
            so_far,
            new=so_far.new + saved.new,
            updated=so_far.updated + saved.updated,
            requests=so_far.requests + page.requests,
        )
        self.result.new += saved.new
        self.result.updated += saved.updated
        self.result.skipped += page.skipped
        if self.progress:
            self.progress(Progress(key, saved.new, saved.updated))

    def _finish(self, key: str) -> None:
        error = self.errors.get(key)
        finished = replace(
            self.counts[key],
            error=str(error) if error else None,
            waited=self.http.waited(_url_of(key)),
            finished_at=self.now(),
        )
        self.store.record_source_result(finished, self.now())
        if self.best_effort and finished.error:
            log.warning("discovered server skipped: %s", finished.error)
            finished = replace(finished, error=None)
        self.result.results.append(finished)
        if self.progress:
            self.progress(Progress(key, 0, 0, done=True, error=finished.error))


def _url_of(key: str) -> str:
    body = key.split(":", 1)[1] if ":" in key else key
    return body.split("#", 1)[0]


def begin_run(
    settings: Settings,
    store: Store,
    started: datetime,
    command: str = "fetch",
    extra: Mapping[str, object] | None = None,
) -> int:
    """Record the start of a ``fetch`` or ``watch`` run with its recipe
    (:func:`run_options`, with ``extra``: what only that command is asked), and whether it
    keeps opted-out accounts; return the run's id for ``Store.finish_run``."""
    options = {**run_options(settings, command), **(extra or {})}
    run_id = store.start_run(started, json.dumps(options, sort_keys=True))
    if settings.include_opted_out:
        # Researchers must be able to tell that an archive holds opted-out accounts.
        store.set_meta("include_opted_out_used", iso(started) or "")
    return run_id


def run_options(s: Settings, command: str = "fetch") -> dict[str, object]:
    """What the run was asked to do, for provenance (never tokens): every option that
    changes what an archive holds (tags, servers, feeds, window, discovery and its bound,
    page and reaction bounds, the re-check, the opt-out override, private networks), and
    the bsarchive version that ran it."""
    return {
        "command": command,
        "version": __version__,
        "tags": list(s.tags),
        "instances": [i.url for i in s.instances],
        "feeds": list(s.feeds),
        "outboxes": list(s.outboxes),
        "since": s.since.isoformat() if s.since else None,
        "until": s.until.isoformat() if s.until else None,
        "discover": s.discover,
        "max_instances": s.max_instances,
        "max_pages": s.max_pages,
        "reactions": s.reactions,
        "max_reactions": s.max_reactions,
        "refresh_hours": s.refresh_hours,
        "refetch_gone": s.refetch_gone,
        "include_opted_out": s.include_opted_out,
        "allow_private_networks": s.allow_private_networks,
    }


@dataclass
class ImportResult:
    path: Path
    items: int = 0
    new: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None


# Files this large are parsed in a second process while this one writes: parsing and
# writing each take about half of a serial import (issue 8).
PARSE_IN_WORKER_BYTES = 4 * 1024 * 1024


# What `bsarchive import FORMAT` reads: twarc JSONL (v1.1 and v2) or a TAGS sheet as CSV.
ImportFormat = Literal["twarc", "tags"]


def _import_reader(fmt: ImportFormat) -> Callable[..., Iterator[TwarcLine]]:
    """The parser for ``fmt``, imported here so that a fetch never loads it."""
    from bsarchive.sources.twarc import iter_tags_csv, iter_twarc_file

    return iter_twarc_file if fmt == "twarc" else iter_tags_csv


def run_import(
    store: Store,
    files: Sequence[Path],
    fmt: ImportFormat,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    worker_min_bytes: int = PARSE_IN_WORKER_BYTES,
) -> list[ImportResult]:
    """Import twarc/TAGS files: items stored in batches, malformed lines collected with
    their line numbers (the rest still imported), an unreadable file reported, not raised.

    A file of ``worker_min_bytes`` or more is read by the format's parser in a forked
    process (Linux), which sends packed batches (:func:`bsarchive.store.pack_items`)
    through a pipe while this process writes the previous one.
    """
    reader = _import_reader(fmt)
    results = []
    with _no_cycle_collection():
        for path in files:
            results.append(_import_file(store, path, reader, now, worker_min_bytes))
    store.resolve_retweets()  # TAGS retweets name no original: found by text, either order
    return results


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Turn off Python's cycle collector while importing (and in the forked parser, which
    inherits the setting). An import makes and drops millions of small tuples that hold
    no cycles; the collector kept walking them, 5-7% of the import's CPU."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_file(
    store: Store,
    path: Path,
    reader: Callable[..., Iterator[TwarcLine]],
    now: Callable[[], datetime],
    worker_min_bytes: int,
) -> ImportResult:
    result = ImportResult(path)
    fetched_at = now()
    batches = (
        _parsed_in_worker(reader, path, fetched_at)
        if _worth_a_worker(path, worker_min_bytes)
        else _parsed_here(reader, path, fetched_at)
    )
    for batch in batches:
        result.items += batch.items
        result.bad.extend(batch.bad)
        result.error = batch.error
        if batch.items:
            result.new += store.import_packed(batch.packed, now()).new
    return result


@dataclass(frozen=True, slots=True)
class _Batch:
    """Up to IMPORT_BATCH items of a file (one transaction, one message from the parsing
    process), the malformed lines met reading them, and the error that ended the file
    early, if any."""

    packed: PackedItems
    items: int
    bad: list[tuple[int, str]]
    error: str | None = None


def _parsed_here(
    reader: Callable[..., Iterator[TwarcLine]], path: Path, fetched_at: datetime
) -> Iterator[_Batch]:
    items: list[Item] = []
    bad: list[tuple[int, str]] = []
    try:
        for line in reader(path, fetched_at=fetched_at):
            if line.error:
                bad.append((line.line_no, line.error))
            items.extend(line.items)
            if len(items) >= IMPORT_BATCH:
                yield _Batch(pack_items(items), len(items), bad)
                items, bad = [], []
    except SourceError as e:  # what was read before the error is still stored
        yield _Batch(pack_items(items), len(items), bad, str(e))
        return
    yield _Batch(pack_items(items), len(items), bad)


def _worth_a_worker(path: Path, min_bytes: int) -> bool:
    if sys.platform != "linux":  # fork is the cheap start; elsewhere it is not safe
        return False
    try:
        return path.stat().st_size >= min_bytes
    except OSError:
        return False  # the reader reports it


def _parsed_in_worker(
    reader: Callable[..., Iterator[TwarcLine]], path: Path, fetched_at: datetime
) -> Iterator[_Batch]:
    """Every batch of ``_parsed_here``, parsed in a forked process that streams them
    through a one-way pipe, parsing the next while this process writes.

    Not the process pool the feed parser asks one call at a time (issue 16 measured it
    here, a one-worker pool keeping the file's batches open, the next batch asked for
    before this one is written): 200,000 twarc2 lines imported 2-10% slower (wall and
    CPU, four runs each, alternated) with 5-20 MB more at peak, the results going through
    the pool's own thread and queue.
    """
    forked = multiprocessing.get_context("fork")
    receiving, sending = forked.Pipe(duplex=False)
    worker = forked.Process(
        target=_parse_worker,
        args=(reader, path, fetched_at, sending, receiving),
        name="bsarchive import parser",
        daemon=True,
    )
    worker.start()
    sending.close()
    try:
        while True:
            try:
                message = receiving.recv()
            except EOFError:
                raise RuntimeError(f"{path}: the parsing process ended unexpectedly") from None
            if isinstance(message, _Batch):
                yield message
                if message.error is not None:
                    return
            elif message is None:
                return
            else:  # a bug in the parser: its traceback, as text
                raise RuntimeError(f"{path}: the parsing process failed:\n{message}")
    finally:
        receiving.close()
        worker.join(timeout=5)
        if worker.is_alive():
            worker.terminate()
            worker.join(timeout=5)


def _parse_worker(
    reader: Callable[..., Iterator[TwarcLine]],
    path: Path,
    fetched_at: datetime,
    sending: Connection,
    receiving: Connection,
) -> None:
    """The parsing process: every batch from ``_parsed_here``, then None.

    It first closes its inherited copy of the pipe's reading end: with it open, a send
    would block for ever once the importing process has gone (killed, or stopped early)
    instead of failing with a broken pipe.
    """
    receiving.close()
    try:
        for batch in _parsed_here(reader, path, fetched_at):
            sending.send(batch)
        sending.send(None)
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # the importing process stopped: nothing left to tell it
    except BaseException:
        with contextlib.suppress(OSError):
            sending.send(traceback.format_exc())
    finally:
        sending.close()
