"""Write the archive as Apache Parquet with typed columns, streamed in row groups.

Reads ``Store.iter_export_rows`` (the same rows, order, filters and ``--columns`` as CSV
and JSONL) and writes one row group per ROW_GROUP_SIZE rows, so memory stays flat on
millions of rows. Types follow the data model (``bsarchive export schema``): timestamps
are ``timestamp[ms, UTC]``, integers ``int64``, booleans ``bool``, ids and text
``string``, list columns ``list<string>`` and ``sightings`` a list of structs.

pyarrow is an optional extra (``pip install 'bsarchive[parquet]'``): it is imported only
when a Parquet file is written. Never touches the network and never writes to the archive.
The file's key-value metadata says how the archive was made (:func:`file_metadata`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bsarchive import __version__
from bsarchive.errors import ConfigError
from bsarchive.export.columns import DEFAULT_COLUMNS, Columns, json_value, unique_headers
from bsarchive.export.output import replacing
from bsarchive.models import iso
from bsarchive.store import COLUMN, ExportFilter, Store

# Rows per Parquet row group: large enough for good compression and column statistics,
# small enough that one group's Python lists stay in the tens of MB (issue 8: ~50,000).
ROW_GROUP_SIZE = 50_000

# The fields of one ``sightings`` item.
SIGHTING_FIELDS = ("server", "local_id", "url", "first_seen_at", "last_seen_at")


def _pyarrow() -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ConfigError(
            "export parquet", "needs pyarrow", hint="pip install 'bsarchive[parquet]'"
        ) from None
    return pa, pq


def _arrow_type(pa: Any, name: str) -> Any:
    column = COLUMN[name]
    if column.type == "object":
        return pa.list_(pa.struct([pa.field(f, pa.string()) for f in SIGHTING_FIELDS]))
    scalar = {
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "integer": pa.int64(),
        "boolean": pa.bool_(),
    }.get(column.type, pa.string())
    return pa.list_(scalar) if column.is_list else scalar


def parquet_schema(columns: Columns = DEFAULT_COLUMNS) -> Any:
    """The pyarrow schema of an export of ``columns``, named by their headers."""
    pa, _ = _pyarrow()
    return pa.schema(
        [
            pa.field(header, _arrow_type(pa, name), nullable=name != "kind")
            for name, header in columns
        ]
    )


def file_metadata(runs: Sequence[Mapping[str, Any]], flt: ExportFilter) -> dict[str, bytes]:
    """The Parquet file's key-value metadata (pyarrow schema metadata): how the archive was
    made (``bsarchive.runs``: every run's recipe and counts, as ``export runs`` writes
    them) and what this export kept (``bsarchive.export``: the version and the filter),
    each JSON. Nothing here changes between two exports of one archive."""
    export = {
        "version": __version__,
        "since": iso(flt.since),
        "until": iso(flt.until),
        "tags": list(flt.tags),
        "kinds": list(flt.kinds),
        "search": flt.search,
    }
    return {
        "bsarchive.runs": orjson.dumps(list(runs)),
        "bsarchive.export": orjson.dumps(export),
    }


def _convert(name: str, values: Sequence[Any]) -> list[Any]:
    if COLUMN[name].type == "timestamp":
        return [datetime.fromisoformat(v) if v else None for v in values]
    return [json_value(name, v) for v in values]


def write_parquet(
    store: Store,
    path: Path,
    flt: ExportFilter,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    row_group_size: int = ROW_GROUP_SIZE,
) -> int:
    """Write the rows the filter keeps to ``path``; return the row count.

    Raises:
        ConfigError: pyarrow is not installed, two columns share a header, or ``path``
            cannot be written.
    """
    unique_headers(columns, "Parquet")
    pa, pq = _pyarrow()
    schema = parquet_schema(columns).with_metadata(file_metadata(store.runs(), flt))
    names = [name for name, _ in columns]
    with replacing(path) as tmp:
        try:
            writer = pq.ParquetWriter(str(tmp), schema, compression="zstd")
        except OSError as e:
            raise ConfigError(str(path), f"cannot write: {e}") from None
        rows = store.iter_export_rows(flt, columns=names, lists="json")
        with writer, closing(rows):
            return _write_groups(pa, writer, schema, names, rows, row_group_size)


def _write_groups(
    pa: Any,
    writer: Any,
    schema: Any,
    names: Sequence[str],
    rows: Iterator[tuple[Any, ...]],
    row_group_size: int,
) -> int:
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= row_group_size:
            _write_group(pa, writer, schema, names, batch)
            count, batch = count + len(batch), []
    if batch or count == 0:
        _write_group(pa, writer, schema, names, batch)
        count += len(batch)
    return count


def _write_group(
    pa: Any, writer: Any, schema: Any, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [
        pa.array(_convert(name, values), type=field.type)
        for name, field, values in zip(names, schema, columns, strict=True)
    ]
    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
