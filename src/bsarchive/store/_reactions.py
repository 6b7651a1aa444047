"""Reactions (linked blog posts) and their comments: upserts and the reaction pass's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bsarchive import __version__
from bsarchive.errors import StoreError
from bsarchive.models import Comment, Reaction, iso
from bsarchive.store._base import StoreBase, _errors, _join


@dataclass(frozen=True, slots=True)
class StoredReaction:
    """A stored reaction as the reaction pass needs it: identity, provenance, linkers."""

    url: str
    original_url: str | None
    fetched_at: datetime
    fetched_from: str
    comments_feed: str | None
    linked_from: tuple[str, ...]


class ReactionsMixin(StoreBase):
    """Tables ``reactions``, ``reaction_links``, ``comments`` (and the post links that
    feed the reaction pass)."""

    def _upsert_reaction(self, r: Reaction, now: datetime) -> tuple[int, int]:
        stamp = iso(now)
        row = self.db.execute(
            "SELECT id, title, excerpt FROM reactions WHERE url = ?", (r.url,)
        ).fetchone()
        values = (
            r.original_url,
            r.title,
            r.author,
            iso(r.published_at),
            r.site_name,
            r.language,
            r.excerpt,
            r.comments_feed,
            _join(r.tags),
            _join(r.flags),
            r.raw,
            iso(r.fetched_at),
            r.fetched_from,
            __version__,
            r.comment_count,
        )
        if row is None:
            cur = self.db.execute(
                """
                INSERT INTO reactions (original_url, title, author, published_at, site_name,
                    language, excerpt, comments_feed, tags, flags, raw, fetched_at,
                    fetched_from, version, comment_count, url, first_seen_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id
                """,
                (*values, r.url, stamp, stamp),
            )
            reaction_id, new, updated = int(cur.fetchone()[0]), 1, 0
        else:
            reaction_id = int(row[0])
            changed = (r.title and r.title != row[1]) or (r.excerpt and r.excerpt != row[2])
            # Keep what we knew when a later fetch knows less (e.g. a feed item after the page).
            self.db.execute(
                """
                UPDATE reactions SET
                    original_url = coalesce(original_url, ?),
                    title = CASE WHEN ? != '' THEN ? ELSE title END,
                    author = CASE WHEN ? != '' THEN ? ELSE author END,
                    published_at = coalesce(?, published_at),
                    site_name = CASE WHEN ? != '' THEN ? ELSE site_name END,
                    language = coalesce(?, language),
                    excerpt = CASE WHEN ? != '' THEN ? ELSE excerpt END,
                    comments_feed = coalesce(?, comments_feed),
                    comment_count = coalesce(?, comment_count),
                    fetched_at = ?, fetched_from = ?, updated_at = ?
                WHERE id = ?
                """,
                (
                    r.original_url,
                    r.title,
                    r.title,
                    r.author,
                    r.author,
                    iso(r.published_at),
                    r.site_name,
                    r.site_name,
                    r.language,
                    r.excerpt,
                    r.excerpt,
                    r.comments_feed,
                    r.comment_count,
                    iso(r.fetched_at),
                    r.fetched_from,
                    stamp,
                    reaction_id,
                ),
            )
            new, updated = 0, int(bool(changed))
        if r.linked_from:
            self.db.executemany(
                "INSERT INTO reaction_links (reaction_id, post_uri) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                [(reaction_id, uri) for uri in r.linked_from],
            )
        return new, updated

    def _upsert_comment(self, c: Comment, now: datetime) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT id FROM reactions WHERE url = ?", (c.reaction_url,)
        ).fetchone()
        if row is None:
            raise StoreError(
                str(self.path), f"comment {c.uri} for unknown reaction {c.reaction_url}"
            )
        existing = self.db.execute(
            "SELECT id, text FROM comments WHERE uri = ?", (c.uri,)
        ).fetchone()
        if existing is not None:
            if existing[1] == c.text:
                return 0, 0
            self.db.execute(
                "UPDATE comments SET text = ?, content_html = ?, fetched_at = ? WHERE id = ?",
                (c.text, c.content_html, iso(c.fetched_at), existing[0]),
            )
            return 0, 1
        self.db.execute(
            """
            INSERT INTO comments (uri, reaction_id, url, author, created_at, text, content_html,
                in_reply_to, flags, raw, fetched_at, fetched_from, version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                c.uri,
                row[0],
                c.url,
                c.author,
                iso(c.created_at),
                c.text,
                c.content_html,
                c.in_reply_to,
                _join(c.flags),
                c.raw,
                iso(c.fetched_at),
                c.fetched_from,
                __version__,
            ),
        )
        return 1, 0

    def post_links(self, after_id: int, edited_after: int) -> list[tuple[int, str, str]]:
        """``(post row id, post uri, link url)`` for every link in an undeleted post stored
        after row ``after_id``, or edited since version row ``edited_after`` (an edit may
        add a link), oldest post first: the candidates for the reaction pass."""
        with _errors("read post links", self.path):
            rows = self.db.execute(
                """
                SELECT p.id, p.uri, l.url FROM post_links l JOIN posts p ON p.id = l.post_id
                WHERE (p.id > ? OR p.id IN (SELECT post_id FROM post_versions WHERE id > ?))
                    AND p.deleted_at IS NULL
                ORDER BY p.created_at, p.id, l.position
                """,
                (after_id, edited_after),
            ).fetchall()
        return [(int(pid), str(uri), str(url)) for pid, uri, url in rows]

    def last_version_id(self) -> int:
        """The newest ``post_versions`` row: edits after it are new to the reaction pass."""
        with _errors("read post versions", self.path):
            return int(
                self.db.execute("SELECT coalesce(max(id), 0) FROM post_versions").fetchone()[0]
            )

    def stored_reactions(self) -> list[StoredReaction]:
        """Every stored reaction with the posts that linked it."""
        with _errors("read reactions", self.path):
            rows = self.db.execute(
                """
                SELECT r.url, r.original_url, r.fetched_at, r.fetched_from, r.comments_feed,
                       (SELECT group_concat(post_uri, ' ') FROM reaction_links l
                        WHERE l.reaction_id = r.id)
                FROM reactions r ORDER BY r.id
                """
            ).fetchall()
        return [
            StoredReaction(
                url=row[0],
                original_url=row[1],
                fetched_at=datetime.fromisoformat(row[2].replace("Z", "+00:00")),
                fetched_from=row[3],
                comments_feed=row[4],
                linked_from=tuple((row[5] or "").split()),
            )
            for row in rows
        ]
