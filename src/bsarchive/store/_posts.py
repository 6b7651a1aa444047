"""Posts, authors, boosts, deletions, replies, sightings and takedowns; the packed import."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bsarchive import __version__
from bsarchive.dedupe import (
    DESCRIBED,
    RETWEET_TEXT,
    PostMerge,
    StoredPost,
    decide_boost,
    decide_deletion,
    decide_new_post,
    identity_candidates,
    is_retweet_text,
    merge_post,
    retweeted_post,
)
from bsarchive.models import Author, Boost, Deletion, Item, Post, Sighting, iso
from bsarchive.store._base import StoreBase, _errors, _join, _parts, _when

# Items per transaction in an import: big enough that commits are not the cost, small
# enough that memory stays flat and a killed import loses at most one batch (issue 8).
IMPORT_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class RefreshTarget:
    uri: str
    source: str
    local_id: str


# The first source in a post's seen_on (where it was first seen, and where an id it names,
# like its parent's, comes from); ``{t}`` is the posts table's qualifier.
_FIRST_SEEN_ON = "substr({t}seen_on || ' ', 1, instr({t}seen_on || ' ', ' ') - 1)"
# A TAGS retweet is a boost guessed from its text ('RT @x: …', Boost.is_tags_row): a
# structured copy of the tweet (twarc) says what it really is. Its post_uri is the
# profile https://twitter.com/x until resolve_retweets finds the post by its text.
_GUESSED_BOOST = "boosts.tags_row = 1"
_STRUCTURED_BOOST = "boosts.tags_row = 0"
_STRUCTURED_POST = "posts.tags_row = 0"
_TWITTER_PROFILE = "https://twitter.com/"
_UNRESOLVED_BOOST = (
    f"substr(boosts.post_uri, 1, {len(_TWITTER_PROFILE)}) = '{_TWITTER_PROFILE}'"
    f" AND instr(substr(boosts.post_uri, {len(_TWITTER_PROFILE) + 1}), '/') = 0"
    f" AND {_GUESSED_BOOST}"
)
# The columns of a stored post the merge rules read (dedupe.StoredPost), after its id.
_STORED_COLUMNS = (
    "id, uri, content_html, spoiler_text, edited_at, deleted_at, seen_on, source, boosts, "
    "replies, favourites, tags, links, tags_row, " + ", ".join(DESCRIBED)
)


def _stored_post(row: Sequence[Any]) -> StoredPost:
    """The :class:`StoredPost` of a row of ``_STORED_COLUMNS`` (its id apart)."""
    (_, uri, content_html, spoiler_text, edited_at, deleted_at, seen_on, source, boosts,
     replies, favourites, tags, links, tags_row, *described) = row  # fmt: skip
    return StoredPost(
        uri, content_html, spoiler_text, edited_at, deleted_at, seen_on, source, boosts,
        replies, favourites, tags, links, bool(tags_row), tuple(described),
    )  # fmt: skip


_INSERT_LINK = (
    "INSERT INTO post_links (post_id, url, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
# The columns of a new post, in the order both writers (one post, an import batch) bind.
# A post another writer stored since we looked (several collectors on PostgreSQL) is left
# to the merge.
_INSERT_POST = """
    INSERT INTO posts (uri, url, created_at, author_id, content_html, text, spoiler_text,
        language, visibility, sensitive, in_reply_to_uri, in_reply_to_local_id, quote_uri,
        tags, links, media, boosts, replies, favourites, edited_at, source, seen_on, flags,
        raw, fetched_at, fetched_from, version, first_seen_at, updated_at, tags_row)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
            ?)
    ON CONFLICT (uri) DO NOTHING
"""


# -- packed import items -------------------------------------------------------------------
#
# An import batch travels from the parser (a worker process, see archive.run_import) to the
# writer as plain tuples: they pickle several times faster than the frozen dataclasses, and
# the writer builds its rows from them without making objects. A tuple holds the item's
# fields in declaration order, with the nested Author and Sighting as tuples too, and its
# times already formatted as stored (``iso``): a datetime pickles at a third of the speed
# of its text, and the parser, not the writer, pays for the formatting.

AuthorValues = tuple[Any, ...]
PostValues = tuple[Any, ...]
BoostValues = tuple[Any, ...]

_POST_FIELDS = tuple(f.name for f in dataclasses.fields(Post))
_BOOST_FIELDS = tuple(f.name for f in dataclasses.fields(Boost))
_author_values = operator.attrgetter(*(f.name for f in dataclasses.fields(Author)))
_sighting_values = operator.attrgetter(*(f.name for f in dataclasses.fields(Sighting)))
_post_values = operator.attrgetter(*_POST_FIELDS)
_boost_values = operator.attrgetter(*_BOOST_FIELDS)
(
    _P_URI, _P_URL, _P_CREATED_AT, _P_AUTHOR, _P_CONTENT_HTML, _P_TEXT, _P_SIGHTING,
    _P_SOURCE, _P_SPOILER_TEXT, _P_LANGUAGE, _P_VISIBILITY, _P_SENSITIVE,
    _P_IN_REPLY_TO_URI, _P_IN_REPLY_TO_LOCAL_ID, _P_QUOTE_URI, _P_TAGS, _P_LINKS,
    _P_MENTIONS, _P_MEDIA, _P_BOOSTS, _P_REPLIES, _P_FAVOURITES, _P_EDITED_AT, _P_FLAGS,
    _P_RAW, _P_IS_TAGS_ROW, _P_MENTION_URLS,
) = (_POST_FIELDS.index(name) for name in (
    "uri", "url", "created_at", "author", "content_html", "text", "sighting", "source",
    "spoiler_text", "language", "visibility", "sensitive", "in_reply_to_uri",
    "in_reply_to_local_id", "quote_uri", "tags", "links", "mentions", "media", "boosts",
    "replies", "favourites", "edited_at", "flags", "raw", "is_tags_row", "mention_urls",
))  # fmt: skip
_B_URI, _B_POST_URI, _B_BOOSTER, _B_CREATED_AT, _B_SIGHTING, _B_RAW, _B_IS_TAGS_ROW = (
    _BOOST_FIELDS.index(name)
    for name in ("uri", "post_uri", "booster", "created_at", "sighting", "raw", "is_tags_row")
)


@dataclass(frozen=True, slots=True)
class PackedItems:
    """A batch of import items as plain tuples (posts, boosts), other kinds as they are."""

    posts: list[PostValues]
    boosts: list[BoostValues]
    other: list[Item]


def pack_items(items: Iterable[Item]) -> PackedItems:
    """Pack a batch of items for :meth:`Store.import_packed` (pure: no database)."""
    posts: list[PostValues] = []
    boosts: list[BoostValues] = []
    other: list[Item] = []
    for item in items:
        if type(item) is Post:
            values = list(_post_values(item))
            values[_P_AUTHOR] = _author_values(item.author)
            values[_P_SIGHTING] = _packed_sighting(item.sighting)
            values[_P_CREATED_AT] = iso(item.created_at)
            values[_P_EDITED_AT] = iso(item.edited_at)
            posts.append(tuple(values))
        elif type(item) is Boost:
            values = list(_boost_values(item))
            values[_B_BOOSTER] = _author_values(item.booster)
            values[_B_SIGHTING] = _packed_sighting(item.sighting)
            values[_B_CREATED_AT] = iso(item.created_at)
            boosts.append(tuple(values))
        else:
            other.append(item)
    return PackedItems(posts, boosts, other)


def _post_kept_out(
    authors: frozenset[str], posts: frozenset[str], uri: str, url: str | None, handle: str
) -> bool:
    """A takedown (``forget``) covers a post by its uri or url, or its author."""
    return uri in posts or url in posts or handle in authors


def _boost_kept_out(
    authors: frozenset[str], posts: frozenset[str], booster: str, post_uri: str
) -> bool:
    """A takedown covers a boost by its booster, or by the post it boosts."""
    return booster in authors or post_uri in posts


# A sighting of a post (its first and last time seen there), row by row or in batches.
_INSERT_SIGHTING = """
    INSERT INTO sightings (post_id, source, local_id, url, fetched_from,
                           first_seen_at, last_seen_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_SIGHTING = (
    _INSERT_SIGHTING
    + "ON CONFLICT(post_id, source, local_id) DO UPDATE SET last_seen_at = excluded.last_seen_at"
)
# A new post's sightings (its id is new: nothing to update; on PostgreSQL one statement).
_INSERT_NEW_SIGHTING = _INSERT_SIGHTING + "ON CONFLICT DO NOTHING"

# One upsert for authors, row by row or in batches. The opt-in/opt-out flags keep the last
# value a server reported; a source that does not report them (a feed) leaves them alone.
_UPSERT_AUTHOR = """
    INSERT INTO authors (handle, name, url, uri, bio, bot, noindex, indexable, discoverable)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(handle) DO UPDATE SET
        name = CASE WHEN excluded.name != '' THEN excluded.name ELSE authors.name END,
        url = coalesce(excluded.url, authors.url), uri = coalesce(excluded.uri, authors.uri),
        bio = CASE WHEN excluded.bio != '' THEN excluded.bio ELSE authors.bio END,
        bot = excluded.bot,
        noindex = coalesce(excluded.noindex, authors.noindex),
        indexable = coalesce(excluded.indexable, authors.indexable),
        discoverable = coalesce(excluded.discoverable, authors.discoverable)
"""


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _author_row(values: AuthorValues) -> tuple[Any, ...]:
    """The ``_UPSERT_AUTHOR`` parameters for an author's packed values."""
    handle, name, url, uri, bio, bot, noindex, indexable, discoverable = values
    return (handle, name, url, uri, bio, int(bot), *map(_flag, (noindex, indexable, discoverable)))


def _packed_sighting(sighting: Sighting) -> tuple[Any, ...]:
    source, local_id, url, fetched_at, fetched_from = _sighting_values(sighting)
    return (source, local_id, url, iso(fetched_at), fetched_from)


def unpack_post(values: PostValues) -> Post:
    """The Post a packed post was made from (its times to the millisecond, as stored)."""
    fields = list(values)
    fields[_P_AUTHOR] = Author(*fields[_P_AUTHOR])
    source, local_id, url, fetched_at, fetched_from = fields[_P_SIGHTING]
    fields[_P_SIGHTING] = Sighting(
        source, local_id, url, datetime.fromisoformat(fetched_at), fetched_from
    )
    fields[_P_CREATED_AT] = _when(fields[_P_CREATED_AT])
    fields[_P_EDITED_AT] = _when(fields[_P_EDITED_AT])
    return Post(*fields)


class PostsMixin(StoreBase):
    """Tables ``posts``, ``authors``, ``boosts``, ``sightings``, ``post_*``, ``forgotten``."""

    # -- takedowns (issue 9) ----------------------------------------------------------------

    def _forgotten_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        if self._forgotten is None:
            rows = self.db.execute("SELECT kind, value FROM forgotten").fetchall()
            authors = frozenset(v for k, v in rows if k == "author")
            posts = frozenset(v for k, v in rows if k == "post")
            self._forgotten = (authors, posts)
        return self._forgotten

    def _remembered(self, items: Iterable[Item]) -> Iterator[Item]:
        """Items not covered by a takedown (``forget``); the rest are dropped silently."""
        authors, posts = self._forgotten_sets()
        if not authors and not posts:
            yield from items
            return
        for item in items:
            if isinstance(item, Post):
                kept_out = _post_kept_out(authors, posts, item.uri, item.url, item.author.handle)
            elif isinstance(item, Boost):
                kept_out = _boost_kept_out(authors, posts, item.booster.handle, item.post_uri)
            else:
                kept_out = False
            if not kept_out:
                yield item

    def forget(self, *, author: str | None = None, post: str | None = None, reason: str,
               now: datetime) -> int:  # fmt: skip
        """Remove an author's posts and boosts, or one post, and keep them out from now on.

        Returns the number of posts removed. Sightings, tags, links, versions and the
        full-text index follow through foreign keys and triggers.
        """
        removed = 0
        with self.transaction() as db, _errors("forget", self.path):
            if author is not None:
                db.execute(
                    "INSERT INTO forgotten (kind, value, reason, forgotten_at)"
                    " VALUES ('author', ?, ?, ?) ON CONFLICT (kind, value) DO UPDATE"
                    " SET reason = excluded.reason, forgotten_at = excluded.forgotten_at",
                    (author, reason, iso(now)),
                )
                row = db.execute("SELECT id FROM authors WHERE handle = ?", (author,)).fetchone()
                if row is not None:
                    removed += db.execute("DELETE FROM posts WHERE author_id = ?", row).rowcount
                    db.execute("DELETE FROM boosts WHERE booster_id = ?", row)
                    db.execute(
                        "DELETE FROM authors WHERE id = ? AND NOT EXISTS"
                        " (SELECT 1 FROM posts WHERE author_id = authors.id)",
                        row,
                    )
            if post is not None:
                db.execute(
                    "INSERT INTO forgotten (kind, value, reason, forgotten_at)"
                    " VALUES ('post', ?, ?, ?) ON CONFLICT (kind, value) DO UPDATE"
                    " SET reason = excluded.reason, forgotten_at = excluded.forgotten_at",
                    (post, reason, iso(now)),
                )
                removed += db.execute(
                    "DELETE FROM posts WHERE uri = ? OR (url = ? AND url != uri)", (post, post)
                ).rowcount
                db.execute("DELETE FROM boosts WHERE post_uri = ?", (post,))
            db.execute("DELETE FROM reaction_links WHERE post_uri NOT IN (SELECT uri FROM posts)")
        self._forgotten = None
        return removed

    def discovery_addresses(self) -> list[tuple[str | None, str | None, int]]:
        """Where the conversation points (issue 15): (handle, web address, how often) for
        everyone who posted or boosted, every mentioned account (its profile address) and
        every replied-to post (its uri), most frequent first."""
        with _errors("read accounts", self.path):
            return self.db.execute(
                """
                SELECT a.handle, a.url, sum(c.n) AS n FROM authors a
                JOIN (SELECT author_id AS id, count(*) AS n FROM posts GROUP BY author_id
                      UNION ALL
                      SELECT booster_id, count(*) FROM boosts GROUP BY booster_id) c
                  ON c.id = a.id
                GROUP BY a.id
                UNION ALL
                SELECT NULL, url, count(*) FROM post_mentions GROUP BY url
                UNION ALL
                SELECT NULL, in_reply_to_uri, count(*) FROM posts
                WHERE in_reply_to_uri IS NOT NULL GROUP BY in_reply_to_uri
                ORDER BY 3 DESC, 1, 2
                """
            ).fetchall()

    def _author_id(self, author: Author) -> int:
        cached = self._author_ids.get(author.handle)
        row = self.db.execute(
            _UPSERT_AUTHOR + " RETURNING id", _author_row(_author_values(author))
        ).fetchone()
        author_id = int(row[0]) if row else int(cached or 0)
        self._author_ids[author.handle] = author_id
        return author_id

    def _find_post(self, post: Post) -> tuple[Any, ...] | None:
        """The stored row for ``post``: by uri (one indexed lookup, the common case), else by
        any spelling of its identity another source recorded (``dedupe.identity_candidates``:
        the API url, the tag RSS link/guid, the ActivityPub id, derived Mastodon forms)."""
        columns = _STORED_COLUMNS
        row: tuple[Any, ...] | None = self.db.execute(
            f"SELECT {columns} FROM posts WHERE uri = ?", (post.uri,)
        ).fetchone()
        if row is not None:
            return row
        raw = (post.uri, post.url) if post.url else (post.uri,)
        names = list(dict.fromkeys((*raw, *identity_candidates(post))))
        marks = ", ".join("?" * len(names))
        # uri first: a row whose identity matches beats one that only shares an HTML url.
        row = self.db.execute(
            f"SELECT {columns} FROM posts WHERE uri IN ({marks}) "
            f"UNION ALL SELECT {columns} FROM posts WHERE url IN ({marks}) AND url != uri"
            " LIMIT 1",
            (*names, *names),
        ).fetchone()
        if row is None and post.sighting.source == "twitter" and post.sighting.local_id:
            # A tweet is its id: the same one under another spelling of its permalink.
            row = self.db.execute(
                f"SELECT {columns} FROM posts WHERE id = (SELECT post_id FROM sightings"
                " WHERE source = 'twitter' AND local_id = ? LIMIT 1)",
                (post.sighting.local_id,),
            ).fetchone()
        return row

    def _upsert_post(self, post: Post, now: datetime) -> tuple[int, int]:
        stamp = iso(now)
        self._hold([key for key in (post.uri, post.url) if key])
        sighting = post.sighting
        row = self._find_post(post)
        if row is None:
            plan = decide_new_post(
                post.flags,
                post.source,
                boost_stored=is_retweet_text(post)
                and post.uri in self._uris_in("boosts", _STRUCTURED_BOOST, [post.uri]),
            )
            if not plan.store:
                return 0, 0
            if plan.drops_guessed_boost:
                self._drop_guessed_boosts([post.uri])
            author_id = self._author_id(post.author)
            cur = self.db.execute(
                _INSERT_POST + " RETURNING id",
                (
                    post.uri,
                    post.url,
                    iso(post.created_at),
                    author_id,
                    post.content_html,
                    post.text,
                    post.spoiler_text,
                    post.language,
                    post.visibility,
                    int(post.sensitive),
                    post.in_reply_to_uri,
                    post.in_reply_to_local_id,
                    post.quote_uri,
                    _join(post.tags),
                    _join(post.links),
                    _join(post.media),
                    post.boosts,
                    post.replies,
                    post.favourites,
                    iso(post.edited_at),
                    post.source,
                    sighting.source,
                    _join(post.flags),
                    post.raw,
                    iso(sighting.fetched_at),
                    sighting.fetched_from,
                    __version__,
                    stamp,
                    stamp,
                    int(post.is_tags_row),
                ),
            )
            inserted = cur.fetchone()
            if inserted is None:  # another collector stored it since we looked: merge
                row = self._find_post(post)
                assert row is not None
                return 0, self._update_post(row, post, stamp)
            post_id = int(inserted[0])
            if post.tags:
                self.db.executemany(
                    "INSERT INTO post_tags (tag, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(tag, post_id) for tag in dict.fromkeys(post.tags)],
                )
            if post.links:
                self.db.executemany(
                    _INSERT_LINK,
                    [(post_id, url, i) for i, url in enumerate(dict.fromkeys(post.links))],
                )
            self._add_sighting(post_id, post, stamp)
            self._add_mentions(post_id, post)
            return 1, 0
        self._add_mentions(int(row[0]), post)
        return 0, self._update_post(row, post, stamp)

    def _save_posts(self, posts: Sequence[Post], now: datetime) -> tuple[int, int]:
        """Store a run of posts (not tweets: their rules stay with ``_upsert_post``) with
        the rows ``_upsert_post`` would give one by one, in batches (issue 16): the stored
        copies are looked up together; new posts are inserted with ``executemany`` (the
        import's ``_insert_posts``); stored ones are merged as ``dedupe.merge_post``
        decides, plain merges (counts, seen_on) grouped into one ``executemany`` each. A
        post that shares an identity or a stored row with an earlier one in the run waits
        and goes through ``_upsert_post`` after the rest, in order. Returns (new, updated).
        """
        stamp = iso(now)
        self._hold([key for p in posts for key in (p.uri, p.url) if key])
        by_uri = self._rows_by_uri([p.uri for p in posts])
        names: dict[int, tuple[str, ...]] = {
            i: tuple(dict.fromkeys((p.uri, *((p.url,) if p.url else ()), *identity_candidates(p))))
            for i, p in enumerate(posts)
            if p.uri not in by_uri
        }
        found = self._rows_by_names(names)
        claimed: set[str] = set()
        claimed_rows: set[int] = set()
        fresh: list[Post] = []
        merges: list[tuple[Sequence[Any], Post, PostMerge]] = []
        later: list[Post] = []
        authors: list[AuthorValues] = []
        for i, post in enumerate(posts):
            row = by_uri.get(post.uri) or found.get(i)
            keys = names.get(i) or ((post.uri, post.url) if post.url else (post.uri,))
            if not claimed.isdisjoint(keys) or (row is not None and row[0] in claimed_rows):
                later.append(post)
            elif row is None:
                fresh.append(post)
                authors.append(_author_values(post.author))
            else:
                merge = merge_post(_stored_post(row), post)
                merges.append((row, post, merge))
                if merge.new_author:
                    authors.append(_author_values(post.author))
            claimed.update(keys)
            if row is not None:
                claimed_rows.add(row[0])
        author_ids = self._author_ids_for(authors)
        new = self._insert_posts(pack_items(fresh).posts, author_ids, stamp)
        updated = self._apply_merges(merges, author_ids, stamp)
        for post in later:
            n, u = self._upsert_post(post, now)
            new, updated = new + n, updated + u
        return new, updated

    def _rows_by_uri(self, uris: Sequence[str]) -> dict[str, Sequence[Any]]:
        """The stored rows (``_STORED_COLUMNS``) of those of ``uris`` that are stored."""
        found: dict[str, Sequence[Any]] = {}
        for part, marks in _parts(list(dict.fromkeys(uris))):
            for row in self.db.execute(
                f"SELECT {_STORED_COLUMNS} FROM posts WHERE uri IN ({marks})", part
            ):
                found[row[1]] = row
        return found

    def _rows_by_names(self, names: dict[int, tuple[str, ...]]) -> dict[int, Sequence[Any]]:
        """For each key's names (a post's uri, url and identity candidates), the stored row
        known by one of them, as ``_find_post`` finds it: by uri before by HTML url."""
        wanted = list(dict.fromkeys(n for keys in names.values() for n in keys))
        by_uri: dict[str, Sequence[Any]] = {}
        by_url: dict[str, Sequence[Any]] = {}
        for part, marks in _parts(wanted):
            for row in self.db.execute(
                f"SELECT {_STORED_COLUMNS} FROM posts WHERE uri IN ({marks})", part
            ):
                by_uri.setdefault(row[1], row)
            for url, *row in self.db.execute(
                f"SELECT url, {_STORED_COLUMNS} FROM posts WHERE url IN ({marks}) AND url != uri",
                part,
            ):
                by_url.setdefault(url, row)
        found: dict[int, Sequence[Any]] = {}
        for key, keys in names.items():
            row = next((by_uri[n] for n in keys if n in by_uri), None)
            if row is None:
                row = next((by_url[n] for n in keys if n in by_url), None)
            if row is not None:
                found[key] = row
        return found

    def _apply_merges(
        self,
        merges: Sequence[tuple[Sequence[Any], Post, PostMerge]],
        author_ids: dict[str, int],
        stamp: str | None,
    ) -> int:
        """Apply merge decisions to distinct stored posts: sightings and mentions in one
        statement each, the plain column updates grouped by the columns they set."""
        self.db.executemany(
            _UPSERT_SIGHTING,
            [
                (row[0], s.source, s.local_id or "", s.url, s.fetched_from, stamp, stamp)
                for row, post, _ in merges
                for s in (post.sighting,)
            ],
        )
        self.db.executemany(
            "INSERT INTO post_mentions (post_id, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(row[0], url) for row, post, _ in merges for url in post.mention_urls],
        )
        updated = 0
        plain: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row, post, merge in merges:
            if merge.is_noop:
                continue
            if (
                merge.new_author
                or merge.add_tags
                or merge.add_links
                or merge.new_version
                or (merge.uri_moves_to is not None)
            ):
                author_id = author_ids.get(post.author.handle) if merge.new_author else None
                updated += self._apply_merge(row[0], row[1], merge, post, stamp, author_id)
                continue
            plain.setdefault(tuple(merge.changes), []).append(
                (*merge.changes.values(), stamp, row[0])
            )
        for columns, values in plain.items():
            assignments = "".join(f"{column} = ?, " for column in columns)
            self.db.executemany(
                f"UPDATE posts SET {assignments}updated_at = ? WHERE id = ?", values
            )
        return updated

    def _add_mentions(self, post_id: int, post: Post) -> None:
        if post.mention_urls:
            self.db.executemany(
                "INSERT INTO post_mentions (post_id, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(post_id, url) for url in post.mention_urls],
            )

    def _add_sighting(self, post_id: int, post: Post, stamp: str | None) -> None:
        s = post.sighting
        self.db.execute(
            _UPSERT_SIGHTING,
            (post_id, s.source, s.local_id or "", s.url, s.fetched_from, stamp, stamp),
        )

    def _update_post(self, row: Sequence[Any], post: Post, stamp: str | None) -> int:
        """Store ``post`` over its stored copy ``row`` (of ``_STORED_COLUMNS``) as
        :func:`bsarchive.dedupe.merge_post` decides; 1 if that kept a new version."""
        self._add_sighting(int(row[0]), post, stamp)
        stored = _stored_post(row)
        return self._apply_merge(int(row[0]), stored.uri, merge_post(stored, post), post, stamp)

    def _apply_merge(
        self,
        post_id: int,
        uri: str,
        merge: PostMerge,
        post: Post,
        stamp: str | None,
        author_id: int | None = None,
    ) -> int:
        """Apply a merge decision to the stored post ``post_id`` (stored as ``uri``;
        ``post`` is the incoming copy the decision was made for)."""
        if merge.is_noop:
            return 0
        changes = dict(merge.changes)
        if merge.add_tags:
            self.db.executemany(
                "INSERT INTO post_tags (tag, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(tag, post_id) for tag in merge.add_tags],
            )
        if merge.new_author:
            changes["author_id"] = author_id or self._author_id(post.author)
        if merge.uri_moves_to is not None:  # what pointed at the old identity follows it
            for table in ("boosts", "reaction_links"):
                self.db.execute(
                    f"UPDATE {table} SET post_uri = ? WHERE post_uri = ?", (merge.uri_moves_to, uri)
                )
        if merge.new_version:
            self.db.execute(
                "INSERT INTO post_versions (post_id, edited_at, content_html, text,"
                " spoiler_text, raw, recorded_at)"
                " SELECT id, edited_at, content_html, text, spoiler_text, raw, ? FROM posts"
                " WHERE id = ?",
                (stamp, post_id),
            )
        changes["updated_at"] = stamp
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.db.execute(
            f"UPDATE posts SET {assignments} WHERE id = ?", (*changes.values(), post_id)
        )
        if merge.replace_links:  # the poorer copy's links (t.co, cut) are not the post's
            self.db.execute("DELETE FROM post_links WHERE post_id = ?", (post_id,))
        if merge.add_links:
            self.db.executemany(
                _INSERT_LINK,
                [(post_id, url, i) for i, url in enumerate(merge.add_links)],
            )
        return int(merge.new_version)

    def _drop_guessed_boosts(self, uris: Sequence[str]) -> None:
        """A tweet TAGS kept as a retweet ('RT @x: …') that a structured copy (twarc) shows
        to be a tweet of its own: the post replaces the guessed boost."""
        for part, marks in _parts(uris):
            self.db.execute(f"DELETE FROM boosts WHERE uri IN ({marks}) AND {_GUESSED_BOOST}", part)

    def _drop_retweet_rows(self, uris: Sequence[str]) -> None:
        """A retweet stored as a post from its text alone (TAGS: 'RT @x: …', flagged
        'retweet text') gives way to the boost that now says what it is."""
        for part, marks in _parts(uris):
            self.db.execute(
                f"DELETE FROM posts WHERE uri IN ({marks}) AND instr(flags, ?) > 0",
                (*part, RETWEET_TEXT),
            )

    def _insert_boost(self, boost: Boost, now: datetime) -> int:
        """Store a boost as :func:`bsarchive.dedupe.decide_boost` decides."""
        uri = boost.uri
        plan = decide_boost(
            boost.is_tags_row,
            structured_post_stored=boost.is_tags_row
            and uri in self._uris_in("posts", _STRUCTURED_POST, [uri]),
            guess_stored=not boost.is_tags_row
            and uri in self._uris_in("boosts", _GUESSED_BOOST, [uri]),
        )
        if plan.answers_guess:
            self.db.execute(
                "UPDATE boosts SET post_uri = ?, raw = ?, tags_row = 0"
                f" WHERE uri = ? AND {_GUESSED_BOOST}",
                (boost.post_uri, boost.raw, uri),
            )
        if not plan.insert:
            return 0
        if plan.drops_retweet_row:
            self._drop_retweet_rows([uri])
        booster = self._author_id(boost.booster)
        cur = self.db.execute(
            """
            INSERT INTO boosts (uri, post_uri, booster_id, created_at, source, raw,
                                fetched_at, fetched_from, version, tags_row)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            (
                boost.uri,
                boost.post_uri,
                booster,
                iso(boost.created_at),
                boost.sighting.source,
                boost.raw,
                iso(boost.sighting.fetched_at),
                boost.sighting.fetched_from,
                __version__,
                int(boost.is_tags_row),
            ),
        )
        return int(cur.rowcount > 0)

    def _mark_deleted(self, deletion: Deletion, now: datetime) -> int:
        """Mark a post deleted as :func:`bsarchive.dedupe.decide_deletion` decides."""
        seen_on = [
            source
            for (source,) in self.db.execute(
                "SELECT s.source FROM sightings s JOIN posts p ON p.id = s.post_id WHERE p.uri = ?",
                (deletion.uri,),
            )
        ]
        if not decide_deletion(deletion.uri, deletion.sighting.source, seen_on).mark_deleted:
            return 0
        cur = self.db.execute(
            "UPDATE posts SET deleted_at = ?, updated_at = ? WHERE uri = ? AND deleted_at IS NULL",
            (iso(now), iso(now), deletion.uri),
        )
        return int(cur.rowcount > 0)

    def resolve_retweets(self) -> int:
        """Give TAGS retweets (boosts naming only the original's author, ``RT @x: …``) the
        post they repeat, found among that author's archived posts by its text
        (:func:`bsarchive.dedupe.retweeted_post`). Runs after each import, so either order
        of arrival ends resolved. Returns how many were resolved."""
        with self.transaction() as db, _errors("resolve retweets", self.path):
            waiting: dict[str, list[tuple[str, str]]] = {}
            for uri, post_uri, raw in db.execute(
                f"SELECT uri, post_uri, raw FROM boosts WHERE {_UNRESOLVED_BOOST}"
            ):
                try:
                    text = json.loads(raw).get("text") or ""
                except (ValueError, AttributeError):
                    continue
                waiting.setdefault(post_uri[len(_TWITTER_PROFILE) :], []).append((uri, text))
            found = []
            for user, retweets in waiting.items():
                candidates = db.execute(
                    "SELECT p.uri, p.text FROM posts p JOIN authors a ON a.id = p.author_id"
                    " WHERE a.handle IN (?, ?) AND p.deleted_at IS NULL",
                    ("@" + user, "@" + user.lower()),
                ).fetchall()
                for uri, text in retweets if candidates else ():
                    original = retweeted_post(text, candidates)
                    if original is not None:
                        found.append((original, uri))
            db.executemany("UPDATE boosts SET post_uri = ? WHERE uri = ?", found)
        return len(found)

    def resolve_replies(self) -> int:
        """Fill ``in_reply_to_uri`` from the parent's local id where the parent is archived.

        The Mastodon API names a reply's parent only by its id on the viewing instance
        (PROTOCOL.md §1), so the id is matched against sightings on an instance where the
        reply was seen too: its first ``seen_on`` source if the parent is there (that is
        usually where the id came from), else another (a post first seen in a tag RSS feed
        gets its parent's id from the API later). Runs after each fetch, so either order of
        arrival (reply before parent or after) ends resolved.
        """
        with self.transaction() as db, _errors("resolve replies", self.path):
            cur = db.execute(
                f"""
                UPDATE posts SET in_reply_to_uri = coalesce((
                    SELECT parent.uri FROM sightings s JOIN posts parent ON parent.id = s.post_id
                    WHERE s.local_id = posts.in_reply_to_local_id
                      AND s.source = {_FIRST_SEEN_ON.format(t="posts.")}
                    LIMIT 1), (
                    SELECT parent.uri FROM sightings r
                    JOIN sightings s ON s.source = r.source
                                    AND s.local_id = posts.in_reply_to_local_id
                    JOIN posts parent ON parent.id = s.post_id
                    WHERE r.post_id = posts.id AND parent.id != posts.id
                    ORDER BY r.source LIMIT 1))
                WHERE in_reply_to_uri IS NULL AND in_reply_to_local_id IS NOT NULL
                  AND EXISTS (
                    SELECT 1 FROM sightings r
                    JOIN sightings s ON s.source = r.source
                                    AND s.local_id = posts.in_reply_to_local_id
                    WHERE r.post_id = posts.id AND s.post_id != posts.id)
                """
            )
            return int(cur.rowcount)

    def unresolved_replies(self, source: str, after: int, limit: int) -> list[tuple[int, str]]:
        """(post id, parent's local id) of the replies first seen on ``source`` whose parent
        is not archived (so only its id there is known), above post id ``after``."""
        with _errors("read replies", self.path):
            return [
                (int(pid), str(local))
                for pid, local in self.db.execute(
                    "SELECT id, in_reply_to_local_id FROM posts WHERE id > ?"
                    " AND in_reply_to_uri IS NULL AND in_reply_to_local_id IS NOT NULL"
                    f" AND {_FIRST_SEEN_ON.format(t='')} = ?"
                    " ORDER BY id LIMIT ?",
                    (after, source, limit),
                )
            ]

    # -- reads ------------------------------------------------------------------------------

    def lookback_id(self, source: str, newest: str, depth: int) -> str | None:
        """The local id on ``source`` ``depth`` places below ``newest`` (ids ordered as
        servers order them: by length, then text), or the lowest when fewer are stored:
        where a catch-up starts so that posts delivered late just below the newest are read.
        """
        with _errors("read look-back id", self.path):
            rows = self.db.execute(
                """
                SELECT local_id FROM sightings
                WHERE source = :source AND local_id != ''
                  AND (length(local_id) < length(:newest) OR
                       (length(local_id) = length(:newest) AND local_id <= :newest))
                ORDER BY length(local_id) DESC, local_id DESC LIMIT :depth + 1
                """,
                {"source": source, "newest": newest, "depth": depth},
            ).fetchall()
        return str(rows[-1][0]) if rows else None

    def recheck_targets(
        self, source: str, tag: str, since: datetime, before: datetime
    ) -> list[RefreshTarget]:
        """Undeleted posts carrying ``tag`` seen on ``source`` and first stored in
        [``since``, ``before``): what the default re-check reads again (issue 14). By when
        they were stored, not created, so an old event archived today is covered too."""
        with _errors("read re-check targets", self.path):
            rows = self.db.execute(
                """
                SELECT p.uri, s.source, s.local_id
                FROM post_tags t JOIN posts p ON p.id = t.post_id
                JOIN sightings s ON s.post_id = p.id
                WHERE t.tag = ? AND s.source = ? AND s.local_id != ''
                  AND p.first_seen_at >= ? AND p.first_seen_at < ? AND p.deleted_at IS NULL
                """,
                (tag, source, iso(since), iso(before)),
            ).fetchall()
        return [RefreshTarget(*row) for row in rows]

    def _remembered_packed(self, packed: PackedItems) -> tuple[list[PostValues], list[BoostValues]]:
        """``_remembered`` for packed posts and boosts."""
        authors, posts = self._forgotten_sets()
        if not authors and not posts:
            return packed.posts, packed.boosts
        return (
            [
                p
                for p in packed.posts
                if not _post_kept_out(authors, posts, p[_P_URI], p[_P_URL], p[_P_AUTHOR][0])
            ],
            [
                b
                for b in packed.boosts
                if not _boost_kept_out(authors, posts, b[_B_BOOSTER][0], b[_B_POST_URI])
            ],
        )

    def _decided_posts(self, posts: Sequence[PostValues]) -> list[PostValues]:
        """Those of an import's packed ``posts`` to store, each as
        :func:`bsarchive.dedupe.decide_new_post` decides for it, the facts it reads looked
        up for the whole batch; the TAGS guesses the kept tweets replace dropped."""
        retweet_texts = [p[_P_URI] for p in posts if RETWEET_TEXT in p[_P_FLAGS]]
        said = self._uris_in("boosts", _STRUCTURED_BOOST, retweet_texts)
        kept: list[PostValues] = []
        tweets: list[str] = []
        for p in posts:
            plan = decide_new_post(p[_P_FLAGS], p[_P_SOURCE], boost_stored=p[_P_URI] in said)
            if plan.store:
                kept.append(p)
                if plan.drops_guessed_boost:
                    tweets.append(p[_P_URI])
        self._drop_guessed_boosts(tweets)
        return kept

    def _decided_boosts(self, boosts: Sequence[BoostValues]) -> list[BoostValues]:
        """Those of an import's packed ``boosts`` to insert, each as
        :func:`bsarchive.dedupe.decide_boost` decides for it, the facts it reads looked up
        for the whole batch; the stored guesses they answer and the retweet rows they
        replace changed in one statement each."""
        posts = self._uris_in(
            "posts", _STRUCTURED_POST, [b[_B_URI] for b in boosts if b[_B_IS_TAGS_ROW]]
        )
        guesses = self._uris_in(
            "boosts", _GUESSED_BOOST, [b[_B_URI] for b in boosts if not b[_B_IS_TAGS_ROW]]
        )
        kept: list[BoostValues] = []
        answers: list[tuple[str, str | None, str]] = []
        retweet_rows: list[str] = []
        for b in boosts:
            uri, is_tags_row = b[_B_URI], b[_B_IS_TAGS_ROW]
            plan = decide_boost(
                is_tags_row,
                structured_post_stored=is_tags_row and uri in posts,
                guess_stored=not is_tags_row and uri in guesses,
            )
            if plan.answers_guess:
                answers.append((b[_B_POST_URI], b[_B_RAW], uri))
            if plan.drops_retweet_row:
                retweet_rows.append(uri)
            if plan.insert:
                kept.append(b)
        self.db.executemany(
            "UPDATE boosts SET post_uri = ?, raw = ?, tags_row = 0"
            f" WHERE uri = ? AND {_GUESSED_BOOST}",
            answers,
        )
        self._drop_retweet_rows(retweet_rows)
        return kept

    def _uris_in(self, table: str, condition: str, uris: Sequence[str]) -> set[str]:
        """Those of ``uris`` that a row of ``table`` meeting ``condition`` (SQL) has."""
        found: set[str] = set()
        for part, marks in _parts(uris):
            found.update(
                uri
                for (uri,) in self.db.execute(
                    f"SELECT uri FROM {table} WHERE uri IN ({marks}) AND {condition}", part
                )
            )
        return found

    def _known_tweets(self, posts: Sequence[PostValues]) -> set[str]:
        """The uris of ``posts`` that are tweets already stored under another spelling of
        their permalink (another user name, its case, or /i/web/ when the author was not
        in the file): a tweet is its id, seen as the 'twitter' sighting's local id."""
        ids = {p[_P_SIGHTING][1]: p[_P_URI] for p in posts if p[_P_SIGHTING][0] == "twitter"}
        ids.pop(None, None)
        found: set[str] = set()
        for part, marks in _parts(list(ids)):
            found.update(
                ids[local_id]
                for (local_id,) in self.db.execute(
                    "SELECT local_id FROM sightings WHERE source = 'twitter'"
                    f" AND local_id IN ({marks})",
                    part,
                )
            )
        return found

    def _known_identities(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` (uris and urls) that a stored post already has, with the
        stored posts' other identity."""
        keys = list(dict.fromkeys(keys))
        known: set[str] = set()
        for part, marks in _parts(keys):
            rows = self.db.execute(
                f"SELECT uri, url FROM posts WHERE uri IN ({marks})"
                f" OR (url IN ({marks}) AND url != uri)",
                (*part, *part),
            ).fetchall()
            for uri, url in rows:
                known.add(uri)
                if url:
                    known.add(url)
        return known

    def _author_ids_for(self, authors: Sequence[AuthorValues]) -> dict[str, int]:
        """Upsert authors in order (as ``_author_id`` would, one by one) and return ids."""
        last: dict[str, AuthorValues] = {}
        changes: list[tuple[Any, ...]] = []
        for a in authors:
            if last.get(a[0]) != a:
                last[a[0]] = a
                changes.append(_author_row(a))
        self.db.executemany(_UPSERT_AUTHOR, changes)
        ids: dict[str, int] = {}
        for part, marks in _parts(list(last), 500):
            ids.update(
                self.db.execute(f"SELECT handle, id FROM authors WHERE handle IN ({marks})", part)
            )
        self._author_ids.update(ids)
        return ids

    def _insert_posts(
        self, posts: Sequence[PostValues], authors: dict[str, int], stamp: str | None
    ) -> int:
        """Insert posts known to be new (the INSERT of ``_upsert_post``, batched)."""
        if not posts:
            return 0
        last = self.db.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0]
        with self._fts_filled_in_bulk(last):
            self.db.executemany(
                _INSERT_POST,
                [
                    (
                        p[_P_URI], p[_P_URL], p[_P_CREATED_AT], authors[p[_P_AUTHOR][0]],
                        p[_P_CONTENT_HTML], p[_P_TEXT], p[_P_SPOILER_TEXT], p[_P_LANGUAGE],
                        p[_P_VISIBILITY], int(p[_P_SENSITIVE]), p[_P_IN_REPLY_TO_URI],
                        p[_P_IN_REPLY_TO_LOCAL_ID], p[_P_QUOTE_URI], _join(p[_P_TAGS]),
                        _join(p[_P_LINKS]), _join(p[_P_MEDIA]), p[_P_BOOSTS], p[_P_REPLIES],
                        p[_P_FAVOURITES], p[_P_EDITED_AT], p[_P_SOURCE],
                        p[_P_SIGHTING][0], _join(p[_P_FLAGS]), p[_P_RAW],
                        p[_P_SIGHTING][3], p[_P_SIGHTING][4], __version__, stamp, stamp,
                        int(p[_P_IS_TAGS_ROW]),
                    )
                    for p in posts
                ],
            )  # fmt: skip
        got = self._new_ids("posts", "uri", [p[_P_URI] for p in posts], last)
        # Posts another collector stored since we looked (PostgreSQL): merged instead.
        taken = [p for p, i in zip(posts, got, strict=True) if i is None]
        posts = [p for p, i in zip(posts, got, strict=True) if i is not None]
        ids = [i for i in got if i is not None]
        self.db.executemany(
            "INSERT INTO post_tags (tag, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [
                (tag, i)
                for p, i in zip(posts, ids, strict=True)
                for tag in dict.fromkeys(p[_P_TAGS])
            ],
        )
        self.db.executemany(
            _INSERT_LINK,
            [
                (i, url, n)
                for p, i in zip(posts, ids, strict=True)
                for n, url in enumerate(dict.fromkeys(p[_P_LINKS]))
            ],
        )
        self.db.executemany(
            _INSERT_NEW_SIGHTING,
            [
                (i, p[_P_SIGHTING][0], p[_P_SIGHTING][1] or "", p[_P_SIGHTING][2],
                 p[_P_SIGHTING][4], stamp, stamp)
                for p, i in zip(posts, ids, strict=True)
            ],
        )  # fmt: skip
        self.db.executemany(
            "INSERT INTO post_mentions (post_id, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(i, url) for p, i in zip(posts, ids, strict=True) for url in p[_P_MENTION_URLS]],
        )
        for p in taken:
            self._upsert_post(unpack_post(p), _when(stamp) or datetime.now(UTC))
        return len(posts)

    @contextlib.contextmanager
    def _fts_filled_in_bulk(self, last: int) -> Iterator[None]:
        """Index the posts inserted inside the block (ids above ``last``) with one
        ``INSERT ... SELECT`` instead of the per-row trigger (a third of the cost). The
        trigger is dropped and re-created inside the caller's transaction, so no other
        connection ever sees it missing."""
        row = self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'posts_fts_insert'"
        ).fetchone()
        if row is None:  # an archive whose owner dropped the index: nothing to keep in sync
            yield
            return
        self.db.execute("DROP TRIGGER posts_fts_insert")
        yield
        self.db.execute(
            "INSERT INTO posts_fts (rowid, text, spoiler_text)"
            " SELECT id, text, spoiler_text FROM posts WHERE id > ?",
            (last,),
        )
        self.db.execute(row[0])

    def _insert_boosts(self, boosts: Sequence[BoostValues], authors: dict[str, int]) -> int:
        """Insert boosts not yet stored (the insert of ``_insert_boost``, batched)."""
        inserted = self.db.executemany(
            """
            INSERT INTO boosts (uri, post_uri, booster_id, created_at, source, raw,
                                fetched_at, fetched_from, version, tags_row)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            [
                (
                    b[_B_URI], b[_B_POST_URI], authors[b[_B_BOOSTER][0]], b[_B_CREATED_AT],
                    b[_B_SIGHTING][0], b[_B_RAW], b[_B_SIGHTING][3], b[_B_SIGHTING][4],
                    __version__, int(b[_B_IS_TAGS_ROW]),
                )
                for b in boosts
            ],
        )  # fmt: skip
        return int(inserted.rowcount)

    # -- near-duplicates (issue 8) --------------------------------------------------------
