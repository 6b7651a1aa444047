"""What exports and the digest read: filters, columns, streamed selects, headline counts."""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from bsarchive.dedupe import NEAR_DUPLICATE_THRESHOLD, cluster_near_duplicates
from bsarchive.models import iso
from bsarchive.store._base import _REACTION_TIME, _errors, _when
from bsarchive.store._search import SearchMixin

# Rows per fetch when streaming an export.
BATCH = 2000


@dataclass(frozen=True, slots=True)
class ExportFilter:
    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("post", "reaction", "comment")
    # An FTS5 query (``--search``): only items whose text matches.
    search: str | None = None


EXPORT_COLUMNS: tuple[str, ...] = (
    "kind",
    "id",
    "uri",
    "url",
    "created_at",
    "author",
    "author_name",
    "text",
    "tags",
    "links",
    "in_reply_to",
    "boosts",
    "replies",
    "favourites",
    "source",
    "seen_on",
    "reaction_to",
    "edited_at",
    "deleted_at",
    "fetched_at",
    "fetched_from",
    "version",
)


# Columns an export may ask for beyond EXPORT_COLUMNS (``--columns``, ``--raw``): the SQL
# for a post, a reaction and a comment. Read only when asked: ``raw`` is most of a row's bytes.
EXTRA_COLUMNS: dict[str, tuple[str, str, str]] = {
    "username": ("ltrim(a.handle, '@')", "r.author", "c.author"),  # handle without leading @
    "language": ("p.language", "r.language", "NULL"),
    "first_seen_at": ("p.first_seen_at", "r.first_seen_at", "c.fetched_at"),
    # The author's opt-ins as their server last reported them: 1, 0, or empty (not said).
    "author_indexable": ("a.indexable", "NULL", "NULL"),
    "author_discoverable": ("a.discoverable", "NULL", "NULL"),
    "raw": ("p.raw", "r.raw", "c.raw"),
    # The id the post had where it was first seen (a tweet id, a status id on one server).
    "local_id": (
        "(SELECT s.local_id FROM sightings s WHERE s.post_id = p.id"
        " ORDER BY s.first_seen_at, s.source LIMIT 1)",
        "NULL",
        "NULL",
    ),
}
ARCHIVE_COLUMNS: tuple[str, ...] = EXPORT_COLUMNS + tuple(EXTRA_COLUMNS)

# Columns that hold remote text (everything but kind, id, counts and our own stamps).
_TEXT_COLUMNS = frozenset(ARCHIVE_COLUMNS) - {
    "kind", "id", "boosts", "replies", "favourites", "created_at", "edited_at", "deleted_at",
    "fetched_at", "version", "first_seen_at", "author_indexable", "author_discoverable",
}  # fmt: skip
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


def _window(column: str, flt: ExportFilter, params: list[Any]) -> str:
    """`` AND column >= since AND column < until`` for the filter's window."""
    clause = ""
    if flt.since is not None:
        clause += f" AND {column} >= ?"
        params.append(iso(flt.since))
    if flt.until is not None:
        clause += f" AND {column} < ?"
        params.append(iso(flt.until))
    return clause


def _post_filter(flt: ExportFilter, params: list[Any]) -> str:
    """WHERE-clause tail selecting the posts (alias ``p``) a filter keeps."""
    if "post" not in flt.kinds:
        return " AND 0"
    clause = _window("p.created_at", flt, params)
    if flt.tags:
        clause += (
            " AND p.id IN (SELECT post_id FROM post_tags WHERE tag IN ("
            + ",".join("?" * len(flt.tags))
            + "))"
        )
        params.extend(flt.tags)
    return clause + _match("p.id", "posts_fts", flt, params)


def _reaction_tags(flt: ExportFilter, params: list[Any], reaction_id: str = "r.id") -> str:
    """`` AND`` the reaction (``reaction_id``) is about the filter's tags: it carries one
    (its categories), or a post carrying one links to it. Comments follow their reaction."""
    if not flt.tags:
        return ""
    marks = ",".join("?" * len(flt.tags))
    own = " OR ".join("instr(' ' || r2.tags || ' ', ' ' || ? || ' ') > 0" for _ in flt.tags)
    params.extend(flt.tags)
    params.extend(flt.tags)
    return (
        f" AND {reaction_id} IN (SELECT l.reaction_id FROM reaction_links l"
        " JOIN posts p2 ON p2.uri = l.post_uri JOIN post_tags t ON t.post_id = p2.id"
        f" WHERE t.tag IN ({marks})"
        f" UNION SELECT r2.id FROM reactions r2 WHERE {own})"
    )


def _match(id_column: str, fts: str, flt: ExportFilter, params: list[Any]) -> str:
    """`` AND id IN (rows matching the filter's search)`` when it has one."""
    if not flt.search:
        return ""
    params.append(flt.search)
    return f" AND {id_column} IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"


_BOOSTS = "max(coalesce(p.boosts, 0), (SELECT count(*) FROM boosts b WHERE b.post_uri = p.uri))"


# the post seen under that id on an instance where the reply was seen too.
_PARENT = """coalesce(p.in_reply_to_uri, (
    SELECT p2.uri FROM sightings s2 JOIN posts p2 ON p2.id = s2.post_id
    WHERE p.in_reply_to_local_id IS NOT NULL AND s2.local_id = p.in_reply_to_local_id
      AND s2.source IN (SELECT s3.source FROM sightings s3 WHERE s3.post_id = p.id)
    ORDER BY p2.uri LIMIT 1))"""


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
    ) -> Iterator[tuple[Any, ...]]:
        """Rows with ``columns`` (names from ARCHIVE_COLUMNS, default EXPORT_COLUMNS), oldest
        first, streamed from one read snapshot.

        ``safe_cells`` neutralises text cells a spreadsheet would run as a formula (leading
        ``= + - @``, tab or CR get a ``'`` prefix, OWASP CSV injection), inside SQLite so a
        million-row export does not pay a Python loop per cell.

        Raises:
            ValueError: a column is not in ARCHIVE_COLUMNS (callers validate user input).
        """
        for batch in self._export(flt, columns, safe_cells=safe_cells):
            yield from batch

    def iter_export_json(
        self, flt: ExportFilter, *, columns: Sequence[str] = EXPORT_COLUMNS
    ) -> Iterator[list[bytes]]:
        """The same items as :meth:`iter_export_rows` in batches, each item one compact JSON
        object (keys in ``columns`` order, UTF-8 bytes) built by SQLite's ``json_object``:
        twice as fast as building dicts and serialising them in Python."""
        for batch in self._export(flt, columns, safe_cells=False, shape="json"):
            yield [row[0] for row in batch]

    def iter_export_csv(
        self, flt: ExportFilter, *, safe_cells: bool = True, columns: Sequence[str] = EXPORT_COLUMNS
    ) -> Iterator[list[bytes]]:
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
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Batches of export rows (whole fetchmany batches when one kind has rows)."""
        unknown = [c for c in columns if c not in ARCHIVE_COLUMNS]
        if unknown:
            raise ValueError(f"unknown export column {unknown[0]!r}")
        self.check_search(flt.search)
        # One query per kind, each read in its index order; merged here by created_at
        # (posts before reactions before comments at equal times, then by id). Sorting a
        # UNION of a million rows in SQLite costs several times the export itself.
        extras = [c for c in EXTRA_COLUMNS if c in columns]
        inner = (*EXPORT_COLUMNS, *extras)
        cells = [
            _SAFE_CELL.format(ref=f"c{inner.index(column)}")
            if safe_cells and column in _TEXT_COLUMNS
            else f"CAST(c{inner.index(column)} AS TEXT)"  # ids are text, like local_id
            if column == "id"
            else f"c{inner.index(column)}"
            for column in columns
        ]
        if shape == "json":
            pairs = ", ".join(
                f"'{name}', {cell}" for name, cell in zip(columns, cells, strict=True)
            )
            cells = [f"json_object({pairs})"]
        elif shape == "csv":
            template = ",".join(
                '"%w"' if c in _TEXT_COLUMNS or c == "id" else "%s" for c in columns
            )
            values = ", ".join(f"coalesce({cell}, '')" for cell in cells)
            cells = [f"format('{template}', {values})"]
        whole = shape != "rows"  # one preformatted column per row
        hidden = whole or "created_at" not in columns  # merge key, appended when needed
        if hidden:
            cells.append(f"c{inner.index('created_at')}")
        key_index = len(cells) - 1 if hidden else list(columns).index("created_at")
        names = ", ".join(f"c{i}" for i in range(len(inner)))
        queries = [
            (f"WITH t({names}) AS ({sql}) SELECT {', '.join(cells)} FROM t ORDER BY c4, c1", params)
            for sql, params in self._export_selects(flt, extras)
        ]
        whole_bytes = shape != "rows"
        with (
            _errors("export", self.path),
            self.snapshot(),
            self._text_as(bytes if whole_bytes else str),
        ):
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
        self, flt: ExportFilter, extras: Sequence[str]
    ) -> list[tuple[str, list[Any]]]:
        """(SQL, params) per kind, columns in EXPORT_COLUMNS + extras order (unsorted)."""
        post_x, reaction_x, comment_x = (
            "".join(f", {EXTRA_COLUMNS[c][i]}" for c in extras) for i in range(3)
        )
        since, until = iso(flt.since), iso(flt.until)

        def window(column: str, params: list[Any]) -> str:
            clause = ""
            if since:
                clause += f" AND {column} >= ?"
                params.append(since)
            if until:
                clause += f" AND {column} < ?"
                params.append(until)
            return clause

        selects: list[tuple[str, list[Any]]] = []
        if "post" in flt.kinds:
            params: list[Any] = []
            sql = f"""
                SELECT 'post', p.id, p.uri, p.url, p.created_at, a.handle, a.name, p.text,
                       p.tags, p.links, p.in_reply_to_uri,
                       p.boosts, p.replies, p.favourites,
                       p.source, p.seen_on, NULL, p.edited_at, p.deleted_at, p.fetched_at,
                       p.fetched_from, p.version{post_x}
                FROM posts p JOIN authors a ON a.id = p.author_id WHERE 1=1"""
            sql += window("p.created_at", params)
            if flt.tags:
                sql += (
                    " AND p.id IN (SELECT post_id FROM post_tags WHERE tag IN ("
                    + ",".join("?" * len(flt.tags))
                    + "))"
                )
                params.extend(flt.tags)
            sql += _match("p.id", "posts_fts", flt, params)
            selects.append((sql, params))
        if "reaction" in flt.kinds:
            params = []
            sql = f"""
                SELECT 'reaction', r.id, r.url, r.url,
                       coalesce(r.published_at, r.first_seen_at), r.author, r.author,
                       r.title || CASE WHEN r.excerpt != '' THEN char(10) || r.excerpt ELSE '' END,
                       r.tags, r.comments_feed, NULL, NULL, r.comment_count, NULL, 'blog',
                       r.site_name,
                       (SELECT group_concat(post_uri, ' ') FROM reaction_links l
                        WHERE l.reaction_id = r.id),
                       NULL, NULL, r.fetched_at, r.fetched_from, r.version{reaction_x}
                FROM reactions r WHERE 1=1"""
            sql += window("coalesce(r.published_at, r.first_seen_at)", params)
            sql += _reaction_tags(flt, params)
            sql += _match("r.id", "reactions_fts", flt, params)
            selects.append((sql, params))
        if "comment" in flt.kinds:
            params = []
            sql = f"""
                SELECT 'comment', c.id, c.uri, c.url, coalesce(c.created_at, c.fetched_at),
                       c.author, c.author, c.text, '', NULL, c.in_reply_to, NULL, NULL, NULL,
                       'blog', NULL, r.url, NULL, NULL, c.fetched_at, c.fetched_from,
                       c.version{comment_x}
                FROM comments c JOIN reactions r ON r.id = c.reaction_id WHERE 1=1"""
            sql += window("coalesce(c.created_at, c.fetched_at)", params)
            sql += _reaction_tags(flt, params, "c.reaction_id")
            sql += _match("c.id", "comments_fts", flt, params)
            selects.append((sql, params))
        return selects

    def iter_archived_posts(self, flt: ExportFilter) -> Iterator[ArchivedPost]:
        """Posts the filter keeps, oldest first (then by uri), streamed; ``in_reply_to`` is
        the parent's uri, resolved from a Mastodon local id when that is all we have."""
        params: list[Any] = []
        sql = f"""
            SELECT p.uri, p.url, p.created_at, a.handle, a.name, p.content_html, p.text,
                   p.tags, p.links, {_PARENT}, {_BOOSTS}, coalesce(p.replies, 0),
                   coalesce(p.favourites, 0), p.seen_on, p.deleted_at IS NOT NULL,
                   p.edited_at IS NOT NULL, p.spoiler_text, p.language
            FROM posts p JOIN authors a ON a.id = p.author_id
            WHERE 1=1 {_post_filter(flt, params)}
            ORDER BY p.created_at, p.uri
        """
        with _errors("read posts", self.path), self.snapshot():
            cursor = self.db.execute(sql, params)
            while rows := cursor.fetchmany(1000):
                for r in rows:
                    yield ArchivedPost(
                        r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], r[5], r[6],
                        tuple(r[7].split()), tuple(r[8].split()), r[9], r[10], r[11], r[12],
                        tuple(r[13].split()), bool(r[14]), bool(r[15]), r[16], r[17],
                    )  # fmt: skip

    def iter_archived_reactions(self, flt: ExportFilter) -> Iterator[ArchivedReaction]:
        """Reactions the filter keeps (by published time, else first seen), oldest first.

        As in ``iter_export_rows``, ``--tag`` keeps the reactions about the tags (tagged
        themselves, or linked from a post that is).
        """
        if "reaction" not in flt.kinds:
            return
        params: list[Any] = []
        sql = f"""
            SELECT r.url, r.title, r.author, r.site_name, r.published_at, r.excerpt,
                   max((SELECT count(*) FROM comments c WHERE c.reaction_id = r.id),
                       coalesce(r.comment_count, 0)),
                   (SELECT count(*) FROM reaction_links l WHERE l.reaction_id = r.id),
                   r.tags, {_REACTION_TIME} AS t
            FROM reactions r WHERE 1=1 {_window(_REACTION_TIME, flt, params)}
                {_reaction_tags(flt, params)} {_match("r.id", "reactions_fts", flt, params)}
            ORDER BY t, r.url
        """
        with _errors("read reactions", self.path), self.snapshot():
            cursor = self.db.execute(sql, params)
            while rows := cursor.fetchmany(1000):
                for r in rows:
                    yield ArchivedReaction(
                        r[0], r[1], r[2], r[3], _when(r[4]), r[5], r[6], r[7],
                        tuple(r[8].split()), datetime.fromisoformat(r[9]),
                    )  # fmt: skip

    def first_comments(self, per_reaction: int) -> dict[str, list[ArchivedComment]]:
        """The ``per_reaction`` earliest comments of each reaction, by reaction url: what
        the digest shows under a reaction (the count says how many there are in all)."""
        with _errors("read comments", self.path), self.snapshot():
            rows = self.db.execute(
                """
                SELECT url, author, created_at, text FROM (
                    SELECT r.url, c.author, c.created_at, c.text,
                           row_number() OVER (PARTITION BY c.reaction_id
                                              ORDER BY c.created_at, c.id) AS n
                    FROM comments c JOIN reactions r ON r.id = c.reaction_id
                ) WHERE n <= ? ORDER BY url, n
                """,
                (per_reaction,),
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

    def boost_counts(self) -> dict[str, int]:
        with _errors("read boosts", self.path):
            return dict(
                self.db.execute(
                    "SELECT post_uri, count(*) FROM boosts GROUP BY post_uri"
                ).fetchall()
            )

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
