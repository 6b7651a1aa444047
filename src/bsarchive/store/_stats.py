"""``bsarchive stats``: counts, top lists, per-hour and per-instance figures, source health."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bsarchive.store._base import StoreBase, _errors


@dataclass
class Stats:
    posts: int = 0
    boosts: int = 0
    authors: int = 0
    reactions: int = 0
    comments: int = 0
    deleted: int = 0
    edited: int = 0
    first: str | None = None
    last: str | None = None
    top_authors: list[tuple[str, str, int]] = field(default_factory=list)
    top_links: list[tuple[str, int]] = field(default_factory=list)
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    per_hour: list[tuple[str, int]] = field(default_factory=list)
    per_instance: list[tuple[str, int, int]] = field(default_factory=list)
    # Servers --discover found: (host, usable, software, reason, posts seen there).
    servers: list[tuple[str, bool, str, str, int]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Every run, oldest first, as Store.runs gives them (recipe and counts).
    runs: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = 0


class StatsMixin(StoreBase):
    """The ``stats`` summary."""

    def stats(self, *, top: int = 10) -> Stats:
        """Counts, top authors/links/tags, posts per hour, per instance and source health."""
        q = self.db.execute
        with _errors("read stats", self.path):
            s = Stats(schema_version=self.schema_version)
            s.posts, s.first, s.last, s.deleted, s.edited = q(
                "SELECT count(*), min(created_at), max(created_at), count(deleted_at),"
                " count(edited_at) FROM posts"
            ).fetchone()
            s.boosts = q("SELECT count(*) FROM boosts").fetchone()[0]
            s.authors = q("SELECT count(DISTINCT author_id) FROM posts").fetchone()[0]
            s.reactions = q("SELECT count(*) FROM reactions").fetchone()[0]
            s.comments = q("SELECT count(*) FROM comments").fetchone()[0]
            s.top_authors = q(
                "SELECT a.handle, a.name, count(*) AS n FROM posts p JOIN authors a"
                " ON a.id = p.author_id GROUP BY a.id ORDER BY n DESC, a.handle LIMIT ?",
                (top,),
            ).fetchall()
            # Twenty times as many as shown: callers merge the spellings of one article
            # (export.build.merge_link_variants), as the digest does.
            s.top_links = q(
                "SELECT url, count(*) AS n FROM post_links GROUP BY url ORDER BY n DESC, url"
                " LIMIT ?",
                (top * 20,),
            ).fetchall()
            s.top_tags = q(
                "SELECT tag, count(*) AS n FROM post_tags GROUP BY tag ORDER BY n DESC, tag"
                " LIMIT ?",
                (top,),
            ).fetchall()
            s.per_hour = q(
                "SELECT substr(created_at, 1, 13) || ':00Z' AS h, count(*) FROM posts"
                " GROUP BY h ORDER BY h"
            ).fetchall()
            s.per_instance = q(
                """
                SELECT source, count(DISTINCT post_id),
                       sum(CASE WHEN only_here THEN 1 ELSE 0 END)
                FROM (SELECT s.source, s.post_id,
                             (SELECT count(DISTINCT s2.source) FROM sightings s2
                              WHERE s2.post_id = s.post_id) = 1 AS only_here
                      FROM sightings s GROUP BY s.source, s.post_id) AS seen
                GROUP BY source ORDER BY 2 DESC, source
                """
            ).fetchall()
            s.servers = [
                (host, bool(usable), software, reason, posts)
                for host, usable, software, reason, posts in q(
                    "SELECT i.host, i.usable, i.software, i.reason,"
                    " (SELECT count(DISTINCT post_id) FROM sightings WHERE source = i.host)"
                    " FROM instances i ORDER BY i.host"
                ).fetchall()
            ]
            # Sources the user configured (and comment feeds), not the run's own bookmarks.
            cursor = q(
                "SELECT key, last_success_at, last_error, last_error_at, items, requests,"
                " waited, gone, backfill_done FROM sources"
                " WHERE key NOT LIKE 'reactions:%' AND key NOT LIKE 'parents:%'"
                " ORDER BY key"
            )
            names = [d[0] for d in cursor.description]
            s.sources = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return s
