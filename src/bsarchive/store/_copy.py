"""``bsarchive copy``: an archive, or a slice of it, into another, on either engine (issue 19).

Rows travel by their natural keys (an author's handle, a post's uri, a reaction's url, a
comment's or boost's uri), so copying twice, or into an archive that already holds some of
the same items, adds each only once: the copy is idempotent. A row keeps its id where the
destination has it free (a copy into an empty archive exports byte for byte the same);
otherwise it takes a new one and the rows pointing at it follow. Tables are read in
batches of ``BATCH`` rows by id, each batch written in one transaction: memory stays flat
and a copy killed at any moment is resumed by running it again.

What travels: everything an export, digest or stats reads, takedowns (``forgotten``, so a
person who asked to be left out stays out), and for a whole archive the sources' cursors,
runs and instances too, so fetching can go on from the copy. The per-instance request log
(a 15-minute rate-budget window) does not. Nothing a takedown of the destination covers
(its own or the source's) is copied: a copy never brings back what was forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from bsarchive.models import iso
from bsarchive.store._base import StoreBase, _errors, _parts
from bsarchive.store._posts import _boost_kept_out, _post_kept_out

BATCH = 2_000


class _Table(NamedTuple):  # a NamedTuple: no dataclass to build at every start-up
    name: str
    columns: tuple[str, ...]  # without id
    key: tuple[str, ...]  # the natural key, among columns
    parents: Mapping[str, str] = {}  # column -> table it points at (never changed)
    has_id: bool = True


_AUTHORS = _Table(
    "authors",
    ("handle", "name", "url", "uri", "bio", "bot", "noindex", "indexable", "discoverable"),
    ("handle",),
)
_POSTS = _Table(
    "posts",
    (
        "uri", "url", "created_at", "author_id", "content_html", "text", "spoiler_text",
        "language", "visibility", "sensitive", "in_reply_to_uri", "in_reply_to_local_id",
        "quote_uri", "tags", "links", "media", "boosts", "replies", "favourites", "edited_at",
        "deleted_at", "source", "seen_on", "flags", "raw", "fetched_at", "fetched_from",
        "version", "first_seen_at", "updated_at", "tags_row",
    ),
    ("uri",),
    {"author_id": "authors"},
)  # fmt: skip
_POST_CHILDREN = (
    _Table(
        "sightings",
        ("post_id", "source", "local_id", "url", "fetched_from", "first_seen_at", "last_seen_at"),
        ("post_id", "source", "local_id"),
        {"post_id": "posts"},
        has_id=False,
    ),
    _Table("post_tags", ("tag", "post_id"), ("tag", "post_id"), {"post_id": "posts"}, False),
    _Table(
        "post_links",
        ("post_id", "url", "position"),
        ("post_id", "url"),
        {"post_id": "posts"},
        has_id=False,
    ),
    _Table("post_mentions", ("post_id", "url"), ("post_id", "url"), {"post_id": "posts"}, False),
    _Table(
        "post_versions",
        ("post_id", "edited_at", "content_html", "text", "spoiler_text", "raw", "recorded_at"),
        ("post_id", "recorded_at", "edited_at"),
        {"post_id": "posts"},
    ),
)
_BOOSTS = _Table(
    "boosts",
    (
        "uri", "post_uri", "booster_id", "created_at", "source", "raw", "fetched_at",
        "fetched_from", "version", "tags_row",
    ),
    ("uri",),
    {"booster_id": "authors"},
)  # fmt: skip
_REACTIONS = _Table(
    "reactions",
    (
        "url", "original_url", "title", "author", "published_at", "site_name", "language",
        "excerpt", "comments_feed", "tags", "flags", "raw", "fetched_at", "fetched_from",
        "version", "first_seen_at", "updated_at", "comment_count",
    ),
    ("url",),
)  # fmt: skip
_REACTION_CHILDREN = (
    _Table(
        "reaction_links",
        ("reaction_id", "post_uri"),
        ("reaction_id", "post_uri"),
        {"reaction_id": "reactions"},
        has_id=False,
    ),
    _Table(
        "comments",
        (
            "uri",
            "reaction_id",
            "url",
            "author",
            "created_at",
            "text",
            "content_html",
            "in_reply_to",
            "flags",
            "raw",
            "fetched_at",
            "fetched_from",
            "version",
        ),
        ("uri",),
        {"reaction_id": "reactions"},
    ),  # fmt: skip
)
_WHOLE_ARCHIVE_ONLY = (
    _Table(
        "sources",
        (
            "key",
            "newest",
            "oldest",
            "backfill_done",
            "etag",
            "last_modified",
            "not_before",
            "gone",
            "last_success_at",
            "last_error",
            "last_error_at",
            "items",
            "requests",
            "waited",
        ),
        ("key",),
        has_id=False,
    ),  # fmt: skip
    _Table(
        "runs",
        (
            "started_at",
            "finished_at",
            "version",
            "new",
            "updated",
            "failures",
            "options",
            "skipped",
            "opted_out",
            "reactions",
        ),
        ("started_at", "version"),
    ),  # fmt: skip
    _Table(
        "instances",
        ("host", "base_url", "usable", "software", "version", "reason", "checked_at"),
        ("host",),
        has_id=False,
    ),
)
_FORGOTTEN = _Table(
    "forgotten", ("kind", "value", "reason", "forgotten_at"), ("kind", "value"), has_id=False
)


class CopyCounts:
    """Rows the destination did not have before, by table."""

    def __init__(self) -> None:
        self.added: dict[str, int] = {}

    def add(self, table: str, n: int) -> None:
        self.added[table] = self.added.get(table, 0) + n


class Slice(NamedTuple):
    """Which posts travel (and what hangs on them); empty: the whole archive."""

    tags: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    # The sources' cursors, runs and instances too (a whole archive brings them anyway).
    bookkeeping: bool = False

    @property
    def whole(self) -> bool:
        return not self.tags and self.since is None and self.until is None

    def where(self) -> tuple[str, list[Any]]:
        """SQL over ``p`` (posts) selecting the slice's posts, and its parameters."""
        sql, params = "", []
        if self.since is not None:
            sql += " AND p.created_at >= ?"
            params.append(iso(self.since))
        if self.until is not None:
            sql += " AND p.created_at < ?"
            params.append(iso(self.until))
        if self.tags:
            marks = ", ".join("?" * len(self.tags))
            sql += f" AND p.id IN (SELECT post_id FROM post_tags WHERE tag IN ({marks}))"
            params += list(self.tags)
        return sql, params


def copy_archive(src: StoreBase, dst: StoreBase, part: Slice | None = None) -> CopyCounts:
    """Copy ``part`` of ``src`` into ``dst`` (see the module's docstring)."""
    counts = CopyCounts()
    part = part or Slice()
    where, params = part.where()
    with _errors("copy", dst.path):
        _copy_all(src, dst, part, where, params, counts)
    return counts


def _copy_all(
    src: StoreBase,
    dst: StoreBase,
    part: Slice,
    where: str,
    params: list[Any],
    counts: CopyCounts,
) -> None:
    copier = _Copier(src, dst, counts)
    copier.rows(_FORGOTTEN, "SELECT kind, value, reason, forgotten_at FROM forgotten", [])
    copier.learn_takedowns()
    last = 0
    while True:
        posts = src.db.execute(
            f"SELECT p.id, {', '.join('p.' + c for c in _POSTS.columns)} FROM posts p"
            f" WHERE p.id > ?{where} ORDER BY p.id LIMIT ?",
            (last, *params, BATCH),
        ).fetchall()
        if not posts:
            break
        last = int(posts[-1][0])
        posts = copier.kept(_POSTS, posts)
        ids = [int(row[0]) for row in posts]
        with dst.transaction():
            author_ids = {row[1 + _POSTS.columns.index("author_id")] for row in posts}
            copier.by_ids(_AUTHORS, sorted(author_ids))
            copier.batch(_POSTS, posts)
            for child in _POST_CHILDREN:
                copier.children(child, "post_id", ids)
            uris = [str(row[1]) for row in posts]
            if not part.whole:
                copier.boosts_of(uris)
                copier.reactions_of(uris)
        copier.forget_ids(_POSTS, *_POST_CHILDREN)  # nothing later points at them by id
    if part.tags:  # and the articles filed under one of the tags themselves
        own = " OR ".join("instr(' ' || tags || ' ', ' ' || ? || ' ') > 0" for _ in part.tags)
        with dst.transaction():
            copier.reactions_where(own, part.tags)
    if part.whole:
        copier.everything(_BOOSTS)
        copier.everything(_REACTIONS)
    if part.whole or part.bookkeeping:
        for table in _WHOLE_ARCHIVE_ONLY:
            columns = ", ".join(table.columns)
            order = "id" if table.has_id else ", ".join(table.key)
            select = f"SELECT {'id, ' if table.has_id else ''}{columns} FROM {table.name}"
            copier.rows(table, f"{select} ORDER BY {order}", [])


class _Copier:
    """Row copying with id maps (source id -> destination id) per table."""

    def __init__(self, src: StoreBase, dst: StoreBase, counts: CopyCounts) -> None:
        self.src, self.dst, self.counts = src, dst, counts
        self.ids: dict[str, dict[int, int]] = {}
        self.out_authors: frozenset[str] = frozenset()
        self.out_posts: frozenset[str] = frozenset()
        self.dropped: set[str] = set()  # uris of posts a takedown kept out of this copy

    def rows(self, table: _Table, sql: str, params: Sequence[Any]) -> None:
        """Copy what ``sql`` selects (id first where the table has one), in batches."""
        cursor = self.src.db.execute(sql, params)
        while batch := cursor.fetchmany(BATCH):
            with self.dst.transaction():
                self.batch(table, batch)

    def everything(self, table: _Table) -> None:
        columns = ", ".join(table.columns)
        last = 0
        while True:
            rows = self.src.db.execute(
                f"SELECT id, {columns} FROM {table.name} WHERE id > ? ORDER BY id LIMIT ?",
                (last, BATCH),
            ).fetchall()
            if not rows:
                return
            last = int(rows[-1][0])
            with self.dst.transaction():
                self._with_parents(table, rows)
                if table is _REACTIONS:
                    ids = [int(row[0]) for row in rows]
                    for child in _REACTION_CHILDREN:
                        self.children(child, "reaction_id", ids)

    def by_ids(self, table: _Table, ids: Sequence[int]) -> None:
        known = self.ids.setdefault(table.name, {})
        for rows in self._select(table, "id", [i for i in ids if i not in known]):
            self._with_parents(table, rows)

    def boosts_of(self, uris: Sequence[str]) -> None:
        for rows in self._select(_BOOSTS, "post_uri", uris):
            self._with_parents(_BOOSTS, rows)

    def reactions_of(self, uris: Sequence[str]) -> None:
        """The reactions linked from the posts ``uris``, with their links and comments."""
        for part, marks in _parts(uris):
            self.reactions_where(
                f"id IN (SELECT reaction_id FROM reaction_links WHERE post_uri IN ({marks}))",
                part,
            )

    def reactions_where(self, where: str, params: Sequence[Any]) -> None:
        """The reactions ``where`` selects, with their links and comments."""
        cursor = self.src.db.execute(
            f"SELECT id, {', '.join(_REACTIONS.columns)} FROM reactions WHERE {where} ORDER BY id",
            params,
        )
        while rows := cursor.fetchmany(BATCH):
            fresh = [r for r in rows if int(r[0]) not in self.ids.get("reactions", {})]
            self.batch(_REACTIONS, fresh)
            ids = [int(r[0]) for r in fresh]
            for child in _REACTION_CHILDREN:
                self.children(child, "reaction_id", ids)

    def children(self, table: _Table, parent: str, ids: Sequence[int]) -> None:
        for rows in self._select(table, parent, ids):
            if table.name == "reaction_links" and self.dropped:
                rows = [row for row in rows if row[1] not in self.dropped]
            self.batch(table, rows)

    def _select(self, table: _Table, column: str, values: Sequence[Any]) -> Iterator[list[Any]]:
        """The source's rows of ``table`` (id first where it has one) whose ``column`` is
        one of ``values``, a batch per ``IN (...)``, in id (or key) order."""
        head = f"SELECT {'id, ' if table.has_id else ''}{', '.join(table.columns)}"
        order = "id" if table.has_id else ", ".join(table.key)
        for part, marks in _parts(values):
            yield self.src.db.execute(
                f"{head} FROM {table.name} WHERE {column} IN ({marks}) ORDER BY {order}", part
            ).fetchall()

    def forget_ids(self, *tables: _Table) -> None:
        """Drop the id maps of ``tables``: memory stays flat over a million posts (authors,
        reactions and comments, far fewer, are kept for what points at them later)."""
        for table in tables:
            self.ids.pop(table.name, None)

    def learn_takedowns(self) -> None:
        """Who and what the destination keeps out (its ``forgotten``, the source's now
        included): a copy never brings them back."""
        rows = self.dst.db.execute("SELECT kind, value FROM forgotten").fetchall()
        self.out_authors = frozenset(v for k, v in rows if k == "author")
        self.out_posts = frozenset(v for k, v in rows if k == "post")

    def kept(self, table: _Table, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """``rows`` of posts or boosts (id first) less those a takedown covers."""
        if not self.out_authors and not self.out_posts:
            return list(rows)
        column = "author_id" if table is _POSTS else "booster_id"
        index = 1 + table.columns.index(column)
        handles = self._handles(sorted({int(row[index]) for row in rows}))
        if table is _POSTS:
            uri, url = 1 + table.columns.index("uri"), 1 + table.columns.index("url")
            out = {
                row[uri] for row in rows
                if _post_kept_out(self.out_authors, self.out_posts, row[uri], row[url],
                                  handles[int(row[index])])
            }  # fmt: skip
            self.dropped |= out  # articles' links to them go too, as forget does
            return [row for row in rows if row[uri] not in out]
        post_uri = 1 + table.columns.index("post_uri")
        return [
            row for row in rows
            if not _boost_kept_out(self.out_authors, self.out_posts, handles[int(row[index])],
                                   row[post_uri])
        ]  # fmt: skip

    def _handles(self, ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for part, marks in _parts(ids):
            found.update(
                self.src.db.execute(f"SELECT id, handle FROM authors WHERE id IN ({marks})", part)
            )
        return found

    def _with_parents(self, table: _Table, rows: Sequence[Sequence[Any]]) -> None:
        if table is _BOOSTS:
            rows = self.kept(table, rows)
        if "booster_id" in table.parents:
            index = 1 + table.columns.index("booster_id")
            self.by_ids(_AUTHORS, sorted({int(r[index]) for r in rows}))
        self.batch(table, rows)

    def batch(self, table: _Table, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (id first where the table has one) not yet in the destination,
        their parents' ids mapped; record the id each got."""
        if not rows:
            return
        offset = 1 if table.has_id else 0
        mapped = [self._mapped(table, row[offset:]) for row in rows]
        columns = ", ".join(table.columns)
        marks = ", ".join("?" * len(table.columns))
        db = self.dst.db
        if not table.has_id:
            done = db.executemany(
                f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                mapped,
            )
            self.counts.add(table.name, max(int(done.rowcount), 0))
            return
        found = self._ids_by_key(table, mapped)
        fresh = [
            (int(row[0]), values)
            for row, values in zip(rows, mapped, strict=True)
            if _key(table, values) not in found
        ]
        if fresh:
            # The source's id where it is free here; a new one where it is not.
            db.executemany(
                f"INSERT INTO {table.name} (id, {columns}) VALUES (?, {marks})"
                " ON CONFLICT DO NOTHING",
                [(i, *values) for i, values in fresh],
            )
            self.dst._ids_given(table.name)
            found = self._ids_by_key(table, mapped)
            rest = [values for _, values in fresh if _key(table, values) not in found]
            if rest:
                db.executemany(
                    f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                    rest,
                )
                found = self._ids_by_key(table, mapped)
            self.counts.add(table.name, len(fresh))
        known = self.ids.setdefault(table.name, {})
        for row, values in zip(rows, mapped, strict=True):
            known[int(row[0])] = found[_key(table, values)]

    def _mapped(self, table: _Table, values: Sequence[Any]) -> tuple[Any, ...]:
        out = list(values)
        for column, parent in table.parents.items():
            index = table.columns.index(column)
            out[index] = self.ids[parent][int(out[index])]
        return tuple(out)

    def _ids_by_key(
        self, table: _Table, rows: Sequence[Sequence[Any]]
    ) -> dict[tuple[Any, ...], int]:
        """The destination's id of each row's natural key, for the keys it has."""
        positions = [table.columns.index(k) for k in table.key]
        found: dict[tuple[Any, ...], int] = {}
        if len(positions) == 1:
            keys = list(dict.fromkeys(str(row[positions[0]]) for row in rows))
            column = table.key[0]
            for part, marks in _parts(keys):
                for value, row_id in self.dst.db.execute(
                    f"SELECT {column}, id FROM {table.name} WHERE {column} IN ({marks})", part
                ):
                    found[(value,)] = int(row_id)
            return found
        condition = " AND ".join(f"{k} IS NOT DISTINCT FROM ?" for k in table.key)
        for row in rows:
            key = tuple(row[p] for p in positions)
            hit = self.dst.db.execute(
                f"SELECT id FROM {table.name} WHERE {condition} LIMIT 1", key
            ).fetchone()
            if hit is not None:
                found[key] = int(hit[0])
        return found


def _key(table: _Table, values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(values[table.columns.index(k)] for k in table.key)
