"""The connection, its transactions and snapshots, the one error wrapper, SQL helpers.

Every table family's mixin (``_posts``, ``_reactions``, ...) builds on :class:`StoreBase`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Self, TypeVar

from bsarchive import __version__
from bsarchive.errors import ConfigError, StoreError
from bsarchive.store._schema import MIGRATIONS, SCHEMA_VERSION, _statements

# How long a writer waits for SQLite's own lock before reporting "database is locked".
BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 32_768
# Checkpoint every 64 MiB of WAL, whatever the page size.
WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024
# Page size of a new archive. Rows are large (a post with its raw JSON is 1-3 KiB), so
# 16 KiB pages hold several, and a commit writes and syncs a quarter of the frames: an
# import runs ~25% faster than with SQLite's default 4 KiB. Existing archives keep theirs.
PAGE_SIZE = 16_384

T = TypeVar("T")
K = TypeVar("K", str, int)


class EngineError(Exception):
    """A database error from an engine other than SQLite (its driver's, on one line), with
    its SQLSTATE where the server gave one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# What a source's row says of how far it was read (newest, oldest, requests so far).
SourceStamp = tuple[str | None, str | None, int]
STAMP_SQL = "SELECT key, newest, oldest, requests FROM sources WHERE key IN ({marks})"


class SourceClaims:
    """The sources a run works on, each held by one run at a time. A SQLite archive is
    written by one run at a time anyway (its lock file), so every claim holds."""

    def take(self, key: str, stamp: SourceStamp | None = None) -> bool:
        """Hold ``key`` for the rest of the run; False when another run holds it, or has
        read it since this run read its cursor (``stamp``, :meth:`StoreBase.source_stamps`):
        its turn is done, and this run's cursor is older than the stored one."""
        return True

    def close(self) -> None:
        """Let every claim go (the run's end)."""


def _wrap(what: str, path: Path | str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (sqlite3.Error, EngineError) as e:
        raise StoreError(str(path), f"{what} failed: {e}") from e


@contextlib.contextmanager
def _errors(what: str, path: Path | str) -> Iterator[None]:
    """Translate database errors (locked, corrupt, disk full, server gone) into StoreError."""
    try:
        yield
    except (sqlite3.Error, EngineError) as e:
        hint = "another process is writing; retry later" if "locked" in str(e) else None
        raise StoreError(str(path), f"{what} failed: {e}", hint=hint) from e


@dataclass(frozen=True, slots=True)
class SaveResult:
    new: int = 0
    updated: int = 0


def _join(values: Sequence[str]) -> str:
    return " ".join(dict.fromkeys(v for v in values if v))


def _parts(keys: Sequence[K], size: int = 400) -> Iterator[tuple[Sequence[K], str]]:
    """Slices of ``keys`` small enough for one ``IN (...)``, each with its ``?`` marks."""
    for start in range(0, len(keys), size):
        part = keys[start : start + size]
        yield part, ",".join("?" * len(part))


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_REACTION_TIME = "coalesce(r.published_at, r.first_seen_at)"


class StoreBase:
    """An open archive. Not thread-safe: one writer thread owns it."""

    path: Path | str  # a file, or a server's URL as shown (no password)

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        file = Path(path)
        self._start(file, readonly)
        if readonly and not file.exists():
            # A wrong --db is a usage error (exit 2), as DESIGN.md counts them.
            raise ConfigError(str(self.path), "no such archive", hint="run `bsarchive fetch` first")
        try:
            if readonly:
                uri = f"file:{file.resolve()}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self.db = sqlite3.connect(file, isolation_level=None)
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

    def _start(self, path: Path | str, readonly: bool) -> None:
        """The state of an open archive, whatever its engine, set before the connection is
        made (a failed migration's rollback already clears the author cache)."""
        self.path = path
        self.readonly = readonly
        self._grouped = False
        self._author_ids: dict[str, int] = {}
        self._forgotten: tuple[frozenset[str], frozenset[str]] | None = None
        self._claims: SourceClaims | None = None

    def close(self) -> None:
        if self._claims is not None:
            self._claims.close()
        self.db.close()

    def source_claims(self) -> SourceClaims:
        """This run's claims on sources (one object for the store's life: claims are held
        until it is closed)."""
        if self._claims is None:
            self._claims = self._new_claims()
        return self._claims

    def _new_claims(self) -> SourceClaims:
        return SourceClaims()

    def source_stamps(self, keys: Sequence[str]) -> dict[str, SourceStamp]:
        """How far each of ``keys`` was read, as its cursor was (None: never)."""
        stamps: dict[str, SourceStamp] = {}
        with _errors("read sources", self.path):
            for part, marks in _parts(list(keys)):
                for key, newest, oldest, requests in self.db.execute(
                    STAMP_SQL.format(marks=marks), part
                ):
                    stamps[key] = (newest, oldest, int(requests))
        return stamps

    def _retrying(self, fn: Callable[[], T]) -> T:
        """Run a write transaction ``fn``; on SQLite once (one writer: nothing to retry)."""
        return fn()

    def _hold(self, keys: Sequence[str]) -> None:
        """Hold ``keys`` (posts' uris and urls) until the transaction ends, so that two
        writers never merge into one stored post at once; on SQLite the write lock
        already does."""

    def reader(self) -> Self:
        """Another connection to the same archive, read-only (a watch's wall, say)."""
        return type(self)(self.path, readonly=True)

    def _begin(self, *, write: bool) -> None:
        """Begin a transaction; a writer takes SQLite's write lock up front."""
        self.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _ids_given(self, table: str) -> None:
        """Rows were inserted into ``table`` with ids of their own (a copy): on SQLite the
        next new row takes the largest id + 1 anyway."""

    def _new_ids(self, table: str, key: str, keys: Sequence[str], last: int) -> list[int | None]:
        """The ids of the rows just inserted into ``table`` (keyed by ``key``) in ``keys``
        order, the largest id before them being ``last``, None for a row another writer
        inserted first: on SQLite one writer appends, so they follow ``last``."""
        return list(range(last + 1, last + 1 + len(keys)))

    def limit_cache(self, kib: int) -> None:
        """Keep this connection's page cache to ``kib`` KiB (a writer's is CACHE_KIB): a
        writer that lives for days appending (``watch``) otherwise grows by the whole
        cache as the archive does."""
        _wrap(
            "set cache size",
            self.path,
            lambda: self.db.execute(f"PRAGMA cache_size = {-max(1, int(kib))}"),
        )

    def _page_size(self) -> int:
        return int(self.db.execute("PRAGMA page_size").fetchone()[0])

    def __enter__(self) -> Self:
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
        try:
            # Begun inside the try: a signal (SIGTERM, Ctrl-C) right after BEGIN must not
            # leave the connection in a transaction that the next BEGIN trips over.
            with _errors("begin write", self.path):
                self._begin(write=True)
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error, EngineError):
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
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('created_with', ?) ON CONFLICT DO NOTHING",
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

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db, _errors("write meta", self.path):
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

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
        try:
            with _errors("begin read", self.path):
                self._begin(write=False)
            yield
        finally:
            if self.db.in_transaction:  # begun (a signal may come right after BEGIN)
                with _errors("end read", self.path):
                    self.db.execute("COMMIT")
