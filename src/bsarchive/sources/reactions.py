"""Reactions: the articles that posts link to, their metadata and their comment threads.

Two halves, as in every source:

- Pure functions: :func:`plan_links` turns ``(post uri, link)`` pairs read from the archive
  into one :class:`LinkGroup` per article (shortener, ``utm_*``, http/https and
  trailing-slash variants folded by :func:`~bsarchive.urls.article_key`), and
  :func:`parse_article` reads an HTML page into a :class:`~bsarchive.models.Reaction`
  (JSON-LD, then OpenGraph, then ``<meta>`` tags, then ``<title>`` and the body text).
- A thin fetch layer: :func:`fetch_reactions` fetches each group's article (redirects
  followed by ``http.py``, at most 5 hops, each hop re-checked by the private-address
  guard), honours robots.txt (RFC 9309, fetched once per host per run) and
  ``noindex``, discovers and reads the comment feed, and yields :class:`ReactionResult`
  values; :func:`fetch_comment_updates` re-reads known comment feeds with conditional GET.
- A page that names no comment feed of its own but advertises its blog's feed (Blogger,
  WordPress themes without per-post feed links) gets both from the blog feed's entry for
  it (:func:`find_feed_entry`, pure): its ``wfw:commentRss``/``rel="replies"`` and stated
  comment count. :class:`BlogFeeds` reads each blog feed at most once per run.

Depth is exactly one hop: links found inside articles are never followed. Every URL is
untrusted (it came from a post), so each request goes through ``Http.get(untrusted=True)``.
A refusal (private address, robots.txt, noindex, not HTML, 404) is a logged skip, never an
error: reactions are best effort and cannot fail a run.

This module never touches the database: the archive passes plain data in (links, known
reactions, comment-feed cursors) and stores what comes out.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import urllib.robotparser
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import orjson
from lxml import etree

from bsarchive.errors import BlockedAddressError, FetchError, ParseError
from bsarchive.http import Http, Response, origin
from bsarchive.models import Comment, Cursor, Page, Post, Reaction, utc
from bsarchive.sources.feeds import MAX_BODY_BYTES, discover_feeds, parse_comments, parse_feed
from bsarchive.urls import (
    article_key,
    canonical_url,
    check_url_allowed,
    is_shortener,
    should_follow,
)

log = logging.getLogger(__name__)

# Issue 5: article bodies are capped at 2 MiB after decompression.
MAX_ARTICLE_BYTES = 2 * 1024 * 1024
# Comment feeds: a long WordPress thread is a few hundred KiB; same cap as articles.
MAX_COMMENT_FEED_BYTES = 2 * 1024 * 1024
# A blog's own feed, read to find an article's entry: the cap of every configured feed.
MAX_BLOG_FEED_BYTES = MAX_BODY_BYTES
# RFC 9309 §2.5: crawlers must parse at least the first 500 KiB of robots.txt.
MAX_ROBOTS_BYTES = 500 * 1024
# The product token matched against robots.txt User-agent lines (RFC 9309 §2.2.1).
ROBOTS_AGENT = "bsarchive"
# Excerpt length, as in feeds.py (issue 5: "~300 chars").
EXCERPT_CHARS = 300
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ARTICLE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
FEED_ACCEPT = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.5, */*;q=0.1"
# Schema.org types that are an article (https://schema.org/Article and its subtypes).
ARTICLE_TYPES = frozenset(
    {
        "article", "blogposting", "newsarticle", "reportagenewsarticle", "opinionnewsarticle",
        "analysisnewsarticle", "backgroundnewsarticle", "reviewnewsarticle", "socialmediaposting",
        "techarticle", "scholarlyarticle", "report", "liveblogposting", "webpage", "creativework",
    }
)  # fmt: skip
# Variants of one article tried when the first fails in transport (TLS, connection).
MAX_VARIANTS = 3
# Comment feeds are a source of their own, keyed so; their ETag/Last-Modified live there.
COMMENTS_KEY_PREFIX = "comments:"

# new/known: a reaction to store; skipped: the site opted out (robots.txt, noindex);
# ignored: not an article (not HTML, 4xx); refused: address or scheme not allowed;
# failed: transport trouble. Only the first two carry a reaction.
Outcome = Literal["new", "known", "skipped", "ignored", "refused", "failed"]


# --------------------------------------------------------------------------------------
# Planning: which links become which articles (pure)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownReaction:
    """A reaction already in the archive, as the archive hands it over."""

    url: str
    fetched_at: datetime
    fetched_from: str
    linked_from: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkGroup:
    """The links (variants of one article) to fetch once, and the posts that linked them."""

    key: str  # article_key of the links
    urls: tuple[str, ...]  # canonical variants, first seen first; urls[0] is fetched
    linked_from: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """What :func:`plan_links` decided: groups to fetch, and links to known reactions."""

    fetch: tuple[LinkGroup, ...]
    # Known reactions linked by new posts: only their linked-from list grows.
    relink: tuple[Reaction, ...]
    ignored: int = 0


def plan_links(
    links: Iterable[tuple[str, str]],
    *,
    skip_hosts: Collection[str],
    known: Mapping[str, KnownReaction],
) -> LinkPlan:
    """Group ``(post uri, link)`` pairs into articles to fetch.

    Links that are not http(s), media/downloads, or on ``skip_hosts`` (the archived
    instances) are ignored. Variants with the same :func:`article_key` form one group,
    tried in the order first linked, non-shortener variants first (saves a redirect). A group
    whose key is a reaction in ``known`` is not fetched again: it becomes a relink record
    when new posts link to it.

    Args:
        links: ``(post_uri, url)`` in the archive's order (oldest post first).
        skip_hosts: hosts or base URLs never followed.
        known: ``article_key -> KnownReaction`` for every stored reaction (by its url and
            by its original url).
    """
    groups: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    ignored = 0
    for post_uri, link in links:
        url = canonical_url(link)
        if url is None or not should_follow(url, skip_hosts):
            ignored += 1
            continue
        urls, posts = groups.setdefault(article_key(url), ({}, {}))
        urls[url] = None
        posts[post_uri] = None
    fetch: list[LinkGroup] = []
    relink: list[Reaction] = []
    for key, (urls, posts) in groups.items():
        seen = known.get(key)
        if seen is not None:
            fresh = tuple(p for p in posts if p not in seen.linked_from)
            if fresh:
                relink.append(
                    Reaction(
                        url=seen.url,
                        fetched_at=seen.fetched_at,
                        fetched_from=seen.fetched_from,
                        linked_from=fresh,
                    )
                )
            continue
        ordered = sorted(urls, key=_is_short)  # stable: first seen first
        fetch.append(LinkGroup(key, tuple(ordered), tuple(posts)))
    return LinkPlan(tuple(fetch), tuple(relink), ignored)


def _is_short(url: str) -> bool:
    return is_shortener(urlsplit(url).hostname or "")


# --------------------------------------------------------------------------------------
# Parsing an article page (pure)
# --------------------------------------------------------------------------------------

_CHARSET_RE = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:\-]{1,40})""", re.I)
_CHARSET_PARAM_RE = re.compile(r"""charset\s*=\s*["']?([\w.:\-]{1,40})""", re.I)
_SPACES_RE = re.compile(r"\s+")
# Body elements whose text is no part of the article.
_NOT_TEXT = frozenset(
    {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
     "button", "svg", "iframe", "select"}
)  # fmt: skip
_PARSERS = threading.local()


def _parser() -> etree.HTMLParser:
    parser: etree.HTMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True
        )
        _PARSERS.parser = parser
    return parser


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode an HTML body: the header's charset, else a ``<meta charset>``, else UTF-8."""
    names: list[str] = []
    if content_type and (m := _CHARSET_PARAM_RE.search(content_type)):
        names.append(m.group(1))
    if body.startswith(b"\xef\xbb\xbf"):
        names.insert(0, "utf-8-sig")
    if m2 := _CHARSET_RE.search(body[:4096]):
        names.append(m2.group(1).decode("ascii", "replace"))
    for name in [*names, "utf-8"]:
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """What a page says about itself, before it becomes a :class:`Reaction`."""

    reaction: Reaction
    canonical: str | None  # <link rel="canonical">, absolute, as written
    noindex: bool
    comments_feed: str | None
    # The blog's feeds the page advertises (read for its entry when comments_feed is None).
    blog_feeds: tuple[str, ...] = ()
    # A per-post comment feed known by its path only (Blogger), the last resort.
    comments_by_shape: str | None = None


def read_article(
    html: bytes, url: str, fetched_at: datetime, *, content_type: str | None = None
) -> ArticlePage:
    """Parse an article page into its reaction plus the page's own hints (canonical link,
    ``noindex``, comment feed). See :func:`parse_article`."""
    text = decode_html(html, content_type)
    root = _parse(text)
    meta = _meta_tags(root)
    ld = _json_ld_article(root)
    fetched_at = utc(fetched_at)
    flags: list[str] = []

    title = _first(
        _ld_str(ld, "headline"),
        _ld_str(ld, "name"),
        meta.get("og:title"),
        meta.get("twitter:title"),
        meta.get("dc.title"),
        _element_text(root, "//title"),
        _element_text(root, "//h1"),
    )
    site_name = _first(
        _ld_name(ld.get("publisher") if ld else None),
        meta.get("og:site_name"),
        meta.get("application-name"),
    )
    if site_name and title:
        for sep in (" | ", " - ", " – ", " — ", " :: ", " · "):
            suffix = sep + site_name
            if title.endswith(suffix) and len(title) > len(suffix):
                title = title[: -len(suffix)].strip()
                break
    author = _first(
        _ld_name(ld.get("author") if ld else None),
        meta.get("author"),
        meta.get("dc.creator"),
        meta.get("article:author") if not _looks_like_url(meta.get("article:author")) else None,
        meta.get("twitter:creator"),
    )
    published_raw = _first(
        _ld_str(ld, "datePublished"),
        meta.get("article:published_time"),
        meta.get("og:published_time"),
        meta.get("dc.date"),
        meta.get("dcterms.created"),
        meta.get("date"),
        _first_attr(root, "//time[@datetime]", "datetime"),
    )
    published_at = None
    if published_raw:
        published_at, tzless = _parse_date(published_raw)
        if published_at is None:
            flags.append("bad date")
        elif tzless:
            flags.append("tz-less date")
    language = _language(
        _first(
            _ld_str(ld, "inLanguage"),
            root.get("lang") if root is not None else None,
            meta.get("og:locale"),
            meta.get("content-language"),
        )
    )
    excerpt = _excerpt(
        _first(
            _ld_str(ld, "description"),
            meta.get("og:description"),
            meta.get("description"),
            meta.get("twitter:description"),
            _body_text(root),
        )
    )
    robots = " ".join(v for k, v in meta.items() if k in ("robots", ROBOTS_AGENT)).lower()
    canonical = _first_attr(root, "//link[contains(concat(' ', @rel, ' '), ' canonical ')]", "href")
    canonical_abs = canonical_url(canonical, url) if canonical else None
    feeds = discover_feeds(text, url)
    comments_feed = feeds.comments
    raw = orjson.dumps(
        {"json_ld": ld or None, "meta": meta or None}, option=orjson.OPT_SORT_KEYS
    ).decode()
    reaction = Reaction(
        url=url,
        fetched_at=fetched_at,
        fetched_from=url,
        title=title,
        author=author,
        published_at=published_at,
        site_name=site_name,
        language=language,
        excerpt=excerpt,
        comments_feed=comments_feed,
        comment_count=_ld_comment_count(ld) if ld else None,
        flags=tuple(flags),
        raw=raw,
    )
    return ArticlePage(
        reaction=reaction,
        canonical=canonical_abs,
        noindex="noindex" in robots or "none" in robots.replace(",", " ").split(),
        comments_feed=comments_feed,
        blog_feeds=feeds.blog,
        comments_by_shape=feeds.comments_by_shape,
    )


def parse_article(
    html: bytes, url: str, fetched_at: datetime, *, content_type: str | None = None
) -> Reaction:
    """Read an article page's metadata into a :class:`Reaction` keyed by ``url``.

    Each field comes from the first source that has it: JSON-LD (a schema.org Article,
    BlogPosting... also inside ``@graph``), OpenGraph (``og:*``, ``article:*``), other
    ``<meta>`` tags (``author``, ``description``, Dublin Core), then the document itself
    (``<title>``, ``<h1>``, ``<time datetime>``, ``<html lang>``, the body text for the
    excerpt). The title loses a trailing `` | Site name``. Never raises on bad HTML:
    missing fields stay empty. Pure: no network, no clock.
    """
    return read_article(html, url, fetched_at, content_type=content_type).reaction


def _parse(text: str) -> etree._Element | None:
    if not text.strip():
        return None
    try:
        root: etree._Element | None = etree.fromstring(text.encode("utf-8", "replace"), _parser())
    except etree.LxmlError:
        return None
    return root


def _meta_tags(root: etree._Element | None) -> dict[str, str]:
    """``<meta>`` name/property -> content, lower-case names, first one wins."""
    found: dict[str, str] = {}
    if root is None:
        return found
    for el in root.iter("meta"):
        name = el.get("property") or el.get("name") or el.get("http-equiv") or ""
        content = el.get("content")
        if name and content and content.strip():
            found.setdefault(name.strip().lower(), _SPACES_RE.sub(" ", content).strip())
    return found


def _json_ld_article(root: etree._Element | None) -> dict[str, object]:
    """The first schema.org article object in the page's JSON-LD scripts, or {}."""
    if root is None:
        return {}
    for script in root.iter("script"):
        if (script.get("type") or "").split(";")[0].strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue
        for candidate in _ld_objects(data, depth=0):
            types = candidate.get("@type")
            names = types if isinstance(types, list) else [types]
            if any(isinstance(t, str) and t.lower() in ARTICLE_TYPES for t in names):
                return candidate
    return {}


def _ld_objects(data: object, depth: int) -> Iterator[dict[str, object]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _ld_objects(item, depth + 1)
    elif isinstance(data, dict):
        obj = {str(k): v for k, v in data.items()}
        yield obj
        if "@graph" in obj:
            yield from _ld_objects(obj["@graph"], depth + 1)


def _ld_str(ld: Mapping[str, object], key: str) -> str | None:
    value = ld.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, str):
        return _SPACES_RE.sub(" ", value).strip() or None
    if isinstance(value, dict):
        name = value.get("name") or value.get("@value")
        return name.strip() if isinstance(name, str) and name.strip() else None
    return None


def _ld_comment_count(ld: Mapping[str, object]) -> int | None:
    """schema.org ``commentCount`` (Yoast SEO on WordPress, some Ghost and Medium themes),
    else an ``interactionStatistic`` with ``CommentAction``; None when the page states none."""
    stats = ld.get("interactionStatistic")
    candidates: list[object] = [ld.get("commentCount")]
    for stat in stats if isinstance(stats, list) else [stats]:
        if isinstance(stat, dict) and "CommentAction" in str(stat.get("interactionType", "")):
            candidates.append(stat.get("userInteractionCount"))
    for value in candidates:
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 0 <= value < 10**9:
            return value
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
            return int(value)
    return None


def _ld_name(value: object) -> str | None:
    """A schema.org Person/Organization (or a list of them, or a plain string) as text."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        name = value.get("name")
        return name.strip() if isinstance(name, str) and name.strip() else None
    if isinstance(value, list):
        names = [n for n in (_ld_name(v) for v in value[:10]) if n]
        return ", ".join(names) or None
    return None


def _first(*values: str | None) -> str:
    for value in values:
        if value and value.strip():
            return value.strip()
    return ""


def _looks_like_url(value: str | None) -> bool:
    return bool(value) and "://" in (value or "")


def _elements(root: etree._Element, path: str) -> list[etree._Element]:
    found = root.xpath(path)
    if not isinstance(found, list):
        return []
    return [el for el in found if isinstance(el, etree._Element)]


def _element_text(root: etree._Element | None, path: str) -> str | None:
    if root is None:
        return None
    for el in _elements(root, path):
        text = _SPACES_RE.sub(" ", "".join(str(t) for t in el.itertext())).strip()
        if text:
            return text
    return None


def _first_attr(root: etree._Element | None, path: str, attr: str) -> str | None:
    if root is None:
        return None
    for el in _elements(root, path):
        if value := (el.get(attr) or "").strip():
            return value
    return None


def _body_text(root: etree._Element | None) -> str | None:
    """The text of ``<article>``, else ``<main>``, else ``<body>``, chrome left out."""
    if root is None:
        return None
    for path in ("//article", "//main", "//body"):
        found = _elements(root, path)
        if found:
            parts: list[str] = []
            _collect_text(found[0], parts)
            text = _SPACES_RE.sub(" ", "".join(parts)).strip()
            if text:
                return text
    return None


def _collect_text(el: etree._Element, out: list[str], limit: int = EXCERPT_CHARS * 4) -> None:
    if el.text:
        out.append(el.text)
    for child in el:
        if sum(map(len, out)) > limit:
            return
        if isinstance(child.tag, str) and child.tag not in _NOT_TEXT:
            _collect_text(child, out, limit)
            out.append(" ")
        if child.tail:
            out.append(child.tail)


def _excerpt(text: str) -> str:
    text = _SPACES_RE.sub(" ", text).strip()
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS]
    space = cut.rfind(" ")
    if space > EXCERPT_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str | None:
    """A BCP 47 tag (``en``, ``en-GB``) from ``lang``/``og:locale`` (``en_GB``)."""
    value = value.strip()
    if not value or not _LANG_RE.match(value):
        return None
    head, *rest = value.replace("_", "-").split("-")
    return "-".join([head.lower(), *(p.upper() if len(p) == 2 else p for p in rest)])


def _parse_date(value: str) -> tuple[datetime | None, bool]:
    """ISO 8601 (what JSON-LD and OpenGraph use) -> (UTC datetime, was it tz-less)."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if len(text) > 40:
        return None, False
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None, False
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC), True
    return dt.astimezone(UTC), False


# --------------------------------------------------------------------------------------
# robots.txt (RFC 9309), once per host per run
# --------------------------------------------------------------------------------------


# Per origin: parsed rules, allow/deny all, or why the host could not be reached.
_Rules = urllib.robotparser.RobotFileParser | bool | FetchError


class Robots:
    """robots.txt rules per origin, fetched on first use through the untrusted client.

    RFC 9309 §2.3.1: a 4xx answer means no rules (allowed); a 5xx answer or an unreachable
    host means "assume complete disallow". A refused address is re-raised for the article.
    Thread-safe: one fetch per origin even when several workers ask at once.
    """

    def __init__(self, client: Http, agent: str = ROBOTS_AGENT) -> None:
        self._client = client
        self._agent = agent
        self._rules: dict[tuple[str, str, int], _Rules] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def allowed(self, url: str) -> bool:
        """Say whether robots.txt lets us fetch ``url``.

        Raises:
            BlockedAddressError: the host is a refused address (nothing was fetched).
            FetchError: robots.txt could not be reached (transport failure), so neither
                can the page: RFC 9309 §2.3.1.4 says to assume complete disallow.
        """
        key = origin(url)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            rules = self._rules.get(key)
            if rules is None:
                rules = self._fetch(key)
                self._rules[key] = rules
        if isinstance(rules, FetchError):
            raise rules  # unreachable host: the article is too (RFC 9309: disallowed)
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(self._agent, url)

    def _fetch(self, key: tuple[str, str, int]) -> _Rules:
        scheme, host, port = key
        default = 443 if scheme == "https" else 80
        netloc = f"[{host}]" if ":" in host else host
        if port != default:
            netloc = f"{netloc}:{port}"
        robots_url = f"{scheme}://{netloc}/robots.txt"
        try:
            response = self._client.get(
                robots_url, untrusted=True, max_bytes=MAX_ROBOTS_BYTES, accept="text/plain"
            )
        except BlockedAddressError:
            raise
        except FetchError as e:
            log.info("%s: robots.txt unreadable (%s); not fetching from this host", host, e)
            return e
        finally:
            self.requests += 1
        if response.status >= 500:
            log.info("%s: robots.txt answered HTTP %d; not fetching", host, response.status)
            return False
        if response.status >= 400:
            return True
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(response.body.decode("utf-8", "replace").splitlines())
        return parser


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
    per_host: int = 2,
    include_opted_out: bool = False,
    robots: Robots | None = None,
    stop: threading.Event | None = None,
) -> Iterator[ReactionResult]:
    """Fetch each group's article (and its comments) in a small thread pool.

    At most ``concurrency`` jobs run at once and at most ``per_host`` per link host, so no
    worker sits waiting on a busy host while another host is idle; ``http.py`` enforces the
    same limits per request. No more than ``max_new`` new reactions are produced: jobs are
    only started while new results plus jobs in flight stay under the cap.

    Args:
        known: ``article_key -> url`` of stored reactions; a group that resolves (after
            redirects or ``rel=canonical``) to one of them updates it.
    """
    state = _RunState(dict(known))
    robots = robots or Robots(client)
    blogs = BlogFeeds(client, robots, now)
    jobs = [(_host_key(g.urls[0]), _bind(client, g, state, robots, blogs, now, include_opted_out))
            for g in groups]  # fmt: skip
    yield from _schedule(jobs, concurrency, per_host, max_new, stop)


def fetch_comment_updates(
    client: Http,
    feeds: Iterable[tuple[str, str, Cursor]],
    *,
    now: Callable[[], datetime],
    concurrency: int,
    per_host: int = 2,
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
    yield from _schedule(jobs, concurrency, per_host, None, stop)


def _host_key(url: str) -> _Host:
    try:
        return origin(url)
    except ValueError:
        return ("", url, 0)


def _bind(
    client: Http,
    group: LinkGroup,
    state: _RunState,
    robots: Robots,
    blogs: BlogFeeds,
    now: Callable[[], datetime],
    include_opted_out: bool,
) -> Callable[[], ReactionResult]:
    return lambda: _fetch_group(client, group, state, robots, blogs, now, include_opted_out)


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


def _refusal(client: Http, url: str) -> str | None:
    """Why ``url`` must not be fetched, judged on its text before any DNS lookup (the
    guard in ``http.py`` checks the address actually connected to as well)."""
    if canonical_url(url) is None:
        return "not an http(s) URL"
    if client.settings.allow_private_networks:
        return None
    return check_url_allowed(url)


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
