"""Parse ActivityPub documents (actors, outbox collections, activities, objects) into models.

This is the pure half of the ActivityPub source: functions from bytes or decoded JSON to
:class:`CollectionPage`, :class:`ParsedActivity` and the :mod:`bsarchive.models` values.
It does no network access (dereferencing a boosted URI is the caller's job, signalled by
``ParsedActivity.needs_fetch``), no database access and no clock reads (``fetched_at`` is
passed in). Foreign JSON is validated at this edge; the only exception raised on a strange
document is :class:`~bsarchive.errors.ParseError`.

The thin fetching half, :func:`fetch_outbox`, walks an actor's outbox through the shared
:class:`~bsarchive.http.Http` client and dereferences boosted URIs; it never touches the
database.

Only the configured ``--outbox`` URL is trusted (DESIGN.md). The walk's own links, the actor's
``outbox``, the collection's ``first`` and each page's ``next``, come from remote JSON, so
they are followed only when they are on the configured URL's host (same host name; same port
unless both are the standard web ports 80/443), and no redirect during the walk may leave
the host name it was sent to. Anything else ends the source with a
:class:`~bsarchive.errors.ParseError` naming the refused host, before any request to it:
otherwise a hostile outbox could point ``first`` at a loopback or cloud-metadata address
(``169.254.169.254``) and have the trusted client, which has no private-address guard, read
it. PROTOCOL.md §3 puts actor, outbox and pages on one server, so the rule refuses no
documented layout. Boosted objects are the one legitimate cross-server link: they are
dereferenced through the untrusted client (the private-address guard), never the trusted one.

Shapes handled (PROTOCOL.md §3): ``Create``/``Update``/``Announce``/``Delete`` activities
and bare objects; ``Note``, ``Article``, ``Page``, ``Question``, ``Video``; ``tag``,
``to``, ``cc``, ``url``, ``attachment`` as a single value or an array; ``first`` as a URL
or an embedded page; ``orderedItems`` or ``items``; ids that are ``tag:`` URIs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import orjson

from bsarchive.dates import parse_iso_datetime
from bsarchive.errors import AuthRequiredError, FetchError, GoneError, ParseError
from bsarchive.http import Http, Response, raise_for_status
from bsarchive.models import Author, Boost, Cursor, Deletion, Item, Page, Post, Sighting, SourceSpec
from bsarchive.sources import FetchContext
from bsarchive.sources.feeds import next_fetch_time, skip_reason
from bsarchive.sources.mastodon_parse import (
    content_links,
    dump_json,
    handle_from_actor_uri,
    hashtags_in_text,
    normalise_tag,
)
from bsarchive.text import html_to_text

__all__ = [
    "ACCEPT",
    "COLLECTION_TYPES",
    "MAX_DEPTH",
    "POST_TYPES",
    "CollectionPage",
    "JSONMapping",
    "JSONObject",
    "ParsedActivity",
    "fetch_outbox",
    "find_outbox",
    "parse_activity",
    "parse_collection_page",
    "parse_json",
]

log = logging.getLogger(__name__)

JSONObject = dict[str, object]
# What the parsers accept: any read-only mapping (dict is invariant, Mapping is not).
JSONMapping = Mapping[str, object]

# W3C ActivityPub §3.2 requires the ld+json profile; servers treat activity+json as equal and
# some proxies only route on activity+json, so both are offered (PROTOCOL.md §3).
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
# What to retry with when a server answers ACCEPT with HTML (PROTOCOL.md §3).
ACCEPT_FALLBACK = "application/activity+json"
# Outbox pages walked per run at most, whatever --max-pages says: older pages are history
# the tag timelines and feeds cover; the next run resumes from the newest item.
MAX_OUTBOX_PAGES = 50
# Boosted URIs dereferenced per run at most (each is a request to some other server).
MAX_DEREFERENCES = 200
SIGNED_FETCH = (
    "requires signed fetches (authorized fetch); use --mastodon or the tag RSS for this server"
)
# Ports a same-host check treats as one: an actor given as http:// is served from https://.
WEB_PORTS = frozenset({None, 80, 443})
# Deeper nesting than this is refused: real AP documents nest fewer than 10 levels, and
# later recursive code (serialisers, sanitisers) must never see a recursion bomb.
MAX_DEPTH = 100
ACTOR_TYPES = frozenset({"Person", "Service", "Group", "Application", "Organization"})
COLLECTION_TYPES = frozenset({"OrderedCollection", "Collection"})
PAGE_TYPES = frozenset({"OrderedCollectionPage", "CollectionPage"})
# Object types that are posts (PROTOCOL.md §3 "Note fields").
POST_TYPES = frozenset({"Note", "Article", "Page", "Question", "Video"})
# The public collection, in its full, compacted and bare spellings (all seen in the wild).
PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})


# --- decoding -------------------------------------------------------------------------------


def parse_json(body: bytes, url: str) -> JSONObject:
    """Decode an ActivityPub response body to a JSON object.

    Raises:
        ParseError: the body is empty, HTML, not UTF-8 JSON, not an object at the top level,
            or nested deeper than :data:`MAX_DEPTH`.
    """
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError(url, "empty body where ActivityPub JSON was expected")
    if stripped[:1] == b"<":
        raise ParseError(
            url,
            "got HTML, not ActivityPub JSON",
            "not an ActivityPub endpoint, or a proxy ignored the Accept header",
        )
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError as e:
        raise ParseError(url, f"invalid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ParseError(url, f"expected a JSON object, got {type(value).__name__}")
    if _too_deep(value):
        raise ParseError(url, f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _too_deep(value: dict[str, object]) -> bool:
    """Iterative depth check (no recursion, so no RecursionError on hostile input)."""
    stack: list[tuple[dict[str, object] | list[object], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list) and child:
                stack.append((child, depth + 1))
    return False


# --- small validators -----------------------------------------------------------------------


def _types(value: object) -> tuple[str, ...]:
    """``type`` may be a string or (JSON-LD) an array of strings."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(t for t in value if isinstance(t, str))
    return ()


def _type_in(obj: JSONMapping, allowed: frozenset[str]) -> str | None:
    for name in _types(obj.get("type")):
        if name in allowed:
            return name
    return None


def _str(obj: JSONMapping, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _id_of(value: object) -> str | None:
    """A reference: a URI string, or an object carrying ``id`` (or a Link's ``href``)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        ref = value.get("id")
        if isinstance(ref, str) and ref:
            return ref
        href = value.get("href")
        if isinstance(href, str) and href:
            return href
    return None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _href(value: object, *, prefer_html: bool) -> str | None:
    """``url``: a string, a Link object with ``href``, or an array of either; with
    ``prefer_html`` the first ``text/html`` Link wins (PeerTube lists the video files too)."""
    candidates: list[tuple[str, str | None]] = []
    for entry in _as_list(value):
        if isinstance(entry, str) and entry:
            candidates.append((entry, None))
        elif isinstance(entry, dict):
            href = entry.get("href")
            if isinstance(href, str) and href:
                media_type = entry.get("mediaType")
                candidates.append((href, media_type if isinstance(media_type, str) else None))
    if not candidates:
        return None
    if prefer_html:
        for href, media_type in candidates:
            if media_type == "text/html":
                return href
    return candidates[0][0]


# --- collections ----------------------------------------------------------------------------


def find_outbox(actor: JSONMapping, url: str) -> str:
    """Return the outbox URL of an actor document, or ``url`` itself when the document is
    already a collection or collection page.

    Raises:
        ParseError: neither an actor with an ``outbox`` nor a collection.
    """
    if _type_in(actor, COLLECTION_TYPES | PAGE_TYPES):
        return url
    if _type_in(actor, ACTOR_TYPES) is None:
        kind = "/".join(_types(actor.get("type"))) or "no type"
        raise ParseError(url, f"not an ActivityPub actor or collection ({kind})")
    outbox = _id_of(actor.get("outbox"))
    if outbox is None:
        raise ParseError(url, "actor has no outbox")
    return urljoin(url, outbox)


@dataclass(frozen=True, slots=True)
class CollectionPage:
    """One fetched collection document, reduced to what a walker needs.

    ``items`` are activity/object dicts or bare URI strings, in document order. ``first`` is
    the URL to fetch next when this is a collection whose first page lives elsewhere (an
    embedded first page's items are already in ``items`` and ``first`` is None). ``next`` is
    the following page, None on the last one.
    """

    items: tuple[JSONObject | str, ...]
    next: str | None
    first: str | None
    is_page: bool


def _page_items(doc: JSONMapping) -> tuple[JSONObject | str, ...]:
    raw = doc.get("orderedItems")
    if raw is None:
        raw = doc.get("items")
    return tuple(item for item in _as_list(raw) if isinstance(item, dict | str) and item)


def _link(doc: JSONMapping, key: str, base: str) -> str | None:
    target = _id_of(doc.get(key))
    if target is None:
        return None
    target = urljoin(base, target)
    return None if target == base else target  # a page pointing at itself ends the walk


def parse_collection_page(doc: JSONMapping, url: str) -> CollectionPage:
    """Read an ``OrderedCollection``/``Collection`` or one of its pages.

    Raises:
        ParseError: the document is neither a collection nor a collection page.
    """
    base = _str(doc, "id") or url
    if _type_in(doc, PAGE_TYPES):
        return CollectionPage(_page_items(doc), _link(doc, "next", base), None, True)
    if _type_in(doc, COLLECTION_TYPES) is None:
        kind = "/".join(_types(doc.get("type"))) or "no type"
        raise ParseError(url, f"expected an ActivityPub collection, got {kind}")
    first = doc.get("first")
    if isinstance(first, dict) and ("orderedItems" in first or "items" in first):
        # GoToSocial/Pleroma/Lemmy embed the first page.
        page_base = _str(first, "id") or base
        return CollectionPage(_page_items(first), _link(first, "next", page_base), None, False)
    return CollectionPage(_page_items(doc), None, _link(doc, "first", base), False)


# --- activities -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedActivity:
    """What one outbox item means for the archive.

    - ``post``: a tagged post (from ``Create``/``Update``, a bare object, or the object
      embedded in an ``Announce``);
    - ``boost``: an ``Announce``;
    - ``deletion``: a ``Delete`` or a bare ``Tombstone``;
    - ``needs_fetch``: a URI to dereference before its post can be judged (an ``Announce``
      or ``Create`` whose object is only a URI, or a bare URI item);
    - ``skipped``: why nothing was produced (``"untagged"``, ``"ignored type Like"``), for
      the run summary.
    """

    post: Post | None = None
    boost: Boost | None = None
    deletion: Deletion | None = None
    needs_fetch: str | None = None
    skipped: str | None = None

    @property
    def items(self) -> tuple[Item, ...]:
        """The models to store, post before boost (a boost refers to its post)."""
        found: list[Item] = []
        if self.post is not None:
            found.append(self.post)
        if self.boost is not None:
            found.append(self.boost)
        if self.deletion is not None:
            found.append(self.deletion)
        return tuple(found)


@dataclass(frozen=True, slots=True)
class _Context:
    tags: frozenset[str]
    source: str
    fetched_at: datetime
    fetched_from: str
    include_untagged: bool


def parse_activity(
    item: JSONMapping | str,
    *,
    tags: Sequence[str],
    source: str,
    fetched_at: datetime,
    fetched_from: str,
    include_untagged: bool = False,
) -> ParsedActivity:
    """Interpret one outbox item (an activity, a bare object, or a URI string).

    Args:
        item: an entry of ``orderedItems``/``items``, or a dereferenced object.
        tags: the event's tags (any spelling; normalised here). A post is kept when one of
            its hashtags matches; with no tags nothing matches.
        source: the source key recorded on each sighting (e.g. the outbox URL).
        fetched_at: when the document arrived (aware UTC); also the stand-in date for a
            post without ``published`` (flagged ``"no date"``).
        fetched_from: the request URL the item came in.
        include_untagged: keep posts that carry none of ``tags``.

    Raises:
        ParseError: an item that is a post, boost or deletion lacks the id that would
            identify it (callers skip that item and count it).
    """
    context = _Context(
        tags=frozenset(normalise_tag(tag) for tag in tags),
        source=source,
        fetched_at=fetched_at,
        fetched_from=fetched_from,
        include_untagged=include_untagged,
    )
    if isinstance(item, str):
        return ParsedActivity(needs_fetch=item) if item else ParsedActivity(skipped="empty")
    if not isinstance(item, dict):
        return ParsedActivity(skipped=f"not an object ({type(item).__name__})")
    types = _types(item.get("type"))
    if "Create" in types or "Update" in types:
        return _create(item, context, is_update="Update" in types)
    if "Announce" in types:
        return _announce(item, context)
    if "Delete" in types:
        return _delete(item, context)
    if "Tombstone" in types:
        uri = _str(item, "id")
        if uri is None:
            raise ParseError(fetched_from, "Tombstone without an id")
        return ParsedActivity(deletion=Deletion(uri, _sighting(context, None)))
    if _type_in(item, POST_TYPES):
        return _post_result(item, context, actor=None, fallback_date=None)
    return ParsedActivity(skipped=f"ignored type {'/'.join(types) or 'none'}")


def _sighting(context: _Context, url: str | None) -> Sighting:
    return Sighting(
        source=context.source,
        local_id=None,
        url=url,
        fetched_at=context.fetched_at,
        fetched_from=context.fetched_from,
    )


def _create(activity: JSONMapping, context: _Context, *, is_update: bool) -> ParsedActivity:
    obj = activity.get("object")
    if isinstance(obj, str) and obj:
        return ParsedActivity(needs_fetch=obj)
    if not isinstance(obj, dict) or _type_in(obj, POST_TYPES) is None:
        kind = "Update" if is_update else "Create"
        what = "/".join(_types(obj.get("type"))) if isinstance(obj, dict) else "nothing"
        return ParsedActivity(skipped=f"ignored {kind} of {what or 'untyped object'}")
    fallback_date = (activity.get("updated") or activity.get("published")) if is_update else None
    return _post_result(
        obj,
        context,
        actor=activity.get("actor"),
        fallback_date=fallback_date if isinstance(fallback_date, str) else None,
    )


def _announce(activity: JSONMapping, context: _Context) -> ParsedActivity:
    uri = _str(activity, "id")
    obj = activity.get("object")
    post_uri = _id_of(obj)
    if uri is None or post_uri is None:
        raise ParseError(context.fetched_from, "Announce without an id or an object id")
    post: Post | None = None
    needs_fetch: str | None = None
    if isinstance(obj, dict) and _is_full_object(obj):
        result = _post_result(obj, context, actor=None, fallback_date=None)
        if result.post is None:
            return ParsedActivity(skipped=result.skipped)
        post = result.post
    else:
        needs_fetch = post_uri
    published = activity.get("published")
    created_at = context.fetched_at
    if isinstance(published, str):
        with contextlib.suppress(ValueError):  # a bad date keeps the fetch time
            created_at = parse_iso_datetime(published)[0]
    boost = Boost(
        uri=uri,
        post_uri=post_uri,
        booster=_author(activity.get("actor"), fallback=uri),
        created_at=created_at,
        sighting=_sighting(context, None),
        raw=dump_json(activity, sort_keys=True),
    )
    return ParsedActivity(post=post, boost=boost, needs_fetch=needs_fetch)


def _is_full_object(obj: JSONMapping) -> bool:
    """An embedded object with content to judge (not just ``{id, type}``)."""
    if _type_in(obj, POST_TYPES) is None:
        return False
    return any(key in obj for key in ("content", "contentMap", "tag", "_misskey_content"))


def _delete(activity: JSONMapping, context: _Context) -> ParsedActivity:
    obj = activity.get("object")
    uri = _id_of(obj)
    if uri is None:
        raise ParseError(context.fetched_from, "Delete without an object id")
    actor = _id_of(activity.get("actor"))
    if actor is not None and uri == actor:
        # Mastodon federates an account deletion as Delete{object: actor}; not a post.
        return ParsedActivity(skipped="account deletion")
    return ParsedActivity(deletion=Deletion(uri, _sighting(context, None)))


# --- objects --------------------------------------------------------------------------------


def _author(value: object, *, fallback: str) -> Author:
    """``attributedTo``/``actor``: a URI, an embedded actor, or (PeerTube) an array of them;
    the first Person wins, then the first entry."""
    entries = _as_list(value)
    chosen: object = None
    for entry in entries:
        if isinstance(entry, dict) and "Person" in _types(entry.get("type")):
            chosen = entry
            break
    if chosen is None and entries:
        chosen = entries[0]
    if isinstance(chosen, str) and chosen:
        return Author(handle=handle_from_actor_uri(chosen), uri=chosen)
    if isinstance(chosen, dict):
        uri = _str(chosen, "id")
        username = _str(chosen, "preferredUsername")
        host = _host(uri) if uri else None
        if username and host:
            handle = f"@{username}@{host}"
        elif uri:
            handle = handle_from_actor_uri(uri)
        else:
            handle = fallback
        summary = _str(chosen, "summary")
        indexable, discoverable = chosen.get("indexable"), chosen.get("discoverable")
        return Author(
            handle=handle,
            name=_str(chosen, "name") or "",
            url=_href(chosen.get("url"), prefer_html=True),
            uri=uri,
            bio=html_to_text(summary) if summary else "",
            bot=_type_in(chosen, frozenset({"Service", "Application"})) is not None,
            indexable=indexable if isinstance(indexable, bool) else None,
            discoverable=discoverable if isinstance(discoverable, bool) else None,
        )
    return Author(handle=handle_from_actor_uri(_actor_part(fallback)))


def _actor_part(uri: str) -> str:
    head, sep, _ = uri.partition("/statuses/")
    return head if sep else uri


def _host(uri: str) -> str | None:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host:
        return None
    return f"{host}:{port}" if port is not None and port not in (80, 443) else host


def _post_tags(obj: JSONMapping, content: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for entry in _as_list(obj.get("tag")):
        if isinstance(entry, dict) and "Hashtag" in _types(entry.get("type")):
            name = entry.get("name")
            if isinstance(name, str) and (tag := normalise_tag(name)):
                found.setdefault(tag, None)
    if found:
        return tuple(found)
    # No usable Hashtag entries: read `#word` from the text (Misskey source first).
    misskey = obj.get("_misskey_content")
    text = misskey if isinstance(misskey, str) else html_to_text(content)
    return hashtags_in_text(text)


def _mentions(obj: JSONMapping) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for entry in _as_list(obj.get("tag")):
        if not isinstance(entry, dict) or "Mention" not in _types(entry.get("type")):
            continue
        name = _str(entry, "name")
        href = _str(entry, "href")
        if name and name.count("@") >= 2:
            user, _, domain = name.lstrip("@").partition("@")
            found.setdefault(f"@{user}@{domain.lower()}", None)
        elif name and href and (host := _host(href)):
            found.setdefault(f"@{name.lstrip('@')}@{host}", None)
        elif href:
            found.setdefault(handle_from_actor_uri(href), None)
    return tuple(found)


def _media(obj: JSONMapping) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for entry in _as_list(obj.get("attachment")):
        if isinstance(entry, dict) and "PropertyValue" not in _types(entry.get("type")):
            url = _href(entry.get("url"), prefer_html=False) or _str(entry, "href")
            if url:
                found.setdefault(url, None)
        elif isinstance(entry, str) and entry:
            found.setdefault(entry, None)
    return tuple(found)


def _visibility(obj: JSONMapping) -> str:
    to = {ref for entry in _as_list(obj.get("to")) if (ref := _id_of(entry))}
    if to & PUBLIC:
        return "public"
    cc = {ref for entry in _as_list(obj.get("cc")) if (ref := _id_of(entry))}
    if cc & PUBLIC:
        return "unlisted"
    if any(ref.endswith("/followers") for ref in to):
        return "private"
    return "direct"


def _total(value: object) -> int | None:
    """``likes``/``shares``/``replies`` collections may carry ``totalItems``."""
    if isinstance(value, dict):
        total = value.get("totalItems")
        if isinstance(total, int) and not isinstance(total, bool):
            return total
    return None


_QUOTE_KEYS = ("quote", "quoteUri", "quoteUrl", "_misskey_quote")


def _post_result(
    obj: JSONMapping, context: _Context, *, actor: object, fallback_date: str | None
) -> ParsedActivity:
    content = _str(obj, "content")
    language: str | None = None
    content_map = obj.get("contentMap")
    if isinstance(content_map, dict):
        for key, value in content_map.items():
            if isinstance(value, str):
                language = key if isinstance(key, str) and key != "und" else None
                if content is None:
                    content = value
                break
    content = content or ""
    tags = _post_tags(obj, content)
    if not context.include_untagged and context.tags.isdisjoint(tags):
        return ParsedActivity(skipped="untagged")

    uri = _str(obj, "id")
    if uri is None:
        raise ParseError(context.fetched_from, "tagged post without an id")
    flags: list[str] = []
    created_at, created_flag = _date(obj.get("published") or fallback_date, context)
    if created_flag:
        flags.append(created_flag)
    edited_at: datetime | None = None
    updated = obj.get("updated") or fallback_date
    if isinstance(updated, str):
        try:
            edited = parse_iso_datetime(updated)[0]
        except ValueError:
            flags.append("bad updated date")
        else:
            # Some servers repeat `published` in `updated` on posts never edited.
            edited_at = edited if edited > created_at else None

    url = _href(obj.get("url"), prefer_html=True)
    quote_uri = None
    for key in _QUOTE_KEYS:
        quote_uri = _id_of(obj.get(key))
        if quote_uri:
            break
    summary = obj.get("summary")
    return ParsedActivity(
        post=Post(
            uri=uri,
            url=url,
            created_at=created_at,
            author=_author(obj.get("attributedTo") or actor, fallback=uri),
            content_html=content,
            text=html_to_text(content) if content else "",
            sighting=_sighting(context, url),
            source="activitypub",
            spoiler_text=html_to_text(summary) if isinstance(summary, str) else "",
            language=language,
            visibility=_visibility(obj),
            sensitive=obj.get("sensitive") is True,
            in_reply_to_uri=_id_of(obj.get("inReplyTo")),
            quote_uri=quote_uri,
            tags=tags,
            links=_links(content, quote_uri),
            mentions=_mentions(obj),
            media=_media(obj),
            boosts=_total(obj.get("shares")),
            replies=_total(obj.get("replies")),
            favourites=_total(obj.get("likes")),
            edited_at=edited_at,
            flags=tuple(flags),
            raw=dump_json(obj, sort_keys=True),
        )
    )


def _links(content: str, quote_uri: str | None) -> tuple[str, ...]:
    # Mastodon/Misskey add "RE: <quote link>" to the HTML for old clients; not a reaction.
    links = content_links(content)
    if quote_uri is None:
        return links
    return tuple(link for link in links if link != quote_uri)


def _date(value: object, context: _Context) -> tuple[datetime, str | None]:
    if not isinstance(value, str) or not value:
        return context.fetched_at, "no date"
    try:
        parsed, tzless = parse_iso_datetime(value)
    except ValueError:
        return context.fetched_at, "bad date"
    return parsed, "tz-less date" if tzless else None


# --- fetching -------------------------------------------------------------------------------


def _is_html(response: Response) -> bool:
    return response.content_type in ("text/html", "application/xhtml+xml") or (
        response.body.lstrip()[:1] == b"<"
    )


def _get(
    client: Http,
    url: str,
    subject: str,
    *,
    cursor: Cursor | None = None,
    untrusted: bool = False,
    same_host_only: bool = False,
) -> Response:
    """GET an ActivityPub document; an HTML answer is retried once with the plain
    ``application/activity+json`` some servers and proxies route on (PROTOCOL.md §3)."""
    etag = cursor.etag if cursor else None
    last_modified = cursor.last_modified if cursor else None
    try:
        response = client.get(
            url,
            accept=ACCEPT,
            etag=etag,
            last_modified=last_modified,
            untrusted=untrusted,
            same_host_only=same_host_only,
        )
        if response.status == 200 and _is_html(response):
            retry = client.get(
                url,
                accept=ACCEPT_FALLBACK,
                etag=etag,
                last_modified=last_modified,
                untrusted=untrusted,
                same_host_only=same_host_only,
            )
            response = replace(retry, requests=retry.requests + response.requests)
    except FetchError as e:
        raise e.with_subject(subject) from e
    return response


def _check(response: Response, subject: str) -> None:
    if response.status in (401, 403):
        raise AuthRequiredError(subject, f"HTTP {response.status}: {SIGNED_FETCH}")
    raise_for_status(response, subject)


def _host_key(url: str) -> tuple[str, int | None] | None:
    """(host name, port) for the same-host rule, standard web ports as None; None when
    ``url`` is not an http(s) URL with a valid host and port."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # out of range or not a number
        return None
    return parts.hostname.rstrip("."), None if port in WEB_PORTS else port


def _same_host_link(url: str, home: str, what: str, subject: str) -> str:
    """Return ``url``, a link read from a remote document, when it is on the host of the
    configured URL ``home``.

    Raises:
        ParseError: another host, or not an http(s) URL; nothing was requested from it.
    """
    key = _host_key(url)
    if key is not None and key == _host_key(home):
        return url
    if key is None:
        raise ParseError(
            subject, f"{what} link is not an http(s) URL with a valid host and port; refused"
        )
    host = key[0] if key[1] is None else f"{key[0]}:{key[1]}"
    raise ParseError(
        subject,
        f"{what} link points to another host ({host}); refusing to follow",
        hint="an outbox is only walked on the host of the configured URL",
    )


def _item_id(item: JSONObject | str) -> str | None:
    return item if isinstance(item, str) else _id_of(item)


def fetch_outbox(
    client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
) -> Iterator[Page]:
    """Walk an actor's outbox (or an outbox URL) newest first, one Page per collection page.

    The walk stops at the item id the last run saw first (``cursor.newest``), at the end of
    the collection, or after :data:`MAX_OUTBOX_PAGES` / ``ctx.max_pages`` pages. An outbox
    URL is fetched with conditional GET (an actor document's validators say nothing about
    its outbox, so an actor is always read). Intermediate pages carry the old cursor; only
    the last one carries the new ``newest`` and validators, so a run killed mid-walk
    re-reads the walk instead of losing it.

    The actor's ``outbox``, the collection's ``first`` and each ``next`` are followed only on
    the configured URL's host (see the module docstring); pages already yielded stay yielded
    when a later link is refused.

    Raises:
        AuthRequiredError: 401/403 (the server requires signed fetches).
        FetchError / GoneError / ParseError: the source failed (subject: ``spec.url``);
            ParseError for a link to another host, which is never requested.
    """
    subject = spec.url
    reason = skip_reason(cursor, ctx)
    if reason is not None:
        log.info("%s: %s", subject, reason)
        return
    guard = spec.discovered  # never set for outboxes today; kept in step with mastodon.py
    response = _get(client, spec.url, subject, cursor=cursor, untrusted=guard, same_host_only=True)
    requests = response.requests
    waiting = replace(cursor, not_before=next_fetch_time(response, ctx.now()), gone=False)
    if response.status == 304:
        yield Page(spec.key, (), waiting, requests=requests)
        return
    if response.status == 410:
        yield Page(spec.key, (), replace(waiting, gone=True), requests=requests)
        raise GoneError(
            subject, "HTTP 410 Gone", hint="marked gone; later runs skip it", status=410
        )
    _check(response, subject)
    doc = parse_json(response.body, subject)
    outbox = find_outbox(doc, response.url)
    validators: tuple[str | None, str | None] = (None, None)
    if outbox == response.url:
        validators = (response.header("etag"), response.header("last-modified"))
    else:  # an actor: read its outbox
        outbox = _same_host_link(outbox, spec.url, "outbox", subject)
        response = _get(client, outbox, subject, untrusted=guard, same_host_only=True)
        requests += response.requests
        _check(response, subject)
        doc = parse_json(response.body, subject)
    page = parse_collection_page(doc, response.url)
    page_url = response.url
    if page.first is not None:
        first = _same_host_link(page.first, spec.url, "first", subject)
        response = _get(client, first, subject, untrusted=guard, same_host_only=True)
        requests += response.requests
        _check(response, subject)
        page_url = response.url
        page = parse_collection_page(parse_json(response.body, subject), page_url)
    final = replace(waiting, etag=validators[0], last_modified=validators[1])
    limit = max(1, min(ctx.max_pages, MAX_OUTBOX_PAGES))
    budget = [MAX_DEREFERENCES]
    newest: str | None = None
    malformed = 0
    for walked in range(1, limit + 1):
        if newest is None and page.items:
            newest = _item_id(page.items[0])
        items: list[Item] = []
        skipped = 0
        reached = False
        for raw in page.items:
            if cursor.newest is not None and _item_id(raw) == cursor.newest:
                reached = True
                break
            try:
                found, n = _activity_items(client, raw, spec, page_url, ctx, budget)
            except ParseError as e:
                log.warning("%s: skipping a malformed item: %s", subject, e.message)
                malformed += 1
                continue
            items.extend(found)
            skipped += n
        last = reached or page.next is None or walked == limit or ctx.stop.is_set()
        if last and walked == limit and page.next is not None and not reached:
            log.info("%s: stopped after %d outbox pages (cap per run)", subject, walked)
        page_cursor = replace(final, newest=newest or cursor.newest) if last else cursor
        yield Page(spec.key, tuple(items), page_cursor, requests=requests, skipped=skipped)
        requests = 0
        if last or page.next is None:
            break
        next_url = _same_host_link(page.next, spec.url, "next", subject)
        response = _get(client, next_url, subject, untrusted=guard, same_host_only=True)
        requests = response.requests
        _check(response, subject)
        page_url = response.url
        page = parse_collection_page(parse_json(response.body, subject), page_url)
    if malformed:
        raise ParseError(subject, f"{malformed} malformed item(s) skipped; the rest were stored")


def _activity_items(
    client: Http,
    raw: JSONObject | str,
    spec: SourceSpec,
    page_url: str,
    ctx: FetchContext,
    budget: list[int],
) -> tuple[list[Item], int]:
    """The models one outbox item yields, dereferencing a URI-only object; (items, skipped)."""
    now = ctx.now()
    parsed = _from_its_origin(
        parse_activity(raw, tags=ctx.tags, source=spec.url, fetched_at=now, fetched_from=page_url),
        page_url,
    )
    if parsed is None:
        return [], 1
    if parsed.needs_fetch is not None:
        fetched = _dereference(client, parsed.needs_fetch, spec, ctx, budget)
        if fetched is None or fetched.post is None:
            return [], 1  # untagged, unreachable or refused: nothing to keep (nor its boost)
        parsed = replace(fetched, boost=parsed.boost)
    if parsed.post is not None and not ctx.in_window(parsed.post.created_at):
        return [], 1
    if not parsed.items:
        return [], 1
    return list(parsed.items), 0


def _from_its_origin(parsed: ParsedActivity, page_url: str) -> ParsedActivity | None:
    """What an outbox page may say: only about its own server's objects (the origin check
    ActivityPub servers make). A Create, Update or Delete of another server's post, or an
    Announce whose own id is elsewhere, is dropped (None): a hostile outbox could rewrite
    or delete anyone's posts. An object embedded in an Announce of a post from elsewhere
    is not believed either: the post is fetched from its own uri instead."""
    home = _host_key(page_url)
    if parsed.deletion is not None and _host_key(parsed.deletion.uri) != home:
        log.info(
            "%s: a Delete of another server's post (%s); ignored", page_url, parsed.deletion.uri
        )
        return None
    if parsed.boost is not None and _host_key(parsed.boost.uri) != home:
        log.info(
            "%s: an Announce with another server's id (%s); ignored", page_url, parsed.boost.uri
        )
        return None
    if parsed.post is not None and _host_key(parsed.post.uri) != home:
        if parsed.boost is None:
            log.info("%s: another server's post (%s); ignored", page_url, parsed.post.uri)
            return None
        return replace(parsed, post=None, needs_fetch=parsed.post.uri)
    return parsed


def _dereference(
    client: Http, uri: str, spec: SourceSpec, ctx: FetchContext, budget: list[int]
) -> ParsedActivity | None:
    """GET a boosted/created object by its URI; None when it cannot be read (404/410, a
    server requiring signed fetches, HTML, a transport failure) or the budget is spent."""
    if budget[0] <= 0 or urlsplit(uri).scheme not in ("http", "https"):
        return None
    budget[0] -= 1
    try:
        response = _get(client, uri, uri, untrusted=True)
        if response.status != 200:
            log.info("%s: HTTP %d dereferencing a boosted object; skipped", uri, response.status)
            return None
        obj = parse_json(response.body, uri)
        parsed = parse_activity(
            obj, tags=ctx.tags, source=spec.url, fetched_at=ctx.now(), fetched_from=response.url
        )
    except (FetchError, ParseError) as e:
        log.info("%s: skipped: %s", uri, e.message)
        return None
    if parsed.post is not None and _host_key(parsed.post.uri) != _host_key(response.url):
        # The document must come from the server its id names, or anyone could answer
        # for anyone's post.
        log.info("%s: answered with an object of another server; skipped", uri)
        return None
    return None if parsed.needs_fetch is not None else parsed
