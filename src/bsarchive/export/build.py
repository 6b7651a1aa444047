"""Read the archive and feed the pure renderers: the digest (HTML, Markdown) and Atom.

The glue between ``store`` and ``digest``/``atom``, which must not import the store: this
module turns store rows into :class:`DigestData` and :class:`AtomEntry` values and writes
the rendered text. Never touches the network, never writes to the archive, and reads no
clock: the caller passes ``generated_at`` only when asked, so the same archive gives
byte-identical files.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal, TextIO

from bsarchive.errors import ConfigError
from bsarchive.export.atom import AtomEntry, entry_from_post, entry_from_reaction, render_atom
from bsarchive.export.digest import (
    COMMENTS_SHOWN,
    TOP_N,
    WALL_HOURS,
    WALL_POSTS,
    WALL_REACTIONS,
    DigestComment,
    DigestCounts,
    DigestData,
    DigestPost,
    DigestReaction,
    WallCounts,
    WallData,
    render_html,
    render_markdown,
)
from bsarchive.export.digest.chart import minute_window
from bsarchive.store import (
    ArchivedComment,
    ArchivedPost,
    ArchivedReaction,
    ExportFilter,
    Store,
    collapse_near_duplicates,
)
from bsarchive.urls import article_key

DigestFormat = Literal["markdown", "html"]
DIGEST_FORMATS: tuple[DigestFormat, ...] = ("markdown", "html")
# An empty archive's feed still needs an atom:updated (RFC 4287 4.1.1); the epoch keeps the
# file stable instead of stamping "now".
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)


def digest_format(fmt: str | None, output: str) -> DigestFormat:
    """The ``--format`` asked for, else ``html`` when ``output`` ends in .html/.htm, else
    ``markdown``.

    Raises:
        ConfigError: ``fmt`` is not markdown or html.
    """
    if fmt is None:
        return "html" if output.lower().endswith((".html", ".htm")) else "markdown"
    name = fmt.lower()
    if name in ("md", "markdown"):
        return "markdown"
    if name == "html":
        return "html"
    raise ConfigError("--format", f"{fmt!r} is not one of markdown, html")


def default_title(title: str, tags: Sequence[str]) -> str:
    """``title`` if set, else the tags as ``#tag1 #tag2``, else ``bsarchive``."""
    if title.strip():
        return title.strip()
    return " ".join(f"#{tag}" for tag in tags) or "bsarchive"


def _post(row: ArchivedPost) -> DigestPost:
    return DigestPost(
        uri=row.uri,
        url=row.url,
        created_at=row.created_at,
        author=row.author,
        author_name=row.author_name,
        content_html=row.content_html,
        text=row.text,
        tags=row.tags,
        links=row.links,
        in_reply_to=row.in_reply_to,
        boosts=row.boosts,
        replies=row.replies,
        favourites=row.favourites,
        seen_on=row.seen_on,
        deleted=row.deleted,
        edited=row.edited,
        spoiler_text=row.spoiler_text,
        language=row.language,
    )


def _reaction(row: ArchivedReaction, comments: Sequence[ArchivedComment] = ()) -> DigestReaction:
    return DigestReaction(
        url=row.url,
        title=row.title,
        author=row.author,
        site_name=row.site_name,
        published_at=row.published_at,
        excerpt=row.excerpt,
        comment_count=row.comment_count,
        linked_from_count=row.linked_from_count,
        tags=row.tags,
        comments=tuple(DigestComment(c.author, c.created_at, c.text) for c in comments),
    )


def merge_link_variants(links: Sequence[tuple[str, int]], *, top: int) -> list[tuple[str, int]]:
    """Count utm/http(s)/trailing-slash variants of one article as one link (its most
    shared spelling is shown), most shared first."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for url, count in links:
        groups.setdefault(article_key(url), []).append((url, count))
    merged = [
        (max(variants, key=lambda v: (v[1], -len(v[0])))[0], sum(c for _, c in variants))
        for variants in groups.values()
    ]
    return sorted(merged, key=lambda item: (-item[1], item[0]))[:top]


def digest_data(
    store: Store,
    flt: ExportFilter,
    *,
    title: str,
    tags: Sequence[str],
    generated_at: datetime | None = None,
) -> DigestData:
    """Everything the digest shows for the filter, read from one snapshot.

    Holds every selected post in memory (the renderer threads and groups them); a
    10,000-post archive is a few tens of MB.
    """
    with store.snapshot():
        # Cross-posts and copy-pasted texts are shown once, "also posted by" the others;
        # the archive keeps every copy (issue 8).
        dups = store.near_duplicates(flt)
        posts = [
            replace(post, also_posted_by=dups.also_posted_by.get(post.uri, ()))
            for post in (_post(row) for row in store.iter_archived_posts(flt))
            if post.uri not in dups.hidden
        ]
        comments = store.first_comments(COMMENTS_SHOWN)
        reactions = [
            _reaction(row, comments.get(row.url, ())) for row in store.iter_archived_reactions(flt)
        ]
        c = store.archive_counts(flt)
        voices = store.top_voices(flt, top=TOP_N)
        links = merge_link_variants(store.top_links(flt, top=TOP_N * 20), top=TOP_N)
    return DigestData(
        title=title,
        tags=tuple(tags),
        since=flt.since,
        until=flt.until,
        posts=posts,
        reactions=reactions,
        counts=DigestCounts(
            posts=c.posts,
            people=c.people,
            instances=c.instances,
            reactions=c.reactions,
            comments=c.comments,
            boosts=c.boosts,
        ),
        top_voices=voices,
        top_links=links,
        generated_at=generated_at,
    )


def wall_data(
    store: Store,
    *,
    title: str,
    tags: Sequence[str],
    now: datetime,
    hours: int = WALL_HOURS,
    posts: int = WALL_POSTS,
    reactions: int = WALL_REACTIONS,
) -> WallData:
    """What the live wall shows, from one snapshot, reading only that: the ``posts``
    newest posts (near-duplicates among them shown once, "also posted by" the others, as
    in the digest), posts per minute over the ``hours`` up to ``now``, the ``reactions``
    latest reactions with their first comments, the totals."""
    start, stop = minute_window(now, hours * 60)
    with store.snapshot():
        # Twice as many as shown: room for the copies near-duplicates hide.
        rows = store.newest_posts(2 * posts)
        per_minute = store.posts_per_minute(start, stop)
        latest = store.latest_reactions(reactions)
        comments = store.first_comments(COMMENTS_SHOWN, [r.url for r in latest])
        counts = WallCounts(*store.wall_counts())
    # Clustered oldest first, as the digest does: the first copy shows, later ones hide.
    dups = collapse_near_duplicates([(r.uri, r.author, r.text) for r in reversed(rows)])
    shown = [
        replace(_post(row), also_posted_by=dups.also_posted_by.get(row.uri, ()))
        for row in rows
        if row.uri not in dups.hidden
    ]
    return WallData(
        title=title,
        tags=tuple(tags),
        posts=shown[:posts],
        per_minute=per_minute,
        reactions=[_reaction(r, comments.get(r.url, ())) for r in latest],
        counts=counts,
    )


def write_digest(
    store: Store,
    out: TextIO,
    flt: ExportFilter,
    *,
    fmt: DigestFormat,
    title: str,
    tags: Sequence[str],
    images: bool = False,
    generated_at: datetime | None = None,
) -> int:
    """Render the digest as ``fmt`` into ``out``; return the number of posts in it."""
    data = digest_data(store, flt, title=title, tags=tags, generated_at=generated_at)
    text = render_html(data, images=images) if fmt == "html" else render_markdown(data)
    out.write(text)
    return len(data.posts)


def _atom_entries(store: Store, flt: ExportFilter) -> Iterator[AtomEntry]:
    """Posts and reactions merged by time, oldest first, streamed."""
    posts = (
        (row.created_at, 0, row.uri, entry_from_post(_post(row)))
        for row in store.iter_archived_posts(flt)
    )
    reactions = (
        (row.seen_at, 1, row.url, entry_from_reaction(_reaction(row)))
        for row in store.iter_archived_reactions(flt)
    )
    for *_, entry in heapq.merge(posts, reactions, key=lambda item: item[:3]):
        yield entry


def write_atom(store: Store, out: TextIO, flt: ExportFilter, *, title: str) -> int:
    """Write the selected posts and reactions as one Atom feed; return the entry count.

    The feed's id comes from its title and its ``updated`` is the newest item, so two
    exports of the same archive are identical.
    """
    count = 0
    with store.snapshot():
        updated = store.latest_time(flt) or EMPTY_FEED_UPDATED
        chunks = render_atom(
            _atom_entries(store, flt), feed_id=f"bsarchive {title}", title=title, updated=updated
        )
        for chunk in chunks:
            out.write(chunk)
            count += chunk.startswith("<entry>")
    return count
