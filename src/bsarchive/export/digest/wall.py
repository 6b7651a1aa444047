"""The live wall's view (``bsarchive watch --serve``): the newest posts first, the posts
per minute over the last hours and the latest reactions, from :class:`WallData` (the
store's bounded wall queries), through the digest's sanitiser, post and reaction views
and chart.

Pure and deterministic: ``now`` is a parameter, never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bsarchive.export.digest.chart import _datetime, minute_series
from bsarchive.export.digest.model import ThreadNode, WallCounts, WallData
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
    counts: WallCounts
    posts: list[_PostView]
    buckets: list[tuple[datetime, int]]
    last_minutes: int  # posts in the chart's window
    hours: int
    reactions: list[_ReactionView]


def wall_page(
    data: WallData, *, now: datetime, hours: int = WALL_HOURS, images: bool = False
) -> _WallPage:
    """Shape what the wall shows, as the wall queries chose it (:class:`WallData`: the
    newest posts first, the latest reactions first): the chart is ``data.per_minute``
    laid over the ``hours`` up to ``now``."""
    viewer = _Viewer("minute", images=images, with_html=True)
    buckets = minute_series(data.per_minute, now, hours * 60)
    return _WallPage(
        title=data.title,
        tags=tuple(data.tags),
        generated=_datetime(now.astimezone(UTC)),
        generated_iso=_iso(now),
        counts=data.counts,
        posts=[viewer.view(ThreadNode(p, ()), None, full=True) for p in data.posts],
        buckets=buckets,
        last_minutes=sum(n for _, n in buckets),
        hours=hours,
        reactions=[reaction_view(r) for r in data.reactions],
    )
