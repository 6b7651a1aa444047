"""Mastodon-API hashtag timelines: ``GET /api/v1/timelines/tag/:tag`` (PROTOCOL.md §1).

One source per (instance, tag). A fresh source backfills from the newest status down to
``--since`` (or the end) by ``max_id``; later runs catch up gap-free with ``min_id`` from the
newest stored id, and resume an unfinished backfill from the oldest stored id. Every page is
yielded with the cursor that becomes true once it is stored.

Ids are per-instance opaque strings (snowflakes, flake ids, ULIDs): they are only ever sent
back to the server that issued them, never compared here. The ``Link`` header supplies the
next ``max_id``/``min_id``; its URL is not followed as is, since Mastodon drops unknown
params from it (PROTOCOL.md §1), and a Link to another host ends the source.

No database access; parsing lives in :mod:`bsarchive.sources.mastodon_parse`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson

from bsarchive.errors import AuthRequiredError, FeedsDisabledError, FetchError, ParseError
from bsarchive.http import Http, Response
from bsarchive.models import Cursor, Deletion, Item, Page, Sighting, SourceSpec
from bsarchive.sources import FetchContext
from bsarchive.sources.mastodon_parse import parse_status, web_url

log = logging.getLogger(__name__)

# Documented maximum page size for timelines (doc methods/timelines.md: default 20, max 40).
PAGE_LIMIT = 40
# A page this short is the top of the timeline: no server caps its pages below the
# documented default of 20 (Mastodon, Pleroma/Akkoma, GoToSocial: 20 by default, 40 max).
FULL_PAGE = 20
# Stored posts a catch-up looks back below the newest: late deliveries among them are read
# by the catch-up's own first request (half a page, so a run with nothing new is one
# request, as for a client catching up from the newest id alone).
LOOKBACK = 10
TOKEN_HINT = (
    "this server requires a token for its hashtag timeline: set BSARCHIVE_MASTODON_TOKEN "
    "or token/token_env for this instance in the config file"
)


def tag_url(base: str, tag: str, **params: str) -> str:
    query = urlencode({"limit": str(PAGE_LIMIT), **params})
    return f"{base}/api/v1/timelines/tag/{quote(tag, safe='')}?{query}"


def status_url(base: str, local_id: str) -> str:
    """The API URL of status ``local_id`` on ``base``."""
    return f"{base}/api/v1/statuses/{quote(local_id, safe='')}"


def decode_json(body: bytes, subject: str, what: str) -> object:
    """Decode JSON; invalid UTF-8 and lone surrogates are replaced, not fatal (servers do
    send them), but anything else malformed is a ParseError."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if "UTF-8" not in str(e) and "surrogate" not in str(e):
            raise ParseError(subject, f"malformed JSON in {what}: {e}") from e
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as e:
        raise ParseError(subject, f"malformed JSON in {what}: {e}") from e
    # Lone surrogates survive json.loads; SQLite would refuse them later.
    text = json.dumps(data, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
    return orjson.loads(text)


def _decode_statuses(response: Response, subject: str) -> tuple[list[dict[str, object]], int]:
    """The statuses of a timeline page and how many entries were not objects; ParseError
    naming what came back instead of a JSON array."""
    body = response.body
    if response.content_type in ("text/html", "application/xhtml+xml") or body.lstrip()[:1] == b"<":
        raise ParseError(
            subject,
            f"expected JSON, got {response.content_type or 'HTML'} "
            "(a login, maintenance or bot-challenge page?)",
        )
    data = decode_json(body, subject, "timeline page")
    if not isinstance(data, list):
        if isinstance(data, dict) and "error" in data:
            raise FetchError(subject, f"server error: {str(data['error'])[:200]}")
        raise ParseError(subject, "expected a JSON array of statuses")
    statuses = [s for s in data if isinstance(s, dict)]
    if len(statuses) < len(data):
        log.warning(
            "%s: skipping %d entries that are not statuses", subject, len(data) - len(statuses)
        )
    return statuses, len(data) - len(statuses)


def _link_param(response: Response, rel: str, param: str, base: str, subject: str) -> str | None:
    url = response.links.get(rel)
    if url is None:
        return None
    if urlsplit(url).netloc.lower() != urlsplit(base).netloc.lower():
        raise ParseError(
            subject,
            f"Link header points to another host ({urlsplit(url).netloc}); refusing to follow",
        )
    values = parse_qs(urlsplit(url).query).get(param)
    return values[0] if values else None


def _get_page(
    client: Http, spec: SourceSpec, subject: str, scope: dict[str, str], **params: str
) -> tuple[Response, list[dict[str, object]], int]:
    """One page of the tag timeline. ``scope`` holds the parameters every request of this
    source's run carries: ``local=true`` once the server said remote posts need a login."""
    assert spec.tag is not None

    def get(**extra: str) -> Response:
        url = tag_url(spec.url, spec.tag or "", **extra, **params)
        try:
            return client.get(
                url, accept="application/json", same_host_only=True, untrusted=spec.discovered
            )
        except FetchError as e:
            raise e.with_subject(subject) from e

    response = get(**scope)
    if response.status == 401 and not scope and not client.has_token(spec.url):
        # A server showing its own posts but not remote ones to anonymous readers answers
        # 401 unless asked for local posts only (PROTOCOL.md §1): keep that slice.
        local = get(local="true")
        if local.status == 200:
            log.warning(
                "%s: this server shows remote posts to logged-in users only; archiving its"
                " local posts (a token would give the rest)",
                subject,
            )
            scope["local"] = "true"
            response = local
    # Not 422: Mastodon answers it for validation errors only (PROTOCOL.md §1).
    if response.status in (401, 403):
        raise AuthRequiredError(
            subject,
            f"HTTP {response.status}: public timeline refused",
            hint=TOKEN_HINT,
            status=response.status,
        )
    if response.status == 404:
        # Unknown tag: newer servers answer 404, older ones [] (PROTOCOL.md §1). No posts.
        return response, [], 0
    if response.status >= 400:
        raise FetchError(
            subject, f"HTTP {response.status} from the hashtag timeline", status=response.status
        )
    return response, *_decode_statuses(response, subject)


def _parse_page(
    statuses: list[dict[str, object]], spec: SourceSpec, url: str, ctx: FetchContext
) -> tuple[list[Item], int, int, datetime | None]:
    """Models for the statuses in the window; (items, skipped, malformed, newest created_at)."""
    host = urlsplit(spec.url).netloc
    now = ctx.now()
    items: list[Item] = []
    seen: set[str] = set()
    skipped = malformed = 0
    newest: datetime | None = None
    for status in statuses:
        try:
            post, boost = parse_status(status, instance=host, fetched_at=now, fetched_from=url)
        except ParseError as e:
            log.warning("%s: skipping a malformed status: %s", host, e.message)
            malformed += 1
            continue
        if newest is None or post.created_at > newest:
            newest = post.created_at
        if not ctx.in_window(post.created_at):
            skipped += 1
            continue
        if post.uri not in seen:  # the same post twice in a page (two boosts): store once
            seen.add(post.uri)
            items.append(post)
        if boost is not None:  # each boost is its own
            items.append(boost)
    return items, skipped, malformed, newest


def fetch_tag_timeline(
    client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
) -> Iterator[Page]:
    """Yield pages of one instance's tag timeline: catch-up first, then backfill.

    Raises:
        FetchError / ParseError: the source failed; pages already yielded stay valid.
    """
    subject = f"{spec.url} #{spec.tag}"
    pages = 0
    malformed = 0
    scope: dict[str, str] = {}

    # 1. Forward catch-up, gap-free: min_id returns the page just above the cursor. It
    # starts a few stored posts below the newest (``cursor.lookback``), so that a post
    # delivered late, whose id sorts below ids already read, is read by the next run at
    # no extra request; later ones are found by the re-check (``recheck_tag_timeline``).
    if cursor.newest is not None:
        min_id = cursor.lookback or cursor.newest
        while pages < ctx.max_pages and not ctx.stop.is_set():
            response, statuses, junk = _get_page(client, spec, subject, scope, min_id=min_id)
            pages += 1
            malformed += junk
            if not statuses:
                break
            items, skipped, bad, _ = _parse_page(statuses, spec, response.url, ctx)
            malformed += bad
            top = _link_param(response, "prev", "min_id", spec.url, subject) or _first_id(statuses)
            if top is None or top == min_id:
                raise ParseError(subject, "pagination does not advance (min_id repeats)")
            # A catch-up that looked back starts below the stored newest: never move it back.
            cursor = replace(cursor, newest=_later(top, cursor.newest))
            yield Page(spec.key, tuple(items), cursor, requests=response.requests, skipped=skipped)
            if len(statuses) < FULL_PAGE:
                break  # the top of the timeline: asking again would answer []
            min_id = top

    # 2. Backfill (first run, or one a previous run did not finish), by max_id.
    if not cursor.backfill_done:
        max_id = cursor.oldest
        while pages < ctx.max_pages and not ctx.stop.is_set():
            params = {"max_id": max_id} if max_id else {}
            response, statuses, junk = _get_page(client, spec, subject, scope, **params)
            pages += 1
            malformed += junk
            if not statuses:
                # An empty tag (no posts yet, or its feed off) is not a finished backfill:
                # with no newest id to catch up from, the next run starts afresh.
                cursor = replace(cursor, backfill_done=cursor.newest is not None)
                yield Page(spec.key, (), cursor, requests=response.requests)
                if cursor.newest is None:
                    _check_feed_access(client, spec, subject, response.status)
                break
            items, skipped, bad, newest_here = _parse_page(statuses, spec, response.url, ctx)
            malformed += bad
            bottom = _link_param(response, "next", "max_id", spec.url, subject) or _last_id(
                statuses
            )
            if bottom is None or bottom == max_id:
                raise ParseError(subject, "pagination does not advance (max_id repeats)")
            if cursor.newest is None:
                top = _link_param(response, "prev", "min_id", spec.url, subject) or _first_id(
                    statuses
                )
                cursor = replace(cursor, newest=top)
            # Everything on this page is older than --since: the backfill is complete.
            done = ctx.since is not None and newest_here is not None and newest_here < ctx.since
            cursor = replace(cursor, oldest=bottom, backfill_done=done)
            yield Page(spec.key, tuple(items), cursor, requests=response.requests, skipped=skipped)
            if done:
                break
            max_id = bottom
    if malformed:
        raise ParseError(subject, f"{malformed} malformed status(es) skipped; the rest were stored")


def _check_feed_access(client: Http, spec: SourceSpec, subject: str, status: int) -> None:
    """Say why a tag that never had a post is empty, when the server says its hashtag feeds
    are closed: ``configuration.timelines_access.hashtag_feeds`` in ``/api/v2/instance``
    (Mastodon 4.4+; PROTOCOL.md §1). A disabled feed answers ``200 []``, like a tag
    nobody used yet. When the timeline answered 404 (``status``) and no instance document
    answers either, the URL is no Mastodon API server (a typo, a blog): said once, not
    archived as silence for ever. Anything else unreadable here is left unsaid.

    Raises:
        FetchError: both feeds (local and remote posts) are disabled; no Mastodon API here.
        AuthRequiredError: neither is public and no token is configured for the server.
    """
    data = None
    for version in ("v2", "v1"):
        try:
            response = client.get(
                f"{spec.url}/api/{version}/instance",
                accept="application/json",
                same_host_only=True,
                untrusted=spec.discovered,
            )
            data = orjson.loads(response.body) if response.status == 200 else None
        except (FetchError, orjson.JSONDecodeError):
            data = None
        if isinstance(data, dict):
            break
    if not isinstance(data, dict):
        if status == 404:
            raise FetchError(
                subject, "no Mastodon API here (HTTP 404 for the tag and /api/v2/instance)"
            )
        return
    access: object = data
    for key in ("configuration", "timelines_access", "hashtag_feeds"):
        access = access.get(key) if isinstance(access, dict) else None
    if not isinstance(access, dict):
        return
    modes = {access.get("local"), access.get("remote")}
    if modes == {"disabled"}:
        raise FeedsDisabledError(
            subject,
            "the server has hashtag feeds turned off (timelines_access); it serves none",
        )
    if "public" not in modes and "authenticated" in modes and not client.has_token(spec.url):
        raise AuthRequiredError(
            subject, "the server shows hashtag feeds to logged-in users only", hint=TOKEN_HINT
        )


def _later(top: str, stored: str | None) -> str:
    """The newer of a catch-up page's top id and the stored newest: a catch-up that starts
    below the newest (``Cursor.lookback``, for ids of every kind) never moves it back."""
    if stored is not None and id_order(stored) > id_order(top):
        return stored
    return top


def _first_id(statuses: list[dict[str, object]]) -> str | None:
    value = statuses[0].get("id") if statuses else None
    return str(value) if value is not None else None


def _last_id(statuses: list[dict[str, object]]) -> str | None:
    value = statuses[-1].get("id") if statuses else None
    return str(value) if value is not None else None


def id_order(local_id: str) -> tuple[int, str]:
    """The sort key of a server's status id: ids are decimal strings of varying length,
    flake ids or ULIDs, all ordered by (length, text) (PROTOCOL.md §1), never by text alone."""
    return (len(local_id), local_id)


def _just_above(local_id: str) -> str | None:
    """A ``max_id`` that includes ``local_id`` itself, for numeric ids; else None (from the
    top of the timeline)."""
    return str(int(local_id) + 1) if local_id.isdigit() else None


def recheck_tag_timeline(
    client: Http,
    spec: SourceSpec,
    targets: list[tuple[str, str]],
    cursor: Cursor,
    ctx: FetchContext,
    *,
    budget: int,
) -> Iterator[Page]:
    """Re-read recently stored posts (``(uri, local id)`` on ``spec``'s server) to catch
    edits and deletions, walking the tag timeline (40 posts a request) rather than asking
    for each status, within ``budget`` requests (issue 14).

    The walk goes down from the newest target; each page's statuses are stored as read (a
    changed text becomes a new version; a post not stored yet, delivered late, is stored
    too). A target inside a page's id range but absent from it was deleted, made private
    or lost the tag: it is asked for alone, 404/410 -> :class:`Deletion`, 200 -> its
    current version. ``cursor.oldest`` is where a walk that ran out of budget stopped: the
    next run goes on from there, and starts again from the top once it reaches the end.

    Raises:
        FetchError / ParseError: the walk failed; pages already yielded stay valid.
    """
    key = recheck_key(spec)
    subject = f"{spec.url} #{spec.tag} (re-check)"
    host = urlsplit(spec.url).netloc
    order = sorted(targets, key=lambda t: id_order(t[1]), reverse=True)
    pending = order
    max_id = _just_above(order[0][1]) if order else None
    if cursor.oldest is not None:
        below = [t for t in order if id_order(t[1]) < id_order(cursor.oldest)]
        if below:  # resume; a walk that had reached the end starts again from the top
            pending, max_id = below, cursor.oldest
    scope: dict[str, str] = {}
    spent = 0
    while pending and spent < budget and not ctx.stop.is_set():
        params = {"max_id": max_id} if max_id else {}
        response, statuses, _junk = _get_page(client, spec, subject, scope, **params)
        spent += response.requests
        items, skipped, _bad, _ = _parse_page(statuses, spec, response.url, ctx)
        bottom = (
            _link_param(response, "next", "max_id", spec.url, subject) or _last_id(statuses)
            if statuses
            else None
        )
        # Targets down to this page's bottom (all of them once the timeline ends) are covered.
        covered = [t for t in pending if bottom is None or id_order(t[1]) >= id_order(bottom)]
        if bottom is not None and bottom == max_id:
            raise ParseError(subject, "pagination does not advance (max_id repeats)")
        listed = {str(s.get("id")) for s in statuses}
        missing = [t for t in covered if t[1] not in listed]
        if scope.get("local"):
            # The server lists its own posts only to anonymous readers: another server's
            # post is absent from the walk for that reason alone; ask only about its own.
            missing = [t for t in missing if urlsplit(t[0]).netloc == host]
        asked = 0
        page_requests = response.requests
        for uri, local_id in missing:
            if spent >= budget or ctx.stop.is_set():
                break
            status_items, requests = _status_now(
                client, spec.url, uri, local_id, ctx, untrusted=spec.discovered
            )
            items.extend(status_items)
            spent += requests
            page_requests += requests
            asked += 1
        if asked < len(missing):  # out of budget: the next run re-reads from the first left
            left = missing[asked][1]
            pending = [t for t in pending if id_order(t[1]) <= id_order(left)]
            stop_at = _just_above(left) or max_id
        else:
            pending = pending[len(covered) :]
            stop_at = bottom
        done = not pending
        # The walk's position is its cursor: None once it reached the end.
        yield Page(
            key,
            tuple(items),
            Cursor(oldest=None if done else stop_at),
            requests=page_requests,
            skipped=skipped,
        )
        if asked < len(missing):
            break
        max_id = bottom


# Mastodon's rate budgets (PROTOCOL.md §1): 300 requests per 5 minutes, and 300 per 15
# minutes for paging requests (max_id/min_id/since_id), which are most of a walk. The
# re-check takes at most RECHECK_SHARE of the paging budget in any window, and only while
# the server has been sent less than half of it, so catch-ups always have room.
RATE_WINDOW = timedelta(minutes=15)
RATE_BUDGET = 300
RECHECK_SHARE = 0.2


def recheck_budget(sent: int, rechecked: int, room: tuple[int, int] | None = None) -> int:
    """Requests the re-check may spend on a server now, given the requests ``sent`` to it
    in the last RATE_WINDOW (this run's included) and ``rechecked``, the re-check's own
    part of them. 60 when the server is idle: a 2,400-post event is re-read in one run.

    ``room``: (requests left, limit) of the server's paging window as the client knows it
    from its headers; a server with a smaller budget than Mastodon's documented one gets
    the same share of its own, and never more than half of what is left in the window,
    so the walk neither waits for a window nor leaves the next catch-up without room."""
    share = int(RATE_BUDGET * RECHECK_SHARE) - rechecked
    budget = min(share, RATE_BUDGET // 2 - sent)
    if room is not None:
        left, limit = room
        budget = min(budget, int(limit * RECHECK_SHARE) - rechecked, left // 2)
    return max(0, budget)


def recheck_key(spec: SourceSpec) -> str:
    """The sources row holding where the re-check of ``spec``'s posts stopped."""
    return f"recheck:{spec.url}" + (f"#{spec.tag}" if spec.tag else "")


def _status_now(
    client: Http, base: str, uri: str, local_id: str, ctx: FetchContext, *, untrusted: bool
) -> tuple[list[Item], int]:
    """One status as its server has it now: [its current version (and boost)], or
    [a Deletion] when it answers 404/410; with the requests spent. ``untrusted``: a
    discovered server, reached through the private-address guard."""
    host = urlsplit(base).netloc
    url = status_url(base, local_id)
    response = client.get(url, accept="application/json", same_host_only=True, untrusted=untrusted)
    now = ctx.now()
    if response.status in (404, 410):
        return [Deletion(uri, Sighting(host, local_id, None, now, url))], response.requests
    if response.status in (401, 403):
        raise AuthRequiredError(
            base, f"HTTP {response.status} re-reading statuses", hint=TOKEN_HINT
        )
    if response.status >= 400:
        raise FetchError(url, f"HTTP {response.status} re-reading a status")
    data = decode_json(response.body, url, "status")
    if not isinstance(data, dict):
        return [], response.requests
    post, boost = parse_status(data, instance=host, fetched_at=now, fetched_from=url)
    return [post] if boost is None else [post, boost], response.requests


def parent_uris(client: Http, base: str, local_ids: list[str]) -> dict[str, str]:
    """The uris of reply parents known only by their id on ``base`` (the API names a
    reply's parent that way): ``GET /api/v1/statuses/:id`` each. A parent that is gone,
    private or unreadable is left out; so is everything once a request fails outright."""
    found: dict[str, str] = {}
    for local_id in local_ids:
        url = status_url(base, local_id)
        try:
            response = client.get(url, accept="application/json", same_host_only=True)
        except FetchError as e:
            log.info("%s: reply parents: %s", base, e)
            break
        if response.status != 200:
            continue
        try:
            data = decode_json(response.body, url, "status")
        except ParseError:
            continue
        uri = web_url(data.get("uri")) if isinstance(data, dict) else None
        if uri is not None:
            found[local_id] = uri
    return found
