"""twarc2 lines: an API v2 response (``data``/``includes``/``__twarc``) or a flattened v2
tweet, into posts and boosts.

Pure: no network, no database, no logging of tweet content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from bsarchive.models import Author, Boost, Post
from bsarchive.sources.fields import str_field
from bsarchive.sources.twarc.build import (
    _author,
    _created_at,
    _flags,
    _make_author,
    _permalink,
    _required_id,
    _sighting,
    _unknown_author,
)
from bsarchive.sources.twarc.common import (
    _EMPTY,
    _RT_PREFIX,
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
from bsarchive.sources.twarc.text import (
    _language,
    _links,
    _mentions,
    _render,
    _tags,
    _username_in_urls,
)

# --- API v2 ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _V2Context:
    """The ``includes`` of one v2 response, indexed; empty for a flattened tweet."""

    users: dict[str, Mapping[str, object]] = field(default_factory=dict)
    tweets: dict[str, Mapping[str, object]] = field(default_factory=dict)
    media: dict[str, Mapping[str, object]] = field(default_factory=dict)
    data_ids: frozenset[str] = frozenset()
    emitted: set[str] = field(default_factory=set)
    authors: dict[str, tuple[str | None, Author | None]] = field(default_factory=dict)


_NO_REFS: dict[str, tuple[str, Mapping[str, object] | None]] = {}


def _index(objects: list[object], key: str) -> dict[str, Mapping[str, object]]:
    index: dict[str, Mapping[str, object]] = {}
    for value in objects:
        if isinstance(value, dict):
            name = value.get(key)
            if isinstance(name, str):
                index.setdefault(name, value)
    return index


def _v2_response(doc: Mapping[str, object], fetch: _Fetch, items: list[Post | Boost]) -> str | None:
    data = doc.get("data")
    if data is None:
        return None  # an errors-only or empty response (deleted tweets, no results)
    tweets = [data] if isinstance(data, dict) else data
    if not isinstance(tweets, list):
        return "twarc2 response: data is neither a list nor an object"
    includes = _d(doc, "includes")
    ctx = _V2Context(
        users=_index(_l(includes, "users"), "id"),
        # A replied-to or quoted tweet may sit in `data` rather than `includes.tweets`.
        tweets=_index(_l(includes, "tweets") + tweets, "id"),
        media=_index(_l(includes, "media"), "media_key"),
        data_ids=frozenset(
            tweet_id
            for tweet in tweets
            if isinstance(tweet, dict) and (tweet_id := _id(tweet, "id")) is not None
        ),
    )
    errors: list[str] = []
    for n, tweet in enumerate(tweets):
        if not isinstance(tweet, dict):
            errors.append(f"data[{n}]: not an object")
            continue
        try:
            problem = _v2_tweet(tweet, ctx, fetch, items, tweet)
        except _BadTweet as e:
            problem = str(e)
        if problem:
            errors.append(f"data[{n}]: {problem}")
    return "; ".join(errors) or None


def _v2_user(
    tweet: Mapping[str, object], ctx: _V2Context
) -> tuple[str | None, Author | None, str | None]:
    """(username, Author, author_id) of a v2 tweet: embedded ``author`` or includes."""
    author_id = tweet.get("author_id")
    if not isinstance(author_id, str) or not author_id.isdigit():
        author_id = None
    embedded = tweet.get("author")
    if isinstance(embedded, dict):
        username, author = _author(embedded, "username", "id")
        if author is not None:
            return username, author, author_id
    if author_id is not None:
        cached = ctx.authors.get(author_id)
        if cached is None:
            user = ctx.users.get(author_id)
            cached = _author(user, "username", "id") if user is not None else (None, None)
            ctx.authors[author_id] = cached
        return cached[0], cached[1], author_id
    return None, None, None


def _v2_refs(
    tweet: Mapping[str, object], ctx: _V2Context
) -> dict[str, tuple[str, Mapping[str, object] | None]]:
    """type -> (id, the referenced tweet's object when the line holds it)."""
    refs: dict[str, tuple[str, Mapping[str, object] | None]] = {}
    found = tweet.get("referenced_tweets")
    if not isinstance(found, list):
        return refs
    for ref in found:
        if not isinstance(ref, dict):
            continue
        kind = ref.get("type")
        ref_id = _id(ref, "id")
        if not isinstance(kind, str) or ref_id is None or kind in refs:
            continue
        # `twarc2 flatten` merges the referenced tweet into the reference itself.
        refs[kind] = (ref_id, ref if "text" in ref else ctx.tweets.get(ref_id))
    return refs


def _v2_ref_username(ref: Mapping[str, object] | None, ctx: _V2Context) -> str | None:
    if ref is None:
        return None
    return _v2_user(ref, ctx)[0]


def _v2_urls(entities: Mapping[str, object]) -> list[_Url]:
    urls: list[_Url] = []
    for entity in _l(entities, "urls"):
        if not isinstance(entity, dict):
            continue
        short = entity.get("url")
        if not isinstance(short, str) or not short:
            continue
        expanded = entity.get("expanded_url")
        if not isinstance(expanded, str) or not expanded:
            expanded = short
        target = entity.get("unwound_url")
        if not isinstance(target, str) or not target:
            target = expanded
        urls.append((short, expanded, target, "media_key" in entity))
    return urls


def _v2_media(tweet: Mapping[str, object], ctx: _V2Context) -> tuple[str, ...]:
    attachments = _d(tweet, "attachments")
    found: list[Mapping[str, object]] = []
    for media in _l(attachments, "media"):  # flattened: objects embedded
        if isinstance(media, dict):
            found.append(media)
    if not found:
        for key in _l(attachments, "media_keys"):
            media_obj = ctx.media.get(key) if isinstance(key, str) else None
            if media_obj is not None:
                found.append(media_obj)
    urls: dict[str, None] = {}
    for media_obj in found:
        url = str_field(media_obj, "url") or str_field(media_obj, "preview_image_url")
        if url:
            urls.setdefault(url, None)
    return tuple(urls)


def _v2_tweet(
    tweet: Mapping[str, object],
    ctx: _V2Context,
    fetch: _Fetch,
    items: list[Post | Boost],
    raw: object,
) -> str | None:
    """Append the items of one v2 tweet; return a problem with its retweeted original."""
    tweet_id = tweet.get("id")
    if not isinstance(tweet_id, str) or not tweet_id.isascii() or not tweet_id.isdigit():
        tweet_id = _required_id(tweet, "id")  # an integer id, or the error
    refs = _v2_refs(tweet, ctx) if "referenced_tweets" in tweet else _NO_REFS
    retweeted = refs.get("retweeted")
    if retweeted is None:
        if tweet_id not in ctx.emitted:
            ctx.emitted.add(tweet_id)
            items.append(_v2_post(tweet, tweet_id, refs, ctx, fetch, raw))
        return None

    username, booster, booster_id = _v2_user(tweet, ctx)
    created_at = _created_at(tweet)[0]
    original_id, original = retweeted
    original_username = _v2_ref_username(original, ctx)
    if original_username is None:
        text = str_field(tweet, "text") or ""
        prefix = _RT_PREFIX.match(text)
        original_username = prefix.group(1) if prefix else None
    problem = None
    if original is not None and original_id not in ctx.data_ids and original_id not in ctx.emitted:
        try:
            items.append(
                _v2_post(
                    original,
                    original_id,
                    _v2_refs(original, ctx),
                    ctx,
                    fetch,
                    original,
                    known_as=original_username,
                )  # fmt: skip
            )
            ctx.emitted.add(original_id)
        except _BadTweet as e:
            problem = f"retweeted tweet {original_id}: {e}"
    if problem is None and raw is tweet and original is not None and "text" in original:
        raw = _v2_without_embedded_original(tweet)
    uri = tweet_url(username, tweet_id)
    items.append(
        Boost(
            uri=uri,
            post_uri=tweet_url(original_username, original_id),
            booster=booster or _unknown_author(booster_id),
            created_at=created_at,
            sighting=_sighting(tweet_id, uri, fetch),
            raw=_dump(raw),
        )
    )
    return problem


def _v2_without_embedded_original(tweet: Mapping[str, object]) -> dict[str, object]:
    """A flattened retweet's JSON with the retweeted tweet, which `twarc2 flatten` merged
    into its reference, cut back to the API's own ``{"type", "id"}``: the original's JSON
    is kept once, as its post's raw, instead of again in every retweet of it (a retweet's
    raw was twice a tweet's, a fifth of an import's bytes)."""
    refs = [
        {"type": ref["type"], "id": ref["id"]}
        if isinstance(ref, dict) and ref.get("type") == "retweeted" and "text" in ref
        else ref
        for ref in cast(list[object], tweet["referenced_tweets"])
    ]
    return {**tweet, "referenced_tweets": refs}


def _v2_post(
    tweet: Mapping[str, object],
    tweet_id: str,
    refs: Mapping[str, tuple[str, Mapping[str, object] | None]],
    ctx: _V2Context,
    fetch: _Fetch,
    raw: object,
    known_as: str | None = None,
) -> Post:
    # Hot path (every tweet of a backfill archive): plain gets and isinstance, no helpers
    # where a helper would only wrap one lookup.
    text = tweet.get("text")
    entities = tweet.get("entities")
    if not isinstance(entities, dict):
        entities = _EMPTY
    note = tweet.get("note_tweet")  # a long tweet (over 280) keeps its full text here
    if isinstance(note, dict):
        note_text = note.get("text")
        if isinstance(note_text, str) and note_text:
            text = note_text
            entities = _d(note, "entities") or entities
    if not isinstance(text, str):
        raise _BadTweet("missing text")
    created_at, tzless = _created_at(tweet)
    username, author, author_id = _v2_user(tweet, ctx)
    if author is None and known_as is not None:
        # Its author missing from the file (suspended, protected): a retweet's "RT @name:"
        # still names them, and the boost points at that permalink.
        username, author = _make_author(known_as, "", author_id, "")
    if author is None:
        author = _unknown_author(author_id)
    urls = _v2_urls(entities) if "urls" in entities else []

    reply_id = reply_username = quote_id = quote_username = None
    if refs:
        replied = refs.get("replied_to")
        if replied is not None:
            reply_id = replied[0]
            reply_username = _v2_ref_username(replied[1], ctx) or _v2_reply_username(
                tweet, entities, ctx
            )
        quoted = refs.get("quoted")
        if quoted is not None:
            quote_id = quoted[0]
            quote_username = _v2_ref_username(quoted[1], ctx) or _username_in_urls(urls, quote_id)

    # _finish, inlined on this hot path.
    uri = _permalink(username, tweet_id)
    plain, content_html = _render(text, urls)
    flags: tuple[str, ...] = ()
    if tzless or username is None or plain.startswith("RT @"):
        flags = _flags(tzless, username, plain)
    metrics = tweet.get("public_metrics")
    if not isinstance(metrics, dict):
        metrics = _EMPTY
    lang = tweet.get("lang")
    return Post(
        uri=uri,
        url=uri,
        created_at=created_at,
        author=author,
        content_html=content_html,
        text=plain,
        sighting=_sighting(tweet_id, uri, fetch),
        source=SOURCE,
        language=_language(lang) if isinstance(lang, str) else None,
        sensitive=tweet.get("possibly_sensitive") is True,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id,
        quote_uri=_permalink(quote_username, quote_id) if quote_id else None,
        tags=_tags(entities, "tag", text),
        links=_links(urls, tweet_id, quote_id) if urls else (),
        mentions=_mentions(entities, "mentions", text),
        media=_v2_media(tweet, ctx) if "attachments" in tweet else (),
        # `type(...) is int` refuses bools, as _count does.
        boosts=n if type(n := metrics.get("retweet_count")) is int else None,
        replies=n if type(n := metrics.get("reply_count")) is int else None,
        favourites=n if type(n := metrics.get("like_count")) is int else None,
        flags=flags,
        raw=_dump(raw),
    )


def _v2_reply_username(
    tweet: Mapping[str, object], entities: Mapping[str, object], ctx: _V2Context
) -> str | None:
    """The replied-to user's name when the replied tweet itself is not in the line."""
    embedded = _obj(tweet.get("in_reply_to_user"))  # flattened
    if embedded is not None and (name := _username(embedded.get("username"))):
        return name
    user_id = _id(tweet, "in_reply_to_user_id")
    if user_id is None:
        return None
    user = ctx.users.get(user_id)
    if user is not None and (name := _username(user.get("username"))):
        return name
    for mention in _l(entities, "mentions"):
        if isinstance(mention, dict) and _id(mention, "id") == user_id:
            return _username(mention.get("username"))
    return None
