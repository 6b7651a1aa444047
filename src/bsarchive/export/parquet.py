"""Write the archive as Apache Parquet with typed columns, streamed in row groups.

Reads ``Store.iter_export_rows`` (the same rows, order and filters as CSV and JSONL) and
writes one row group per ROW_GROUP_SIZE rows, so memory stays flat on millions of rows.
Timestamps are ``timestamp[ms, UTC]``, counts ``int64``, ids and text ``string``; tags,
links and seen_on (space separated in the store) are ``list<string>``.

pyarrow is an optional extra (``pip install 'bsarchive[parquet]'``): it is imported only
when a Parquet file is written. Never touches the network and never writes to the archive.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bsarchive.errors import ConfigError
from bsarchive.store import EXPORT_COLUMNS, ExportFilter, Store

# Rows per Parquet row group: large enough for good compression and column statistics,
# small enough that one group's Python lists stay in the tens of MB (issue 8: ~50,000).
ROW_GROUP_SIZE = 50_000

TIMESTAMP_COLUMNS = frozenset({"created_at", "edited_at", "deleted_at", "fetched_at"})
COUNT_COLUMNS = frozenset({"boosts", "replies", "favourites"})
LIST_COLUMNS = frozenset({"tags", "links", "seen_on"})


def _pyarrow() -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ConfigError(
            "export parquet", "needs pyarrow", hint="pip install 'bsarchive[parquet]'"
        ) from None
    return pa, pq


def parquet_schema() -> Any:
    """The pyarrow schema of an export, EXPORT_COLUMNS in order."""
    pa, _ = _pyarrow()
    fields = []
    for name in EXPORT_COLUMNS:
        if name in TIMESTAMP_COLUMNS:
            kind = pa.timestamp("ms", tz="UTC")
        elif name in COUNT_COLUMNS:
            kind = pa.int64()
        elif name in LIST_COLUMNS:
            kind = pa.list_(pa.string())
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind, nullable=name != "kind"))
    return pa.schema(fields)


def _convert(name: str, values: Sequence[Any]) -> list[Any]:
    if name in TIMESTAMP_COLUMNS:
        return [datetime.fromisoformat(v) if v else None for v in values]
    if name in LIST_COLUMNS:
        return [v.split() if v is not None else None for v in values]
    if name == "id":
        return [None if v is None else str(v) for v in values]
    return list(values)


def write_parquet(
    store: Store, path: Path, flt: ExportFilter, *, row_group_size: int = ROW_GROUP_SIZE
) -> int:
    """Write the rows the filter keeps to ``path``; return the row count.

    Raises:
        ConfigError: pyarrow is not installed, or ``path`` cannot be written.
    """
    pa, pq = _pyarrow()
    schema = parquet_schema()
    count = 0
    try:
        writer = pq.ParquetWriter(str(path), schema, compression="zstd")
    except OSError as e:
        raise ConfigError(str(path), f"cannot write: {e}") from None
    with writer:
        batch: list[tuple[Any, ...]] = []
        for row in store.iter_export_rows(flt):
            batch.append(row)
            if len(batch) >= row_group_size:
                _write_group(pa, writer, schema, batch)
                count, batch = count + len(batch), []
        if batch or count == 0:
            _write_group(pa, writer, schema, batch)
            count += len(batch)
    return count


def _write_group(pa: Any, writer: Any, schema: Any, rows: list[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in EXPORT_COLUMNS]
    arrays = [
        pa.array(_convert(name, values), type=schema.field(name).type)
        for name, values in zip(EXPORT_COLUMNS, columns, strict=True)
    ]
    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
