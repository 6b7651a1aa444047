"""``export csv``: RFC 4180 CSV (UTF-8, CRLF), oldest first, streamed row by row.

Cells that a spreadsheet would evaluate (leading ``= + - @``, tab or CR) are neutralised
with a leading ``'`` (OWASP CSV injection guidance); the store does it in SQL so memory
stays flat and the loop stays in C. Never touches the network.
"""

from __future__ import annotations

import csv
from typing import TextIO

from bsarchive.store import EXPORT_COLUMNS, ExportFilter, Store


def write_csv(store: Store, out: TextIO, flt: ExportFilter, *, safe_cells: bool = True) -> int:
    """Write the header and every matching row; return the number of rows."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    rows = store.iter_export_rows(flt, safe_cells=safe_cells)
    while True:
        batch = [row for _, row in zip(range(1000), rows, strict=False)]
        if not batch:
            break
        writer.writerows(batch)
        count += len(batch)
    return count
