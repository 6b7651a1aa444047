"""twarc1 lines: an API v1.1 tweet (``id_str``, ``user``, ``full_text``/``text``,
``retweeted_status``, ``quoted_status``) into posts and boosts.

Pure: no network, no database, no logging of tweet content.
"""

from __future__ import annotations

from collections.abc import Mapping

from bsarchive.models import Boost, Post
from bsarchive.sources.fields import int_field, str_field
from bsarchive.sources.twarc.build import (
    _author,
    _created_at,
    _finish,
    _permalink,
    _required_id,
    _sighting,
    _unknown_author,
)
from bsarchive.sources.twarc.common import (
    _STATUS_URL,
    SOURCE,
    _BadTweet,
    _d,
    _dump,
    _Fetch,
    _id,
    _l,
    _obj,
    _Url,
    _username,
    tweet_url,
)
from bsarchive.sources.twarc.text import _language, _mentions, _tags, _username_in_urls

# --- API v1.1 --------------------------------------------------------------------------------


def _v1_tweet(doc: Mapping[str, object], fetch: _Fetch, items: list[Post | Boost]) -> str | None:
    original = _obj(doc.get("retweeted_status"))
    if original is None:
        items.append(_v1_post(doc, fetch))
        return None
    tweet_id = _required_id(doc, "id_str", "id")
    username, booster = _author(_d(doc, "user"), "screen_name", "id_str")
    created_at = _created_at(doc)[0]
    original_id = _required_id(original, "id_str", "id")
    original_username = _username(_d(original, "user").get("screen_name"))
    problem = None
    raw: Mapping[str, object] = doc
    try:
        items.append(_v1_post(original, fetch))
        # The original's JSON is its post's raw: the retweet keeps only its ids.
        raw = {
            **doc,
            "retweeted_status": {k: original[k] for k in ("id", "id_str") if k in original},
        }
    except _BadTweet as e:
        problem = f"retweeted_status: {e}"
    uri = tweet_url(username, tweet_id)
    items.append(
        Boost(
            uri=uri,
            post_uri=tweet_url(original_username, original_id),
            booster=booster or _unknown_author(_id(_d(doc, "user"), "id_str")),
            created_at=created_at,
            sighting=_sighting(tweet_id, uri, fetch),
            raw=_dump(raw),
        )
    )
    return problem


def _v1_urls(entities: Mapping[str, object], extended: Mapping[str, object]) -> list[_Url]:
    urls: list[_Url] = []
    for entity in _l(entities, "urls"):
        if isinstance(entity, dict):
            short = entity.get("url")
            if isinstance(short, str) and short:
                # 2010 entities: `url` is the link as typed and `expanded_url` may be null.
                expanded = entity.get("expanded_url")
                if not isinstance(expanded, str) or not expanded:
                    expanded = short
                urls.append((short, expanded, expanded, False))
    media = _l(extended, "media") or _l(entities, "media")
    for entity in media:
        if isinstance(entity, dict):
            short = entity.get("url")
            expanded = entity.get("expanded_url")
            if isinstance(short, str) and short and isinstance(expanded, str) and expanded:
                urls.append((short, expanded, expanded, True))
    return urls


def _v1_media(entities: Mapping[str, object], extended: Mapping[str, object]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for entity in _l(extended, "media") or _l(entities, "media"):
        if isinstance(entity, dict):
            url = str_field(entity, "media_url_https") or str_field(entity, "media_url")
            if url:
                found.setdefault(url, None)
    return tuple(found)


def _v1_post(doc: Mapping[str, object], fetch: _Fetch) -> Post:
    tweet_id = _required_id(doc, "id_str", "id")
    # Text precedence: streaming compat mode's extended_tweet, then tweet_mode=extended's
    # full_text, then the 140-character text.
    extended_tweet = _d(doc, "extended_tweet")
    text = str_field(extended_tweet, "full_text")
    if text:
        entities = _d(extended_tweet, "entities")
        extended = _d(extended_tweet, "extended_entities")
    else:
        text = str_field(doc, "full_text") or str_field(doc, "text")
        entities = _d(doc, "entities")
        extended = _d(doc, "extended_entities")
    if text is None:
        raise _BadTweet("missing text")
    created_at, tzless = _created_at(doc)
    user = _d(doc, "user")
    username, author = _author(user, "screen_name", "id_str")
    urls = _v1_urls(entities, extended)
    flags = ["tz-less date"] if tzless else []
    if doc.get("truncated") is True and not extended_tweet:
        flags.append("truncated text")

    quote_id = _id(doc, "quoted_status_id_str") or _id(doc, "quoted_status_id")
    quote_username = None
    quoted = _obj(doc.get("quoted_status"))
    if quoted is not None:
        quote_id = quote_id or _id(quoted, "id_str") or _id(quoted, "id")
        quote_username = _username(_d(quoted, "user").get("screen_name"))
    if quote_id and quote_username is None:
        permalink = str_field(_d(doc, "quoted_status_permalink"), "expanded") or ""
        match = _STATUS_URL.match(permalink)
        if match and match.group("id") == quote_id:
            quote_username = match.group("user")
        quote_username = quote_username or _username_in_urls(urls, quote_id)
    reply_id = _id(doc, "in_reply_to_status_id_str") or _id(doc, "in_reply_to_status_id")
    reply_username = _username(doc.get("in_reply_to_screen_name"))

    uri, plain, content_html, links, sighting, all_flags = _finish(
        text, urls, tweet_id, username, quote_id, fetch, flags
    )
    return Post(
        uri=uri,
        url=uri,
        created_at=created_at,
        author=author or _unknown_author(_id(user, "id_str") or _id(user, "id")),
        content_html=content_html,
        text=plain,
        sighting=sighting,
        source=SOURCE,
        language=_language(str_field(doc, "lang")),
        sensitive=doc.get("possibly_sensitive") is True,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id,
        quote_uri=_permalink(quote_username, quote_id) if quote_id else None,
        tags=_tags(entities, "text", text),
        links=links,
        mentions=_mentions(entities, "user_mentions", text),
        media=_v1_media(entities, extended),
        boosts=int_field(doc, "retweet_count"),
        replies=int_field(doc, "reply_count"),
        favourites=int_field(doc, "favorite_count"),
        flags=all_flags,
        raw=_dump(doc),
    )
