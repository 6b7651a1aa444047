"""One row of a TAGS archive sheet exported as CSV into a post or a boost (TAGS keeps
every retweet as ``RT @x: ...`` text and no original id).

Pure: no network, no database, no logging of tweet content.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from bsarchive.models import Author, Boost, Post, utc
from bsarchive.sources.twarc.build import _finish, _permalink, _unknown_author
from bsarchive.sources.twarc.common import (
    _EMPTY,
    _RT_PREFIX,
    _STATUS_URL,
    SOURCE,
    TWITTER,
    TwarcLine,
    _BadTweet,
    _dump,
    _Fetch,
    _parse_date,
    _parse_tags_time,
    _username,
)
from bsarchive.sources.twarc.text import _mentions, _tags, _urls_in_text
from bsarchive.sources.twarc.v1 import _v1_media, _v1_urls

# --- TAGS ------------------------------------------------------------------------------------


def parse_tags_row(
    row: Mapping[str, str], *, line_no: int, fetched_at: datetime, fetched_from: str
) -> TwarcLine:
    """Parse one record of a TAGS archive sheet (column name -> cell) into a TwarcLine.

    The id comes from ``status_url`` when it has one (Excel rounds long ``id_str`` values,
    e.g. to ``1.23457E+17``; a rounded id with no ``status_url`` is an error record).
    ``created_at`` is preferred; the ``time`` column (the sheet's local time, zone unknown)
    is the fallback, flagged ``tz-less date``. ``entities_str`` (v1.1 entities JSON) expands
    links and gives hashtags; without it they are read from the text. ``user_lang`` is the
    account's interface language, not the tweet's, so ``language`` stays None. A retweet
    (``RT @x: …``) keeps no original id in TAGS: it is a Boost whose ``post_uri`` is the
    original author's profile (``https://twitter.com/x``), the post to be found by the store.
    Never raises for bad input.
    """
    fetch = _Fetch(utc(fetched_at), fetched_from)
    try:
        return TwarcLine(line_no, (_tags_post(row, fetch),))
    except _BadTweet as e:
        return TwarcLine(line_no, (), str(e))


def _cell(row: Mapping[str, str], key: str) -> str:
    return (row.get(key) or "").strip()


def _tags_post(row: Mapping[str, str], fetch: _Fetch) -> Post | Boost:
    status = _STATUS_URL.match(_cell(row, "status_url"))
    id_str = _cell(row, "id_str")
    if status is not None:
        tweet_id = status.group("id")
    elif id_str.isascii() and id_str.isdigit():
        tweet_id = id_str
    elif id_str:
        raise _BadTweet(
            f"id_str {id_str!r} is not a whole id (rounded by a spreadsheet?) "
            "and status_url has none"
        )
    else:
        raise _BadTweet("missing id_str and status_url")
    username = _username(_cell(row, "from_user").removeprefix("@"))
    if username is None and status is not None:
        username = status.group("user")
    user_id = _cell(row, "from_user_id_str")
    if not (user_id.isascii() and user_id.isdigit()):
        user_id = ""
    if username is None:
        author = _unknown_author(user_id or None)
    else:
        author = Author(
            handle="@" + username,
            url=f"{TWITTER}/{username}",
            uri=f"{TWITTER}/i/user/{user_id}" if user_id else None,
        )
    text = row.get("text") or ""
    if not text.strip():
        raise _BadTweet("missing text")

    flags: list[str] = []
    created = _cell(row, "created_at")
    parsed = _parse_date(created) if created else None
    if parsed is None:
        local = _cell(row, "time")
        fallback = _parse_tags_time(local) if local else None
        if fallback is None:
            raise _BadTweet(f"bad created_at {created[:40]!r}" if created else "missing created_at")
        parsed = (fallback, True)
    if parsed[1]:
        flags.append("tz-less date")

    entities: Mapping[str, object] = _EMPTY
    entities_str = _cell(row, "entities_str")
    if entities_str:
        try:
            decoded = orjson.loads(entities_str)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            entities = decoded
        else:
            flags.append("bad entities")
    urls = _v1_urls(entities, _EMPTY) if entities else _urls_in_text(text)
    reply_id = _cell(row, "in_reply_to_status_id_str")
    if reply_id and not (reply_id.isascii() and reply_id.isdigit()):
        flags.append("reply id lost")
        reply_id = ""
    reply_username = _username(_cell(row, "in_reply_to_screen_name"))
    uri, plain, content_html, links, sighting, all_flags = _finish(
        text, urls, tweet_id, username, None, fetch, flags
    )
    retweeted = _RT_PREFIX.match(text)
    if retweeted is not None:
        # TAGS' own way of keeping a retweet: its text, no original id. A boost of one of
        # that user's posts (the store finds which one by its text, and a structured copy
        # of this tweet, if one is imported, says what it really is).
        return Boost(
            uri=uri,
            post_uri=f"{TWITTER}/{retweeted.group(1)}",
            booster=author,
            created_at=parsed[0],
            sighting=sighting,
            raw=_dump(dict(row)),
            is_tags_row=True,
        )
    return Post(
        uri=uri,
        url=uri,
        created_at=parsed[0],
        author=author,
        content_html=content_html,
        text=plain,
        sighting=sighting,
        source=SOURCE,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id or None,
        tags=_tags(entities, "text", text),
        links=links,
        mentions=_mentions(entities, "user_mentions", text),
        media=_v1_media(entities, _EMPTY),
        flags=all_flags,
        raw=_dump(dict(row)),
        is_tags_row=True,
    )
