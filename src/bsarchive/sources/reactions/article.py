"""Reading an article page into a :class:`~bsarchive.models.Reaction`: JSON-LD, then
OpenGraph, then ``<meta>`` tags, then ``<title>`` and the body text; plus the page's own
hints (canonical link, ``noindex``, the feeds it advertises).

Pure functions of bytes: no network, no database, no clock.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from lxml import etree

from bsarchive.dates import parse_iso_datetime
from bsarchive.models import Reaction, utc
from bsarchive.sources.feeds import discover_feeds
from bsarchive.sources.reactions.robots import ROBOTS_AGENT
from bsarchive.text import EXCERPT_CHARS, shorten
from bsarchive.urls import (
    canonical_url,
)

# Schema.org types that are an article (https://schema.org/Article and its subtypes).
ARTICLE_TYPES = frozenset(
    {
        "article", "blogposting", "newsarticle", "reportagenewsarticle", "opinionnewsarticle",
        "analysisnewsarticle", "backgroundnewsarticle", "reviewnewsarticle", "socialmediaposting",
        "techarticle", "scholarlyarticle", "report", "liveblogposting", "webpage", "creativework",
    }
)  # fmt: skip
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
    excerpt = shorten(
        _first(
            _ld_str(ld, "description"),
            meta.get("og:description"),
            meta.get("description"),
            meta.get("twitter:description"),
            _body_text(root),
        ),
        EXCERPT_CHARS + 1,
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
        return parse_iso_datetime(text)
    except (ValueError, OverflowError):
        return None, False
