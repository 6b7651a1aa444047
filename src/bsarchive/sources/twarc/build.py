"""Building the models every reader shares: authors (cached per file), sightings, the
permalink, flags and the finished :class:`~bsarchive.models.Post`.

Pure: no network, no database, no logging of tweet content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from bsarchive.dedupe import RETWEET_TEXT
from bsarchive.models import Author, Sighting
from bsarchive.sources.fields import str_field
from bsarchive.sources.twarc.common import (
    _USERNAME,
    SOURCE,
    TWITTER,
    _BadTweet,
    _Fetch,
    _id,
    _parse_date,
    _Url,
)
from bsarchive.sources.twarc.text import _links, _render

# --- shared model building -------------------------------------------------------------------


def _author(
    user: Mapping[str, object], name_key: str, id_key: str
) -> tuple[str | None, Author | None]:
    """(username, Author) from a v2 or v1.1 user object; (None, None) without a username."""
    username = user.get(name_key)
    if not isinstance(username, str):
        return None, None
    name = user.get("name")
    bio = user.get("description")
    user_id = user.get(id_key)
    return _make_author(
        username,
        name if isinstance(name, str) else "",
        user_id if isinstance(user_id, str | int) else None,
        bio if isinstance(bio, str) else "",
    )


# Live-tweeters post hundreds of times; an Author is immutable, so equal ones are shared and
# the checks run once per distinct account.
@lru_cache(maxsize=4096)
def _make_author(
    username: str, name: str, user_id: str | int | None, bio: str
) -> tuple[str | None, Author | None]:
    if not _USERNAME.fullmatch(username):
        return None, None
    if isinstance(user_id, int):
        user_id = None if isinstance(user_id, bool) or user_id < 0 else str(user_id)
    elif user_id is not None and not (user_id.isascii() and user_id.isdigit()):
        user_id = None
    return username, Author(
        handle="@" + username,
        name=name,
        url=f"{TWITTER}/{username}",
        uri=f"{TWITTER}/i/user/{user_id}" if user_id else None,
        bio=bio,
    )


def _unknown_author(user_id: str | None) -> Author:
    if user_id is None:
        raise _BadTweet("missing author")
    return Author(handle=f"id:{user_id}", uri=f"{TWITTER}/i/user/{user_id}")


def _sighting(tweet_id: str, uri: str, fetch: _Fetch) -> Sighting:
    return Sighting(SOURCE, tweet_id, uri, fetch.fetched_at, fetch.fetched_from)


def _required_id(data: Mapping[str, object], *keys: str) -> str:
    for key in keys:
        value = _id(data, key)
        if value:
            return value
    raise _BadTweet("missing id")


def _created_at(data: Mapping[str, object]) -> tuple[datetime, bool]:
    value = str_field(data, "created_at")
    if not value:
        raise _BadTweet("missing created_at")
    parsed = _parse_date(value)
    if parsed is None:
        raise _BadTweet(f"bad created_at {value[:40]!r}")
    return parsed


def _permalink(username: str | None, tweet_id: str) -> str:
    # tweet_url without its checks: both parts were validated where they were read.
    if username and username != "i":
        return f"{TWITTER}/{username}/status/{tweet_id}"
    return f"{TWITTER}/i/web/status/{tweet_id}"


def _flags(tzless: bool, username: str | None, text: str) -> tuple[str, ...]:
    flags = ["tz-less date"] if tzless else []
    if username is None:
        flags.append("unknown author")
    if text.startswith("RT @"):
        flags.append(RETWEET_TEXT)
    return tuple(flags)


def _finish(
    raw_text: str,
    urls: Sequence[_Url],
    tweet_id: str,
    username: str | None,
    quote_id: str | None,
    fetch: _Fetch,
    flags: list[str],
) -> tuple[str, str, str, tuple[str, ...], Sighting, tuple[str, ...]]:
    """The parts every reader derives alike: (uri, text, content_html, links, sighting,
    flags). ``flags`` are the reader's own; the shared ones are added after them."""
    uri = _permalink(username, tweet_id)
    text, content_html = _render(raw_text, urls)
    links = _links(urls, tweet_id, quote_id) if urls else ()
    return (
        uri,
        text,
        content_html,
        links,
        _sighting(tweet_id, uri, fetch),
        (*flags, *_flags(False, username, text)),
    )
