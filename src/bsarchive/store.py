"""The SQLite archive: schema, migrations, upserts, cursors, transactions, the run lock.

The only module that runs SQL. Writers take the write lock up front (``BEGIN IMMEDIATE``)
and commit a page of items together with its source's cursor, so a run killed at any
instant loses nothing and repeats nothing. The database is in WAL mode, so exports read a
consistent snapshot while a fetch writes.

This module does no network access and no parsing of foreign payloads; it receives models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import heapq
import itertools
import json
import operator
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

from bsarchive import __version__
from bsarchive.dedupe import (
    NEAR_DUPLICATE_THRESHOLD,
    cluster_near_duplicates,
    identity_candidates,
    max_count,
    retweeted_post,
)
from bsarchive.errors import ConfigError, LockHeldError, StoreError
from bsarchive.models import (
    Author,
    Boost,
    Comment,
    Cursor,
    Deletion,
    Item,
    Page,
    Post,
    Reaction,
    Sighting,
    SourceResult,
    iso,
)

# Schema migrations: index i brings user_version from i to i + 1. Never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE authors (
        id INTEGER PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        url TEXT,
        uri TEXT,
        bio TEXT NOT NULL DEFAULT '',
        bot INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        url TEXT,
        created_at TEXT NOT NULL,
        author_id INTEGER NOT NULL REFERENCES authors(id),
        content_html TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        spoiler_text TEXT NOT NULL DEFAULT '',
        language TEXT,
        visibility TEXT,
        sensitive INTEGER NOT NULL DEFAULT 0,
        in_reply_to_uri TEXT,
        in_reply_to_local_id TEXT,
        quote_uri TEXT,
        tags TEXT NOT NULL DEFAULT '',
        links TEXT NOT NULL DEFAULT '',
        media TEXT NOT NULL DEFAULT '',
        boosts INTEGER,
        replies INTEGER,
        favourites INTEGER,
        edited_at TEXT,
        deleted_at TEXT,
        source TEXT NOT NULL,
        seen_on TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX posts_created_at ON posts(created_at);
    CREATE INDEX posts_author ON posts(author_id);
    CREATE INDEX posts_url ON posts(url);
    CREATE TABLE sightings (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        local_id TEXT NOT NULL DEFAULT '',
        url TEXT,
        fetched_from TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        PRIMARY KEY (post_id, source, local_id)
    ) WITHOUT ROWID;
    CREATE INDEX sightings_url ON sightings(url);
    CREATE INDEX sightings_local ON sightings(source, local_id);
    CREATE TABLE post_tags (
        tag TEXT NOT NULL,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        PRIMARY KEY (tag, post_id)
    ) WITHOUT ROWID;
    CREATE INDEX post_tags_post ON post_tags(post_id);
    CREATE TABLE post_links (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (post_id, url)
    ) WITHOUT ROWID;
    CREATE INDEX post_links_url ON post_links(url);
    CREATE TABLE post_versions (
        id INTEGER PRIMARY KEY,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        edited_at TEXT,
        content_html TEXT NOT NULL,
        text TEXT NOT NULL,
        spoiler_text TEXT NOT NULL,
        raw TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX post_versions_post ON post_versions(post_id);
    CREATE TABLE boosts (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        post_uri TEXT NOT NULL,
        booster_id INTEGER NOT NULL REFERENCES authors(id),
        created_at TEXT NOT NULL,
        source TEXT NOT NULL,
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL
    );
    CREATE INDEX boosts_post ON boosts(post_uri);
    CREATE TABLE reactions (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        original_url TEXT,
        title TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        published_at TEXT,
        site_name TEXT NOT NULL DEFAULT '',
        language TEXT,
        excerpt TEXT NOT NULL DEFAULT '',
        comments_feed TEXT,
        tags TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX reactions_published ON reactions(published_at);
    CREATE TABLE reaction_links (
        reaction_id INTEGER NOT NULL REFERENCES reactions(id) ON DELETE CASCADE,
        post_uri TEXT NOT NULL,
        PRIMARY KEY (reaction_id, post_uri)
    ) WITHOUT ROWID;
    CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        reaction_id INTEGER NOT NULL REFERENCES reactions(id) ON DELETE CASCADE,
        url TEXT,
        author TEXT NOT NULL DEFAULT '',
        created_at TEXT,
        text TEXT NOT NULL DEFAULT '',
        content_html TEXT NOT NULL DEFAULT '',
        in_reply_to TEXT,
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL
    );
    CREATE INDEX comments_reaction ON comments(reaction_id);
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,
        newest TEXT,
        oldest TEXT,
        backfill_done INTEGER NOT NULL DEFAULT 0,
        etag TEXT,
        last_modified TEXT,
        not_before TEXT,
        gone INTEGER NOT NULL DEFAULT 0,
        last_success_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        items INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0,
        waited REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        version TEXT NOT NULL,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        options TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: full-text search (issue 8). External-content FTS5 tables over the text columns,
    # kept in sync by triggers (https://sqlite.org/fts5.html#external_content_tables) and
    # filled from existing rows; views and indexes for Datasette and researchers.
    """
    CREATE VIRTUAL TABLE posts_fts USING fts5(
        text, spoiler_text, content='posts', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, spoiler_text ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE reactions_fts USING fts5(
        title, excerpt, content='reactions', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER reactions_fts_insert AFTER INSERT ON reactions BEGIN
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    CREATE TRIGGER reactions_fts_delete AFTER DELETE ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
    END;
    CREATE TRIGGER reactions_fts_update AFTER UPDATE OF title, excerpt ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    INSERT INTO reactions_fts (reactions_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE comments_fts USING fts5(
        text, content='comments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO comments_fts (comments_fts) VALUES ('rebuild');
    CREATE INDEX boosts_booster ON boosts(booster_id);
    CREATE INDEX boosts_created_at ON boosts(created_at);
    CREATE INDEX comments_created_at ON comments(created_at);
    CREATE INDEX reactions_first_seen ON reactions(first_seen_at);
    CREATE VIEW timeline AS
        SELECT p.id, p.created_at, a.handle AS author, a.name AS author_name, p.text, p.url,
               p.tags, p.links, p.in_reply_to_uri, p.boosts, p.replies, p.favourites,
               p.source, p.seen_on, p.language, p.edited_at, p.deleted_at, p.uri
        FROM posts p JOIN authors a ON a.id = p.author_id
        ORDER BY p.created_at, p.id;
    CREATE VIEW top_links AS
        SELECT l.url, count(*) AS posts, count(DISTINCT p.author_id) AS people,
               min(p.created_at) AS first_shared_at, max(p.created_at) AS last_shared_at
        FROM post_links l JOIN posts p ON p.id = l.post_id
        GROUP BY l.url
        ORDER BY posts DESC, l.url;
    CREATE VIEW reactions_with_comments AS
        SELECT r.id AS reaction_id, r.url, r.title, r.author, r.site_name, r.published_at,
               r.excerpt,
               (SELECT count(*) FROM reaction_links k WHERE k.reaction_id = r.id)
                   AS linked_from_posts,
               c.id AS comment_id, c.author AS comment_author,
               c.created_at AS comment_created_at, c.text AS comment_text, c.url AS comment_url
        FROM reactions r LEFT JOIN comments c ON c.reaction_id = r.id
        ORDER BY coalesce(r.published_at, r.first_seen_at), r.id, c.created_at, c.id
    """,
    # 3: respect and reach (issue 9): takedowns that keep people out of the archive, and
    # what instance discovery learnt about each server.
    """
    CREATE TABLE forgotten (
        kind TEXT NOT NULL CHECK (kind IN ('author', 'post')),
        value TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        forgotten_at TEXT NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;
    CREATE TABLE instances (
        host TEXT PRIMARY KEY,
        base_url TEXT NOT NULL,
        usable INTEGER NOT NULL,
        software TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        checked_at TEXT NOT NULL
    )
    """,
    # 4: import speed (issue 8). Indexes on keys in random order (URLs sort by user name)
    # cost an import most of its writes, since every batch dirties pages all over them.
    # sightings.url is never searched by url; posts.url needs indexing only where it
    # differs from the uri (the uri's unique index finds the rest), which leaves out every
    # tweet and most feed items. Lookups by url say `url != uri` so SQLite can use it.
    """
    DROP INDEX sightings_url;
    DROP INDEX posts_url;
    CREATE INDEX posts_url ON posts(url) WHERE url IS NOT NULL AND url != uri;
    """,
    # 5: what each account said about being found (issue 14). `indexable` (Mastodon 4.2+,
    # an opt-in to full-text search, false by default) and `discoverable` (an opt-in to
    # the profile directory) are kept for researchers to filter on; `noindex` and the bio
    # decide the opt-out. NULL: the server did not say.
    """
    ALTER TABLE authors ADD COLUMN noindex INTEGER;
    ALTER TABLE authors ADD COLUMN indexable INTEGER;
    ALTER TABLE authors ADD COLUMN discoverable INTEGER
    """,
    # 6: the requests each run sent to each instance (issue 14), so the default re-check
    # of recent posts spends a share of a server's rate budget across runs, not per run.
    """
    CREATE TABLE instance_requests (
        host TEXT NOT NULL,
        at TEXT NOT NULL,
        requests INTEGER NOT NULL,
        recheck INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX instance_requests_host ON instance_requests(host, at)
    """,
    # 7: discovery follows mentions (issue 15). The profile web address of each account a
    # post mentions: the server it lives on, which a server-relative acct does not say.
    """
    CREATE TABLE post_mentions (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        PRIMARY KEY (post_id, url)
    ) WITHOUT ROWID;
    """,
    # 8: comment threads on blogging platforms (issue 14): the comment count a blog states
    # (feed thr:total / slash:comments, or the page's schema.org commentCount), which can
    # exceed the comments archived (truncated feeds, platforms with no public comment feed).
    """
    ALTER TABLE reactions ADD COLUMN comment_count INTEGER
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Items per transaction in an import: big enough that commits are not the cost, small
# enough that memory stays flat and a killed import loses at most one batch (issue 8).
IMPORT_BATCH = 10_000

# How long a writer waits for SQLite's own lock before reporting "database is locked".
BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 32_768
# More matches than this in a search are shown newest first, not ranked (see
# Store.search): bm25 over 73,500 posts took 85-99 ms on a 2-core machine; 60,000 keeps
# every ranked search well under 100 ms.
RANKED_MATCHES_AT_MOST = 60_000
# Rows per fetch when streaming an export.
BATCH = 2000
# Checkpoint every 64 MiB of WAL, whatever the page size.
WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024
# Page size of a new archive. Rows are large (a post with its raw JSON is 1-3 KiB), so
# 16 KiB pages hold several, and a commit writes and syncs a quarter of the frames: an
# import runs ~25% faster than with SQLite's default 4 KiB. Existing archives keep theirs.
PAGE_SIZE = 16_384

T = TypeVar("T")


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements; a trigger body's ``;`` does not end a statement."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


def _wrap(what: str, path: Path, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except sqlite3.Error as e:
        raise StoreError(str(path), f"{what} failed: {e}") from e


@contextlib.contextmanager
def _errors(what: str, path: Path) -> Iterator[None]:
    """Translate sqlite3 errors (locked, corrupt, disk full) into StoreError."""
    try:
        yield
    except sqlite3.Error as e:
        hint = "another process is writing; retry later" if "locked" in str(e) else None
        raise StoreError(str(path), f"{what} failed: {e}", hint=hint) from e


@dataclass(frozen=True, slots=True)
class SaveResult:
    new: int = 0
    updated: int = 0


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
_REACTION_TIME = "coalesce(r.published_at, r.first_seen_at)"
# Full-text search, per kind: its FTS table, and the columns of a SearchHit (the rank
# comes from the query that picked the rows: see Store._search_one).
_SNIPPET = "snippet({t}, -1, '[', ']', '…', 12)"
_SEARCHES = {
    "post": (
        "posts_fts",
        f"SELECT 'post', p.id, p.created_at, a.handle, p.url, {_SNIPPET.format(t='posts_fts')},"
        " NULL FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid"
        " JOIN authors a ON a.id = p.author_id",
    ),
    "reaction": (
        "reactions_fts",
        f"SELECT 'reaction', r.id, {_REACTION_TIME}, r.author, r.url,"
        f" {_SNIPPET.format(t='reactions_fts')}, NULL"
        " FROM reactions_fts JOIN reactions r ON r.id = reactions_fts.rowid",
    ),
    "comment": (
        "comments_fts",
        "SELECT 'comment', c.id, coalesce(c.created_at, c.fetched_at), c.author, c.url,"
        f" {_SNIPPET.format(t='comments_fts')}, NULL"
        " FROM comments_fts JOIN comments c ON c.id = comments_fts.rowid",
    ),
}
# Mastodon gives a reply's parent only as an id local to the instance that served it: find
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


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SearchHit(NamedTuple):
    """One full-text match: what it is, when, who, where, and the matching words in
    ``[brackets]``; a lower ``rank`` (FTS5 bm25) is a better match, None when there were
    too many matches to rank (see :meth:`Store.search`)."""

    kind: str
    id: int
    created_at: str | None
    author: str
    url: str | None
    snippet: str
    rank: float | None


@dataclass(frozen=True, slots=True)
class NearDuplicates:
    """Near-duplicate clusters for the digest: each cluster's first post uri -> the other
    authors who posted the same text, and the uris of the later copies to show once."""

    also_posted_by: dict[str, tuple[str, ...]]
    hidden: frozenset[str]


def _is_query_error(e: sqlite3.OperationalError) -> bool:
    """True when SQLite rejected the FTS5 query text rather than failed itself."""
    text = str(e)
    return text.startswith(
        ("fts5:", "no such column", "unknown special query", "unterminated")
    ) or ("syntax error" in text)


@dataclass(frozen=True, slots=True)
class RefreshTarget:
    uri: str
    source: str
    local_id: str


@dataclass(frozen=True, slots=True)
class StoredReaction:
    """A stored reaction as the reaction pass needs it: identity, provenance, linkers."""

    url: str
    original_url: str | None
    fetched_at: datetime
    fetched_from: str
    comments_feed: str | None
    linked_from: tuple[str, ...]


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
    schema_version: int = 0


class ArchiveLock:
    """An exclusive lock on ``<db>.lock`` so overlapping cron runs never write together.

    ``flock`` is released by the kernel when the process dies, so a killed run never leaves
    a stale lock behind.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + ".lock")
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False, timeout: float | None = None) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # no such directory, read-only place, ...
            raise ConfigError(
                str(self.path.with_suffix("")), f"cannot use this archive path: {e.strerror}"
            ) from e
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise StoreError(str(self.path), f"cannot lock: {e}") from e
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    os.close(fd)
                    raise LockHeldError(
                        str(self.path.with_suffix("")),
                        "another bsarchive run is using this archive",
                        hint="use --wait to wait for it",
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def is_held_elsewhere(self) -> bool:
        """True when another process holds the lock (for doctor)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _join(values: Sequence[str]) -> str:
    return " ".join(dict.fromkeys(v for v in values if v))


def _parts(keys: Sequence[str], size: int = 400) -> Iterator[tuple[Sequence[str], str]]:
    """Slices of ``keys`` small enough for one ``IN (...)``, each with its ``?`` marks."""
    for start in range(0, len(keys), size):
        part = keys[start : start + size]
        yield part, ",".join("?" * len(part))


# The first source in a post's seen_on (where it was first seen, and where an id it names,
# like its parent's, comes from); ``{t}`` is the posts table's qualifier.
_FIRST_SEEN_ON = "substr({t}seen_on || ' ', 1, instr({t}seen_on || ' ', ' ') - 1)"
# The flag sources.twarc gives a tweet whose text looks like a retweet ('RT @x: …') but that
# has no retweet structure (manual RTs; TAGS retweets too, in archives made before issue 15).
_RETWEET_TEXT = "retweet text"
# A key only a TAGS sheet's row has in its raw JSON (sources.twarc keeps the row).
_TAGS_ROW = '"from_user":'
# A TAGS retweet is a boost guessed from its text ('RT @x: …'), kept with its row as raw:
# a structured copy of the tweet (twarc) says what it really is. Its post_uri is the
# profile https://twitter.com/x until resolve_retweets finds the post by its text.
_GUESSED_BOOST = f"instr(boosts.raw, '{_TAGS_ROW}') > 0"
_TWITTER_PROFILE = "https://twitter.com/"
_UNRESOLVED_BOOST = (
    f"boosts.post_uri GLOB '{_TWITTER_PROFILE}*'"
    f" AND instr(substr(boosts.post_uri, {len(_TWITTER_PROFILE) + 1}), '/') = 0"
    f" AND {_GUESSED_BOOST}"
)
# The permalink of a tweet whose author the file did not name (sources.twarc).
_TWEET_BY_ID_ONLY = "twitter.com/i/web/status/"
# Columns a later source may fill when the first left them empty (see _update_post).
_DESCRIBED = ("language", "visibility", "in_reply_to_uri", "in_reply_to_local_id", "quote_uri")


def _described(post: Post) -> tuple[str | None, ...]:
    return (
        post.language,
        post.visibility,
        post.in_reply_to_uri,
        post.in_reply_to_local_id,
        post.quote_uri,
    )


def _from_origin(uri: str, sighting: Sighting | str) -> bool:
    """Whether a sighting (or a sighting's source) was made on the post's own server (the
    host of its uri): an instance's source is its host, an outbox's its URL."""
    source = sighting if isinstance(sighting, str) else sighting.source
    where = urlsplit(source).netloc if "://" in source else source
    return bool(where) and where.lower() == urlsplit(uri).netloc.lower()


def _merge_words(old: str, new: Sequence[str]) -> str:
    words = old.split()
    extra = [w for w in new if w and w not in words]
    return " ".join(words + extra) if extra else old


# The columns of a new post, in the order both writers (one post, an import batch) bind.
_INSERT_POST = """
    INSERT INTO posts (uri, url, created_at, author_id, content_html, text, spoiler_text,
        language, visibility, sensitive, in_reply_to_uri, in_reply_to_local_id, quote_uri,
        tags, links, media, boosts, replies, favourites, edited_at, source, seen_on, flags,
        raw, fetched_at, fetched_from, version, first_seen_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
    _P_RAW,
) = (_POST_FIELDS.index(name) for name in (
    "uri", "url", "created_at", "author", "content_html", "text", "sighting", "source",
    "spoiler_text", "language", "visibility", "sensitive", "in_reply_to_uri",
    "in_reply_to_local_id", "quote_uri", "tags", "links", "mentions", "media", "boosts",
    "replies", "favourites", "edited_at", "flags", "raw",
))  # fmt: skip
_B_URI, _B_POST_URI, _B_BOOSTER, _B_CREATED_AT, _B_SIGHTING, _B_RAW = (
    _BOOST_FIELDS.index(name)
    for name in ("uri", "post_uri", "booster", "created_at", "sighting", "raw")
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


# One upsert for authors, row by row or in batches. The opt-in/opt-out flags keep the last
# value a server reported; a source that does not report them (a feed) leaves them alone.
_UPSERT_AUTHOR = """
    INSERT INTO authors (handle, name, url, uri, bio, bot, noindex, indexable, discoverable)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(handle) DO UPDATE SET
        name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END,
        url = coalesce(excluded.url, url), uri = coalesce(excluded.uri, uri),
        bio = CASE WHEN excluded.bio != '' THEN excluded.bio ELSE bio END,
        bot = excluded.bot,
        noindex = coalesce(excluded.noindex, noindex),
        indexable = coalesce(excluded.indexable, indexable),
        discoverable = coalesce(excluded.discoverable, discoverable)
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


class Store:
    """An open archive. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._grouped = False
        if readonly and not self.path.exists():
            # A wrong --db is a usage error (exit 2), as DESIGN.md counts them.
            raise ConfigError(str(self.path), "no such archive", hint="run `bsarchive fetch` first")
        try:
            if readonly:
                uri = f"file:{self.path.resolve()}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                # Takes effect only on a new, empty file (before WAL is switched on).
                self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                # Checkpoint (and fsync) every 64 MiB of WAL rather than every 4 MiB: an
                # import or a long backfill otherwise spends half its commits syncing.
                pages = WAL_CHECKPOINT_BYTES // self._page_size()
                self.db.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise ConfigError(str(self.path), f"not a usable SQLite archive: {e}") from e
        if version > SCHEMA_VERSION:
            raise StoreError(
                str(self.path),
                f"archive schema {version} is newer than this bsarchive ({SCHEMA_VERSION})",
                hint="upgrade bsarchive",
            )
        if version < SCHEMA_VERSION:
            if readonly:
                raise StoreError(str(self.path), f"archive schema {version} needs migrating")
            self._migrate(version)
        if not readonly:
            # 32 MiB of page cache for writers keeps the hot index pages of a large archive
            # in memory (readers scan in order: SQLite's small default). Set in pages once
            # the file exists: a byte budget is turned into pages at the page size of the
            # moment, which is still 4 KiB before a new archive's first write.
            pages = CACHE_KIB * 1024 // self._page_size()
            _wrap(
                "set cache size", self.path, lambda: self.db.execute(f"PRAGMA cache_size = {pages}")
            )
        self._author_ids: dict[str, int] = {}
        self._forgotten: tuple[frozenset[str], frozenset[str]] | None = None

    def close(self) -> None:
        self.db.close()

    def _page_size(self) -> int:
        return int(self.db.execute("PRAGMA page_size").fetchone()[0])

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and schema --------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

        Inside :meth:`grouped` it is part of the group's transaction instead.
        """
        if self._grouped:
            yield self.db
            return
        with _errors("begin write", self.path):
            self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            self._author_ids.clear()
            raise
        else:
            with _errors("commit", self.path):
                self.db.execute("COMMIT")

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Make the writes inside one transaction, each still whole (a page with its
        cursor): a run that finishes hundreds of small sources at once (feeds answering
        304) commits once for them all instead of twice per source."""
        if self._grouped:
            yield
            return
        with self.transaction():
            self._grouped = True
            try:
                yield
            finally:
                self._grouped = False

    def _migrate(self, version: int) -> None:
        with self.transaction() as db:
            for index in range(version, SCHEMA_VERSION):
                with _errors(f"migration {index + 1}", self.path):
                    for statement in _statements(MIGRATIONS[index]):
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('created_with', ?)",
                (__version__,),
            )

    @property
    def schema_version(self) -> int:
        return int(
            _wrap(
                "read schema",
                self.path,
                lambda: self.db.execute("PRAGMA user_version").fetchone()[0],
            )
        )

    def integrity_check(self) -> str:
        rows = _wrap(
            "integrity check",
            self.path,
            lambda: self.db.execute("PRAGMA integrity_check").fetchall(),
        )
        return "; ".join(str(r[0]) for r in rows)

    # -- cursors and sources --------------------------------------------------------------

    def get_cursor(self, key: str) -> Cursor:
        with _errors("read cursor", self.path):
            row = self.db.execute(
                "SELECT newest, oldest, backfill_done, etag, last_modified, not_before, gone "
                "FROM sources WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return Cursor()
        return Cursor(
            newest=row[0],
            oldest=row[1],
            backfill_done=bool(row[2]),
            etag=row[3],
            last_modified=row[4],
            not_before=datetime.fromisoformat(row[5]) if row[5] else None,
            gone=bool(row[6]),
        )

    def _save_cursor(self, key: str, cursor: Cursor, items: int, requests: int) -> None:
        self.db.execute(
            """
            INSERT INTO sources (key, newest, oldest, backfill_done, etag, last_modified,
                                 not_before, gone, items, requests)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(key) DO UPDATE SET
                newest = excluded.newest, oldest = excluded.oldest,
                backfill_done = excluded.backfill_done, etag = excluded.etag,
                last_modified = excluded.last_modified, not_before = excluded.not_before,
                gone = excluded.gone, items = items + excluded.items,
                requests = requests + excluded.requests
            """,
            (
                key,
                cursor.newest,
                cursor.oldest,
                int(cursor.backfill_done),
                cursor.etag,
                cursor.last_modified,
                cursor.not_before.isoformat() if cursor.not_before else None,
                int(cursor.gone),
                items,
                requests,
            ),
        )

    def record_source_result(self, result: SourceResult, now: datetime) -> None:
        """Remember how a source did (for ``stats`` and ``doctor``)."""
        stamp = iso(now)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO sources(key) VALUES (?)", (result.key,))
            if result.error:
                db.execute(
                    "UPDATE sources SET last_error = ?, last_error_at = ?, waited = waited + ? "
                    "WHERE key = ?",
                    (result.error, stamp, result.waited, result.key),
                )
            else:
                db.execute(
                    "UPDATE sources SET last_success_at = ?, waited = waited + ? WHERE key = ?",
                    (stamp, result.waited, result.key),
                )

    def start_run(self, now: datetime, options: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs(started_at, version, options) VALUES (?, ?, ?)",
                (iso(now), __version__, options),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, now: datetime, new: int, updated: int, failures: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, new = ?, updated = ?, failures = ? WHERE id = ?",
                (iso(now), new, updated, failures, run_id),
            )

    # -- writes -----------------------------------------------------------------------------

    def save_page(self, page: Page, now: datetime) -> SaveResult:
        """Store a page of items and its source's cursor in one transaction."""
        new = updated = 0
        with self.transaction(), _errors("save page", self.path):
            for item in self._remembered(page.items):
                n, u = self._save_item(item, now)
                new += n
                updated += u
            self._save_cursor(page.source_key, page.cursor, new, page.requests)
        return SaveResult(new, updated)

    def save_items(self, items: Sequence[Item], now: datetime) -> SaveResult:
        """Store items without a cursor (imports, reactions)."""
        new = updated = 0
        with self.transaction(), _errors("save items", self.path):
            for item in self._remembered(items):
                n, u = self._save_item(item, now)
                new += n
                updated += u
        return SaveResult(new, updated)

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
                    "INSERT OR REPLACE INTO forgotten (kind, value, reason, forgotten_at)"
                    " VALUES ('author', ?, ?, ?)",
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
                    "INSERT OR REPLACE INTO forgotten (kind, value, reason, forgotten_at)"
                    " VALUES ('post', ?, ?, ?)",
                    (post, reason, iso(now)),
                )
                removed += db.execute(
                    "DELETE FROM posts WHERE uri = ? OR (url = ? AND url != uri)", (post, post)
                ).rowcount
                db.execute("DELETE FROM boosts WHERE post_uri = ?", (post,))
            db.execute("DELETE FROM reaction_links WHERE post_uri NOT IN (SELECT uri FROM posts)")
        self._forgotten = None
        return removed

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db, _errors("write meta", self.path):
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- instances (issue 9 discovery) ------------------------------------------------------

    def record_instance(self, host: str, base_url: str, usable: bool, software: str,
                        version: str, reason: str, now: datetime) -> None:  # fmt: skip
        with self.transaction() as db, _errors("record instance", self.path):
            db.execute(
                "INSERT OR REPLACE INTO instances (host, base_url, usable, software, version,"
                " reason, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (host, base_url, int(usable), software, version, reason, iso(now)),
            )

    def known_instances(self) -> list[tuple[str, str, bool, str, datetime]]:
        """(host, base url, usable, reason, checked at) for every probed server."""
        with _errors("read instances", self.path):
            rows = self.db.execute(
                "SELECT host, base_url, usable, reason, checked_at FROM instances ORDER BY host"
            ).fetchall()
        return [
            (h, b, bool(u), r, datetime.fromisoformat(c.replace("Z", "+00:00")))
            for h, b, u, r, c in rows
        ]

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
        columns = (
            "id, uri, content_html, spoiler_text, edited_at, deleted_at, seen_on, source, "
            "boosts, replies, favourites, raw, text, tags, links, language, visibility, "
            "in_reply_to_uri, in_reply_to_local_id, quote_uri"
        )
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
        sighting = post.sighting
        row = self._find_post(post)
        if row is None and _RETWEET_TEXT in post.flags and self._is_a_boost(post.uri):
            return 0, 0  # a retweet's own row (TAGS keeps it as text): the boost says it
        if row is None and post.source == "twitter":
            self._drop_guessed_boosts([post.uri])
        if row is None:
            author_id = self._author_id(post.author)
            cur = self.db.execute(
                _INSERT_POST,
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
                ),
            )
            post_id = int(cur.lastrowid or 0)
            if post.tags:
                self.db.executemany(
                    "INSERT OR IGNORE INTO post_tags (tag, post_id) VALUES (?, ?)",
                    [(tag, post_id) for tag in dict.fromkeys(post.tags)],
                )
            if post.links:
                self.db.executemany(
                    "INSERT OR IGNORE INTO post_links (post_id, url, position) VALUES (?, ?, ?)",
                    [(post_id, url, i) for i, url in enumerate(dict.fromkeys(post.links))],
                )
            self._add_sighting(post_id, post, stamp)
            self._add_mentions(post_id, post)
            return 1, 0
        self._add_mentions(int(row[0]), post)
        return 0, self._update_post(row, post, stamp)

    def _add_mentions(self, post_id: int, post: Post) -> None:
        if post.mention_urls:
            self.db.executemany(
                "INSERT OR IGNORE INTO post_mentions (post_id, url) VALUES (?, ?)",
                [(post_id, url) for url in post.mention_urls],
            )

    def _add_sighting(self, post_id: int, post: Post, stamp: str | None) -> None:
        s = post.sighting
        self.db.execute(
            """
            INSERT INTO sightings (post_id, source, local_id, url, fetched_from,
                                   first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(post_id, source, local_id)
                DO UPDATE SET last_seen_at = excluded.last_seen_at
            """,
            (post_id, s.source, s.local_id or "", s.url, s.fetched_from, stamp, stamp),
        )

    def _update_post(self, row: tuple[Any, ...], post: Post, stamp: str | None) -> int:
        (post_id, uri, content_html, spoiler, edited_at, deleted_at, seen_on, source,
         boosts, replies, favourites, raw, text, tags, links, *described) = row  # fmt: skip
        self._add_sighting(post_id, post, stamp)
        changes: dict[str, Any] = {}
        # What a first source left unsaid (a tag RSS item has no language, visibility or
        # reply link) is filled from the next that says it; what is known is kept.
        for name, known, said in zip(_DESCRIBED, described, _described(post), strict=True):
            if known is None and said is not None:
                changes[name] = said
        new_seen = _merge_words(seen_on, [post.sighting.source])
        if new_seen != seen_on:
            changes["seen_on"] = new_seen
        for column, old, value in (
            ("boosts", boosts, post.boosts),
            ("replies", replies, post.replies),
            ("favourites", favourites, post.favourites),
        ):
            best = max_count(old, value)
            if best != old:
                changes[column] = best
        new_tags = _merge_words(tags, post.tags)
        if new_tags != tags:
            changes["tags"] = new_tags
            self.db.executemany(
                "INSERT OR IGNORE INTO post_tags (tag, post_id) VALUES (?, ?)",
                [(tag, post_id) for tag in post.tags],
            )
        updated = 0
        # A feed item stored first (uri = its HTML url) gains the ActivityPub identity
        # when the API or an outbox describes the same status (dedupe rules, issue 4).
        richer = (source == "rss" and post.source in ("mastodon", "activitypub")) or (
            # A TAGS sheet's row (its text may be cut, its time local) gives way to the
            # API's own JSON of the tweet (twarc), whichever was imported first.
            source == post.source == "twitter" and _TAGS_ROW in raw and _TAGS_ROW not in post.raw
        )
        if richer and uri != post.uri and post.source != "twitter":
            changes["uri"] = post.uri
        if _TWEET_BY_ID_ONLY in uri and _TWEET_BY_ID_ONLY not in post.uri:
            # A tweet first read without its author (/i/web/ permalink) gets the user's.
            changes.update(uri=post.uri, url=post.url, author_id=self._author_id(post.author))
        if "uri" in changes:  # what pointed at the old identity follows it
            for table in ("boosts", "reaction_links"):
                self.db.execute(
                    f"UPDATE {table} SET post_uri = ? WHERE post_uri = ?", (changes["uri"], uri)
                )
        # Only a newer edit replaces the text: another instance's copy may be older (a
        # remote server keeps the version it was last sent), and must not flip it back.
        # Within one second is the same edit: a remote copy gives edited_at in whole
        # seconds where the origin has milliseconds (and may re-sanitise the HTML).
        edited = post.edited_at is not None and (
            edited_at is None or (iso(post.edited_at) or "")[:19] > edited_at[:19]
        )
        content_changed = post.content_html != content_html or post.spoiler_text != spoiler
        if (edited and content_changed) or richer:
            if edited and content_changed:
                self.db.execute(
                    "INSERT INTO post_versions (post_id, edited_at, content_html, text,"
                    " spoiler_text, raw, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (post_id, edited_at, content_html, text, spoiler, raw, stamp),
                )
                updated = 1
            changes.update(
                content_html=post.content_html,
                text=post.text,
                spoiler_text=post.spoiler_text,
                edited_at=iso(post.edited_at),
                raw=post.raw,
                links=_join(post.links) or links,
            )
            if richer:
                changes.update(
                    source=post.source,
                    author_id=self._author_id(post.author),
                    created_at=iso(post.created_at),  # to the millisecond, in UTC
                    flags=_join(post.flags),  # 'tz-less date', 'unknown author' gone
                )
        elif edited and edited_at is None:
            changes["edited_at"] = iso(post.edited_at)
        if deleted_at is not None and _from_origin(uri, post.sighting):
            # Its own server serves it again: it came back (e.g. a suspension lifted). Another
            # server's copy proves nothing: remote servers keep copies of deleted posts.
            changes["deleted_at"] = None
        if changes:
            changes["updated_at"] = stamp
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self.db.execute(
                f"UPDATE posts SET {assignments} WHERE id = ?", (*changes.values(), post_id)
            )
            if "links" in changes and changes["links"] != links:
                if richer:  # the poorer copy's links (t.co, cut) are not the post's
                    self.db.execute("DELETE FROM post_links WHERE post_id = ?", (post_id,))
                self.db.executemany(
                    "INSERT OR IGNORE INTO post_links (post_id, url, position) VALUES (?, ?, ?)",
                    [(post_id, url, i) for i, url in enumerate(post.links)],
                )
        return updated

    def _is_a_boost(self, uri: str) -> bool:
        """Whether a boost says what ``uri`` is (a TAGS row's guess does not)."""
        return (
            self.db.execute(
                f"SELECT 1 FROM boosts WHERE uri = ? AND NOT {_GUESSED_BOOST}", (uri,)
            ).fetchone()
            is not None
        )

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
                (*part, _RETWEET_TEXT),
            )

    def _insert_boost(self, boost: Boost, now: datetime) -> int:
        if _TAGS_ROW in boost.raw:
            # A TAGS guess: a structured copy stored as a post, or as a boost, says more.
            if self.db.execute(
                "SELECT 1 FROM posts WHERE uri = ? AND instr(raw, ?) = 0", (boost.uri, _TAGS_ROW)
            ).fetchone():
                return 0
        elif self.db.execute(
            f"UPDATE boosts SET post_uri = ?, raw = ? WHERE uri = ? AND {_GUESSED_BOOST}",
            (boost.post_uri, boost.raw, boost.uri),
        ).rowcount:
            return 0  # the structured copy names the original the TAGS row could not
        self._drop_retweet_rows([boost.uri])
        booster = self._author_id(boost.booster)
        cur = self.db.execute(
            """
            INSERT OR IGNORE INTO boosts (uri, post_uri, booster_id, created_at, source, raw,
                                          fetched_at, fetched_from, version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            ),
        )
        return int(cur.rowcount > 0)

    def _mark_deleted(self, deletion: Deletion, now: datetime) -> int:
        if not _from_origin(deletion.uri, deletion.sighting):
            # Another server no longer has its copy (purged, the domain suspended there):
            # that proves nothing while the post's own server, where it was seen too, can
            # still be asked. Only when it was never seen there is this the best word.
            sources = self.db.execute(
                "SELECT s.source FROM sightings s JOIN posts p ON p.id = s.post_id WHERE p.uri = ?",
                (deletion.uri,),
            ).fetchall()
            if any(_from_origin(deletion.uri, source) for (source,) in sources):
                return 0
        cur = self.db.execute(
            "UPDATE posts SET deleted_at = ?, updated_at = ? WHERE uri = ? AND deleted_at IS NULL",
            (iso(now), iso(now), deletion.uri),
        )
        return int(cur.rowcount > 0)

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
                """,
                (*values, r.url, stamp, stamp),
            )
            reaction_id, new, updated = int(cur.lastrowid or 0), 1, 0
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
                "INSERT OR IGNORE INTO reaction_links (reaction_id, post_uri) VALUES (?, ?)",
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

    def requests_since(self, host: str, since: datetime) -> tuple[int, int]:
        """(all requests, re-check requests) runs recorded for ``host`` since ``since``."""
        with _errors("read instance requests", self.path):
            row = self.db.execute(
                "SELECT coalesce(sum(requests), 0), coalesce(sum(recheck), 0)"
                " FROM instance_requests WHERE host = ? AND at >= ?",
                (host, iso(since)),
            ).fetchone()
        return int(row[0]), int(row[1])

    def record_requests(self, host: str, at: datetime, requests: int, recheck: int) -> None:
        """Record what a run sent to ``host``; rows older than a day are dropped."""
        with self.transaction() as db, _errors("record instance requests", self.path):
            db.execute(
                "DELETE FROM instance_requests WHERE host = ? AND at < ?",
                (host, iso(at - timedelta(days=1))),
            )
            if requests or recheck:
                db.execute(
                    "INSERT INTO instance_requests (host, at, requests, recheck)"
                    " VALUES (?, ?, ?, ?)",
                    (host, iso(at), requests, recheck),
                )

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

    @contextlib.contextmanager
    def _text_as(self, factory: type[str] | type[bytes]) -> Iterator[None]:
        """Read TEXT values as ``factory`` (bytes for preformatted export lines)."""
        previous = self.db.text_factory
        self.db.text_factory = factory
        try:
            yield
        finally:
            self.db.text_factory = previous

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read everything inside from one consistent snapshot (a read transaction).

        Nests: inside another snapshot (or transaction) it reuses the open one.
        """
        if self.db.in_transaction:
            yield
            return
        with _errors("begin read", self.path):
            self.db.execute("BEGIN")
        try:
            yield
        finally:
            with _errors("end read", self.path):
                self.db.execute("COMMIT")

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

    def archived_tags(self) -> tuple[str, ...]:
        """The event's tags as the archive knows them: those of the latest run that named
        any, else (an archive made by imports) its most used tag; () when it has none."""
        with _errors("read runs", self.path):
            for (options,) in self.db.execute("SELECT options FROM runs ORDER BY id DESC"):
                try:
                    tags = json.loads(options).get("tags")
                except (ValueError, AttributeError):
                    continue
                if isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags):
                    return tuple(tags)
            row = self.db.execute(
                "SELECT tag FROM post_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 1"
            ).fetchone()
        return (row[0],) if row else ()

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
                      FROM sightings s GROUP BY s.source, s.post_id)
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

    # -- full-text search (issue 8) ---------------------------------------------------------

    def check_search(self, query: str | None) -> None:
        """Raise ConfigError when ``query`` is not valid FTS5 syntax (None passes)."""
        if query is None:
            return
        if not query.strip():
            raise ConfigError("search", "the query is empty")
        try:
            self.db.execute(
                "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? LIMIT 1", (query,)
            ).fetchall()
        except sqlite3.OperationalError as e:
            if _is_query_error(e):
                raise ConfigError(
                    "search", f"{e}", hint='see FTS5 query syntax; quote phrases with "..."'
                ) from None
            raise StoreError(str(self.path), f"search failed: {e}") from e

    def search(
        self,
        query: str,
        *,
        kinds: Sequence[str] = ("post", "reaction", "comment"),
        limit: int = 20,
        rank_at_most: int = RANKED_MATCHES_AT_MOST,
    ) -> list[SearchHit]:
        """Posts, reactions and comments whose text matches the FTS5 ``query``, best first
        (FTS5 ``bm25`` rank), at most ``limit``.

        When more than ``rank_at_most`` items of a kind match (the event's own hashtag
        matches every post), the most recently archived come first instead, newest first:
        bm25 scores every match before it can pick the best (about a second per million),
        and a word in most posts would only rank them by length.

        Raises:
            ConfigError: the query is not valid FTS5 syntax.
        """
        self.check_search(query)
        hits: list[SearchHit] = []
        ranked = True
        with _errors("search", self.path):
            for kind, (table, select) in _SEARCHES.items():
                if kind in kinds:
                    found, by_rank = self._search_one(table, select, query, limit, rank_at_most)
                    hits += found
                    ranked = ranked and by_rank
        if ranked:  # as SQL would order them: rank, then time with no time first
            hits.sort(key=lambda h: (h.rank or 0.0, h.created_at is not None, h.created_at or ""))
        else:
            hits.sort(key=lambda h: h.created_at or "", reverse=True)
        return hits[:limit]

    def _search_one(
        self, table: str, select: str, query: str, limit: int, rank_at_most: int
    ) -> tuple[list[SearchHit], bool]:
        """The best ``limit`` matches in one FTS table, and whether they were ranked.

        The matches are picked by rowid first and only those get a snippet: computed in the
        ranking query, snippet() ran for every match before the sort (0.4 s for 70,000).
        """
        # Counting reads the term's list of rows only: ~30 ms for a million matches.
        matches = self.db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)",
            (query, rank_at_most + 1),
        ).fetchone()[0]
        by_rank = matches <= rank_at_most
        # bm25 counts every match of each term before scoring (0.4 s for a million):
        # only when ranking, and once.
        picked = self.db.execute(
            f"SELECT rowid, rank FROM {table} WHERE {table} MATCH ? ORDER BY rank LIMIT ?"
            if by_rank
            else f"SELECT rowid, NULL FROM {table} WHERE {table} MATCH ?"
            " ORDER BY rowid DESC LIMIT ?",
            (query, limit),
        ).fetchall()
        if not picked:
            return [], by_rank
        ranks: dict[int, float | None] = dict(picked)
        # One more pass over the matches (a seek per rowid is no faster: FTS5 walks the
        # term's list to each), snippets made only for the rows picked.
        rows = self.db.execute(
            f"{select} WHERE {table} MATCH ? AND {table}.rowid IN (SELECT value FROM json_each(?))",
            (query, json.dumps(list(ranks))),
        ).fetchall()
        return [SearchHit(*row)._replace(rank=ranks[row[1]]) for row in rows], by_rank

    # -- imports (issue 8) ----------------------------------------------------------------

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
            retweets = self._stored_boosts(
                [p[_P_URI] for p in posts if _RETWEET_TEXT in p[_P_FLAGS]]
            )
            if retweets:  # a retweet's own row (TAGS keeps it as text): the boost says it
                posts = [p for p in posts if p[_P_URI] not in retweets]
            self._drop_guessed_boosts([p[_P_URI] for p in posts])
            boosts = self._unguessed(boosts)
            self._drop_retweet_rows([b[_B_URI] for b in boosts])
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

    def _stored_boosts(self, uris: Sequence[str]) -> set[str]:
        """Which of ``uris`` a stored boost says is a retweet (a TAGS row's guess does not)."""
        found: set[str] = set()
        for part, marks in _parts(uris):
            found.update(
                uri
                for (uri,) in self.db.execute(
                    f"SELECT uri FROM boosts WHERE uri IN ({marks}) AND NOT {_GUESSED_BOOST}",
                    part,
                )
            )
        return found

    def _unguessed(self, boosts: list[BoostValues]) -> list[BoostValues]:
        """``boosts`` less the TAGS guesses a structured copy already answered (a post of
        that uri not read from a TAGS row), after giving a stored guess the original a
        structured boost names."""
        guesses = [b[_B_URI] for b in boosts if _TAGS_ROW in b[_B_RAW]]
        answered: set[str] = set()
        for part, marks in _parts(guesses):
            answered.update(
                uri
                for (uri,) in self.db.execute(
                    f"SELECT uri FROM posts WHERE uri IN ({marks}) AND instr(raw, ?) = 0",
                    (*part, _TAGS_ROW),
                )
            )
        self.db.executemany(
            f"UPDATE boosts SET post_uri = ?, raw = ? WHERE uri = ? AND {_GUESSED_BOOST}",
            [(b[_B_POST_URI], b[_B_RAW], b[_B_URI]) for b in boosts if _TAGS_ROW not in b[_B_RAW]],
        )
        return [b for b in boosts if b[_B_URI] not in answered]

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
                    )
                    for p in posts
                ],
            )  # fmt: skip
        # Rows were appended in order by one writer: the new ids follow the largest old one.
        ids = range(last + 1, last + 1 + len(posts))
        self.db.executemany(
            "INSERT OR IGNORE INTO post_tags (tag, post_id) VALUES (?, ?)",
            [
                (tag, i)
                for p, i in zip(posts, ids, strict=True)
                for tag in dict.fromkeys(p[_P_TAGS])
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO post_links (post_id, url, position) VALUES (?, ?, ?)",
            [
                (i, url, n)
                for p, i in zip(posts, ids, strict=True)
                for n, url in enumerate(dict.fromkeys(p[_P_LINKS]))
            ],
        )
        self.db.executemany(
            """
            INSERT INTO sightings (post_id, source, local_id, url, fetched_from,
                                   first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(post_id, source, local_id)
                DO UPDATE SET last_seen_at = excluded.last_seen_at
            """,
            [
                (i, p[_P_SIGHTING][0], p[_P_SIGHTING][1] or "", p[_P_SIGHTING][2],
                 p[_P_SIGHTING][4], stamp, stamp)
                for p, i in zip(posts, ids, strict=True)
            ],
        )  # fmt: skip
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
        """Insert boosts not yet stored (the INSERT OR IGNORE of ``_insert_boost``, batched)."""
        before = self.db.total_changes
        self.db.executemany(
            """
            INSERT OR IGNORE INTO boosts (uri, post_uri, booster_id, created_at, source, raw,
                                          fetched_at, fetched_from, version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                (
                    b[_B_URI], b[_B_POST_URI], authors[b[_B_BOOSTER][0]], b[_B_CREATED_AT],
                    b[_B_SIGHTING][0], b[_B_RAW], b[_B_SIGHTING][3], b[_B_SIGHTING][4],
                    __version__,
                )
                for b in boosts
            ],
        )  # fmt: skip
        return self.db.total_changes - before

    # -- near-duplicates (issue 8) --------------------------------------------------------

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


def datasette_metadata(database: str, title: str) -> dict[str, Any]:
    """A Datasette ``metadata.json`` document for an archive named ``database`` (the file
    name without ``.db``): descriptions of tables, views and columns, facets, sort orders.

    Pure: describes the schema this module creates (migrations 1-2); reads no database.
    """
    posts_columns = {
        "uri": "The post's global identity (ActivityPub id; a tweet's permalink).",
        "url": "Human-readable link to the post.",
        "created_at": "When it was posted (ISO 8601 UTC).",
        "author_id": "The author (authors.id).",
        "text": "Plain text (links expanded, HTML removed).",
        "content_html": "Sanitised HTML as published.",
        "tags": "Hashtags, lower case, space separated.",
        "links": "Links in the post, space separated.",
        "boosts": "Boost/retweet count as last reported.",
        "replies": "Reply count as last reported.",
        "favourites": "Favourite/like count as last reported.",
        "source": "Where it came from: mastodon, activitypub, rss, twitter.",
        "seen_on": "Instances and feeds it was seen on, space separated.",
        "deleted_at": "When we noticed it was deleted (kept in the archive).",
        "edited_at": "When it was last edited.",
        "raw": "The source payload as fetched (JSON or XML text).",
    }
    tables: dict[str, Any] = {
        "posts": {
            "description": "Every archived post, one row per post however many places it was seen.",
            "columns": posts_columns,
            "facets": ["source", "seen_on", "language"],
            "sortable_columns": ["created_at", "boosts", "replies", "favourites"],
            "sort": "created_at",
            "fts_table": "posts_fts",
            "fts_pk": "id",
        },
        "authors": {
            "description": "People and accounts who posted or boosted.",
            "label_column": "handle",
            "columns": {"handle": "@user@host, or @username for Twitter."},
        },
        "post_tags": {
            "description": "One row per (tag, post): facet on tag to browse by hashtag.",
            "facets": ["tag"],
        },
        "post_links": {"description": "One row per link in a post, in order."},
        "post_mentions": {"description": "Profile address of each account a post mentions."},
        "sightings": {
            "description": "Where and when each post was seen (one row per source).",
            "facets": ["source"],
        },
        "boosts": {
            "description": "Boosts/retweets: who shared which post when.",
            "sortable_columns": ["created_at"],
            "facets": ["source"],
        },
        "reactions": {
            "description": "Blog posts and articles that posts linked to.",
            "sortable_columns": ["published_at", "first_seen_at"],
            "facets": ["site_name", "language"],
            "fts_table": "reactions_fts",
            "fts_pk": "id",
        },
        "comments": {
            "description": "Comments on reactions, from their comment feeds.",
            "sortable_columns": ["created_at"],
            "fts_table": "comments_fts",
            "fts_pk": "id",
        },
        "timeline": {
            "description": "View: posts with their authors, oldest first.",
            "columns": {k: v for k, v in posts_columns.items() if k in _TIMELINE_COLUMNS},
            "facets": ["source", "author", "seen_on"],
            "sortable_columns": ["created_at", "boosts", "replies", "favourites"],
        },
        "top_links": {
            "description": "View: links by how many posts shared them.",
            "columns": {
                "posts": "Posts that shared the link.",
                "people": "Distinct authors who shared it.",
            },
            "sortable_columns": ["posts", "people", "first_shared_at"],
        },
        "reactions_with_comments": {
            "description": "View: each reaction with its comments, one row per comment "
            "(a reaction without comments appears once).",
            "facets": ["site_name"],
            "sortable_columns": ["published_at", "comment_created_at"],
        },
        "sources": {"description": "Each source's cursor and health."},
        "runs": {"description": "One row per fetch run."},
        "meta": {"hidden": True},
        "post_versions": {"description": "Earlier versions of edited posts."},
    }
    return {
        "title": title,
        "description": "An event's conversation archived by bsarchive: posts, boosts, "
        "linked blog posts (reactions) and their comments. Full-text search is on posts, "
        "reactions and comments.",
        "databases": {database: {"tables": tables}},
    }


_TIMELINE_COLUMNS = frozenset(
    {"created_at", "text", "url", "tags", "links", "boosts", "replies", "favourites",
     "source", "seen_on", "edited_at", "deleted_at", "uri"}
)  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)
