"""``export jsonl``: one JSON object per item, oldest first, streamed.

Keys are the chosen columns (``--columns``, default the contract's export columns and
provenance) under their headers; lists are JSON arrays, booleans ``true``/``false``, ids
strings, a missing value ``null``. ``raw=True`` adds the stored source payload parsed back.
Never touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any, BinaryIO

import orjson

from bsarchive.export.columns import DEFAULT_COLUMNS, Columns, json_value, unique_headers
from bsarchive.store import ExportFilter, Store


def parse_raw(raw: str | None) -> object:
    """The stored payload as JSON when it is JSON (Mastodon, ActivityPub, JSON Feed), else
    the text itself (RSS/Atom XML, HTML); None when nothing was stored."""
    if not raw:
        return None
    if raw.lstrip()[:1] in ("{", "["):
        try:
            value: object = orjson.loads(raw)
        except orjson.JSONDecodeError:  # not JSON after all, or an integer past 64 bits
            return raw
        return value
    return raw


def write_jsonl(
    store: Store,
    out: BinaryIO,
    flt: ExportFilter,
    *,
    raw: bool = False,
    columns: Columns = DEFAULT_COLUMNS,
) -> int:
    """Write every matching item as a JSON line; return the number of lines.

    Raises:
        ConfigError: two columns share a header (JSON keys must differ).
    """
    unique_headers((*columns, ("raw", "raw")) if raw else columns, "JSON")
    names = [name for name, _ in columns]
    headers = [header for _, header in columns]
    if not raw:
        # The common case: SQLite builds each object; we only join lines.
        count = 0
        with closing(store.iter_export_json(flt, columns=names, names=headers)) as batches:
            for batch in batches:  # closed on a reader that stops early, as in write_csv
                batch.append(b"")  # the last line's newline
                out.write(b"\n".join(batch))
                count += len(batch) - 1
        return count
    rows = store.iter_export_rows(flt, columns=[*names, "raw"], lists="json")
    with closing(rows):
        return _write_items(out, rows, names, headers)


def _write_items(
    out: BinaryIO, rows: Iterator[tuple[Any, ...]], names: list[str], headers: list[str]
) -> int:
    count = 0
    buffer: list[bytes] = []
    for row in rows:
        item = {
            header: json_value(name, value)
            for name, header, value in zip(names, headers, row, strict=False)
        }
        item["raw"] = parse_raw(row[-1])
        buffer.append(orjson.dumps(item))
        count += 1
        if len(buffer) >= 1000:
            out.write(b"\n".join(buffer) + b"\n")
            buffer.clear()
    if buffer:
        out.write(b"\n".join(buffer) + b"\n")
    return count


def write_runs(runs: Sequence[Mapping[str, Any]], out: BinaryIO) -> int:
    """``export runs``: one JSON object per run (``Store.runs``: id, times, version, the
    recipe as ``options``, ``counts``), oldest first; return how many."""
    for run in runs:
        out.write(orjson.dumps(run) + b"\n")
    return len(runs)
