"""The live wall's view (``bsarchive watch --serve``): the newest posts first, the posts
per minute over the last hours and the latest reactions, from the same :class:`DigestData`
the digest reads, through the same sanitiser, post and reaction views and chart.

Pure and deterministic: ``now`` is a parameter, never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bsarchive.export.digest.chart import _datetime, minute_counts
from bsarchive.export.digest.model import DigestCounts, DigestData, ThreadNode
from bsarchive.export.digest.view import (
    _iso,
    _PostView,
    _ReactionView,
    _Viewer,
    reaction_view,
)

# Posts the wall shows, newest first (a screen in the room, not an archive).
WALL_POSTS = 30
# Reactions the wall shows, the latest first.
WALL_REACTIONS = 8
# The chart covers this many hours, one bar per minute, ending at ``now``.
WALL_HOURS = 3


@dataclass(frozen=True, slots=True)
class _WallPage:
    title: str
    tags: tuple[str, ...]
    generated: str
    generated_iso: str
    counts: DigestCounts
    posts: list[_PostView]
    buckets: list[tuple[datetime, int]]
    last_minutes: int  # posts in the chart's window
    hours: int
    reactions: list[_ReactionView]


def wall_page(
    data: DigestData,
    *,
    now: datetime,
    hours: int = WALL_HOURS,
    posts: int = WALL_POSTS,
    reactions: int = WALL_REACTIONS,
    images: bool = False,
) -> _WallPage:
    """Choose and shape what the wall shows: deleted posts are left off the screen;
    posts newest first (ties by uri, so the page is deterministic); reactions by
    publication, the latest first, undated ones last."""
    live = [p for p in data.posts if not p.deleted]
    newest = sorted(live, key=lambda p: (p.created_at, p.uri), reverse=True)[: max(0, posts)]
    viewer = _Viewer("minute", images=images, with_html=True)
    buckets = minute_counts((p.created_at for p in live), now, hours * 60)
    dated = sorted(
        (r for r in data.reactions if r.published_at is not None),
        key=lambda r: (r.published_at, r.url),
        reverse=True,
    )
    undated = sorted((r for r in data.reactions if r.published_at is None), key=lambda r: r.url)
    return _WallPage(
        title=data.title,
        tags=tuple(data.tags),
        generated=_datetime(now.astimezone(UTC)),
        generated_iso=_iso(now),
        counts=data.counts,
        posts=[viewer.view(ThreadNode(p, ()), None, full=True) for p in newest],
        buckets=buckets,
        last_minutes=sum(n for _, n in buckets),
        hours=hours,
        reactions=[reaction_view(r) for r in [*dated, *undated][: max(0, reactions)]],
    )
