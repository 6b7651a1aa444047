"""The items bsarchive archives, as immutable values.

Sources build these from foreign payloads; ``archive.py`` passes them to ``bsarchive.store``;
exports read rows back out. This module holds data only: no network, no SQL, no parsing.

All datetimes are timezone-aware UTC. Sequences are tuples so every model is hashable and
safe to share between threads.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Kind = Literal["post", "reaction", "comment"]
KINDS: tuple[Kind, ...] = ("post", "reaction", "comment")

# Where an item came from; stored as posts.source and exported as the `source` column.
SourceKind = Literal["mastodon", "rss", "activitypub", "twitter", "blog"]


def normalise_tag(name: str) -> str:
    """The stored form of a tag: NFKC, case-folded, trimmed, without leading ``#``.

    ``"#BsnOpen"``, ``"bsnopen"`` and the full-width ``"＃ＢＳＮｏｐｅｎ"`` all give
    ``"bsnopen"`` (DESIGN: tags are matched case-insensitively and Unicode-normalised).
    One rule for every source and for ``--tag``.
    """
    if name.isascii():
        return name.strip().lstrip("#").lower()
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded.strip().lstrip("#").strip()


def category_tag(term: str) -> str:
    """A feed category (or a tag asked for by ``--tag`` on an export) as a stored tag:
    :func:`normalise_tag`, inner whitespace as ``-`` (the slug form WordPress uses), so
    space-separated exports stay unambiguous: ``"Big Society"`` -> ``"big-society"``."""
    return "-".join(normalise_tag(term).split())


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive input is taken to be UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """Format as ISO 8601 UTC with milliseconds and ``Z``: ``2010-06-29T18:30:00.000Z``.

    One fixed width keeps the stored text sortable as a string.
    """
    if dt is None:
        return None
    if dt.tzinfo is not UTC:
        dt = utc(dt)
    # isoformat is C code, twice as fast as strftime, and pads years before 1000 to four
    # digits (strftime gives "1-01-01"), which the fixed width needs.
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class Author:
    """A person or account. ``handle`` is ``@user@host`` for fediverse accounts,
    ``@user`` for Twitter, or a blog author's name."""

    handle: str
    name: str = ""
    url: str | None = None
    uri: str | None = None
    bio: str = ""
    bot: bool = False
    # What the account said about being found, as the server reported it (None = not
    # reported). ``noindex`` is an opt-out; ``indexable`` (search) and ``discoverable``
    # (profile directory) are opt-ins, false or null for most accounts (PROTOCOL.md §6).
    noindex: bool | None = None
    indexable: bool | None = None
    discoverable: bool | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One place an item was seen: a source, the id it had there, and its link there."""

    source: str  # e.g. "mastodon.social", a feed URL, an outbox URL
    local_id: str | None
    url: str | None
    fetched_at: datetime
    fetched_from: str  # the request URL the item came in


@dataclass(frozen=True, slots=True)
class Post:
    """A microblog post, keyed by its ActivityPub ``uri`` (or another global identity)."""

    uri: str
    url: str | None
    created_at: datetime
    author: Author
    content_html: str
    text: str
    sighting: Sighting
    source: SourceKind = "mastodon"
    spoiler_text: str = ""
    language: str | None = None
    visibility: str | None = None
    sensitive: bool = False
    in_reply_to_uri: str | None = None
    # Id of the parent on the instance where this was seen (the API gives no parent uri).
    in_reply_to_local_id: str | None = None
    quote_uri: str | None = None
    tags: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    # Profile web addresses of the mentioned accounts (Mastodon ``mentions[].url``): where
    # they live, which a server-relative ``acct`` does not say (``--discover``, issue 15).
    mention_urls: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    boosts: int | None = None
    replies: int | None = None
    favourites: int | None = None
    edited_at: datetime | None = None
    # Flags on doubtful data ("tz-less date", "impossible date"), space separated when stored.
    flags: tuple[str, ...] = ()
    raw: str = ""
    # Provenance: read from a TAGS sheet's row (its text may be cut, its time local), which
    # any structured copy of the tweet replaces (dedupe.merge_post).
    is_tags_row: bool = False


@dataclass(frozen=True, slots=True)
class Boost:
    """A boost/retweet/Announce: ``booster`` shared the post ``post_uri``."""

    uri: str  # the boost's own identity (activity uri / retweet url)
    post_uri: str
    booster: Author
    created_at: datetime
    sighting: Sighting
    raw: str = ""
    # Provenance: a TAGS sheet's retweet, a boost guessed from its text ('RT @x: …') that
    # names only the original's author; a structured copy says what it really is.
    is_tags_row: bool = False


@dataclass(frozen=True, slots=True)
class Deletion:
    """The post ``uri`` was deleted (404/410/Tombstone) as seen by ``sighting``."""

    uri: str
    sighting: Sighting


@dataclass(frozen=True, slots=True)
class Reaction:
    """A blog post or article reacting to the event, keyed by its canonical URL."""

    url: str
    fetched_at: datetime
    fetched_from: str
    title: str = ""
    author: str = ""
    published_at: datetime | None = None
    site_name: str = ""
    language: str | None = None
    excerpt: str = ""
    comments_feed: str | None = None
    # The comment count the blog states (feed thr:total / slash:comments, or the page),
    # which may exceed the comments archived (truncated feeds, platforms without one).
    comment_count: int | None = None
    # The URL as first linked, before canonicalisation.
    original_url: str | None = None
    # Post uris that linked here.
    linked_from: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a reaction, from its comment feed. ``uri`` is the guid or link."""

    uri: str
    reaction_url: str
    fetched_at: datetime
    fetched_from: str
    url: str | None = None
    author: str = ""
    created_at: datetime | None = None
    text: str = ""
    content_html: str = ""
    in_reply_to: str | None = None
    flags: tuple[str, ...] = ()
    raw: str = ""


Item = Post | Boost | Deletion | Reaction | Comment


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a source stopped, stored per source and committed with the page it covers.

    For Mastodon tag timelines: ``newest`` is the newest id of the contiguous stored range
    (the forward ``min_id``), ``oldest`` the oldest id reached by the backfill (the next
    ``max_id``), ``backfill_done`` whether the backfill reached ``--since`` or the end.
    For feeds and outboxes: ``etag`` / ``last_modified`` for conditional GET, ``newest`` the
    newest item id seen.
    """

    newest: str | None = None
    oldest: str | None = None
    backfill_done: bool = False
    etag: str | None = None
    last_modified: str | None = None
    # Earliest time the source may be fetched again (Cache-Control / Retry-After).
    not_before: datetime | None = None
    gone: bool = False
    # Not stored: filled in by the run from the archive. For a tag timeline, the id a few
    # stored posts below ``newest`` where the catch-up starts, to read late deliveries.
    lookback: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One unit of work from a source: items plus the cursor valid once they are stored.

    ``archive.py`` stores the items and the cursor in one transaction, so a run killed at any
    instant loses nothing and repeats nothing.
    """

    source_key: str
    items: tuple[Item, ...]
    cursor: Cursor
    requests: int = 1
    # Items seen but not stored (outside the window, opted out), for the summary.
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A configured source: what to fetch and the key its cursor is stored under."""

    kind: Literal["mastodon", "feed", "outbox"]
    url: str  # base URL of the instance, or the feed/outbox URL
    tag: str | None = None  # for per-tag sources
    token: str | None = field(default=None, repr=False)
    # Found by --discover rather than configured: its URLs are untrusted (address guard).
    discovered: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.url}" + (f"#{self.tag}" if self.tag else "")


@dataclass(frozen=True, slots=True)
class SourceResult:
    """How one source did in one run; a failure is a value, not an abort."""

    key: str
    new: int = 0
    updated: int = 0
    requests: int = 0
    error: str | None = None
    waited: float = 0.0
    finished_at: datetime | None = None
