"""What the live wall reads (``watch --serve``): the newest posts, posts per minute over a
window, the latest reactions. Each query reads what the wall shows and no more (a LIMIT,
or an index range on ``posts.created_at``), so a render costs the same on a 100-post and
a 1,000,000-post archive."""

from __future__ import annotations

from datetime import UTC, datetime

from bsarchive.models import iso
from bsarchive.store._base import StoreBase, _errors
from bsarchive.store._export import (
    _ARCHIVED_POST_SELECT,
    _ARCHIVED_REACTION_SELECT,
    ArchivedPost,
    ArchivedReaction,
    _archived_post,
    _archived_reaction,
)


class WallMixin(StoreBase):
    """Bounded reads for the live wall."""

    def newest_posts(self, limit: int) -> list[ArchivedPost]:
        """The ``limit`` newest posts not deleted, newest first (ties by uri, descending)."""
        sql = (
            f"{_ARCHIVED_POST_SELECT} WHERE p.deleted_at IS NULL"
            " ORDER BY p.created_at DESC, p.uri DESC LIMIT ?"
        )
        with _errors("read newest posts", self.path):
            return [_archived_post(r) for r in self.db.execute(sql, (max(0, limit),))]

    def posts_per_minute(self, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
        """(minute, posts created in it) for the minutes of [``since``, ``until``) that
        have posts, deleted ones left out, oldest first; each minute aware UTC."""
        # Stored times are iso(): "YYYY-MM-DDTHH:MM:SS.mmmZ", so the first 16 characters
        # are the minute.
        sql = (
            "SELECT substr(created_at, 1, 16) AS m, count(*) FROM posts"
            " WHERE created_at >= ? AND created_at < ? AND deleted_at IS NULL"
            " GROUP BY m ORDER BY m"
        )
        with _errors("read posts per minute", self.path):
            rows = self.db.execute(sql, (iso(since), iso(until))).fetchall()
        return [(datetime.fromisoformat(m).replace(tzinfo=UTC), n) for m, n in rows]

    def wall_counts(self) -> tuple[int, int, int]:
        """Posts, people (their authors) and reactions in the archive: the numbers of
        :meth:`archive_counts` the wall shows, without the ones that read every post."""
        sql = (
            "SELECT (SELECT count(*) FROM posts), (SELECT count(DISTINCT author_id) FROM posts),"
            " (SELECT count(*) FROM reactions)"
        )
        with _errors("read counts", self.path):
            posts, people, reactions = self.db.execute(sql).fetchone()
        return int(posts), int(people), int(reactions)

    def latest_reactions(self, limit: int) -> list[ArchivedReaction]:
        """The ``limit`` latest reactions by publication, the latest first (ties by url,
        descending), then undated ones by url."""
        sql = (
            f"{_ARCHIVED_REACTION_SELECT} ORDER BY r.published_at IS NULL,"
            " r.published_at DESC, CASE WHEN r.published_at IS NULL THEN r.url END, r.url DESC"
            " LIMIT ?"
        )
        with _errors("read latest reactions", self.path):
            return [_archived_reaction(r) for r in self.db.execute(sql, (max(0, limit),))]
