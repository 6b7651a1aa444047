"""One entry shape for feedparser's result and JSON Feed 1.0/1.1: :class:`_Entry` and
:class:`_Body`, with the readers that build them from foreign dictionaries.

Foreign data is validated here, field by field. No network, no database, no clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import orjson

from bsarchive.errors import ParseError
from bsarchive.sources.feeds.guards import _struct_to_datetime
from bsarchive.sources.feeds.html import _absolute_http_url
from bsarchive.text import html_to_text

FeedKind = Literal["rss", "atom", "json"]
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
        return html_to_text(title)
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
        title=html_to_text(_json_str(item, "title")),
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
