"""Turn RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed 1.0/1.1 bodies into models.

This is the pure half of the feed source: bytes in, :class:`~bsarchive.models.Post`,
:class:`~bsarchive.models.Reaction` and :class:`~bsarchive.models.Comment` values out.
The parsers do no network access, touch no database, read no clock except to enforce the
parse time budget, and never read files: XML entity declarations are refused before any XML
parser sees the body (billion laughs, XXE), and feedparser is only ever handed bytes.

What is kept (PROTOCOL.md §2, §5):

- an entry that carries one of the event's tags (a category equal to it, ``#tag`` in the
  title or text, a hashtag link ``.../tags/NAME``), or every entry of a feed that is itself
  a tag feed (Mastodon ``/tags/NAME.rss``, WordPress ``/tag/NAME/feed/``);
- microblog items (Mastodon tag/account RSS) as ``Post`` with ``source="rss"``. The RSS
  carries no ActivityPub ``uri``, so ``uri`` is the status URL from the guid/link; mapping
  it to the ActivityPub identity is left to ``dedupe.py``, which matches on ``url``;
- blog items as ``Reaction`` with their comment feed (``wfw:commentRss`` or Atom
  ``<link rel="replies" type="application/atom+xml">``).

Foreign failures (feedparser, JSON, decoding) are translated once, at the edge, into
:class:`~bsarchive.errors.ParseError`; dates never raise (doubtful ones are flagged).

The thin fetching half, :func:`fetch_feed`, is one conditional GET per feed through the
shared :class:`~bsarchive.http.Http` client (ETag/Last-Modified, ``Cache-Control: max-age``
and ``Retry-After`` between runs, 410 Gone remembered); it never touches the database.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import parse_qs, unquote, urljoin, urlsplit, urlunsplit
from xml.parsers import expat

import orjson

from bsarchive.errors import FetchError, GoneError, ParseError
from bsarchive.http import Http, Response, parse_retry_after, raise_for_status
from bsarchive.models import (
    Author,
    Comment,
    Cursor,
    Item,
    Page,
    Post,
    Reaction,
    Sighting,
    SourceSpec,
    utc,
)
from bsarchive.sources import FetchContext
from bsarchive.sources.feeddates import (
    ISO_DATE,
    MAX_DATE_CHARS,
    names_zone,
    parse_iso,
    parse_rfc822,
)
from bsarchive.sources.feedxml import read_feed

__all__ = [
    "ParsedFeed",
    "PageFeeds",
    "discover_comment_feed",
    "discover_feeds",
    "fetch_feed",
    "is_tag_feed",
    "next_fetch_time",
    "matches_tag",
    "parse_comments",
    "parse_feed",
]

# The HTTP layer caps bodies first (http.py); this is the same 10 MiB, checked again so the
# parser is safe on its own.
MAX_BODY_BYTES = 10 * 1024 * 1024
# feedparser's e-mail regex in `_sync_author_detail` is quadratic on long author text
# (measured: a 20 KB `<author>` of letters takes 1.4 s, 200 KB would take minutes; 128
# characters cost 0.1 ms). Real author fields are a name and an address, below this.
MAX_AUTHOR_CHARS = 128
# feedparser's fallback parser for broken XML (sgmllib) runs at 1-5 s per MB on hostile
# input (measured); broken bodies larger than this are refused instead of recovered.
MAX_RECOVER_BYTES = 1024 * 1024
EXCERPT_CHARS = 300
# Dates before the web or more than two days after the fetch are kept but flagged.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)

FLAG_TZLESS = "tz-less date"
FLAG_IMPOSSIBLE = "impossible date"
FLAG_NO_DATE = "no date"  # the date is fetched_at: the entry had none
FLAG_BAD_DATE = "bad date"  # the date is fetched_at: the entry's date could not be read

FeedKind = Literal["rss", "atom", "json"]

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
# feedparser is pure Python and holds the GIL: running several parses at once gains nothing
# and starves the writer thread (measured in bench/bench_feeds.py), so one at a time. The
# lxml fast path (feedxml.py) needs no lock.
_PARSING = threading.Lock()
# Off only in tests that compare the fast path with feedparser.
_FAST_PATH = True
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """One parsed feed body: its kept items, in feed order, plus what was left out."""

    title: str
    kind: FeedKind
    is_tag_feed: bool
    items: tuple[Post | Reaction, ...]
    # Reaction url -> its comment feed URL.
    comment_feeds: dict[str, str]
    # Entries without any of the tags (always 0 for a tag feed).
    skipped: int
    # Entries repeating an identity already seen in this body (first one wins).
    duplicates: int = 0
    # The XML error feedparser recovered from, when the body was not well-formed.
    xml_error: str | None = None
    # Entries dropped as unusable: JSON Feed items that are not objects, empty recovered
    # entries of broken XML.
    invalid: int = 0


# --- tags -----------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """NFKC then casefold: the form tags are compared in (DESIGN: Unicode-normalised)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _tag_name(tag: str) -> str:
    return _fold(tag).strip().lstrip("#").strip()


def _stored_tag(term: str) -> str:
    """A category as a stored tag: folded, no ``#``, inner whitespace as ``-`` (the slug
    form WordPress uses), so space-separated exports stay unambiguous."""
    return "-".join(_tag_name(term).split())


# Mastodon's HASHTAG_RE: `#` not after a word character, `/` or `)`; we also refuse `&`/`#`
# (entities, `##`). The tag ends where a word character (or an inner separator followed by
# one) stops, so `#bsnopen2` is another tag and `#bsnopen.` / `#bsnopen-2010` carry it.
@lru_cache(maxsize=256)
def _tag_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w/)&#])#" + re.escape(name) + r"(?![\w]|[·・\u200c]\w)")


# URLs are removed before looking for `#tag`, so a fragment (`https://x/#bsnopen`) is not one.
_URL_IN_TEXT = re.compile(r"(?:[a-z][a-z0-9+.\-]*://|www\.)\S*", re.I)


def matches_tag(text: str, tag: str) -> bool:
    """Tell whether plain ``text`` carries ``#tag`` (``tag`` given with or without ``#``).

    Case-insensitive after NFKC and casefold (full-width ``＃ＢＳＮｏｐｅｎ`` counts); not
    inside a word (``foo#bsnopen``) nor a URL (``https://x/#bsnopen``); ``#bsnopen2`` does
    not carry ``bsnopen``.
    """
    name = _tag_name(tag)
    if not name or "#" not in text and "＃" not in text and "﹟" not in text:
        return False
    folded = _URL_IN_TEXT.sub(" ", _fold(text))
    return _tag_pattern(name).search(folded) is not None


# Mastodon tag feed and account-by-tag feed; WordPress tag feeds (pretty and plain links).
_MASTODON_TAG_PATH = re.compile(r"/(?:tags|@[^/]+/tagged)/([^/]+?)(?:\.rss|\.atom)?/?$")
_WORDPRESS_TAG_PATH = re.compile(r"/tag/([^/]+)/feed(?:/(?:rss2?|atom|rdf))?/?$")


def is_tag_feed(feed_url: str, feed_meta: Mapping[str, str] | None, tags: Sequence[str]) -> bool:
    """Tell whether the feed is itself a feed of one of ``tags`` (then every entry is kept).

    Recognised: Mastodon ``/tags/NAME.rss`` and ``/@user/tagged/NAME.rss``, WordPress
    ``/tag/NAME/feed/`` (also ``/feed/atom/``) and ``?tag=NAME&feed=rss2``; and a feed whose
    ``generator`` says Mastodon and whose channel ``link`` is ``/tags/NAME``.

    Args:
        feed_url: the URL the body came from.
        feed_meta: feed-level strings (``link``, ``generator``), or None.
        tags: the event's tags, with or without ``#``.
    """
    wanted = {_tag_name(tag) for tag in tags} - {""}
    if not wanted:
        return False
    names = _tag_names_in_feed_url(feed_url)
    meta = feed_meta or {}
    if "mastodon" in meta.get("generator", "").lower():
        names += _tag_names_in_feed_url(meta.get("link", ""))
    return any(_tag_name(unquote(name)) in wanted for name in names)


def _tag_names_in_feed_url(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    names = [
        match.group(1)
        for pattern in (_MASTODON_TAG_PATH, _WORDPRESS_TAG_PATH)
        if (match := pattern.search(parts.path))
    ]
    query = parse_qs(parts.query)
    if "feed" in query:
        names += query.get("tag", [])
    return names


# --- HTML -----------------------------------------------------------------------------------

# TODO: switch to bsarchive.urls.html_to_text / extract_links once they are merged.
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPH_TAGS = _HEADINGS | {"p", "div", "blockquote", "pre", "ul", "ol", "table", "figure"}
_PARAGRAPH_TAGS |= {"section", "article", "header", "footer"}
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "figcaption"})
_HIDDEN_TAGS = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[^\S\n]+")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _HtmlScan(HTMLParser):
    """Collect the text and the anchors of an HTML fragment (stdlib parser: never raises
    on malformed markup, linear time)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.anchors: list[tuple[str, str, str]] = []  # (href, class, rel)
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _LINE_TAGS:
            self.pieces.append("\n")
        elif tag in _PARAGRAPH_TAGS:
            self.pieces.append("\n\n")
        elif tag == "a":
            values = {name: value or "" for name, value in attrs}
            href = values.get("href", "").strip()
            if href:
                self.anchors.append((href, values.get("class", ""), values.get("rel", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _PARAGRAPH_TAGS:
            self.pieces.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.pieces.append(_WHITESPACE.sub(" ", data))

    def text(self) -> str:
        lines = (_SPACES.sub(" ", line).strip() for line in "".join(self.pieces).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _scan_html(fragment: str) -> _HtmlScan:
    scan = _HtmlScan()
    scan.feed(fragment)
    scan.close()
    return scan


def _html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: entities decoded, paragraphs as blank lines."""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())
    return _scan_html(fragment).text()


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    cut = flat.rfind(" ", 0, EXCERPT_CHARS)
    return flat[: cut if cut > EXCERPT_CHARS // 2 else EXCERPT_CHARS].rstrip(" ,;:.") + "…"


_HASHTAG_HREF = re.compile(r"/tags?/([^/]+)/?$")
_PROFILE_PATH = re.compile(r"^/@([^/@]+)(?:@([^/]+))?/?$")


@dataclass(frozen=True, slots=True)
class _HtmlFacts:
    text: str
    links: tuple[str, ...]
    mentions: tuple[str, ...]
    hashtags: frozenset[str]  # folded names from hashtag links (`.../tags/NAME`)


def _html_facts(fragment: str, base: str) -> _HtmlFacts:
    if "<" not in fragment:
        return _HtmlFacts(_html_to_text(fragment), (), (), frozenset())
    scan = _scan_html(fragment)
    links: dict[str, None] = {}
    mentions: dict[str, None] = {}
    hashtags: set[str] = set()
    for href, classes, rel in scan.anchors:
        url = _absolute_http_url(base, href)
        if url is None:
            continue
        parts = urlsplit(url)
        tag_match = _HASHTAG_HREF.search(parts.path)
        class_words = classes.lower().split()
        if "hashtag" in class_words or "tag" in rel.lower().split() or tag_match:
            if tag_match:
                hashtags.add(_tag_name(unquote(tag_match.group(1))))
            continue
        if "mention" in class_words:
            profile = _PROFILE_PATH.match(parts.path)
            if profile:
                mentions.setdefault(_handle(profile.group(1), profile.group(2), url), None)
            continue
        links.setdefault(url, None)
    return _HtmlFacts(scan.text(), tuple(links), tuple(mentions), frozenset(hashtags))


# --- URLs -----------------------------------------------------------------------------------


def _absolute_http_url(base: str, href: str | None) -> str | None:
    """``href`` resolved against ``base`` when the result is an http(s) URL, else None."""
    if not href:
        return None
    try:
        url = urljoin(base, href.strip())
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1" (invalid IPv6 literal)
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _host(url: str) -> str:
    """``host`` or ``host:port`` (non-default port), lower-cased, as in handles."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    return host


def _handle(user: str, remote_host: str | None, url: str) -> str:
    return f"@{user}@{(remote_host or _host(url)).lower()}"


# A status URL: Mastodon `/@user/ID` (`/@user@remote/ID` for a remote account shown
# locally), GoToSocial `/@user/statuses/ID`.
_STATUS_PATH = re.compile(r"^/@([^/@]+)(?:@([^/]+))?/(?:statuses/)?([A-Za-z0-9]+)/?$")


# --- dates ----------------------------------------------------------------------------------


def _parse_date(
    raw: str | None, feedparser_utc: datetime | None, fetched_at: datetime
) -> tuple[datetime, tuple[str, ...]]:
    """Read an entry date; never raises.

    Our own ISO 8601 / RFC 822 readers come first because they can tell a tz-less date
    (feedparser's ``*_parsed`` silently takes it as UTC); feedparser's result is the
    fallback for the odd formats it knows (localized month names and the like).
    """
    text = (raw or "").strip()
    if not text:
        return fetched_at, (FLAG_NO_DATE,)
    parsed: tuple[datetime, bool] | None = None
    if len(text) <= MAX_DATE_CHARS:
        if ISO_DATE.match(text):  # ISO-shaped but invalid (month 13) is a bad date
            return _checked(parse_iso(text), fetched_at)
        parsed = parse_rfc822(text)
        if parsed is None and feedparser_utc is not None:
            parsed = feedparser_utc, not names_zone(text, rfc822=False)
    return _checked(parsed, fetched_at)


def _checked(
    parsed: tuple[datetime, bool] | None, fetched_at: datetime
) -> tuple[datetime, tuple[str, ...]]:
    if parsed is None:
        return fetched_at, (FLAG_BAD_DATE,)
    when, tzless = parsed
    flags = [FLAG_TZLESS] if tzless else []
    if when < EARLIEST_PLAUSIBLE or when > fetched_at + FUTURE_SLACK:
        flags.append(FLAG_IMPOSSIBLE)
    return when, tuple(flags)


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value.tm_sec, 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


# --- decoding and guards --------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECLARATION = re.compile(r"^<\?xml[^>]{0,200}\?>")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([\w.:\-]{1,40})""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:\-]{1,40})""", re.I)
# Characters XML 1.0 forbids (expat stops on them; real feeds contain them by accident).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _decode(body: bytes, content_type: str | None) -> str:
    """Decode a feed body to text; never raises.

    A BOM wins; then UTF-8 if the bytes are valid UTF-8 (the usual truth when a server's
    charset or the XML declaration says otherwise); then the declared encoding (XML
    declaration, then the HTTP charset); then UTF-8 with replacement characters.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, "replace")
    if body[:4] in (b"<\x00?\x00", b"<\x00\x00\x00"):
        return body.decode("utf-16-le" if body[:4] == b"<\x00?\x00" else "utf-32-le", "replace")
    if body[:4] in (b"\x00<\x00?", b"\x00\x00\x00<"):
        return body.decode("utf-16-be" if body[:4] == b"\x00<\x00?" else "utf-32-be", "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_ENCODING.match(body)
    charset = _CHARSET_PARAM.search(content_type or "")
    for name in (declared.group(1).decode("ascii") if declared else None, charset and charset[1]):
        if not name:
            continue
        try:
            if "<".encode(name) == b"<":  # only ASCII-compatible encodings
                return body.decode(name, "replace")
        except (LookupError, UnicodeError):
            continue
    return body.decode("utf-8", "replace")


_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})


@dataclass(frozen=True, slots=True)
class _Prolog:
    root: str | None  # local name of the root element, lower-cased
    end: int  # offset of the root element
    internal_subset: bool  # a DOCTYPE with `[ ... ]`, where entities are declared


def _read_prolog(text: str) -> _Prolog:
    """Find the root element, skipping the XML declaration, PIs, comments and DOCTYPE.

    Linear: every step jumps with ``str.find``.
    """
    pos, size, subset = 0, len(text), False
    while pos < size:
        while pos < size and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            pos = size if end < 0 else end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            pos = size if end < 0 else end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            pos, found = _skip_doctype(text, pos + 9)
            subset = subset or found
        elif text.startswith("<", pos):
            match = _ELEMENT_NAME.match(text, pos)
            root = (match.group(2) or match.group(1)).lower() if match else None
            return _Prolog(root, pos, subset)
        else:
            break
    return _Prolog(None, pos, subset)


_ELEMENT_NAME = re.compile(r"<([A-Za-z_][\w.\-]*)(?::([\w.\-]+))?")
_DOCTYPE_STOP = re.compile(r"""["'\[>]""")


def _skip_doctype(text: str, pos: int) -> tuple[int, bool]:
    """Return the offset after a DOCTYPE and whether it has an internal subset."""
    while True:
        match = _DOCTYPE_STOP.search(text, pos)
        if match is None:
            return len(text), False
        char = match.group()
        if char == ">":
            return match.end(), False
        if char == "[":
            end = text.find("]", match.end())
            close = text.find(">", end) if end >= 0 else -1
            return (len(text) if close < 0 else close + 1), True
        end = text.find(char, match.end())
        if end < 0:
            return len(text), False
        pos = end + 1


_AUTHOR_ELEMENT = re.compile(
    r"<(?:[A-Za-z_][\w.\-]*:)?"
    r"(?:author|creator|publisher|managingEditor|webMaster|contributor|name|email)"
    r"(?:\s[^<>]*)?>",
    re.I,
)


def _truncate_author_fields(text: str) -> str:
    """Cut author-like element text to ``MAX_AUTHOR_CHARS`` (see the constant for why)."""
    pieces: list[str] = []
    pos = 0
    for match in _AUTHOR_ELEMENT.finditer(text):
        start = match.end()
        if start < pos:
            continue
        if text.startswith("<![CDATA[", start):
            start += 9
            end = text.find("]]>", start)
        else:
            end = text.find("<", start)
        if end < 0:
            end = len(text)
        if end - start <= MAX_AUTHOR_CHARS:
            continue
        cut = start + MAX_AUTHOR_CHARS
        amp = text.rfind("&", cut - 12, cut)  # do not leave half an entity behind
        if amp >= start and ";" not in text[amp:cut]:
            cut = amp
        pieces.append(text[pos:cut])
        pos = end
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


class _Deadline:
    """The parse time budget. It cannot interrupt a running regex (CPython holds the GIL),
    so the author-field cut is the real guard; this turns a slow body into a clean error."""

    def __init__(self, url: str, seconds: float, clock: Callable[[], float]) -> None:
        self.url, self.seconds, self.clock = url, seconds, clock
        self.start = clock()

    def check(self) -> None:
        if self.clock() - self.start > self.seconds:
            raise ParseError(self.url, f"parsing took longer than {self.seconds:g} s; gave up")


# --- entries: one shape for feedparser and JSON Feed ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    guid: str | None
    guid_is_link: bool
    link: str | None
    title: str
    author: str
    date_raw: str | None
    date_utc: datetime | None  # feedparser's reading, when it had one
    summary_html: str
    content_html: str
    content_text: str  # JSON Feed content_text, when there is no HTML
    categories: tuple[str, ...]
    comments_feed: str | None
    in_reply_to: str | None  # RFC 4685 thr:in-reply-to ref (else its href)
    in_reply_to_url: str | None  # ... and its href
    media: tuple[str, ...]
    raw: str
    # The comment count the feed states (thr:total, slash:comments), when it states one.
    comment_count: int | None = None
    # Atom rel="self" and rel="related" links: a Blogger reply names its parent comment
    # by the parent's self link in a rel="related" link (its thr:in-reply-to is the post).
    self_url: str | None = None
    related_url: str | None = None

    @property
    def html(self) -> str:
        return self.content_html or self.summary_html


@dataclass(frozen=True, slots=True)
class _Body:
    title: str
    kind: FeedKind
    meta: dict[str, str]
    entries: list[_Entry]
    xml_error: str | None
    invalid: int = 0


def _dump(value: object) -> str:
    return json.dumps(value, default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _read_body(
    body: bytes,
    url: str,
    content_type: str | None,
    deadline: _Deadline,
) -> _Body:
    """Check, decode and parse a body into entries; the one boundary for foreign errors."""
    if len(body) > MAX_BODY_BYTES:
        raise ParseError(url, f"body is {len(body)} bytes, over the {MAX_BODY_BYTES} byte cap")
    if not body.strip():
        raise ParseError(url, "empty body")
    text = _decode(body, content_type).lstrip()
    mime = (content_type or "").split(";")[0].strip().lower()
    if text.startswith(("{", "[")) or ("json" in mime and not text.startswith("<")):
        return _read_json_feed(text, url)
    return _read_xml_feed(text, url, mime, deadline)


def _read_xml_feed(text: str, url: str, mime: str, deadline: _Deadline) -> _Body:
    prolog = _read_prolog(text)
    if prolog.root == "html" or (
        mime in ("text/html", "application/xhtml+xml") and (prolog.root not in _FEED_ROOTS)
    ):
        raise ParseError(url, "got an HTML page, not a feed", "a login or bot-check page?")
    if prolog.root is None:
        raise ParseError(url, "not a feed: no XML root element")
    if prolog.internal_subset or "<!entity" in text[: prolog.end].lower():
        raise ParseError(
            url, "refused: the document declares XML entities (entity expansion or XXE guard)"
        )
    text = _XML_FORBIDDEN.sub("", text)
    # The text is re-encoded as UTF-8, so a declared encoding must say so; without a
    # declaration XML is UTF-8 already (and error positions stay those of the body).
    text = _XML_DECLARATION.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1)
    data = _truncate_author_fields(text).encode("utf-8", "replace")
    if len(data) > MAX_RECOVER_BYTES:
        _check_well_formed(data, url)
    # Well-formed plain feeds are read with lxml, 100x faster; the rest goes to feedparser.
    fast = read_feed(data, url, text) if _FAST_PATH else None
    result: Mapping[str, object] = fast if fast is not None else _feedparser_parse(data, url)
    deadline.check()
    feed = _mapping(result.get("feed"))
    raw_entries = result.get("entries")
    entries_in = [_mapping(e) for e in raw_entries] if isinstance(raw_entries, list) else []
    version = result.get("version")
    version = version if isinstance(version, str) else ""
    entries = [_feedparser_entry(entry, url) for entry in entries_in]
    deadline.check()
    # The loose parser turns a truncated `<item>` into an entry with nothing in it.
    kept = [e for e in entries if e.guid or e.link or e.title or e.html or e.date_raw]
    xml_error = None
    if result.get("bozo"):
        xml_error = " ".join(str(result.get("bozo_exception", "not well-formed")).split())
        if not kept:
            raise ParseError(url, f"not well-formed XML and no items recovered: {xml_error}")
    if not version and not kept:
        raise ParseError(url, f"not a feed: root element <{prolog.root}>")
    kind: FeedKind = "atom" if version.startswith("atom") or prolog.root == "feed" else "rss"
    generator = _text(feed, "generator") or _text(_mapping(feed.get("generator_detail")), "name")
    meta = {"link": _text(feed, "link"), "generator": generator, "title": _text(feed, "title")}
    return _Body(_text(feed, "title"), kind, meta, kept, xml_error, len(entries) - len(kept))


def _feedparser_parse(data: bytes, url: str) -> Mapping[str, object]:
    # Imported here: a run whose feeds all take the lxml path never pays its ~25 ms import.
    import feedparser

    headers = {"content-location": url, "content-type": "application/xml; charset=utf-8"}
    try:
        with _PARSING:
            result: Mapping[str, object] = feedparser.parse(
                io.BytesIO(data), response_headers=headers
            )
    except MemoryError:
        raise
    except Exception as e:  # foreign code on hostile input: any failure is a parse failure
        raise ParseError(url, f"feedparser failed: {type(e).__name__}: {e}") from e
    return result


def _check_well_formed(data: bytes, url: str) -> None:
    """Refuse a large body that is not well-formed, before the slow recovering parser.

    Runs expat with no handlers (C speed). Entity declarations were refused already, and
    expat reads no external DTD or entity unless a handler asks for it.
    """
    parser = expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise ParseError(
            url, f"not well-formed XML ({e}), too large to recover ({len(data)} bytes)"
        ) from e


def _mapping(value: object) -> Mapping[str, object]:
    # A plain copy: FeedParserDict's item lookup has aliases and a DeprecationWarning
    # (`updated` falling back to `published`) that would blur what the feed said.
    return dict(value) if isinstance(value, dict) else {}


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _mappings(value: object) -> list[Mapping[str, object]]:
    return (
        [dict(item) for item in value if isinstance(item, dict)] if isinstance(value, list) else []
    )


# Fields of a feedparser entry worth keeping as provenance (the `*_parsed` tuples and
# `*_detail` duplicates are derived, the raw date strings are here).
_RAW_KEYS = (
    "author",
    "authors",
    "comments",
    "content",
    "created",
    "guidislink",
    "id",
    "link",
    "links",
    "media_content",
    "published",
    "slash_comments",
    "summary",
    "tags",
    "thr_in-reply-to",
    "thr_total",
    "title",
    "updated",
    "wfw_commentrss",
)


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _title(entry: Mapping[str, object]) -> str:
    """Plain-text title: feedparser gives RSS titles as text, Atom ``type="html"`` as HTML."""
    title = _text(entry, "title")
    if _text(_mapping(entry.get("title_detail")), "type") in _HTML_TYPES:
        return _html_to_text(title)
    return " ".join(title.split())


def _feedparser_entry(entry: Mapping[str, object], url: str) -> _Entry:
    guid = _text(entry, "id") or None
    link = _absolute_http_url(url, _text(entry, "link"))
    date_key = next((k for k in ("published", "updated", "created") if _text(entry, k)), None)
    author = _text(_mapping(entry.get("author_detail")), "name") or _text(entry, "author")
    # `content` also holds media:description alt text as text/plain: only HTML counts here
    # (feedparser copies a plain-text Atom content into `summary`, so nothing is lost).
    contents = _mappings(entry.get("content"))
    html_content = next((c for c in contents if _text(c, "type") in _HTML_TYPES), None)
    comments_feed = _absolute_http_url(url, _text(entry, "wfw_commentrss"))
    links = _mappings(entry.get("links"))
    if comments_feed is None:
        for item in links:
            if _text(item, "rel") == "replies" and _text(item, "type") == "application/atom+xml":
                comments_feed = _absolute_http_url(url, _text(item, "href"))
                break
    self_url = _atom_link(links, "self", url)
    related_url = _atom_link(links, "related", url)
    reply = _mapping(entry.get("thr_in-reply-to"))
    reply_href = _absolute_http_url(url, _text(reply, "href"))
    raw = {key: entry[key] for key in _RAW_KEYS if key in entry}
    return _Entry(
        guid=guid,
        guid_is_link=entry.get("guidislink") is True or (guid is not None and guid == link),
        link=link,
        title=_title(entry),
        author=author,
        date_raw=_text(entry, date_key) if date_key else None,
        date_utc=_struct_to_datetime(entry.get(f"{date_key}_parsed")) if date_key else None,
        summary_html=_text(entry, "summary"),
        content_html=_text(html_content, "value") if html_content else "",
        content_text="",
        categories=tuple(
            term
            for tag in _mappings(entry.get("tags"))
            if (term := _text(tag, "term") or _text(tag, "label"))
        ),
        comments_feed=comments_feed,
        in_reply_to=_text(reply, "ref") or reply_href,
        in_reply_to_url=reply_href,
        media=tuple(
            dict.fromkeys(
                media_url
                for item in _mappings(entry.get("media_content"))
                if (media_url := _absolute_http_url(url, _text(item, "url")))
            )
        ),
        raw=_dump(raw),
        comment_count=_comment_count(entry, links),
        self_url=self_url,
        related_url=related_url,
    )


def _atom_link(links: Iterable[Mapping[str, object]], rel: str, url: str) -> str | None:
    """The first Atom-typed link with this ``rel``, absolute, or None."""
    for item in links:
        if _text(item, "rel") == rel and _text(item, "type") == "application/atom+xml":
            return _absolute_http_url(url, _text(item, "href"))
    return None


# "N Comments" in the title of a Blogger rel="replies" text/html link.
_COUNT_TITLE = re.compile(r"^\s*(\d{1,9})\s+\w+")


def _comment_count(
    entry: Mapping[str, object], links: Iterable[Mapping[str, object]]
) -> int | None:
    """The comment count an entry states: RFC 4685 ``thr:total`` (Blogger), WordPress
    ``slash:comments``, else an RFC 4685 ``thr:count`` on a replies link (WordPress Atom),
    else Blogger's ``title="N Comments"`` on its replies link. None when it states none."""
    for key in ("thr_total", "slash_comments"):
        value = _text(entry, key)
        if value.isdigit() and len(value) < 10:
            return int(value)
    replies = [item for item in links if _text(item, "rel") == "replies"]
    for item in replies:
        value = _text(item, "thr:count")
        if value.isdigit() and len(value) < 10:
            return int(value)
    for item in replies:
        if _text(item, "type") == "text/html" and (m := _COUNT_TITLE.match(_text(item, "title"))):
            return int(m.group(1))
    return None


def _read_json_feed(text: str, url: str) -> _Body:
    try:
        doc: object = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        deep = "depth" in str(e).lower() or "recursion" in str(e).lower()
        what = "nested too deeply" if deep else "not valid JSON"
        raise ParseError(url, f"JSON Feed {what}: {e}") from e
    if not isinstance(doc, dict):
        raise ParseError(url, "not a JSON Feed: the top level is not an object")
    version = doc.get("version")
    items = doc.get("items")
    if not (isinstance(version, str) and version.startswith("https://jsonfeed.org/version/")):
        raise ParseError(url, "not a JSON Feed: no jsonfeed.org version")
    if not isinstance(items, list):
        raise ParseError(url, "not a JSON Feed: items is not a list")
    meta = {"link": _text(doc, "home_page_url"), "generator": "", "title": _text(doc, "title")}
    entries = [_json_entry(item, url) for item in items if isinstance(item, dict)]
    invalid = len(items) - len(entries)
    return _Body(_text(doc, "title"), "json", meta, entries, None, invalid)


def _json_str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):  # ids are strings by the spec; numbers seen in the wild
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _json_entry(item: Mapping[str, object], url: str) -> _Entry:
    authors = _mappings(item.get("authors")) or _mappings([item.get("author")])
    guid = _json_str(item, "id") or None
    link = _absolute_http_url(url, _json_str(item, "url") or _json_str(item, "external_url"))
    date_raw = _json_str(item, "date_published") or _json_str(item, "date_modified") or None
    tags = item.get("tags")
    categories = (
        tuple(t.strip() for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
    )
    media = tuple(
        media_url
        for attachment in _mappings(item.get("attachments"))
        if (media_url := _absolute_http_url(url, _json_str(attachment, "url")))
    )
    entry = _Entry(
        guid=guid,
        guid_is_link=guid is not None and guid == link,
        link=link,
        title=_html_to_text(_json_str(item, "title")),
        author=next((name for a in authors if (name := _json_str(a, "name"))), ""),
        date_raw=date_raw,
        date_utc=None,
        summary_html=_json_str(item, "summary"),
        content_html=_json_str(item, "content_html"),
        content_text=_json_str(item, "content_text"),
        categories=categories,
        comments_feed=None,
        in_reply_to=None,
        in_reply_to_url=None,
        media=media,
        raw="",
    )
    # Only the fields we read, validated: an item's extension fields may be huge or deep.
    raw = {
        "id": guid,
        "url": link,
        "title": entry.title,
        "authors": [{"name": _json_str(a, "name"), "url": _json_str(a, "url")} for a in authors],
        "date_published": _json_str(item, "date_published"),
        "date_modified": _json_str(item, "date_modified"),
        "summary": entry.summary_html,
        "content_html": entry.content_html,
        "content_text": entry.content_text,
        "tags": list(categories),
        "attachments": list(media),
    }
    return replace(entry, raw=_dump({k: v for k, v in raw.items() if v}))


# --- identity -------------------------------------------------------------------------------


def _content_hash(entry: _Entry) -> str:
    basis = _dump([entry.title, entry.link, entry.date_raw, entry.html, entry.content_text])
    return "urn:sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S")


def _global_id(key: str, entry: _Entry) -> str:
    """An identity that holds across feeds: the key when it is an absolute URI (an http(s)
    guid, ``tag:``, ``urn:``), else the link, else the content hash (a bare guid such as
    ``hub-101`` is only unique inside its feed)."""
    if _ABSOLUTE_URI.match(key):
        return key
    return entry.link or _content_hash(entry)


def _identities(entries: Iterable[_Entry]) -> tuple[list[tuple[str, _Entry]], int]:
    """Give each entry its identity (guid, else link, else content hash), dropping repeats.

    A guid repeated with a *different* link is a generator that reuses one guid (often the
    site URL) for every item (PROTOCOL.md §5): those entries are told apart by their link.
    """
    seen: dict[str, str | None] = {}
    kept: list[tuple[str, _Entry]] = []
    duplicates = 0
    for entry in entries:
        key = entry.guid or entry.link or _content_hash(entry)
        if key in seen:
            if entry.guid and entry.link and entry.link != seen[key] and entry.link not in seen:
                key = entry.link
            else:
                duplicates += 1
                continue
        seen[key] = entry.link
        kept.append((key, entry))
    return kept, duplicates


# --- public parsers -------------------------------------------------------------------------


def parse_feed(
    body: bytes,
    *,
    url: str,
    tags: Sequence[str],
    fetched_at: datetime,
    content_type: str | None = None,
    max_parse_seconds: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> ParsedFeed:
    """Parse a feed body into the posts and reactions that carry one of ``tags``.

    Args:
        body: the response body (at most ``MAX_BODY_BYTES``).
        url: the feed URL: relative links resolve against it; it is the sighting's source.
        tags: the event's tags (with or without ``#``); empty means keep every entry.
        fetched_at: when the body was fetched (aware UTC); fallback for missing dates.
        content_type: the response Content-Type, if any.
        max_parse_seconds: time budget for the whole parse.
        clock: monotonic clock, injectable for tests.

    Raises:
        ParseError: not a feed (HTML page, invalid JSON, XML with no recoverable items),
            a body over the size cap, entity declarations, or the time budget exceeded.
    """
    deadline = _Deadline(url, max_parse_seconds, clock)
    fetched_at = utc(fetched_at)
    parsed = _read_body(body, url, content_type, deadline)
    tag_feed = is_tag_feed(url, parsed.meta, tags)
    wanted = {_tag_name(tag) for tag in tags} - {""}
    is_mastodon = "mastodon" in parsed.meta["generator"].lower()
    kept, duplicates = _identities(parsed.entries)
    items: list[Post | Reaction] = []
    comment_feeds: dict[str, str] = {}
    skipped = 0
    for key, entry in kept:
        facts = _html_facts(entry.html, entry.link or url)
        text = facts.text or entry.content_text
        if wanted and not tag_feed and not _carries_tag(entry, facts, text, wanted):
            skipped += 1
            continue
        when, flags = _parse_date(entry.date_raw, entry.date_utc, fetched_at)
        status = _STATUS_PATH.match(urlsplit(entry.link).path) if entry.link else None
        if is_mastodon or (status is not None and not entry.title):
            items.append(_post(key, entry, facts, text, when, flags, url, fetched_at))
        else:
            reaction = _reaction(key, entry, text, when, flags, url, parsed.title, fetched_at)
            items.append(reaction)
            if reaction.comments_feed:
                comment_feeds.setdefault(reaction.url, reaction.comments_feed)
        deadline.check()
    return ParsedFeed(
        title=parsed.title,
        kind=parsed.kind,
        is_tag_feed=tag_feed,
        items=tuple(items),
        comment_feeds=comment_feeds,
        skipped=skipped,
        duplicates=duplicates,
        xml_error=parsed.xml_error,
        invalid=parsed.invalid,
    )


def _carries_tag(entry: _Entry, facts: _HtmlFacts, text: str, wanted: set[str]) -> bool:
    if any(_tag_name(term) in wanted for term in entry.categories):
        return True
    if facts.hashtags & wanted:
        return True
    return any(matches_tag(entry.title, name) or matches_tag(text, name) for name in wanted)


def _stored_tags(categories: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tag for term in categories if (tag := _stored_tag(term))))


def _post(
    key: str,
    entry: _Entry,
    facts: _HtmlFacts,
    text: str,
    when: datetime,
    flags: tuple[str, ...],
    url: str,
    fetched_at: datetime,
) -> Post:
    link = entry.link
    guid_url = entry.guid if entry.guid_is_link else None
    uri = _absolute_http_url(url, guid_url) or link or _global_id(key, entry)
    status = _STATUS_PATH.match(urlsplit(link).path) if link else None
    if status is not None and link is not None:
        user, remote = status.group(1), status.group(2)
        parts = urlsplit(link)
        profile = f"{parts.scheme}://{parts.netloc}/@{user}" + (f"@{remote}" if remote else "")
        author = Author(handle=_handle(user, remote, link), url=profile)
    elif entry.author:
        author = Author(handle=entry.author, name=entry.author)
    else:
        # A tag RSS item from a server whose links name no user (Pleroma /notice/…,
        # Misskey /notes/…): one unknown author per server, not one for every server.
        host = urlsplit(link).hostname if link else None
        author = Author(handle=f"@unknown@{host}" if host else "")
        flags = (*flags, "unknown author")
    return Post(
        uri=uri,
        url=link,
        created_at=when,
        author=author,
        content_html=entry.html,
        text=text,
        sighting=Sighting(
            source=url, local_id=key, url=link, fetched_at=fetched_at, fetched_from=url
        ),
        source="rss",
        tags=_stored_tags(entry.categories),
        links=facts.links,
        mentions=facts.mentions,
        media=entry.media,
        flags=flags,
        raw=entry.raw,
    )


def _reaction(
    key: str,
    entry: _Entry,
    text: str,
    when: datetime,
    flags: tuple[str, ...],
    url: str,
    site_name: str,
    fetched_at: datetime,
) -> Reaction:
    link = entry.link or (_absolute_http_url(url, entry.guid) if entry.guid_is_link else None)
    if link is None:
        flags = (*flags, "no link")
    summary = _html_to_text(entry.summary_html) if entry.summary_html else text
    return Reaction(
        url=link or _global_id(key, entry),
        fetched_at=fetched_at,
        fetched_from=url,
        title=entry.title,
        author=entry.author,
        published_at=when,
        site_name=site_name,
        excerpt=_excerpt(summary),
        comments_feed=entry.comments_feed,
        comment_count=entry.comment_count,
        original_url=link,
        tags=_stored_tags(entry.categories),
        flags=flags,
        raw=entry.raw,
    )


# WordPress comment titles: "By: NAME" (per-post feed), "Comment on POST by NAME" (site-wide).
_COMMENT_TITLE = re.compile(r"^(?:By:\s*(?P<by>.+)|Comment on .+ by (?P<on>.+))$", re.S)


def parse_comments(
    body: bytes,
    *,
    url: str,
    reaction_url: str,
    fetched_at: datetime,
    content_type: str | None = None,
    max_parse_seconds: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Comment, ...]:
    """Parse a comment feed (WordPress RSS ``/feed/``, Atom with ``thr:in-reply-to``,
    Blogger ``/feeds/POSTID/comments/default`` whose replies carry ``rel="related"``).

    Every entry is a comment on ``reaction_url`` (no filtering: a site-wide comment feed
    would attach other posts' comments, so callers pass per-post feeds). The comment's
    ``uri`` is its guid (WordPress: ``?p=ID#comment-N``), else its link, else a content hash.

    Raises:
        ParseError: as :func:`parse_feed`.
    """
    deadline = _Deadline(url, max_parse_seconds, clock)
    fetched_at = utc(fetched_at)
    parsed = _read_body(body, url, content_type, deadline)
    kept, _ = _identities(parsed.entries)
    # Blogger names a reply's parent by the parent's self link (rel="related").
    by_self = {entry.self_url: _global_id(key, entry) for key, entry in kept if entry.self_url}
    comments = []
    for key, entry in kept:
        when, flags = _parse_date(entry.date_raw, entry.date_utc, fetched_at)
        author = entry.author
        if not author and (match := _COMMENT_TITLE.match(entry.title)):
            author = (match.group("by") or match.group("on") or "").strip()
        comments.append(
            Comment(
                uri=_global_id(key, entry),
                reaction_url=reaction_url,
                fetched_at=fetched_at,
                fetched_from=url,
                url=entry.link,
                author=author,
                created_at=when,
                text=_html_to_text(entry.html) or entry.content_text,
                content_html=entry.html,
                in_reply_to=_parent_comment(entry, reaction_url)
                or (by_self.get(entry.related_url) if entry.related_url else None),
                flags=flags,
                raw=entry.raw,
            )
        )
        deadline.check()
    return tuple(comments)


def _parent_comment(entry: _Entry, reaction_url: str) -> str | None:
    """The comment this one answers; None for a top-level comment, whose thr:in-reply-to
    points at the post itself (its href is the post page, without a fragment)."""
    if entry.in_reply_to is None:
        return None
    href = entry.in_reply_to_url
    if href is not None and "#" not in href and _same_page(href, reaction_url):
        return None
    return entry.in_reply_to


def _same_page(a: str, b: str) -> bool:
    try:
        one, two = urlsplit(a), urlsplit(b)
    except ValueError:
        return False
    return (one.hostname, one.path.rstrip("/"), one.query) == (
        two.hostname,
        two.path.rstrip("/"),
        two.query,
    )


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
