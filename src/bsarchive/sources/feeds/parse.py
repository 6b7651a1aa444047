"""The public feed parsers: :func:`parse_feed` (entries that carry the event's tags, as
posts and reactions) and :func:`parse_comments` (a comment feed, as comments).

Bytes in, models out: no network access, no database, no file reads; the clock is read
only to enforce the parse time budget. Foreign failures become
:class:`~bsarchive.errors.ParseError` here, once.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from xml.parsers import expat

from bsarchive.errors import ParseError
from bsarchive.models import (
    Author,
    Comment,
    Post,
    Reaction,
    Sighting,
    normalise_tag,
    utc,
)
from bsarchive.sources.feeds.entries import (
    FeedKind,
    _Body,
    _dump,
    _Entry,
    _feedparser_entry,
    _mapping,
    _read_json_feed,
    _text,
)
from bsarchive.sources.feeds.guards import (
    _FEED_ROOTS,
    _XML_DECLARATION,
    _XML_FORBIDDEN,
    MAX_BODY_BYTES,
    MAX_RECOVER_BYTES,
    _Deadline,
    _decode,
    _parse_date,
    _read_prolog,
    _truncate_author_fields,
)
from bsarchive.sources.feeds.html import (
    _STATUS_PATH,
    _absolute_http_url,
    _handle,
    _html_facts,
    _HtmlFacts,
)
from bsarchive.sources.feeds.tags import _stored_tag, is_tag_feed, matches_tag
from bsarchive.sources.feedxml import read_feed
from bsarchive.text import EXCERPT_CHARS, html_to_text, shorten

# feedparser is pure Python and holds the GIL: running several parses at once gains nothing
# and starves the writer thread (measured in bench/bench_feeds.py), so one at a time. The
# lxml fast path (feedxml.py) needs no lock.
_PARSING = threading.Lock()
# Off only in tests that compare the fast path with feedparser.
_FAST_PATH = True


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
    wanted = {normalise_tag(tag) for tag in tags} - {""}
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
    if any(normalise_tag(term) in wanted for term in entry.categories):
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
    summary = html_to_text(entry.summary_html) if entry.summary_html else text
    return Reaction(
        url=link or _global_id(key, entry),
        fetched_at=fetched_at,
        fetched_from=url,
        title=entry.title,
        author=entry.author,
        published_at=when,
        site_name=site_name,
        excerpt=shorten(summary, EXCERPT_CHARS + 1),
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
                text=html_to_text(entry.html) or entry.content_text,
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
