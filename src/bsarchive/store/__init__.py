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
    "SCHEMA_VERSION",
    "ArchiveCounts",
    "ArchiveLock",
    "ArchivedComment",
    "ArchivedPost",
    "ArchivedReaction",
    "ExportColumn",
    "ExportFilter",
    "NearDuplicates",
    "PackedItems",
    "RefreshTarget",
    "SaveResult",
    "SearchHit",
    "Stats",
    "Store",
    "StoredReaction",
    "collapse_near_duplicates",
    "data_dictionary",
    "datasette_metadata",
    "json_array_sql",
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
