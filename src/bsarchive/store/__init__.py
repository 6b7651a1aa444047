"""The SQLite archive: the one package that runs SQL, seen by the rest of the code as
:class:`Store` and the names below.

Writers take the write lock up front (``BEGIN IMMEDIATE``) and commit a page of items
together with its source's cursor, so a run killed at any instant loses nothing and
repeats nothing. The database is in WAL mode, so exports read a consistent snapshot while
a fetch writes. No network access and no parsing of foreign payloads: it receives models.

Cut like reader's ``_storage``: one private module per table family, each a mixin over
:class:`~bsarchive.store._base.StoreBase` (the connection, transactions, the one error
wrapper and the SQL helpers); ``_schema`` holds the numbered migrations. Import from here
only (import-linter keeps the private modules private).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bsarchive.dburl import DatabaseUrl
from bsarchive.store._base import SaveResult, StoreBase
from bsarchive.store._columns import (
    ARCHIVE_COLUMNS,
    COLUMN,
    COLUMNS,
    DEFAULT_KINDS,
    EXPORT_COLUMNS,
    KINDS,
    LIST_SEPARATOR,
    ExportColumn,
    data_dictionary,
    json_array_sql,
)
from bsarchive.store._copy import CopyCounts, Slice, copy_archive
from bsarchive.store._datasette import datasette_metadata
from bsarchive.store._export import (
    ArchiveCounts,
    ArchivedComment,
    ArchivedPost,
    ArchivedReaction,
    ExportMixin,
    NearDuplicates,
    collapse_near_duplicates,
)
from bsarchive.store._filter import ExportFilter
from bsarchive.store._items import ItemsMixin
from bsarchive.store._lock import ArchiveLock
from bsarchive.store._pg import (
    NO_ARCHIVE,
    PG_SCHEMA_VERSION,
    PgArchiveLock,
    PgEngine,
    pg_sql,
)
from bsarchive.store._posts import IMPORT_BATCH, PackedItems, RefreshTarget, pack_items, unpack_post
from bsarchive.store._reactions import StoredReaction
from bsarchive.store._schema import MIGRATIONS, SCHEMA_VERSION
from bsarchive.store._search import SearchHit
from bsarchive.store._stats import Stats, StatsMixin
from bsarchive.store._wall import WallMixin

__all__ = [
    "ARCHIVE_COLUMNS",
    "EXPORT_COLUMNS",
    "COLUMN",
    "COLUMNS",
    "DEFAULT_KINDS",
    "KINDS",
    "LIST_SEPARATOR",
    "IMPORT_BATCH",
    "MIGRATIONS",
    "NO_ARCHIVE",
    "SCHEMA_VERSION",
    "ArchiveCounts",
    "ArchiveLock",
    "ArchivedComment",
    "ArchivedPost",
    "ArchivedReaction",
    "CopyCounts",
    "Slice",
    "ExportColumn",
    "ExportFilter",
    "NearDuplicates",
    "PG_SCHEMA_VERSION",
    "PgArchiveLock",
    "PgStore",
    "PackedItems",
    "RefreshTarget",
    "SaveResult",
    "SearchHit",
    "Stats",
    "Store",
    "StoredReaction",
    "archive_lock",
    "copy_archive",
    "collapse_near_duplicates",
    "data_dictionary",
    "datasette_metadata",
    "json_array_sql",
    "open_for_reading",
    "open_store",
    "pg_sql",
    "pack_items",
    "unpack_post",
]


class Store(ItemsMixin, ExportMixin, StatsMixin, WallMixin, StoreBase):
    """An open archive. Not thread-safe: one writer thread owns it.

    Each table family's methods live in its mixin: items written (``_items``: pages,
    batches, the packed import) through ``_posts``, ``_reactions`` and ``_sources``;
    reads for exports and the digest (``_export``, with ``_search``); ``_stats``; the
    live wall's bounded reads (``_wall``).
    """

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """This archive as exports and digests read it: itself (a PostgreSQL archive: a
        local copy, see :func:`open_for_reading`)."""
        yield self


class PgStore(PgEngine, Store):
    """An archive on PostgreSQL: :class:`Store`'s table families over :class:`PgEngine`'s
    connection, transactions and schema (issue 19)."""

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        with _LocalCopy(self.url) as copy:
            yield copy


def open_store(db: Path | DatabaseUrl, *, readonly: bool = False) -> Store:
    """The archive ``db`` names: a SQLite file, or a PostgreSQL database by its URL."""
    if isinstance(db, DatabaseUrl):
        return PgStore(db, readonly=readonly)
    return Store(db, readonly=readonly)


def archive_lock(db: Path | DatabaseUrl, *, shared: bool = False) -> ArchiveLock | PgArchiveLock:
    """The lock that keeps overlapping runs from writing ``db`` together. ``shared``: a
    collector's, which on PostgreSQL lets other collectors in to divide the sources (a
    SQLite archive has one writer at a time whatever is asked)."""
    if isinstance(db, DatabaseUrl):
        return PgArchiveLock(db, shared=shared)
    return ArchiveLock(db)


class _LocalCopy(Store):
    """A read-only SQLite copy of an archive on PostgreSQL, removed when closed: exports,
    digests, stats and search read it with the same queries as any archive, so their
    output is byte for byte what a SQLite archive holding the same items gives."""

    def __init__(self, url: DatabaseUrl, tags: tuple[str, ...] = ()) -> None:
        self._dir = tempfile.mkdtemp(prefix="bsarchive-read-")
        path = Path(self._dir) / "archive.db"
        try:
            with PgStore(url, readonly=True) as src, Store(path) as dst:
                copy_archive(src, dst, Slice(tags=tags, bookkeeping=True))
            super().__init__(path, readonly=True)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.path = url.shown

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._dir, ignore_errors=True)


def open_for_reading(db: Path | DatabaseUrl, tags: tuple[str, ...] = ()) -> Store:
    """The archive ``db`` names, to read: a SQLite file as it is; an archive on PostgreSQL
    through a local copy (see :class:`_LocalCopy`) of what carries one of ``tags`` (all
    of it when none are given), a superset of what a filter on those tags reads: its
    posts, what hangs on them, and the articles filed under the tags."""
    if isinstance(db, DatabaseUrl):
        return _LocalCopy(db, tags)
    return Store(db, readonly=True)
