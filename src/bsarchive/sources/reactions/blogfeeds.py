"""The blog's own feed: an article's entry names its comment feed and comment count.

:func:`find_feed_entry` is pure; :class:`BlogFeeds` reads each blog feed at most once per
run through the shared client. Never touches the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from bsarchive.errors import FetchError, ParseError
from bsarchive.http import Http
from bsarchive.models import Post, Reaction
from bsarchive.sources.feeds import MAX_BODY_BYTES, parse_feed
from bsarchive.sources.reactions.robots import FEED_ACCEPT, Robots, _refusal
from bsarchive.urls import (
    article_key,
)

log = logging.getLogger(__name__)
# A blog's own feed, read to find an article's entry: the cap of every configured feed.
MAX_BLOG_FEED_BYTES = MAX_BODY_BYTES
# --------------------------------------------------------------------------------------
# The blog's own feed: an article's entry names its comment feed and count
# --------------------------------------------------------------------------------------


def find_feed_entry(
    items: Iterable[Post | Reaction], page_urls: Iterable[str | None]
) -> Reaction | None:
    """The blog feed entry for an article page, or None.

    An entry matches when its link has the same :func:`~bsarchive.urls.article_key` as one
    of ``page_urls`` (the URL fetched, the page's ``rel=canonical``, the link followed), so
    http/https, ``www.``, trailing-slash and ``utm_*`` variants match. Pure.
    """
    wanted = {article_key(url) for url in page_urls if url}
    for item in items:
        if not isinstance(item, Reaction):
            continue
        if any(u and article_key(u) in wanted for u in (item.url, item.original_url)):
            return item
    return None


class BlogFeeds:
    """Blog feeds read for their entries, once per feed per run, shared by every article
    of that blog (thread-safe: one fetch per feed even when several workers ask at once).

    The body is needed to find the entry, so the feed is fetched without ETag/Last-Modified
    (a 304 would say nothing about the article); it is read only for new articles whose
    page names no comment feed. Same rules as every other reaction fetch: the untrusted
    client (private-address guard, redirects re-checked), robots.txt, a size cap.
    """

    def __init__(self, client: Http, robots: Robots, now: Callable[[], datetime]) -> None:
        self._client, self._robots, self._now = client, robots, now
        self._items: dict[str, tuple[Post | Reaction, ...]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def entry(self, feed_url: str, page_urls: Iterable[str | None]) -> tuple[Reaction | None, int]:
        """The entry for the page in ``feed_url`` (None when absent or unreadable), and the
        requests this call made (0 when the feed was read already)."""
        with self._lock:
            lock = self._locks.setdefault(feed_url, threading.Lock())
        made = 0
        with lock:
            items = self._items.get(feed_url)
            if items is None:
                items, made = self._fetch(feed_url)
                self._items[feed_url] = items
        return find_feed_entry(items, page_urls), made

    def _fetch(self, feed_url: str) -> tuple[tuple[Post | Reaction, ...], int]:
        why = _refusal(self._client, feed_url)
        if why is not None:
            log.info("blog feed %s: %s", feed_url, why)
            return (), 0
        made = 0
        try:
            if not self._robots.allowed(feed_url):
                log.info("blog feed %s: disallowed by robots.txt", feed_url)
                return (), 0
            response = self._client.get(
                feed_url, untrusted=True, max_bytes=MAX_BLOG_FEED_BYTES, accept=FEED_ACCEPT
            )
            made = response.requests
            if response.status >= 400:
                log.info("blog feed %s: HTTP %d", feed_url, response.status)
                return (), made
            parsed = parse_feed(
                response.body,
                url=feed_url,
                tags=(),
                fetched_at=self._now(),
                content_type=response.header("content-type"),
            )
        except (FetchError, ParseError) as e:  # BlockedAddressError is a FetchError
            # Best effort, like the page's other hints: the article is stored regardless.
            log.info("blog feed %s: %s", feed_url, e)
            return (), made
        finally:
            with self._lock:
                self.requests += made
        return parsed.items, made
