"""``export jsonl``: one JSON object per item, oldest first, streamed.

Keys are the contract's export columns (DESIGN.md) plus provenance; ``raw=True`` adds the
stored source payload. Never touches the network.
"""

from __future__ import annotations

from typing import BinaryIO

import orjson

from bsarchive.store import EXPORT_COLUMNS, ExportFilter, Store

RAW_COLUMNS = (*EXPORT_COLUMNS, "raw")


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


def write_jsonl(store: Store, out: BinaryIO, flt: ExportFilter, *, raw: bool = False) -> int:
    """Write every matching item as a JSON line; return the number of lines."""
    if not raw:
        # The common case: SQLite builds each object; we only join lines.
        count = 0
        for batch in store.iter_export_json(flt):
            batch.append(b"")  # the last line's newline
            out.write(b"\n".join(batch))
            count += len(batch) - 1
        return count
    count = 0
    buffer: list[bytes] = []
    columns = RAW_COLUMNS
    for row in store.iter_export_rows(flt, columns=columns):
        item = dict(zip(columns, row, strict=True))
        if raw:
            item["raw"] = parse_raw(item["raw"])
        buffer.append(orjson.dumps(item))
        count += 1
        if len(buffer) >= 1000:
            out.write(b"\n".join(buffer) + b"\n")
            buffer.clear()
    if buffer:
        out.write(b"\n".join(buffer) + b"\n")
    return count
