"""The HTML of feed entries: its text (:func:`bsarchive.text.html_to_text`) with the links,
mentions and hashtag links in it; plus the URL and handle helpers those need.

Pure functions of strings; no network, no database, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from bsarchive.models import normalise_tag
from bsarchive.text import html_anchors, html_to_text

_HASHTAG_HREF = re.compile(r"/tags?/([^/]+)/?$")
_PROFILE_PATH = re.compile(r"^/@([^/@]+)(?:@([^/]+))?/?$")


@dataclass(frozen=True, slots=True)
class _HtmlFacts:
    text: str
    links: tuple[str, ...]
    mentions: tuple[str, ...]
    hashtags: frozenset[str]  # folded names from hashtag links (`.../tags/NAME`)


def _html_facts(fragment: str, base: str) -> _HtmlFacts:
    text = html_to_text(fragment)
    if "<" not in fragment:
        return _HtmlFacts(text, (), (), frozenset())
    links: dict[str, None] = {}
    mentions: dict[str, None] = {}
    hashtags: set[str] = set()
    for href, classes, rel, _ in html_anchors(fragment):
        url = _absolute_http_url(base, href)
        if url is None:
            continue
        parts = urlsplit(url)
        tag_match = _HASHTAG_HREF.search(parts.path)
        class_words = classes.lower().split()
        if "hashtag" in class_words or "tag" in rel.lower().split() or tag_match:
            if tag_match:
                hashtags.add(normalise_tag(unquote(tag_match.group(1))))
            continue
        if "mention" in class_words:
            profile = _PROFILE_PATH.match(parts.path)
            if profile:
                mentions.setdefault(_handle(profile.group(1), profile.group(2), url), None)
            continue
        links.setdefault(url, None)
    return _HtmlFacts(text, tuple(links), tuple(mentions), frozenset(hashtags))


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
