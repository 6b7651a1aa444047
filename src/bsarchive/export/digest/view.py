"""The view model both renderers share: each post, reaction and comment as the strings a
page shows (escaping and sanitising already decided), plus the one-line and shortened
forms of text.

Pure and deterministic: no clock, no network, no database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from bsarchive.export.digest.chart import Bucket, _clock, _date, _datetime, _plural
from bsarchive.export.digest.model import (
    DigestCounts,
    DigestData,
    DigestPost,
    DigestReaction,
    ThreadNode,
    Voice,
)
from bsarchive.export.digest.sanitize import safe_url, sanitize_html
from bsarchive.text import shorten

# Threads with at least this many replies fold them into <details>.
LONG_THREAD_REPLIES = 5
# Posts beyond the first `page_size` are summarised: plain text cut to this many characters.
SUMMARY_CHARS = 140
# Title length for feed entries and similar one-line uses.
TITLE_CHARS = 80
# --- view model shared by both renderers ------------------------------------------------


def _anchor(uri: str) -> str:
    return "p-" + hashlib.blake2b(uri.encode("utf-8", "replace"), digest_size=6).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(text.split())


# A comment under a reaction is shown up to this many characters (its blog has the rest).
COMMENT_CHARS = 280
# Comments shown under each reaction, the earliest first.
COMMENTS_SHOWN = 3


_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class _PostView:
    post: DigestPost
    anchor: str
    href: str | None
    when: str
    when_iso: str
    lang: str | None
    content: Markup  # sanitised HTML; empty for summarised or deleted posts
    summary: str  # plain text cut to SUMMARY_CHARS
    footer: tuple[str, ...]  # plain-text facts: counts, where seen, cross-posts
    replies: tuple[_PostView, ...]
    size: int
    folded: bool  # a thread's replies folded into <details>


@dataclass(frozen=True, slots=True)
class _Group:
    label: str
    when_iso: str
    count: int
    full: tuple[_PostView, ...]
    summarised: tuple[_PostView, ...]
    summarised_count: int


@dataclass(frozen=True, slots=True)
class _LinkView:
    url: str
    href: str | None
    count: int


@dataclass(frozen=True, slots=True)
class _CommentView:
    author: str
    when: str | None
    when_iso: str | None
    text: str  # shortened to COMMENT_CHARS


@dataclass(frozen=True, slots=True)
class _ReactionView:
    reaction: DigestReaction
    href: str | None
    when: str | None
    when_iso: str | None
    comments: tuple[_CommentView, ...] = ()


@dataclass(frozen=True, slots=True)
class _Page:
    title: str
    tags: tuple[str, ...]
    window: str
    window_start_iso: str | None
    window_end_iso: str | None
    generated: str | None
    generated_iso: str | None
    counts: DigestCounts
    size: Bucket
    buckets: list[tuple[datetime, int]]
    voices: list[Voice]
    links: list[_LinkView]
    boosted: list[_PostView]
    reactions: list[_ReactionView]
    groups: list[_Group]
    shown: int
    summarised: int
    omitted: int
    total: int


class _Viewer:
    """Builds post views; sanitises each post's HTML at most once."""

    def __init__(self, size: Bucket, *, images: bool, with_html: bool) -> None:
        self.size = size
        self.images = images
        self.with_html = with_html
        self.cache: dict[str, Markup] = {}

    def content(self, post: DigestPost) -> Markup:
        if post.deleted or not self.with_html:
            return Markup("")
        cached = self.cache.get(post.uri)
        if cached is None:
            # sanitize_html's output is safe HTML by construction.
            cached = Markup(sanitize_html(post.content_html, images=self.images))
            self.cache[post.uri] = cached
        return cached

    def when(self, post: DigestPost, group: datetime | None) -> str:
        moment = post.created_at.astimezone(UTC)
        same_day = group is not None and moment.date() == group.date()
        if self.size in ("hour", "day") and same_day:
            return _clock(moment)
        return _datetime(moment)

    def view(
        self, node: ThreadNode, group: datetime | None, *, full: bool, depth: int = 0
    ) -> _PostView:
        post = node.post
        replies = tuple(
            self.view(reply, group, full=full, depth=depth + 1) for reply in node.replies
        )
        size = 1 + sum(reply.size for reply in replies)
        lang = post.language if post.language and _LANG.fullmatch(post.language) else None
        return _PostView(
            post=post,
            anchor=_anchor(post.uri),
            href=safe_url(post.url),
            when=self.when(post, group),
            when_iso=_iso(post.created_at),
            lang=lang,
            content=self.content(post) if full else Markup(""),
            summary="" if post.deleted else shorten(post.text, SUMMARY_CHARS),
            footer=_footer(post) if full else (),
            replies=replies,
            size=size,
            folded=full and depth == 0 and size - 1 >= LONG_THREAD_REPLIES,
        )


def reaction_view(r: DigestReaction) -> _ReactionView:
    """A reaction as the digest and the wall show it, with its first comments."""
    return _ReactionView(
        reaction=r,
        href=safe_url(r.url),
        when=_date(r.published_at.astimezone(UTC)) if r.published_at else None,
        when_iso=_iso(r.published_at) if r.published_at else None,
        comments=tuple(
            _CommentView(
                author=c.author or "Anonymous",
                when=_datetime(c.created_at) if c.created_at else None,
                when_iso=_iso(c.created_at) if c.created_at else None,
                text=shorten(c.text, COMMENT_CHARS),
            )
            for c in r.comments
        ),
    )


def _footer(post: DigestPost) -> tuple[str, ...]:
    parts = [_stats(post)] if _stats(post) else []
    if post.seen_on:
        parts.append("seen on " + ", ".join(post.seen_on))
    if post.also_posted_by:
        parts.append("also posted by " + ", ".join(post.also_posted_by))
    return tuple(parts)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(data: DigestData, posts: Sequence[DigestPost]) -> tuple[str, str | None, str | None]:
    start = data.since if data.since is not None else (posts[0].created_at if posts else None)
    end = data.until if data.until is not None else (posts[-1].created_at if posts else None)
    if start is None or end is None:
        return ("no posts", None, None)
    text = f"{_datetime(start)} \u2013 {_datetime(end)}"
    if data.since is None and data.until is None:
        text += " (first to last post)"
    return (text, _iso(start), _iso(end))


def _stats(post: DigestPost) -> str:
    parts = []
    if post.boosts:
        parts.append(_plural(post.boosts, "boost"))
    if post.replies:
        parts.append(_plural(post.replies, "reply", "replies"))
    if post.favourites:
        parts.append(_plural(post.favourites, "favourite"))
    return ", ".join(parts)
