"""Where each item goes: a page or batch of items, dispatched to its table family."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bsarchive.models import Boost, Comment, Deletion, Item, Page, Post, Reaction, iso
from bsarchive.store._base import SaveResult, _errors
from bsarchive.store._posts import (
    _B_BOOSTER,
    _P_AUTHOR,
    _P_URI,
    _P_URL,
    PackedItems,
    PostsMixin,
    PostValues,
    unpack_post,
)
from bsarchive.store._reactions import ReactionsMixin
from bsarchive.store._sources import SourcesMixin


class ItemsMixin(PostsMixin, ReactionsMixin, SourcesMixin):
    """The write path of fetch, import and the reaction pass: one transaction per page
    (with its cursor) or batch, each item stored by its table family."""

    # -- writes -----------------------------------------------------------------------------

    def save_page(self, page: Page, now: datetime) -> SaveResult:
        """Store a page of items and its source's cursor in one transaction."""

        def once() -> SaveResult:
            with self.transaction(), _errors("save page", self.path):
                new, updated = self._save_all(page.items, now)
                self._save_cursor(page.source_key, page.cursor, new, page.requests)
            return SaveResult(new, updated)

        return self._retrying(once)

    def save_items(self, items: Sequence[Item], now: datetime) -> SaveResult:
        """Store items without a cursor (imports, reactions)."""

        def once() -> SaveResult:
            with self.transaction(), _errors("save items", self.path):
                new, updated = self._save_all(items, now)
            return SaveResult(new, updated)

        return self._retrying(once)

    def _save_all(self, items: Sequence[Item], now: datetime) -> tuple[int, int]:
        """Store items in order: each run of posts (tweets apart) in batches
        (``_save_posts``), every other item by its table family. Returns (new, updated)."""
        new = updated = 0
        run: list[Post] = []
        for item in self._remembered(items):
            if type(item) is Post and item.source != "twitter":
                run.append(item)
                continue
            if run:
                n, u = self._save_posts(run, now)
                new, updated, run = new + n, updated + u, []
            n, u = self._save_item(item, now)
            new, updated = new + n, updated + u
        if run:
            n, u = self._save_posts(run, now)
            new, updated = new + n, updated + u
        return new, updated

    def _save_item(self, item: Item, now: datetime) -> tuple[int, int]:
        if isinstance(item, Post):
            return self._upsert_post(item, now)
        if isinstance(item, Boost):
            return self._insert_boost(item, now), 0
        if isinstance(item, Deletion):
            return 0, self._mark_deleted(item, now)
        if isinstance(item, Reaction):
            return self._upsert_reaction(item, now)
        if isinstance(item, Comment):
            return self._upsert_comment(item, now)
        raise TypeError(f"cannot store {type(item).__name__}")

    def set_reply_parents(
        self, parents: Sequence[tuple[int, str]], page: Page, now: datetime
    ) -> None:
        """Record ``(post id, parent uri)`` pairs with the cursor ``page`` carries, at once."""
        with self.grouped(), _errors("write reply parents", self.path):
            self.db.executemany(
                "UPDATE posts SET in_reply_to_uri = ? WHERE id = ? AND in_reply_to_uri IS NULL",
                [(uri, pid) for pid, uri in parents],
            )
            self.save_page(page, now)

    def import_packed(self, packed: PackedItems, now: datetime) -> SaveResult:
        """Store one batch of import items (see :func:`pack_items`) in one transaction.

        Gives the same rows as ``save_items``, faster: posts not yet stored are inserted
        with ``executemany`` (their tags, links and sightings too) and indexed for search
        in one statement; a post already stored, or met twice in the batch, goes through
        the usual upsert. Takedowns (``forget``) apply as everywhere else.
        """
        stamp = iso(now)
        new = updated = 0
        posts, boosts = self._remembered_packed(packed)
        with self.transaction(), _errors("import items", self.path):
            posts = self._decided_posts(posts)
            boosts = self._decided_boosts(boosts)
            known = self._known_identities(
                [p[_P_URI] for p in posts] + [p[_P_URL] for p in posts if p[_P_URL]]
            )
            known |= self._known_tweets(posts)
            fresh: list[PostValues] = []
            later: list[PostValues] = []
            for p in posts:
                uri, url = p[_P_URI], p[_P_URL]
                if uri in known or (url is not None and url in known):
                    later.append(p)
                    continue
                fresh.append(p)
                known.add(uri)
                if url:
                    known.add(url)
            for item in self._remembered(packed.other):
                n, u = self._save_item(item, now)
                new, updated = new + n, updated + u
            authors = self._author_ids_for(
                [p[_P_AUTHOR] for p in fresh] + [b[_B_BOOSTER] for b in boosts]
            )
            new += self._insert_posts(fresh, authors, stamp)
            new += self._insert_boosts(boosts, authors)
            for p in later:
                n, u = self._upsert_post(unpack_post(p), now)
                new, updated = new + n, updated + u
        return SaveResult(new, updated)

    # -- live capture (watch) ---------------------------------------------------------------

    def uri_seen_as(self, source: str, local_id: str) -> str | None:
        """The uri of the post seen on ``source`` (a host) as status ``local_id``: what a
        streamed ``delete`` event, which names only the id, is about (issue 18)."""
        with _errors("read sighting", self.path):
            row = self.db.execute(
                "SELECT p.uri FROM sightings s JOIN posts p ON p.id = s.post_id"
                " WHERE s.source = ? AND s.local_id = ? LIMIT 1",
                (source, local_id),
            ).fetchone()
        return str(row[0]) if row else None

    def get_meta(self, key: str) -> str | None:
        """A ``meta`` value (``set_meta``), or None: the watch's heartbeat, read by
        ``doctor`` (issue 18)."""
        with _errors("read meta", self.path):
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None
