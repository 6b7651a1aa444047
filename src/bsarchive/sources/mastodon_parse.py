"""Turn Mastodon REST API Status JSON into :class:`~bsarchive.models.Post` and
:class:`~bsarchive.models.Boost` values, plus the small fediverse helpers (tag names, links
in post HTML, handles from actor URIs) that the ActivityPub parser shares. Post HTML becomes
text through :func:`bsarchive.text.html_to_text`, the one routine for that job.

Everything here is a pure function of its arguments: no network, no database, no clock, no
logging of content. Foreign JSON is validated field by field at this edge, so no ``Any``
reaches the models; a missing or mistyped optional field becomes an empty value, and only a
Status without a string ``id``, ``uri`` or ``created_at`` is refused with
:class:`~bsarchive.errors.ParseError`.

This module runs on every status of a backfill (tens of thousands), so it avoids copies and
per-field function layers where it can; see ``tests/test_mastodon_parse.py`` for the timing
check that keeps it under the budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

import orjson

from bsarchive.dates import parse_iso_datetime
from bsarchive.errors import ParseError
from bsarchive.models import Author, Boost, Post, Sighting, normalise_tag
from bsarchive.sources.fields import int_field, str_field
from bsarchive.text import html_anchors, html_to_text
from bsarchive.urls import handle_from_actor_uri

__all__ = [
    "content_links",
    "dump_json",
    "handle_from_actor_uri",
    "hashtags_in_text",
    "normalise_tag",
    "parse_status",
    "web_url",
]

# --- tags -----------------------------------------------------------------------------------


# A hashtag in plain text: `#` not preceded by a word character, `/`, `&` or another `#`
# (URL fragments, entities, `##`), then word characters; all-digit tags (`#1`) are not tags,
# as in Mastodon's HASHTAG_RE.
_HASHTAG_IN_TEXT = re.compile(r"(?<![\w/&#])[#＃](\w[\w·\-]*)")


def hashtags_in_text(text: str) -> tuple[str, ...]:
    """Return the normalised ``#word`` tags written in plain ``text``, in order, unique."""
    seen: dict[str, None] = {}
    for match in _HASHTAG_IN_TEXT.finditer(text):
        word = match.group(1).rstrip("-·")
        if word and not word.isdigit():
            seen.setdefault(normalise_tag(word), None)
    return tuple(seen)


# --- HTML -----------------------------------------------------------------------------------

_bio_text = lru_cache(maxsize=4096)(html_to_text)  # bios repeat on every status of an author


def content_links(content: str) -> tuple[str, ...]:
    """Return the http(s) ``<a href>`` targets in post HTML, in order, unique, excluding
    mentions and hashtags.

    A link is a mention or hashtag when its class has ``mention``/``hashtag`` (Mastodon,
    Pleroma), its rel has ``tag``, or its text starts with ``@`` or ``#`` (Misskey adds no
    class). Entities in the href are decoded.
    """
    seen: dict[str, None] = {}
    for anchor in html_anchors(content):
        classes = anchor.classes
        if "mention" in classes or "hashtag" in classes or "tag" in anchor.rel.split():
            continue
        if anchor.first_char in ("#", "@", "＃") or not web_url(anchor.href):
            continue
        seen.setdefault(anchor.href, None)
    return tuple(seen)


# --- handles --------------------------------------------------------------------------------

# --- dates and JSON -------------------------------------------------------------------------


def dump_json(value: object, *, sort_keys: bool = False) -> str:
    """Serialise decoded JSON compactly (for the ``raw`` provenance column)."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    try:
        return orjson.dumps(value, option=option).decode()
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits (decoded by the stdlib json module) are valid JSON.
        import json

        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


# --- Mastodon Status ------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _instance_host(instance: str) -> str:
    """``"mastodon.social"`` or ``"http://127.0.0.1:8001/"`` -> the host[:port] part."""
    if "//" not in instance:
        return instance.strip().strip("/").lower()
    parts = urlsplit(instance)
    return parts.netloc.lower() or instance


def _bool_or_none(data: Mapping[str, object], key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def _acct_handle(acct: str, host: str) -> str:
    """``alice`` (local to the viewing instance) -> ``@alice@host``; ``bob@x`` -> ``@bob@x``."""
    acct = acct.lstrip("@")
    if "@" in acct:
        user, _, domain = acct.partition("@")
        return f"@{user}@{domain.lower()}"
    return f"@{acct}@{host}"


def _account(value: object, host: str, status_uri: str) -> Author:
    if not isinstance(value, dict):
        return Author(handle=handle_from_actor_uri(_actor_part(status_uri)))
    acct = value.get("acct")
    url = value.get("url")
    url = url if isinstance(url, str) else None
    if isinstance(acct, str) and acct:
        # A local account's acct has no domain. Its own profile URL names its home better
        # than the host we read it from (which may be a base URL or a loopback address).
        home = host
        if "@" not in acct.lstrip("@") and url:
            home = urlsplit(url).netloc.lower() or host
        handle = _acct_handle(acct, home)
    elif url:
        handle = handle_from_actor_uri(url)
    else:
        handle = handle_from_actor_uri(_actor_part(status_uri))
    note = value.get("note")
    name = value.get("display_name")
    uri = value.get("uri")
    return Author(
        handle=handle,
        name=name if isinstance(name, str) else "",
        url=url,
        uri=uri if isinstance(uri, str) else None,
        bio=_bio_text(note) if isinstance(note, str) and note else "",
        bot=value.get("bot") is True,
        noindex=_bool_or_none(value, "noindex"),
        indexable=_bool_or_none(value, "indexable"),
        discoverable=_bool_or_none(value, "discoverable"),
    )


def _actor_part(status_uri: str) -> str:
    """``https://h/users/alice/statuses/1`` -> ``https://h/users/alice`` (best effort)."""
    head, sep, _ = status_uri.partition("/statuses/")
    return head if sep else status_uri


def _quote_uri(value: object) -> str | None:
    # Mastodon 4.4 Quote {state, quoted_status}; Fedibird/Akkoma put a Status in `quote`.
    if not isinstance(value, dict):
        return None
    quoted = value.get("quoted_status")
    if isinstance(quoted, dict):
        value = quoted
    uri = value.get("uri")
    return uri if isinstance(uri, str) else None


def _required(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(where, f"status has no string {key!r}")
    return value


def _status_head(
    data: Mapping[str, object], host: str, fetched_at: datetime, fetched_from: str
) -> tuple[str, datetime, bool, str | None, Sighting]:
    """What a Status and a reblog's wrapper both carry: its ``uri``, ``created_at`` (and
    whether that had no zone), web ``url`` and its sighting on ``host``.

    Raises:
        ParseError: ``id``, ``uri`` or ``created_at`` missing or not a string, or
            ``created_at`` not an ISO 8601 timestamp.
    """
    local_id = _required(data, "id", fetched_from)
    uri = _required(data, "uri", fetched_from)
    created = _required(data, "created_at", fetched_from)
    try:
        created_at, tzless = parse_iso_datetime(created)
    except ValueError:
        raise ParseError(fetched_from, f"status {local_id}: bad created_at {created!r}") from None
    # A web address or nothing: a `javascript:` url or card (a hostile server's) is not
    # kept to be exported into someone's spreadsheet or reader.
    url = web_url(str_field(data, "url"))
    sighting = Sighting(
        source=host, local_id=local_id, url=url, fetched_at=fetched_at, fetched_from=fetched_from
    )
    return uri, created_at, tzless, url, sighting


def _status_post(
    data: Mapping[str, object], host: str, fetched_at: datetime, fetched_from: str
) -> Post:
    uri, created_at, tzless, url, sighting = _status_head(data, host, fetched_at, fetched_from)
    flags: list[str] = []
    if tzless:
        flags.append("tz-less date")
    edited_at = None
    edited = data.get("edited_at")
    if isinstance(edited, str):
        try:
            edited_at = parse_iso_datetime(edited)[0]
        except ValueError:
            flags.append("bad edited_at")

    content = str_field(data, "content") or ""
    links = content_links(content)
    card = data.get("card")
    if isinstance(card, dict):
        card_url = web_url(card.get("url"))
        if card_url and card_url not in links:
            links = (*links, card_url)

    tags: tuple[str, ...] = ()
    raw_tags = data.get("tags")
    if not isinstance(raw_tags, list):
        # Absent on some API-compatible servers: read the hashtags the author wrote.
        tags = hashtags_in_text(html_to_text(content)) if content else ()
    elif raw_tags:
        tags = tuple(
            dict.fromkeys(
                normalise_tag(name)
                for tag in raw_tags
                if isinstance(tag, dict) and isinstance(name := tag.get("name"), str) and name
            )
        )
    mentions: tuple[str, ...] = ()
    mention_urls: tuple[str, ...] = ()
    raw_mentions = data.get("mentions")
    if isinstance(raw_mentions, list) and raw_mentions:
        listed = [m for m in raw_mentions if isinstance(m, dict)]
        mentions = tuple(
            dict.fromkeys(
                _acct_handle(acct, host)
                for mention in listed
                if isinstance(acct := mention.get("acct"), str) and acct
            )
        )
        # The replied-to account is among the mentions (Mastodon adds it): its url is the
        # way to the parent's home server, which the local in_reply_to_id does not give.
        mention_urls = tuple(
            dict.fromkeys(href for m in listed if (href := web_url(m.get("url"))) is not None)
        )
    media: tuple[str, ...] = ()
    raw_media = data.get("media_attachments")
    if isinstance(raw_media, list) and raw_media:
        media = tuple(_media_urls(raw_media))

    reply_to = data.get("in_reply_to_id")
    return Post(
        uri=uri,
        url=url,
        created_at=created_at,
        author=_account(data.get("account"), host, uri),
        content_html=content,
        text=html_to_text(content) if content else "",
        sighting=sighting,
        source="mastodon",
        spoiler_text=str_field(data, "spoiler_text") or "",
        language=str_field(data, "language"),
        visibility=str_field(data, "visibility"),
        sensitive=data.get("sensitive") is True,
        in_reply_to_local_id=reply_to if isinstance(reply_to, str) and reply_to else None,
        quote_uri=_quote_uri(data.get("quote")),
        tags=tags,
        links=links,
        mentions=mentions,
        mention_urls=mention_urls,
        media=media,
        boosts=int_field(data, "reblogs_count"),
        replies=int_field(data, "replies_count"),
        favourites=int_field(data, "favourites_count"),
        edited_at=edited_at,
        flags=tuple(flags),
        raw=dump_json(data),
    )


def _media_urls(attachments: Iterable[object]) -> Iterable[str]:
    # The origin's URL when the viewing server shows a cached copy of remote media.
    for attachment in attachments:
        if isinstance(attachment, dict):
            url = attachment.get("remote_url") or attachment.get("url")
            if isinstance(url, str) and url:
                yield url


def parse_status(
    data: Mapping[str, object], *, instance: str, fetched_at: datetime, fetched_from: str
) -> tuple[Post, Boost | None]:
    """Parse one Mastodon API Status into the post it carries and, for a boost, the boost.

    A boost wrapper (``reblog`` not null) gives the original as the Post (its ``uri`` is the
    identity, its ``id`` the local id on ``instance``) and the wrapper as a Boost whose
    ``uri`` is the wrapper's ``uri`` (``.../statuses/ID/activity``).

    Args:
        data: one decoded Status object (not copied; not modified).
        instance: the server it was read from, as a host or base URL; local ``acct`` values
            get this host appended and sightings are recorded under it.
        fetched_at: when the response arrived (aware UTC).
        fetched_from: the request URL, for provenance and error messages.

    Raises:
        ParseError: ``id``, ``uri`` or ``created_at`` missing or not a string, or
            ``created_at`` not an ISO 8601 timestamp.
    """
    host = _instance_host(instance)
    reblog = data.get("reblog")
    if not isinstance(reblog, dict):
        return _status_post(data, host, fetched_at, fetched_from), None
    post = _status_post(reblog, host, fetched_at, fetched_from)
    uri, created_at, _, _, sighting = _status_head(data, host, fetched_at, fetched_from)
    boost = Boost(
        uri=uri,
        post_uri=post.uri,
        booster=_account(data.get("account"), host, uri),
        created_at=created_at,
        sighting=sighting,
        raw=dump_json(data),
    )
    return post, boost


def web_url(value: object) -> str | None:
    """``value`` when it is an http(s) URL, else None."""
    if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
        return value
    return None
