"""One archival run: sources -> items -> store.

Each source runs in a worker thread and yields pages into a bounded queue; this module's
main loop is the only writer, storing each page with its cursor in one transaction. A
failing source is recorded as a :class:`SourceResult` with its error and the run goes on.

Sequencing only: decisions live in pure functions (``dedupe``, ``urls``), I/O in ``http``,
SQL in ``store``. No printing: progress goes to a callback.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from bsarchive.config import Settings
from bsarchive.errors import SourceError
from bsarchive.http import Http, HttpSettings
from bsarchive.models import Cursor, Page, SourceResult, SourceSpec
from bsarchive.sources import FetchContext
from bsarchive.sources.mastodon import fetch_tag_timeline, refresh_statuses
from bsarchive.store import Store

log = logging.getLogger(__name__)

# Pages buffered between fetchers and the writer: bounds memory while keeping every
# instance's next request in flight while the previous page is stored.
QUEUE_PAGES = 16


@dataclass
class RunResult:
    results: list[SourceResult] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    skipped: int = 0
    reactions: int = 0

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


def _pages_for(client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext) -> Iterator[Page]:
    if spec.kind == "mastodon":
        return fetch_tag_timeline(client, spec, cursor, ctx)
    raise SourceError(spec.url, f"{spec.kind} sources are not supported yet")


_DONE = object()


def run_fetch(
    settings: Settings,
    store: Store,
    *,
    client: Http | None = None,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunResult:
    """Fetch every configured source into ``store``; return per-source results."""
    own_client = client is None
    http = client or Http(http_settings(settings), tokens=settings.tokens)
    ctx = fetch_context(settings, now)
    result = RunResult()
    run_id = store.start_run(now(), json.dumps(_run_options(settings), sort_keys=True))
    try:
        jobs: list[tuple[str, Callable[[], Iterator[Page]]]] = []
        for spec in settings.sources():
            cursor = store.get_cursor(spec.key)
            jobs.append((spec.key, _bind(http, spec, cursor, ctx)))
        _drain(jobs, store, http, ctx, result, progress, now, settings)
        if settings.refresh_hours:
            since = now() - timedelta(hours=settings.refresh_hours)
            refresh_jobs = []
            for inst in settings.instances:
                host = urlsplit(inst.url).netloc
                targets = [(t.uri, t.local_id) for t in store.refresh_targets(host, since)]
                key = f"refresh:{inst.url}"
                refresh_jobs.append((key, _bind_refresh(http, inst.url, targets, ctx, key)))
            _drain(refresh_jobs, store, http, ctx, result, progress, now, settings)
    except BaseException:
        ctx.stop.set()
        raise
    finally:
        store.finish_run(run_id, now(), result.new, result.updated, len(result.failures))
        if own_client:
            http.close()
    return result


def _bind(
    http: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
) -> Callable[[], Iterator[Page]]:
    return lambda: _pages_for(http, spec, cursor, ctx)


def _bind_refresh(
    http: Http, base: str, targets: list[tuple[str, str]], ctx: FetchContext, key: str
) -> Callable[[], Iterator[Page]]:
    return lambda: refresh_statuses(http, base, targets, ctx, key=key)


def _drain(
    jobs: list[tuple[str, Callable[[], Iterator[Page]]]],
    store: Store,
    http: Http,
    ctx: FetchContext,
    result: RunResult,
    progress: ProgressCallback | None,
    now: Callable[[], datetime],
    settings: Settings,
) -> None:
    """Run ``jobs`` in worker threads and store their pages here, one transaction each."""
    if not jobs:
        return
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=QUEUE_PAGES)
    pending = {key for key, _ in jobs}
    counts: dict[str, list[int]] = {key: [0, 0, 0] for key, _ in jobs}
    errors: dict[str, str] = {}
    bugs: list[BaseException] = []

    def put(item: tuple[str, object]) -> bool:
        while not ctx.stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def worker(key: str, make: Callable[[], Iterator[Page]]) -> None:
        try:
            for page in make():
                if not put((key, page)):
                    return
            put((key, _DONE))
        except SourceError as e:
            put((key, e))
        except BaseException as e:  # a bug: surface it in the main thread
            put((key, e))

    # At most `concurrency` sources at once; per-host politeness is enforced in http.py.
    semaphore = threading.Semaphore(max(1, settings.concurrency))

    def guarded(key: str, make: Callable[[], Iterator[Page]]) -> None:
        with semaphore:
            if not ctx.stop.is_set():
                worker(key, make)
            else:
                put((key, _DONE))

    threads = [
        threading.Thread(target=guarded, args=job, name=f"source {job[0]}", daemon=True)
        for job in jobs
    ]
    for t in threads:
        t.start()
    try:
        while pending:
            key, payload = q.get()
            if isinstance(payload, Page):
                saved = store.save_page(payload, now())
                counts[key][0] += saved.new
                counts[key][1] += saved.updated
                counts[key][2] += payload.requests
                result.new += saved.new
                result.updated += saved.updated
                result.skipped += payload.skipped
                if progress:
                    progress(Progress(key, saved.new, saved.updated))
                continue
            pending.discard(key)
            if isinstance(payload, SourceError):
                errors[key] = str(payload)
            elif isinstance(payload, BaseException):
                bugs.append(payload)
                ctx.stop.set()
            finished = SourceResult(
                key=key,
                new=counts[key][0],
                updated=counts[key][1],
                requests=counts[key][2],
                error=errors.get(key),
                waited=http.waited(_url_of(key)),
                finished_at=now(),
            )
            store.record_source_result(finished, now())
            result.results.append(finished)
            if progress:
                progress(Progress(key, 0, 0, done=True, error=errors.get(key)))
    finally:
        if bugs or pending:
            ctx.stop.set()
        for t in threads:
            t.join(timeout=5)
    if bugs:
        raise bugs[0]


def _url_of(key: str) -> str:
    body = key.split(":", 1)[1] if ":" in key else key
    return body.split("#", 1)[0]


def _run_options(s: Settings) -> dict[str, object]:
    """What the run was asked to do, for provenance (never tokens)."""
    return {
        "tags": list(s.tags),
        "instances": [i.url for i in s.instances],
        "feeds": list(s.feeds),
        "outboxes": list(s.outboxes),
        "since": s.since.isoformat() if s.since else None,
        "until": s.until.isoformat() if s.until else None,
        "reactions": s.reactions,
        "include_opted_out": s.include_opted_out,
        "refresh_hours": s.refresh_hours,
    }
