"""Feed discovery in an article page: the page's own comment feed and the blog's feeds
(``<link rel="alternate">`` in the head), told apart by their shapes.

Pure functions of strings; no network, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from bsarchive.sources.feeds.html import _absolute_http_url

# --- comment feed discovery -----------------------------------------------------------------

_PER_POST_FEED = re.compile(r"/feed(?:/(?:rss2?|atom|rdf))?/?$")
_SITE_WIDE_FEEDS = frozenset({"/", "/comments/"})
_HEAD_END = re.compile(r"<body[\s>]|</head\s*>", re.I)


class _LinkScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link":
            self.links.append({name: (value or "").strip() for name, value in attrs})
        elif tag == "base" and self.base is None:
            self.base = next((v for n, v in attrs if n == "href" and v), None)


@dataclass(frozen=True, slots=True)
class PageFeeds:
    """The feeds an article page advertises in its ``<head>``."""

    # The page's own comment feed (rel="replies", WordPress per-post feed), or None.
    comments: str | None
    # The blog's own feeds (its posts, not comments), in page order: read for the page's
    # entry when the page names no comment feed of its own.
    blog: tuple[str, ...] = ()
    # A per-post comment feed known only by its path shape (Blogger
    # ``/feeds/POSTID/comments/default``): used when the blog feed does not name one.
    comments_by_shape: str | None = None


def discover_comment_feed(html: str, page_url: str) -> str | None:
    """Find an article page's own comment feed in its ``<head>``, or None.

    Accepted, in this order: ``<link rel="replies" type="application/atom+xml">``; a
    ``rel="alternate"`` RSS/Atom link on the page's own path ending in ``/feed/`` (WordPress
    per-post feed, pretty permalinks) or ``?feed=rss2&p=ID`` for the page's ``?p=ID``. The
    site-wide ``/feed/`` and ``/comments/feed/`` are not comment feeds of the page.
    """
    return discover_feeds(html, page_url).comments


def discover_feeds(html: str, page_url: str) -> PageFeeds:
    """Read the feed links in an article page's ``<head>``: its own comment feed (as
    :func:`discover_comment_feed`), the blog's feeds, and a Blogger-shaped comment feed."""
    head_end = _HEAD_END.search(html)
    scan = _LinkScan()
    scan.feed(html[: head_end.start()] if head_end else html)
    scan.close()
    base = _absolute_http_url(page_url, scan.base) or page_url
    replies: list[str] = []
    alternates: list[tuple[str, str]] = []
    for attrs in scan.links:
        rel = attrs.get("rel", "").lower().split()
        mime = attrs.get("type", "").split(";")[0].strip().lower()
        href = _absolute_http_url(base, attrs.get("href"))
        if href is None:
            continue
        if "replies" in rel and mime == "application/atom+xml":
            replies.append(href)
        elif "alternate" in rel and mime in ("application/rss+xml", "application/atom+xml"):
            alternates.append((mime, href))
    per_post = [(mime, href) for mime, href in alternates if _is_own_feed(href, page_url)]
    per_post.sort(key=lambda pair: pair[0] != "application/rss+xml")  # stable: RSS first
    own = replies[0] if replies else per_post[0][1] if per_post else None
    by_shape = next((h for _, h in alternates if _is_blogger_comment_feed(h, page_url)), None)
    blog = tuple(
        dict.fromkeys(
            href
            for _, href in alternates
            if href != own and href != by_shape and not _is_comment_feed(href)
            and _same_host(href, page_url)
        )
    )  # fmt: skip
    return PageFeeds(own, blog, by_shape)


# Blogger's per-post comment feed (PROTOCOL.md §6); ``full`` and ``summary`` are variants.
_BLOGGER_COMMENTS = re.compile(r"^/feeds/\d+/comments/(?:default|full|summary)/?$")


def _is_blogger_comment_feed(feed_url: str, page_url: str) -> bool:
    try:
        path = urlsplit(feed_url).path
    except ValueError:
        return False
    return _same_host(feed_url, page_url) and _BLOGGER_COMMENTS.match(path) is not None


def _is_comment_feed(feed_url: str) -> bool:
    """A comment feed rather than a blog's posts: WordPress ``/comments/feed/`` and
    ``?feed=comments-rss2``, Blogger ``/feeds/comments/default`` and per-post feeds."""
    try:
        parts = urlsplit(feed_url)
    except ValueError:
        return True
    if "comments" in parts.path.lower().split("/"):
        return True
    return any(v.startswith("comments") for v in parse_qs(parts.query).get("feed", []))


def _same_host(a: str, b: str) -> bool:
    try:
        one, two = urlsplit(a).hostname, urlsplit(b).hostname
    except ValueError:
        return False
    return bool(one) and (one or "").lower() == (two or "").lower()


def _is_own_feed(feed_url: str, page_url: str) -> bool:
    try:
        feed, page = urlsplit(feed_url), urlsplit(page_url)
    except ValueError:
        return False
    if (feed.hostname or "").lower() != (page.hostname or "").lower():
        return False
    feed_query, page_query = parse_qs(feed.query), parse_qs(page.query)
    if "feed" in feed_query:  # plain permalinks: ?p=ID -> ?feed=rss2&p=ID
        return any(
            key in feed_query and feed_query[key] == page_query.get(key) for key in ("p", "page_id")
        )
    match = _PER_POST_FEED.search(feed.path)
    if match is None:
        return False
    base = feed.path[: match.start()] + "/"
    page_path = page.path if page.path.endswith("/") else page.path + "/"
    return base not in _SITE_WIDE_FEEDS and page_path != "/" and base.startswith(page_path)
