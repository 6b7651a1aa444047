"""``export jsonl``: one JSON object per item, oldest first, streamed.

Keys are the contract's export columns (DESIGN.md) plus provenance. Never touches the
network.
"""

from __future__ import annotations

from typing import BinaryIO

import orjson

from bsarchive.store import EXPORT_COLUMNS, ExportFilter, Store


def write_jsonl(store: Store, out: BinaryIO, flt: ExportFilter) -> int:
    """Write every matching item as a JSON line; return the number of lines."""
    count = 0
    buffer: list[bytes] = []
    for row in store.iter_export_rows(flt):
        buffer.append(orjson.dumps(dict(zip(EXPORT_COLUMNS, row, strict=True))))
        count += 1
        if len(buffer) >= 1000:
            out.write(b"\n".join(buffer) + b"\n")
            buffer.clear()
    if buffer:
        out.write(b"\n".join(buffer) + b"\n")
    return count
