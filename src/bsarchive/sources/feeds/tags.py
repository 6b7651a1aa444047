"""Tag folding and matching for feeds: is ``#tag`` in this text, is this feed a tag feed.

Pure functions of strings; no network, no database, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from urllib.parse import parse_qs, unquote, urlsplit

from bsarchive.models import category_tag, normalise_tag

# --- tags -----------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """NFKC then casefold: the form tags are compared in (DESIGN: Unicode-normalised)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


_stored_tag = category_tag  # the one rule, in models


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
    name = normalise_tag(tag)
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
    wanted = {normalise_tag(tag) for tag in tags} - {""}
    if not wanted:
        return False
    names = _tag_names_in_feed_url(feed_url)
    meta = feed_meta or {}
    if "mastodon" in meta.get("generator", "").lower():
        names += _tag_names_in_feed_url(meta.get("link", ""))
    return any(normalise_tag(unquote(name)) in wanted for name in names)


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
