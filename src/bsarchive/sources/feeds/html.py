"""The HTML of feed entries: plain text, excerpts, and the links, mentions and hashtag links
in it; plus the URL and handle helpers those need.

Pure functions of strings; no network, no database, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from bsarchive.sources.feeds.tags import _tag_name

EXCERPT_CHARS = 300
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
