"""The SQLite archive: schema, migrations, upserts, cursors, transactions, the run lock.

The only module that runs SQL. Writers take the write lock up front (``BEGIN IMMEDIATE``)
and commit a page of items together with its source's cursor, so a run killed at any
instant loses nothing and repeats nothing. The database is in WAL mode, so exports read a
consistent snapshot while a fetch writes.

This module does no network access and no parsing of foreign payloads; it receives models.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bsarchive import __version__
from bsarchive.errors import LockHeldError, StoreError
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
)
SCHEMA_VERSION = len(MIGRATIONS)

# How long a writer waits for SQLite's own lock before reporting "database is locked".
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


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


# Columns that hold remote text (everything but kind, id, counts and our own stamps).
_TEXT_COLUMNS = frozenset(EXPORT_COLUMNS) - {
    "kind", "id", "boosts", "replies", "favourites", "created_at", "edited_at", "deleted_at",
    "fetched_at", "version",
}  # fmt: skip
_SAFE_CELL = (
    "CASE WHEN substr({ref}, 1, 1) IN ('=', '+', '-', '@', char(9), char(13))"
    " THEN '''' || {ref} ELSE {ref} END"
)


@dataclass(frozen=True, slots=True)
class RefreshTarget:
    uri: str
    source: str
    local_id: str


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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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


def _merge_words(old: str, new: Sequence[str]) -> str:
    words = old.split()
    extra = [w for w in new if w and w not in words]
    return " ".join(words + extra) if extra else old


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


class Store:
    """An open archive. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise StoreError(str(self.path), "no such archive", hint="run `bsarchive fetch` first")
        try:
            if readonly:
                uri = f"file:{self.path.resolve()}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(str(self.path), f"not a usable SQLite archive: {e}") from e
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
        self._author_ids: dict[str, int] = {}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and schema --------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``)."""
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

    def _migrate(self, version: int) -> None:
        with self.transaction() as db:
            for index in range(version, SCHEMA_VERSION):
                with _errors(f"migration {index + 1}", self.path):
                    for statement in MIGRATIONS[index].split(";"):
                        if statement.strip():
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
            for item in page.items:
                n, u = self._save_item(item, now)
                new += n
                updated += u
            self._save_cursor(page.source_key, page.cursor, new, page.requests)
        return SaveResult(new, updated)

    def save_items(self, items: Sequence[Item], now: datetime) -> SaveResult:
        """Store items without a cursor (imports, reactions)."""
        new = updated = 0
        with self.transaction(), _errors("save items", self.path):
            for item in items:
                n, u = self._save_item(item, now)
                new += n
                updated += u
        return SaveResult(new, updated)

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
            """
            INSERT INTO authors (handle, name, url, uri, bio, bot) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(handle) DO UPDATE SET
                name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END,
                url = coalesce(excluded.url, url), uri = coalesce(excluded.uri, uri),
                bio = CASE WHEN excluded.bio != '' THEN excluded.bio ELSE bio END,
                bot = excluded.bot
            RETURNING id
            """,
            (author.handle, author.name, author.url, author.uri, author.bio, int(author.bot)),
        ).fetchone()
        author_id = int(row[0]) if row else int(cached or 0)
        self._author_ids[author.handle] = author_id
        return author_id

    def _find_post(self, post: Post) -> tuple[Any, ...] | None:
        """The stored row for ``post``: by uri, else by a url another source recorded."""
        columns = (
            "id, uri, content_html, spoiler_text, edited_at, deleted_at, seen_on, source, "
            "boosts, replies, favourites, raw, text, tags, links"
        )
        row: tuple[Any, ...] | None = self.db.execute(
            f"SELECT {columns} FROM posts WHERE uri = ?", (post.uri,)
        ).fetchone()
        if row is None and post.url:
            row = self.db.execute(
                f"SELECT {columns} FROM posts WHERE uri = ? OR url = ? LIMIT 1",
                (post.url, post.url),
            ).fetchone()
        return row

    def _upsert_post(self, post: Post, now: datetime) -> tuple[int, int]:
        stamp = iso(now)
        sighting = post.sighting
        row = self._find_post(post)
        if row is None:
            author_id = self._author_id(post.author)
            cur = self.db.execute(
                """
                INSERT INTO posts (uri, url, created_at, author_id, content_html, text,
                    spoiler_text, language, visibility, sensitive, in_reply_to_uri,
                    in_reply_to_local_id, quote_uri, tags, links, media, boosts, replies,
                    favourites, edited_at, source, seen_on, flags, raw, fetched_at,
                    fetched_from, version, first_seen_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?)
                """,
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
            return 1, 0
        return 0, self._update_post(row, post, stamp)

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
         boosts, replies, favourites, raw, text, tags, links) = row  # fmt: skip
        self._add_sighting(post_id, post, stamp)
        changes: dict[str, Any] = {}
        new_seen = _merge_words(seen_on, [post.sighting.source])
        if new_seen != seen_on:
            changes["seen_on"] = new_seen
        for column, old, value in (
            ("boosts", boosts, post.boosts),
            ("replies", replies, post.replies),
            ("favourites", favourites, post.favourites),
        ):
            best = _max(old, value)
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
        richer = source == "rss" and post.source in ("mastodon", "activitypub")
        if richer and uri != post.uri:
            changes["uri"] = post.uri
        edited = post.edited_at is not None and iso(post.edited_at) != edited_at
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
                changes.update(source=post.source, author_id=self._author_id(post.author))
        elif edited and edited_at is None:
            changes["edited_at"] = iso(post.edited_at)
        if deleted_at is not None and post.sighting.source in seen_on.split():
            # Seen again where it was marked deleted: it came back (e.g. a suspension lifted).
            changes["deleted_at"] = None
        if changes:
            changes["updated_at"] = stamp
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self.db.execute(
                f"UPDATE posts SET {assignments} WHERE id = ?", (*changes.values(), post_id)
            )
            if "links" in changes and changes["links"] != links:
                self.db.executemany(
                    "INSERT OR IGNORE INTO post_links (post_id, url, position) VALUES (?, ?, ?)",
                    [(post_id, url, i) for i, url in enumerate(post.links)],
                )
        return updated

    def _insert_boost(self, boost: Boost, now: datetime) -> int:
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
        )
        if row is None:
            cur = self.db.execute(
                """
                INSERT INTO reactions (original_url, title, author, published_at, site_name,
                    language, excerpt, comments_feed, tags, flags, raw, fetched_at,
                    fetched_from, version, url, first_seen_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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

    # -- reads ------------------------------------------------------------------------------

    def refresh_targets(self, source: str, since: datetime) -> list[RefreshTarget]:
        """Posts seen on ``source`` created since ``since``, not yet marked deleted."""
        with _errors("read refresh targets", self.path):
            rows = self.db.execute(
                """
                SELECT p.uri, s.source, s.local_id FROM sightings s JOIN posts p ON p.id = s.post_id
                WHERE s.source = ? AND s.local_id != '' AND p.created_at >= ?
                  AND p.deleted_at IS NULL
                ORDER BY p.created_at
                """,
                (source, iso(since)),
            ).fetchall()
        return [RefreshTarget(*row) for row in rows]

    def iter_export_rows(
        self, flt: ExportFilter, *, safe_cells: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """Rows in EXPORT_COLUMNS order, oldest first, streamed from one read snapshot.

        ``safe_cells`` neutralises text cells a spreadsheet would run as a formula (leading
        ``= + - @``, tab or CR get a ``'`` prefix, OWASP CSV injection), inside SQLite so a
        million-row export does not pay a Python loop per cell.
        """
        selects: list[str] = []
        params: list[Any] = []
        since, until = iso(flt.since), iso(flt.until)

        def window(column: str) -> str:
            clause = ""
            if since:
                clause += f" AND {column} >= ?"
                params.append(since)
            if until:
                clause += f" AND {column} < ?"
                params.append(until)
            return clause

        if "post" in flt.kinds:
            sql = """
                SELECT 'post', p.id, p.uri, p.url, p.created_at, a.handle, a.name, p.text,
                       p.tags, p.links, p.in_reply_to_uri,
                       p.boosts, p.replies, p.favourites,
                       p.source, p.seen_on, NULL, p.edited_at, p.deleted_at, p.fetched_at,
                       p.fetched_from, p.version, 0 AS k
                FROM posts p JOIN authors a ON a.id = p.author_id WHERE 1=1"""
            sql += window("p.created_at")
            if flt.tags:
                sql += (
                    " AND p.id IN (SELECT post_id FROM post_tags WHERE tag IN ("
                    + ",".join("?" * len(flt.tags))
                    + "))"
                )
                params.extend(flt.tags)
            selects.append(sql)
        if "reaction" in flt.kinds:
            sql = """
                SELECT 'reaction', r.id, r.url, r.url,
                       coalesce(r.published_at, r.first_seen_at), r.author, r.author,
                       r.title || CASE WHEN r.excerpt != '' THEN char(10) || r.excerpt ELSE '' END,
                       r.tags, r.comments_feed, NULL, NULL, NULL, NULL, 'blog', r.site_name,
                       (SELECT group_concat(post_uri, ' ') FROM reaction_links l
                        WHERE l.reaction_id = r.id),
                       NULL, NULL, r.fetched_at, r.fetched_from, r.version, 1 AS k
                FROM reactions r WHERE 1=1"""
            sql += window("coalesce(r.published_at, r.first_seen_at)")
            selects.append(sql)
        if "comment" in flt.kinds:
            sql = """
                SELECT 'comment', c.id, c.uri, c.url, coalesce(c.created_at, c.fetched_at),
                       c.author, c.author, c.text, '', NULL, c.in_reply_to, NULL, NULL, NULL,
                       'blog', NULL, r.url, NULL, NULL, c.fetched_at, c.fetched_from,
                       c.version, 2 AS k
                FROM comments c JOIN reactions r ON r.id = c.reaction_id WHERE 1=1"""
            sql += window("coalesce(c.created_at, c.fetched_at)")
            selects.append(sql)
        if not selects:
            return
        names = ", ".join(f"c{i}" for i in range(len(EXPORT_COLUMNS)))
        outer = [
            _SAFE_CELL.format(ref=f"c{i}") if safe_cells and column in _TEXT_COLUMNS else f"c{i}"
            for i, column in enumerate(EXPORT_COLUMNS)
        ]
        sql = (
            f"WITH t({names}, k) AS ({' UNION ALL '.join(selects)}) "
            f"SELECT {', '.join(outer)}, k FROM t ORDER BY c4, k, c1"
        )
        with _errors("export", self.path):
            self.db.execute("BEGIN")
            try:
                cursor = self.db.execute(sql, params)
                while True:
                    rows = cursor.fetchmany(1000)
                    if not rows:
                        break
                    for row in rows:
                        yield row[:-1]
            finally:
                self.db.execute("COMMIT")

    def boost_counts(self) -> dict[str, int]:
        with _errors("read boosts", self.path):
            return dict(
                self.db.execute(
                    "SELECT post_uri, count(*) FROM boosts GROUP BY post_uri"
                ).fetchall()
            )

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
            s.top_links = q(
                "SELECT url, count(*) AS n FROM post_links GROUP BY url ORDER BY n DESC, url"
                " LIMIT ?",
                (top,),
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
            cursor = q(
                "SELECT key, last_success_at, last_error, last_error_at, items, requests,"
                " waited, gone, backfill_done FROM sources ORDER BY key"
            )
            names = [d[0] for d in cursor.description]
            s.sources = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return s


def utcnow() -> datetime:
    return datetime.now(UTC)
