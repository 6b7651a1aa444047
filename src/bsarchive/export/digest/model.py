"""The digest's input: plain values the store's digest query fills (posts, reactions,
comments, counts, voices, links).

Data only: no rendering, no database, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

# --- input types ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestPost:
    """One post as the digest shows it; ``created_at`` is aware UTC."""

    uri: str
    url: str | None
    created_at: datetime
    author: str  # "@alice@example.social"
    author_name: str
    content_html: str  # remote HTML, sanitised here
    text: str  # plain text of the content
    tags: tuple[str, ...]
    links: tuple[str, ...]
    in_reply_to: str | None  # parent uri
    boosts: int
    replies: int
    favourites: int
    seen_on: tuple[str, ...]  # sources/instances where it was seen
    deleted: bool
    edited: bool
    also_posted_by: tuple[str, ...] = ()  # near-duplicates by other accounts
    spoiler_text: str = ""  # content warning
    language: str | None = None  # BCP 47 tag as the server reported it


@dataclass(frozen=True, slots=True)
class DigestComment:
    """A comment on a reaction (plain text, from its blog's comment feed)."""

    author: str
    created_at: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class DigestReaction:
    """A blog post or article reacting to the event."""

    url: str
    title: str
    author: str
    site_name: str
    published_at: datetime | None
    excerpt: str  # plain text
    comment_count: int
    linked_from_count: int
    tags: tuple[str, ...] = ()
    # The first comments, oldest first (``comment_count`` says how many in all).
    comments: tuple[DigestComment, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestCounts:
    """Headline numbers for the whole window."""

    posts: int
    people: int
    instances: int
    reactions: int
    comments: int
    boosts: int


class Voice(NamedTuple):
    """A top voice: handle, display name and how many posts."""

    author: str
    author_name: str
    posts: int


@dataclass(frozen=True, slots=True)
class DigestData:
    """Everything a digest shows; the store's digest query builds it."""

    title: str
    tags: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    posts: Sequence[DigestPost]  # oldest first (re-sorted defensively)
    reactions: Sequence[DigestReaction]
    counts: DigestCounts
    top_voices: Sequence[tuple[str, str, int]]  # (author, author_name, posts), best first
    top_links: Sequence[tuple[str, int]]  # (url, shares), best first
    generated_at: datetime | None = None


class WallCounts(NamedTuple):
    """The live wall's headline numbers, for the whole archive."""

    posts: int
    people: int
    reactions: int


@dataclass(frozen=True, slots=True)
class WallData:
    """What the live wall shows, each part as bounded as the screen: the store's wall
    queries fill it without reading the whole archive."""

    title: str
    tags: tuple[str, ...]
    posts: Sequence[DigestPost]  # the newest, not deleted, newest first
    per_minute: Sequence[tuple[datetime, int]]  # (minute, posts) of the chart's window
    reactions: Sequence[DigestReaction]  # the latest, in the order shown
    counts: WallCounts


class ThreadNode(NamedTuple):
    """A post and its replies (oldest first), as :func:`thread` arranges them."""

    post: DigestPost
    replies: tuple[ThreadNode, ...]

    @property
    def size(self) -> int:
        """Posts in this subtree, this one included."""
        return 1 + sum(reply.size for reply in self.replies)
