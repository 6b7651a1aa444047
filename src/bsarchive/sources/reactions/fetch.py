"""The thin fetch layer of the reaction pass: :func:`fetch_reactions` fetches each planned
article (robots.txt and ``noindex`` honoured, comment feed discovered and read) and
:func:`fetch_comment_updates` re-reads known comment feeds with conditional GET.

Every URL came from a post, so every request is ``Http.get(untrusted=True)``; a refusal
is a logged skip, never an error. Never touches the database.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

from bsarchive.errors import BlockedAddressError, FetchError, ParseError
from bsarchive.http import Http, Response, origin
from bsarchive.models import Comment, Cursor, Page, Reaction
from bsarchive.sources.feeds import parse_comments
from bsarchive.sources.reactions.article import read_article
from bsarchive.sources.reactions.blogfeeds import BlogFeeds
from bsarchive.sources.reactions.plan import LinkGroup
from bsarchive.sources.reactions.robots import FEED_ACCEPT, Robots, _refusal
from bsarchive.urls import (
    article_key,
    canonical_url,
)

log = logging.getLogger(__name__)
# Issue 5: article bodies are capped at 2 MiB after decompression.
MAX_ARTICLE_BYTES = 2 * 1024 * 1024
# Comment feeds: a long WordPress thread is a few hundred KiB; same cap as articles.
MAX_COMMENT_FEED_BYTES = 2 * 1024 * 1024
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ARTICLE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
# Variants of one article tried when the first fails in transport (TLS, connection).
MAX_VARIANTS = 3
# Comment feeds are a source of their own, keyed so; their ETag/Last-Modified live there.
COMMENTS_KEY_PREFIX = "comments:"

# new/known: a reaction to store; skipped: the site opted out (robots.txt, noindex);
# ignored: not an article (not HTML, 4xx); refused: address or scheme not allowed;
# failed: transport trouble. Only the first two carry a reaction.
Outcome = Literal["new", "known", "skipped", "ignored", "refused", "failed"]

# --------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReactionResult:
    """One article's outcome: a reaction (new or known) with its comments, or a skip."""

    outcome: Outcome
    subject: str  # the link fetched
    reaction: Reaction | None = None
    comments: Page | None = None  # comments with the comment feed's cursor
    reason: str = ""
    requests: int = 0
    # The page was read but its comment feed could not be (logged as a warning).
    comments_failed: bool = False


@dataclass
class _RunState:
    """Shared between workers: final article keys already claimed in this run."""

    known: dict[str, str]  # article_key -> stored reaction url
    claimed: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, key: str, url: str) -> tuple[str, bool]:
        """The url to store under and whether it is a new reaction."""
        with self.lock:
            if key in self.known:
                return self.known[key], False
            if key in self.claimed:
                return self.claimed[key], False
            self.claimed[key] = url
            return url, True


def fetch_reactions(
    client: Http,
    groups: Iterable[LinkGroup],
    *,
    known: Mapping[str, str],
    now: Callable[[], datetime],
    max_new: int,
    concurrency: int,
    include_opted_out: bool = False,
    robots: Robots | None = None,
    stop: threading.Event | None = None,
) -> Iterator[ReactionResult]:
    """Fetch each group's article (and its comments) in a small thread pool.

    At most ``concurrency`` jobs run at once and at most the client's ``per_host`` per link
    host (one setting: ``http.py`` enforces it per request), so no worker sits waiting on a
    busy host while another host is idle. No more than ``max_new`` new reactions are
    produced: jobs are only started while new results plus jobs in flight stay under the cap.

    Args:
        known: ``article_key -> url`` of stored reactions; a group that resolves (after
            redirects or ``rel=canonical``) to one of them updates it.
    """
    state = _RunState(dict(known))
    robots = robots or Robots(client)
    blogs = BlogFeeds(client, robots, now)
    jobs: list[tuple[_Host, _Job]] = [
        (
            _host_key(g.urls[0]),
            partial(_fetch_group, client, g, state, robots, blogs, now, include_opted_out),
        )
        for g in groups
    ]
    yield from _schedule(jobs, concurrency, client.settings.per_host, max_new, stop)


def fetch_comment_updates(
    client: Http,
    feeds: Iterable[tuple[str, str, Cursor]],
    *,
    now: Callable[[], datetime],
    concurrency: int,
    robots: Robots | None = None,
    stop: threading.Event | None = None,
) -> Iterator[ReactionResult]:
    """Re-read known comment feeds ``(reaction url, feed url, cursor)`` with conditional GET.

    A 304 yields a page with no comments (its cursor unchanged); a feed that fails is a
    logged skip.
    """
    robots = robots or Robots(client)
    jobs: list[tuple[_Host, _Job]] = []
    for reaction_url, feed_url, cursor in feeds:
        jobs.append(
            (
                _host_key(feed_url),
                _bind_comments(client, reaction_url, feed_url, cursor, robots, now),
            )
        )
    yield from _schedule(jobs, concurrency, client.settings.per_host, None, stop)


def _host_key(url: str) -> _Host:
    try:
        return origin(url)
    except ValueError:
        return ("", url, 0)


def _bind_comments(
    client: Http,
    reaction_url: str,
    feed_url: str,
    cursor: Cursor,
    robots: Robots,
    now: Callable[[], datetime],
) -> Callable[[], ReactionResult]:
    def job() -> ReactionResult:
        page, requests, reason, _ = _fetch_comments(
            client, reaction_url, feed_url, cursor, robots, now
        )
        if page is None:
            return ReactionResult("failed", feed_url, reason=reason, requests=requests)
        return ReactionResult("known", feed_url, comments=page, requests=requests)

    return job


_Host = tuple[str, str, int]
_Job = Callable[[], ReactionResult]


class _Scheduler:
    """Starts jobs from completion callbacks, so a slow consumer never holds back the
    network: at most ``limit`` running, ``per_host`` per host, hosts taken in turn, and
    no job started once ``max_new`` new reactions are done or in flight."""

    def __init__(
        self,
        jobs: list[tuple[_Host, _Job]],
        pool: ThreadPoolExecutor,
        limit: int,
        per_host: int,
        max_new: int | None,
        stop: threading.Event | None,
    ) -> None:
        self.queues: dict[_Host, deque[_Job]] = {}
        for host, job in jobs:
            self.queues.setdefault(host, deque()).append(job)
        self.ready: deque[_Host] = deque(self.queues)
        self.active: dict[_Host, int] = dict.fromkeys(self.queues, 0)
        self.pool, self.limit, self.per_host = pool, limit, per_host
        self.max_new, self.new, self.stop = max_new, 0, stop
        self.running = 0
        self.outstanding = 0  # started and not yet taken by the consumer
        self.closed = False
        # Re-entrant: a job that ends before add_done_callback runs its callback at once.
        self.lock = threading.RLock()
        self.results: queue.SimpleQueue[Future[ReactionResult]] = queue.SimpleQueue()

    def fill(self) -> None:
        with self.lock:
            passes = 0
            while self.ready and self.running < self.limit and self._may_start():
                host = self.ready.popleft()
                if self.active[host] >= self.per_host:
                    self.ready.append(host)
                    passes += 1
                    if passes > len(self.ready):
                        break
                    continue
                passes = 0
                job = self.queues[host].popleft()
                if self.queues[host]:
                    self.ready.append(host)
                self.active[host] += 1
                self.running += 1
                self.outstanding += 1
                future = self.pool.submit(job)
                future.add_done_callback(self._on_done(host))

    def _may_start(self) -> bool:
        if self.closed or (self.stop is not None and self.stop.is_set()):
            return False
        return self.max_new is None or self.new + self.running < self.max_new

    def _on_done(self, host: _Host) -> Callable[[Future[ReactionResult]], None]:
        return lambda future: self._done(future, host)

    def _done(self, future: Future[ReactionResult], host: _Host) -> None:
        with self.lock:
            self.active[host] -= 1
            self.running -= 1
            if (
                not future.cancelled()
                and future.exception() is None
                and future.result().outcome == "new"
            ):
                self.new += 1
            if self.queues[host] and host not in self.ready:
                self.ready.append(host)
        self.fill()  # before the result is visible: the consumer sees every follow-up
        self.results.put(future)

    def __iter__(self) -> Iterator[ReactionResult]:
        self.fill()
        while True:
            with self.lock:
                if self.outstanding == 0:
                    return
            future = self.results.get()
            with self.lock:
                self.outstanding -= 1
            if not future.cancelled():
                yield future.result()


def _schedule(
    jobs: list[tuple[_Host, _Job]],
    concurrency: int,
    per_host: int,
    max_new: int | None,
    stop: threading.Event | None,
) -> Iterator[ReactionResult]:
    """Run jobs in a pool of ``concurrency`` threads and yield their results as they end."""
    limit = max(1, concurrency)
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="reactions") as pool:
        scheduler = _Scheduler(jobs, pool, limit, per_host, max_new, stop)
        try:
            yield from scheduler
        finally:
            with scheduler.lock:
                scheduler.closed = True


def _fetch_group(
    client: Http,
    group: LinkGroup,
    state: _RunState,
    robots: Robots,
    blogs: BlogFeeds,
    now: Callable[[], datetime],
    include_opted_out: bool,
) -> ReactionResult:
    """Fetch a group's first variant; on a transport failure try the next (at most 3):
    ``https://`` may be linked for a site served over http only, or the other way."""
    result = ReactionResult("failed", group.urls[0])
    requests = 0
    for link in group.urls[:MAX_VARIANTS]:
        result = _fetch_link(client, link, group, state, robots, blogs, now, include_opted_out)
        requests += result.requests
        if result.outcome != "failed":
            break
    return replace(result, requests=requests)


def _fetch_link(
    client: Http,
    link: str,
    group: LinkGroup,
    state: _RunState,
    robots: Robots,
    blogs: BlogFeeds,
    now: Callable[[], datetime],
    include_opted_out: bool,
) -> ReactionResult:
    requests = 0

    def skip(outcome: Outcome, reason: str, level: int = logging.INFO) -> ReactionResult:
        log.log(level, "reaction %s: %s", link, reason)
        return ReactionResult(outcome, link, reason=reason, requests=requests)

    why = _refusal(client, link)
    if why is not None:
        return skip("refused", why, logging.WARNING)
    try:
        if not robots.allowed(link):
            return skip("skipped", "disallowed by robots.txt")
        response = client.get(
            link, untrusted=True, max_bytes=MAX_ARTICLE_BYTES, accept=ARTICLE_ACCEPT
        )
        requests += response.requests
        if response.status >= 500:  # the site is down: worth saying, unlike a dead link
            return skip("failed", f"HTTP {response.status}", logging.WARNING)
        if response.status >= 400:
            return skip("ignored", f"HTTP {response.status}")
        if response.content_type not in HTML_TYPES:
            return skip("ignored", f"not HTML ({response.content_type or 'no Content-Type'})")
        final = canonical_url(response.url) or link
        if final != link and origin(final) != origin(link) and not robots.allowed(final):
            return skip("skipped", f"redirected to {final}, disallowed by robots.txt")
        fetched_at = now()
        page = read_article(
            response.body, final, fetched_at, content_type=response.header("content-type")
        )
    except BlockedAddressError as e:
        return skip("refused", str(e), logging.WARNING)
    except FetchError as e:
        return skip("failed", str(e), logging.WARNING)
    opted_out = page.noindex or "noindex" in (response.header("x-robots-tag") or "").lower()
    if opted_out and not include_opted_out:
        return skip("skipped", "page asks not to be indexed (noindex)")
    url = final
    if page.canonical and _same_site(page.canonical, final):
        url = page.canonical
    stored_url, is_new = state.claim(article_key(url), url)
    comments_feed, comment_count = page.comments_feed, page.reaction.comment_count
    if is_new and comments_feed is None and page.blog_feeds:
        # Issue 14: the page names no comment feed (Blogger, a theme without per-post
        # feed links); the blog's feed entry for it names one, and states the count.
        entry, n = blogs.entry(page.blog_feeds[0], (final, page.canonical, link))
        requests += n
        if entry is not None:
            comments_feed = entry.comments_feed
            comment_count = (
                entry.comment_count if entry.comment_count is not None else comment_count
            )
    comments_feed = comments_feed or page.comments_by_shape
    reaction = replace(
        page.reaction,
        url=stored_url,
        fetched_from=response.url,
        original_url=link if link != stored_url else None,
        linked_from=group.linked_from,
        comments_feed=comments_feed,
        comment_count=comment_count,
        flags=(*page.reaction.flags, *(("noindex",) if opted_out else ())),
    )
    comments: Page | None = None
    reason, failed = "", False
    if comments_feed and is_new:
        comments, n, reason, failed = _fetch_comments(
            client, stored_url, comments_feed, Cursor(), robots, now
        )
        requests += n
    log.debug("reaction %s -> %s (%s)", link, stored_url, "new" if is_new else "known")
    return ReactionResult(
        "new" if is_new else "known",
        link,
        reaction=reaction,
        comments=comments,
        reason=reason,
        requests=requests,
        comments_failed=failed,
    )


def _same_site(a: str, b: str) -> bool:
    """Same host, ignoring ``www.`` and scheme (a canonical link to another site is
    ignored: a page must not redirect our identity for it elsewhere)."""
    ha, hb = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    return ha.removeprefix("www.") == hb.removeprefix("www.") and bool(ha)


def _fetch_comments(
    client: Http,
    reaction_url: str,
    feed_url: str,
    cursor: Cursor,
    robots: Robots,
    now: Callable[[], datetime],
) -> tuple[Page | None, int, str, bool]:
    """Fetch a comment feed (conditional GET) into a page keyed ``comments:<feed url>``;
    (page or None, requests, why not, whether that was a failure rather than a refusal)."""
    requests = 0
    key = COMMENTS_KEY_PREFIX + feed_url
    why = _refusal(client, feed_url)
    try:
        if why is not None:
            raise BlockedAddressError(feed_url, why)
        if not robots.allowed(feed_url):
            log.info("comments %s: disallowed by robots.txt", feed_url)
            return None, requests, "disallowed by robots.txt", False
        response: Response = client.get(
            feed_url,
            untrusted=True,
            max_bytes=MAX_COMMENT_FEED_BYTES,
            accept=FEED_ACCEPT,
            etag=cursor.etag,
            last_modified=cursor.last_modified,
        )
        requests += response.requests
        if response.status == 304:
            return Page(key, (), cursor, requests=requests), requests, "", False
        if response.status >= 400:
            log.warning("comments %s: HTTP %d", feed_url, response.status)
            return None, requests, f"HTTP {response.status}", True
        comments: tuple[Comment, ...] = parse_comments(
            response.body,
            url=feed_url,
            reaction_url=reaction_url,
            fetched_at=now(),
            content_type=response.header("content-type"),
        )
    except (FetchError, ParseError) as e:
        log.warning("comments %s: %s", feed_url, e)
        return None, requests, str(e), True
    new_cursor = Cursor(
        etag=response.header("etag"),
        last_modified=response.header("last-modified"),
    )
    return Page(key, comments, new_cursor, requests=requests), requests, "", False
