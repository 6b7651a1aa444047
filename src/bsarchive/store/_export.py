"""What exports and the digest read: filters, columns, streamed selects, headline counts."""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from bsarchive.dedupe import NEAR_DUPLICATE_THRESHOLD, cluster_near_duplicates
from bsarchive.store._base import _REACTION_TIME, _errors, _when
from bsarchive.store._columns import (
    COLUMN,
    EXPORT_COLUMNS,
    KINDS,
    ExportColumn,
    inner_sql,
    json_array_sql,
)
from bsarchive.store._filter import ExportFilter, _match, _post_tags, _reaction_tags, _window
from bsarchive.store._search import SearchMixin

# Rows per fetch when streaming an export.
BATCH = 2000


# A sighting whose source is a URL came from a feed or outbox, not from an instance.
_INSTANCE_SOURCE = "s.source NOT LIKE '%://%'"
# unicode() is the first character's code point: = + - @ TAB CR.
_SAFE_CELL = "CASE WHEN unicode({ref}) IN (61, 43, 45, 64, 9, 13) THEN '''' || {ref} ELSE {ref} END"


class ArchivedPost(NamedTuple):
    """A post as the digest and Atom exports read it (boosts: the larger of the server's
    count and the boosts we recorded)."""

    uri: str
    url: str | None
    created_at: datetime
    author: str
    author_name: str
    content_html: str
    text: str
    tags: tuple[str, ...]
    links: tuple[str, ...]
    in_reply_to: str | None
    boosts: int
    replies: int
    favourites: int
    seen_on: tuple[str, ...]
    deleted: bool
    edited: bool
    spoiler_text: str
    language: str | None


class ArchivedReaction(NamedTuple):
    """A reaction with its comment count (the larger of the comments archived and the count
    the blog states) and how many posts linked to it."""

    url: str
    title: str
    author: str
    site_name: str
    published_at: datetime | None
    excerpt: str
    comment_count: int
    linked_from_count: int
    tags: tuple[str, ...]
    seen_at: datetime  # published_at, else when we first saw it (the export's order)


class ArchivedComment(NamedTuple):
    """A comment as the digest shows it under its reaction."""

    author: str
    created_at: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class ArchiveCounts:
    """Headline numbers for the items a filter selects."""

    posts: int = 0
    people: int = 0
    instances: int = 0
    reactions: int = 0
    comments: int = 0
    boosts: int = 0


def _post_filter(flt: ExportFilter, params: list[Any]) -> str:
    """WHERE-clause tail selecting the posts (alias ``p``) a filter keeps."""
    if "post" not in flt.kinds:
        return " AND 0"
    clause = _window("p.created_at", flt, params) + _post_tags("p.id", flt, params)
    return clause + _match("p.id", "posts_fts", flt, params)


_BOOSTS = "max(coalesce(p.boosts, 0), (SELECT count(*) FROM boosts b WHERE b.post_uri = p.uri))"


# the post seen under that id on an instance where the reply was seen too.
_PARENT = """coalesce(p.in_reply_to_uri, (
    SELECT p2.uri FROM sightings s2 JOIN posts p2 ON p2.id = s2.post_id
    WHERE p.in_reply_to_local_id IS NOT NULL AND s2.local_id = p.in_reply_to_local_id
      AND s2.source IN (SELECT s3.source FROM sightings s3 WHERE s3.post_id = p.id)
    ORDER BY p2.uri LIMIT 1))"""


# An ArchivedPost's columns (see _archived_post), for ``p`` and its author ``a``.
_ARCHIVED_POST_SELECT = f"""
    SELECT p.uri, p.url, p.created_at, a.handle, a.name, p.content_html, p.text,
           p.tags, p.links, {_PARENT}, {_BOOSTS}, coalesce(p.replies, 0),
           coalesce(p.favourites, 0), p.seen_on, p.deleted_at IS NOT NULL,
           p.edited_at IS NOT NULL, p.spoiler_text, p.language
    FROM posts p JOIN authors a ON a.id = p.author_id"""


def _archived_post(r: tuple[Any, ...]) -> ArchivedPost:
    """The ArchivedPost of a row of ``_ARCHIVED_POST_SELECT``."""
    return ArchivedPost(
        r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], r[5], r[6],
        tuple(r[7].split()), tuple(r[8].split()), r[9], r[10], r[11], r[12],
        tuple(r[13].split()), bool(r[14]), bool(r[15]), r[16], r[17],
    )  # fmt: skip


# An ArchivedReaction's columns (see _archived_reaction), for ``r``; ``t`` its time.
_ARCHIVED_REACTION_SELECT = f"""
    SELECT r.url, r.title, r.author, r.site_name, r.published_at, r.excerpt,
           max((SELECT count(*) FROM comments c WHERE c.reaction_id = r.id),
               coalesce(r.comment_count, 0)),
           (SELECT count(*) FROM reaction_links l WHERE l.reaction_id = r.id),
           r.tags, {_REACTION_TIME} AS t
    FROM reactions r"""


def _archived_reaction(r: tuple[Any, ...]) -> ArchivedReaction:
    """The ArchivedReaction of a row of ``_ARCHIVED_REACTION_SELECT``."""
    return ArchivedReaction(
        r[0], r[1], r[2], r[3], _when(r[4]), r[5], r[6], r[7],
        tuple(r[8].split()), datetime.fromisoformat(r[9]),
    )  # fmt: skip


_FROM = {
    "post": "FROM posts p JOIN authors a ON a.id = p.author_id",
    "reaction": "FROM reactions r",
    "comment": "FROM comments c JOIN reactions r ON r.id = c.reaction_id",
    "boost": "FROM boosts b JOIN authors a ON a.id = b.booster_id",
    "version": "FROM post_versions v JOIN posts p ON p.id = v.post_id"
    " JOIN authors a ON a.id = p.author_id",
}


def _cell(
    column: ExportColumn,
    ref: str,
    kind: str,
    shape: Literal["rows", "json", "csv"],
    safe_cells: bool,
    lists: Literal["joined", "json"],
) -> str:
    """The outer SELECT's expression for one column of one kind, read from the CTE's
    ``ref``. A list in JSON form is made here from the joined text (on a plain reference:
    cheaper than in the inner select), unless the inner select gave JSON already."""
    if column.name == "id":
        return f"CAST({ref} AS TEXT)"  # ids are text in every format, like local_id
    if kind not in column.sql:
        return "NULL"  # the kind has no such field
    if column.is_list and lists == "json":
        given = kind in column.json_sql or column.type == "object"
        if not given:
            return json_array_sql(ref)
        return f"json({ref})" if shape == "json" else ref
    if shape == "json":
        if column.type == "boolean":
            truth = f"CASE WHEN {ref} IS NULL THEN 'null' WHEN {ref} THEN 'true' ELSE 'false' END"
            return f"json({truth})"
        return ref
    if safe_cells and column.remote:
        return _SAFE_CELL.format(ref=ref)
    return ref


def _rows(first: tuple[Any, ...], cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    """A cursor's rows, its first one already fetched, read in batches."""
    yield first
    while rows := cursor.fetchmany(1000):
        yield from rows


@dataclass(frozen=True, slots=True)
class NearDuplicates:
    """Near-duplicate clusters for the digest: each cluster's first post uri -> the other
    authors who posted the same text, and the uris of the later copies to show once."""

    also_posted_by: dict[str, tuple[str, ...]]
    hidden: frozenset[str]


class ExportMixin(SearchMixin):
    """Streamed reads for ``export`` and ``digest``."""

    def iter_export_rows(
        self,
        flt: ExportFilter,
        *,
        safe_cells: bool = False,
        columns: Sequence[str] = EXPORT_COLUMNS,
        lists: Literal["joined", "json"] = "joined",
    ) -> Generator[tuple[Any, ...], None, None]:
        """Rows with ``columns`` (names from ARCHIVE_COLUMNS, default EXPORT_COLUMNS), oldest
        first, streamed from one read snapshot. List columns are their items joined by a
        space, or with ``lists="json"`` JSON array text (objects too, whatever ``lists``).

        ``safe_cells`` neutralises text cells a spreadsheet would run as a formula (leading
        ``= + - @``, tab or CR get a ``'`` prefix, OWASP CSV injection), inside SQLite so a
        million-row export does not pay a Python loop per cell.

        Raises:
            ValueError: a column is not in ARCHIVE_COLUMNS (callers validate user input).
        """
        for batch in self._export(flt, columns, safe_cells=safe_cells, lists=lists):
            yield from batch

    def iter_export_json(
        self,
        flt: ExportFilter,
        *,
        columns: Sequence[str] = EXPORT_COLUMNS,
        names: Sequence[str] | None = None,
    ) -> Generator[list[bytes], None, None]:
        """The same items as :meth:`iter_export_rows` in batches, each item one compact JSON
        object (keys ``names``, default ``columns``, in order; UTF-8 bytes; lists as arrays,
        booleans as true/false) built by SQLite's ``json_object``: twice as fast as building
        dicts and serialising them in Python."""
        for batch in self._export(flt, columns, safe_cells=False, shape="json", names=names):
            yield [row[0] for row in batch]

    def iter_export_csv(
        self, flt: ExportFilter, *, safe_cells: bool = True, columns: Sequence[str] = EXPORT_COLUMNS
    ) -> Generator[list[bytes], None, None]:
        """The same items as :meth:`iter_export_rows` in batches, each one RFC 4180 CSV line
        (UTF-8 bytes, without its CRLF) built by SQLite's ``format()``: text fields always
        quoted, embedded quotes doubled (``%w``), numbers bare, NULL empty. Python's csv
        module costs more than the query; this keeps a million-row export near
        ``sqlite3 -csv``. Bytes straight from SQLite skip a decode and an encode per line.
        """
        for batch in self._export(flt, columns, safe_cells=safe_cells, shape="csv"):
            yield [row[0] for row in batch]

    def _export(
        self,
        flt: ExportFilter,
        columns: Sequence[str],
        *,
        safe_cells: bool,
        shape: Literal["rows", "json", "csv"] = "rows",
        lists: Literal["joined", "json"] = "joined",
        names: Sequence[str] | None = None,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Batches of export rows (whole fetchmany batches when one kind has rows).

        ``lists``: list columns as their space-joined text (CSV, xlsx) or as JSON array
        text (JSON always; Parquet). ``names``: the JSON keys (default ``columns``).
        """
        unknown = [c for c in columns if c not in COLUMN]
        if unknown:
            raise ValueError(f"unknown export column {unknown[0]!r}")
        self.check_search(flt.search)
        if shape == "json":
            lists = "json"
        # One query per kind, each read in its index order; merged here by created_at
        # (kinds in KINDS order at equal times, then by id). Sorting a UNION of a million
        # rows in SQLite costs several times the export itself.
        inner = list(dict.fromkeys(("created_at", "id", *columns)))
        refs = {name: f"c{i}" for i, name in enumerate(inner)}
        whole = shape != "rows"  # one preformatted column per row
        hidden = whole or "created_at" not in columns  # merge key, appended when needed
        # where the merge key is: after the one preformatted cell, after the columns, or
        # among them
        key_index = 1 if whole else len(columns) if hidden else list(columns).index("created_at")
        queries: list[tuple[str, list[Any]]] = []
        for kind, sql, params in self._export_selects(flt, inner, lists):
            cells = [
                _cell(COLUMN[name], refs[name], kind, shape, safe_cells, lists) for name in columns
            ]
            if shape == "json":
                keys = names or columns
                pairs = ", ".join(
                    f"'{key.replace(chr(39), chr(39) * 2)}', {cell}"
                    for key, cell in zip(keys, cells, strict=True)
                )
                cells = [f"json_object({pairs})"]
            elif shape == "csv":
                template = ",".join(
                    '"%w"' if COLUMN[c].remote or c == "id" else "%s" for c in columns
                )
                values = ", ".join(f"coalesce({cell}, '')" for cell in cells)
                cells = [f"format('{template}', {values})"]
            if hidden:
                cells.append(refs["created_at"])
            queries.append(
                (
                    f"WITH t({', '.join(refs.values())}) AS ({sql})"
                    f" SELECT {', '.join(cells)} FROM t ORDER BY c0, c1",
                    params,
                )
            )
        whole_bytes = shape != "rows"
        with (
            _errors("export", self.path),
            self.snapshot(),
            self._text_as(bytes if whole_bytes else str),
        ):
            if any("bs_handle(" in sql for sql, _ in queries):
                # imported here: bsarchive.urls loads lxml, a tenth of a second at start
                from bsarchive.urls import handle_from_actor_uri

                self.db.create_function("bs_handle", 1, handle_from_actor_uri, deterministic=True)
            streams: list[tuple[tuple[Any, ...], sqlite3.Cursor]] = []
            for sql, params in queries:
                cursor = self.db.execute(sql, params)
                first = cursor.fetchone()
                if first is not None:
                    streams.append((first, cursor))
            if len(streams) == 1:
                first, cursor = streams[0]
                batches: Iterator[list[Any]] = itertools.chain(
                    [[first]], iter(lambda: cursor.fetchmany(BATCH), [])
                )
            else:
                merged = heapq.merge(
                    *(_rows(first, cursor) for first, cursor in streams),
                    key=lambda row: row[key_index] or (b"" if whole_bytes else ""),
                )
                batches = iter(lambda: list(itertools.islice(merged, BATCH)), [])
            for batch in batches:
                yield [row[:-1] for row in batch] if hidden and not whole else batch

    def _export_selects(
        self, flt: ExportFilter, inner: Sequence[str], lists: Literal["joined", "json"]
    ) -> list[tuple[str, str, list[Any]]]:
        """(kind, SQL, params) per kind the filter keeps, columns in ``inner`` order
        (unsorted)."""
        selects: list[tuple[str, str, list[Any]]] = []
        for kind in KINDS:
            if kind not in flt.kinds:
                continue
            params: list[Any] = []
            values = ", ".join(inner_sql(COLUMN[name], kind, lists) for name in inner)
            sql = f"SELECT {values} {_FROM[kind]} WHERE 1=1"
            sql += _window(COLUMN["created_at"].sql[kind], flt, params)
            if kind == "post" or kind == "version":
                sql += _post_tags("p.id", flt, params) + _match("p.id", "posts_fts", flt, params)
            elif kind == "reaction":
                sql += _reaction_tags(flt, params) + _match("r.id", "reactions_fts", flt, params)
            elif kind == "comment":
                sql += _reaction_tags(flt, params, "c.reaction_id")
                sql += _match("c.id", "comments_fts", flt, params)
            else:  # a boost follows the post it boosts
                boosted = " AND b.post_uri IN (SELECT p3.uri FROM posts p3 WHERE 1=1{})"
                if flt.tags:
                    sql += boosted.format(_post_tags("p3.id", flt, params))
                if flt.search:
                    sql += boosted.format(_match("p3.id", "posts_fts", flt, params))
            selects.append((kind, sql, params))
        return selects

    def iter_archived_posts(self, flt: ExportFilter) -> Iterator[ArchivedPost]:
        """Posts the filter keeps, oldest first (then by uri), streamed; ``in_reply_to`` is
        the parent's uri, resolved from a Mastodon local id when that is all we have."""
        params: list[Any] = []
        sql = f"""
            {_ARCHIVED_POST_SELECT}
            WHERE 1=1 {_post_filter(flt, params)}
            ORDER BY p.created_at, p.uri
        """
        with _errors("read posts", self.path), self.snapshot():
            cursor = self.db.execute(sql, params)
            while rows := cursor.fetchmany(1000):
                for r in rows:
                    yield _archived_post(r)

    def iter_archived_reactions(self, flt: ExportFilter) -> Iterator[ArchivedReaction]:
        """Reactions the filter keeps (by published time, else first seen), oldest first.

        As in ``iter_export_rows``, ``--tag`` keeps the reactions about the tags (tagged
        themselves, or linked from a post that is).
        """
        if "reaction" not in flt.kinds:
            return
        params: list[Any] = []
        sql = f"""
            {_ARCHIVED_REACTION_SELECT} WHERE 1=1 {_window(_REACTION_TIME, flt, params)}
                {_reaction_tags(flt, params)} {_match("r.id", "reactions_fts", flt, params)}
            ORDER BY t, r.url
        """
        with _errors("read reactions", self.path), self.snapshot():
            cursor = self.db.execute(sql, params)
            while rows := cursor.fetchmany(1000):
                for r in rows:
                    yield _archived_reaction(r)

    def first_comments(
        self, per_reaction: int, urls: Sequence[str] | None = None
    ) -> dict[str, list[ArchivedComment]]:
        """The ``per_reaction`` earliest comments of each reaction (of those at ``urls``
        only, when given), by reaction url: what the digest shows under a reaction (the
        count says how many there are in all)."""
        only, params = "", list[Any]([per_reaction])
        if urls is not None:
            if not urls:
                return {}
            only = f" WHERE r.url IN ({','.join('?' * len(urls))})"
            params = [*urls, per_reaction]
        with _errors("read comments", self.path), self.snapshot():
            rows = self.db.execute(
                f"""
                SELECT url, author, created_at, text FROM (
                    SELECT r.url, c.author, c.created_at, c.text,
                           row_number() OVER (PARTITION BY c.reaction_id
                                              ORDER BY c.created_at, c.id) AS n
                    FROM comments c JOIN reactions r ON r.id = c.reaction_id{only}
                ) WHERE n <= ? ORDER BY url, n
                """,
                params,
            ).fetchall()
        found: dict[str, list[ArchivedComment]] = {}
        for url, author, created_at, text in rows:
            found.setdefault(url, []).append(ArchivedComment(author, _when(created_at), text))
        return found

    def archive_counts(self, flt: ExportFilter) -> ArchiveCounts:
        """Posts, people, instances (sightings that are not feeds), reactions, comments and
        boosts for the items the filter keeps."""
        q = self.db.execute
        with _errors("read counts", self.path), self.snapshot():
            params: list[Any] = []
            posts, people, boosts = q(
                f"SELECT count(*), count(DISTINCT p.author_id), coalesce(sum({_BOOSTS}), 0)"
                f" FROM posts p WHERE 1=1 {_post_filter(flt, params)}",
                params,
            ).fetchone()
            params = []
            instances = q(
                f"SELECT count(DISTINCT s.source) FROM sightings s WHERE {_INSTANCE_SOURCE}"
                f" AND s.post_id IN (SELECT p.id FROM posts p WHERE 1=1"
                f" {_post_filter(flt, params)})",
                params,
            ).fetchone()[0]
            reactions = comments = 0
            if "reaction" in flt.kinds:
                params = []
                reactions = q(
                    "SELECT count(*) FROM reactions r WHERE 1=1"
                    + _window(_REACTION_TIME, flt, params)
                    + _reaction_tags(flt, params)
                    + _match("r.id", "reactions_fts", flt, params),
                    params,
                ).fetchone()[0]
            if "comment" in flt.kinds:
                params = []
                comments = q(
                    "SELECT count(*) FROM comments c WHERE 1=1"
                    + _window("coalesce(c.created_at, c.fetched_at)", flt, params)
                    + _reaction_tags(flt, params, "c.reaction_id")
                    + _match("c.id", "comments_fts", flt, params),
                    params,
                ).fetchone()[0]
        return ArchiveCounts(posts, people, instances, reactions, comments, boosts)

    def top_voices(self, flt: ExportFilter, *, top: int = 10) -> list[tuple[str, str, int]]:
        """(handle, name, posts) for the most active authors, busiest first."""
        params: list[Any] = []
        sql = (
            "SELECT a.handle, a.name, count(*) AS n FROM posts p JOIN authors a"
            f" ON a.id = p.author_id WHERE 1=1 {_post_filter(flt, params)}"
            " GROUP BY a.id ORDER BY n DESC, a.handle LIMIT ?"
        )
        with _errors("read top voices", self.path):
            return [tuple(row) for row in self.db.execute(sql, (*params, top)).fetchall()]

    def top_links(self, flt: ExportFilter, *, top: int = 10) -> list[tuple[str, int]]:
        """(url, posts sharing it) for the most shared links, most shared first."""
        params: list[Any] = []
        sql = (
            "SELECT l.url, count(*) AS n FROM post_links l WHERE l.post_id IN"
            f" (SELECT p.id FROM posts p WHERE 1=1 {_post_filter(flt, params)})"
            " GROUP BY l.url ORDER BY n DESC, l.url LIMIT ?"
        )
        with _errors("read top links", self.path):
            return [tuple(row) for row in self.db.execute(sql, (*params, top)).fetchall()]

    def latest_time(self, flt: ExportFilter) -> datetime | None:
        """The newest post or reaction time the filter keeps (an Atom feed's ``updated``)."""
        params: list[Any] = []
        post_sql = f"SELECT max(p.created_at) FROM posts p WHERE 1=1 {_post_filter(flt, params)}"
        with _errors("read latest", self.path), self.snapshot():
            latest = [self.db.execute(post_sql, params).fetchone()[0]]
            if "reaction" in flt.kinds:
                params = []
                latest.append(
                    self.db.execute(
                        f"SELECT max({_REACTION_TIME}) FROM reactions r WHERE 1=1"
                        + _window(_REACTION_TIME, flt, params)
                        + _reaction_tags(flt, params),
                        params,
                    ).fetchone()[0]
                )
        values = [v for v in latest if v]
        return datetime.fromisoformat(max(values)) if values else None

    def near_duplicates(
        self, flt: ExportFilter, *, threshold: float = NEAR_DUPLICATE_THRESHOLD
    ) -> NearDuplicates:
        """Clusters of near-duplicate posts among those the filter keeps (dedupe rules).

        Nothing is deleted: the digest shows each cluster's first post with "also posted by"
        the other authors, and hides the rest.
        """
        params: list[Any] = []
        sql = (
            "SELECT p.uri, a.handle, p.text FROM posts p JOIN authors a ON a.id = p.author_id"
            f" WHERE p.deleted_at IS NULL {_post_filter(flt, params)}"
            " ORDER BY p.created_at, p.uri"
        )
        with _errors("read posts", self.path):
            rows: list[tuple[str, str, str]] = self.db.execute(sql, params).fetchall()
        return collapse_near_duplicates(rows, threshold=threshold)


def collapse_near_duplicates(
    rows: Sequence[tuple[str, str, str]], *, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> NearDuplicates:
    """The near-duplicate clusters among ``rows`` (uri, handle, text), oldest first: each
    cluster's first post is shown "also posted by" the other authors, the rest hidden."""
    handles = {uri: handle for uri, handle, _ in rows}
    also: dict[str, tuple[str, ...]] = {}
    hidden: set[str] = set()
    for cluster in cluster_near_duplicates(rows, threshold=threshold):
        first, rest = cluster[0], cluster[1:]
        others = [handles[u] for u in rest if handles[u] != handles[first]]
        if others:
            also[first] = tuple(dict.fromkeys(others))
        hidden.update(rest)
    return NearDuplicates(also, frozenset(hidden))
