"""The thin fetching half of the feed source: one conditional GET per feed through the
shared :class:`~bsarchive.http.Http` client (ETag/Last-Modified, ``Cache-Control:
max-age`` and ``Retry-After`` between runs, 410 Gone remembered).

Never touches the database; parsing is left to :mod:`.parse`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

from bsarchive.errors import FetchError, GoneError
from bsarchive.http import Http, Response, parse_retry_after, raise_for_status
from bsarchive.models import (
    Cursor,
    Item,
    Page,
    Post,
    SourceSpec,
)
from bsarchive.sources import FetchContext
from bsarchive.sources.feeds.guards import MAX_BODY_BYTES
from bsarchive.sources.feeds.parse import parse_feed

log = logging.getLogger(__name__)

# Feed types first, then the generic XML/JSON ones servers also use for feeds.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.8, */*;q=0.1"
)
# A feed asking to be left alone (max-age / Retry-After) is honoured up to a day: a wrong
# header must not hide a feed for the rest of an event.
MAX_REVISIT_DELAY = timedelta(days=1)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)

# --- fetching -------------------------------------------------------------------------------


def next_fetch_time(response: Response, now: datetime) -> datetime | None:
    """When the server allows the next fetch: ``Retry-After`` or ``Cache-Control: max-age``
    (RFC 9111 §5.2.2.1), capped at :data:`MAX_REVISIT_DELAY`; None when it may be at once."""
    delay = parse_retry_after(response.header("retry-after"), now)
    cache = (response.header("cache-control") or "").lower()
    if delay is None and "no-cache" not in cache and "no-store" not in cache:
        match = _MAX_AGE.search(cache)
        if match:
            delay = float(match.group(1))
    if not delay or delay <= 0:
        return None
    return now + min(timedelta(seconds=delay), MAX_REVISIT_DELAY)


def skip_reason(cursor: Cursor, ctx: FetchContext) -> str | None:
    """Why this run leaves the source alone (gone, or asked to wait), or None to fetch."""
    if ctx.refetch_gone:
        return None
    if cursor.gone:
        return "marked gone (HTTP 410) by an earlier run; skipped"
    if cursor.not_before is not None and ctx.now() < cursor.not_before:
        return f"the server asked not to be fetched before {cursor.not_before.isoformat()}"
    return None


# A Mastodon tag feed, /tags/NAME.rss: 20 newest posts unless asked for up to 200.
_TAG_RSS_PATH = re.compile(r"^/tags/[^/]+\.rss$")
TAG_RSS_LIMIT = 200


def tag_rss_request_url(url: str) -> str:
    """The URL to request for feed ``url``: a Mastodon tag RSS feed asks for its most items
    (``?limit=200``; PROTOCOL.md §2: the default 20 is less than a busy event posts between
    two cron runs; older servers ignore the parameter). Other feeds, and a tag feed whose
    URL already sets a limit, are requested as given."""
    parts = urlsplit(url)
    if not _TAG_RSS_PATH.match(parts.path) or "limit" in parse_qs(parts.query):
        return url
    query = f"{parts.query}&limit={TAG_RSS_LIMIT}" if parts.query else f"limit={TAG_RSS_LIMIT}"
    return urlunsplit(parts._replace(query=query))


def fetch_feed(client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext) -> Iterator[Page]:
    """Yield the one page of a feed: its tagged posts and reactions, with the new cursor.

    A 304 Not Modified yields an empty page with the same validators; 410 Gone yields a page
    marking the feed gone, then raises. Reactions carry their comment feed
    (``Reaction.comments_feed``) for the reactions pass.

    Raises:
        FetchError: transport failure, redirect loop, body over 10 MiB, 404/410 and other
            error statuses (subject: the feed URL).
        ParseError: not a feed (HTML page, malformed XML, entity declarations, ...).
    """
    url = spec.url
    reason = skip_reason(cursor, ctx)
    if reason is not None:
        log.info("%s: %s", url, reason)
        return
    try:
        response = client.get(
            tag_rss_request_url(url),
            accept=FEED_ACCEPT,
            etag=cursor.etag,
            last_modified=cursor.last_modified,
            max_bytes=MAX_BODY_BYTES,
        )
    except FetchError as e:
        raise e.with_subject(url) from e
    now = ctx.now()
    waiting = replace(cursor, not_before=next_fetch_time(response, now), gone=False)
    if response.status == 304:
        yield Page(spec.key, (), waiting, requests=response.requests)
        return
    if response.status >= 400:
        if response.status == 410:
            yield Page(spec.key, (), replace(waiting, gone=True), requests=response.requests)
            raise GoneError(
                url, "HTTP 410 Gone", hint="marked gone; later runs skip this feed", status=410
            )
        if response.status in (429, 503) and waiting.not_before is not None:
            yield Page(spec.key, (), waiting, requests=response.requests)
        raise_for_status(response, url)
    parsed = ctx.offload(
        parse_feed,
        response.body,
        url=url,
        tags=ctx.tags,
        fetched_at=now,
        content_type=response.header("content-type"),
    )
    items: list[Item] = []
    skipped = parsed.skipped
    for item in parsed.items:
        # The window applies to posts; a reaction written after the event still reacts to it.
        if isinstance(item, Post) and not ctx.in_window(item.created_at):
            skipped += 1
            continue
        items.append(item)
    if parsed.xml_error:
        log.info("%s: recovered from malformed XML: %s", url, parsed.xml_error)
    fresh = replace(
        waiting,
        etag=response.header("etag"),
        last_modified=response.header("last-modified"),
    )
    yield Page(spec.key, tuple(items), fresh, requests=response.requests, skipped=skipped)
