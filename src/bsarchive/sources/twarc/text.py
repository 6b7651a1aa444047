"""Tweet text: unescaping, ``t.co`` links replaced by their targets, ``content_html``, and
the links, tags and mentions of a tweet (entities first, the text as the fallback).

Pure functions of strings and entity dictionaries: no network, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bsarchive.models import normalise_tag
from bsarchive.sources.twarc.common import (
    _HASHTAG_IN_TEXT,
    _HTML_SPECIAL,
    _MENTION_IN_TEXT,
    _PSEUDO_LANGUAGE,
    _STATUS_URL,
    _URL_IN_TEXT,
    _URL_TRAILING,
    _Url,
    _username,
)

# --- text, links, tags -----------------------------------------------------------------------


def _unescape(text: str) -> str:
    # Twitter escapes exactly these three; a full html.unescape would also turn a literal
    # "&copy;" typed by the author (sent as "&amp;copy;") into the right thing, but would
    # decode entities Twitter never produced.
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape_text(text: str) -> str:
    # html.escape(quote=False) without its function layer; then line breaks.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\n" in text:
        text = text.replace("\n", "<br>")
    return text


def _anchor(url: str) -> str:
    escaped = _escape_text(url)
    if url.startswith(("http://", "https://")):
        href = escaped.replace('"', "&quot;") if '"' in escaped else escaped
        return f'<a href="{href}">{escaped}</a>'
    return escaped


def _render(raw_text: str, urls: Sequence[_Url]) -> tuple[str, str]:
    """Return (text with short links expanded, content_html)."""
    text = _unescape(raw_text)
    if len(urls) == 1:
        # The usual tweet: one link, once, and a short link holds nothing to escape, so it
        # can be swapped in the text and in its escaped form alike.
        short, expanded = urls[0][0], urls[0][1]
        start = text.find(short) if short else -1
        end = start + len(short)
        if (
            start >= 0
            and (end == len(text) or not text[end].isalnum())
            and text.find(short, end) < 0
            and short.startswith(("http://", "https://"))
            and not _HTML_SPECIAL.search(short)
        ):
            escaped = _escape_text(text)
            return (
                text[:start] + expanded + text[end:],
                f"<p>{escaped.replace(short, _anchor(expanded), 1)}</p>",
            )
    spans: list[tuple[int, int, str]] = []
    for short, expanded, _target, _media in urls:
        if not short:
            continue
        start = text.find(short)
        while start >= 0:
            end = start + len(short)
            if end == len(text) or not text[end].isalnum():
                spans.append((start, -end, expanded))
            start = text.find(short, end)
    if not spans:
        return text, f"<p>{_escape_text(text)}</p>"
    if len(spans) == 1:  # the common case, without the lists
        start, neg_end, expanded = spans[0]
        head, tail = text[:start], text[-neg_end:]
        return (
            f"{head}{expanded}{tail}",
            f"<p>{_escape_text(head)}{_anchor(expanded)}{_escape_text(tail)}</p>",
        )
    spans.sort()  # by start, the longest first where two links start at one place
    plain: list[str] = []
    marked: list[str] = ["<p>"]
    pos = 0
    for start, neg_end, expanded in spans:
        if start < pos:
            continue
        segment = text[pos:start]
        plain.append(segment)
        plain.append(expanded)
        marked.append(_escape_text(segment))
        marked.append(_anchor(expanded))
        pos = -neg_end
    plain.append(text[pos:])
    marked.append(_escape_text(text[pos:]))
    marked.append("</p>")
    return "".join(plain), "".join(marked)


def _urls_in_text(raw_text: str) -> list[_Url]:
    """Links in text without entities (TAGS rows without entities_str)."""
    found: list[_Url] = []
    for match in _URL_IN_TEXT.finditer(_unescape(raw_text)):
        url = match.group().rstrip(_URL_TRAILING)
        found.append((url, url, url, False))
    return found


def _links(urls: Sequence[_Url], own_id: str, quote_id: str | None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _short, expanded, target, is_media in urls:
        if is_media or not target.startswith(("http://", "https://")):
            continue
        if _maybe_tweet_link(expanded) or _maybe_tweet_link(target):
            status = _STATUS_URL.match(expanded) or _STATUS_URL.match(target)
            if status and (status.group("media") or status.group("id") in (own_id, quote_id)):
                continue
        seen.setdefault(target, None)
    return tuple(seen)


def _maybe_tweet_link(url: str) -> bool:
    # A cheap filter before the regex: the host part mentions twitter.com or x.com.
    host = url[7:32].lower()
    return "twitter.com/" in host or "x.com/" in host


def _tags(entities: Mapping[str, object], key: str, raw_text: str) -> tuple[str, ...]:
    hashtags = entities.get("hashtags")
    seen: dict[str, None] = {}
    if isinstance(hashtags, list) and hashtags:
        for tag in hashtags:
            if isinstance(tag, dict):
                name = tag.get(key)
                if isinstance(name, str) and name:
                    seen.setdefault(normalise_tag(name), None)
        return tuple(seen)
    if "#" not in raw_text and "＃" not in raw_text:
        return ()
    for match in _HASHTAG_IN_TEXT.finditer(raw_text):
        word = match.group(1)
        if not word.isdigit():
            seen.setdefault(normalise_tag(word), None)
    return tuple(seen)


def _mentions(entities: Mapping[str, object], key: str, raw_text: str) -> tuple[str, ...]:
    found = entities.get(key)
    seen: dict[str, None] = {}
    if isinstance(found, list):
        for mention in found:
            if isinstance(mention, dict):
                name = _username(mention.get("username") or mention.get("screen_name"))
                if name:
                    seen.setdefault("@" + name, None)
        return tuple(seen)
    if "@" not in raw_text:
        return ()
    for match in _MENTION_IN_TEXT.finditer(raw_text):
        seen.setdefault("@" + match.group(1), None)
    return tuple(seen)


def _language(value: str | None) -> str | None:
    if not value or (len(value) == 3 and _PSEUDO_LANGUAGE.fullmatch(value)):
        return None
    return value


def _username_in_urls(urls: Sequence[_Url], tweet_id: str) -> str | None:
    """The username in a link to tweet ``tweet_id`` (the quoted tweet's permalink)."""
    for _short, expanded, _target, _media in urls:
        match = _STATUS_URL.match(expanded)
        if match and match.group("id") == tweet_id and match.group("user"):
            return match.group("user")
    return None
