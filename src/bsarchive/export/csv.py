"""``export csv``: RFC 4180 CSV (UTF-8, CRLF), oldest first, streamed row by row.

List columns (tags, links, mentions, ...) join their items with one space
(``LIST_SEPARATOR``); booleans are 1 or 0; a cell is empty where a value is null. Cells
that a spreadsheet would evaluate (leading ``= + - @``, tab or CR) are neutralised with a
leading ``'`` (OWASP CSV injection guidance); the store does it in SQL so memory stays flat
and the loop stays in C. ``--columns`` (``export.columns``) chooses and renames columns,
also in SQL. Never touches the network.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from contextlib import closing
from typing import BinaryIO, TextIO

from bsarchive.export.columns import DEFAULT_COLUMNS
from bsarchive.store import ExportFilter, Store


def write_csv(
    store: Store,
    out: BinaryIO,
    flt: ExportFilter,
    *,
    safe_cells: bool = True,
    columns: Sequence[tuple[str, str]] = DEFAULT_COLUMNS,
) -> int:
    """Write the header and every matching row (UTF-8, CRLF) to a binary stream; return
    the number of rows.

    The header goes through Python's csv module; rows arrive from the store already
    formatted as CSV lines (text fields quoted) and are written in batches.
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow([name for _, name in columns])
    out.write(header.getvalue().encode("utf-8"))
    count = 0
    names = [name for name, _ in columns]
    # closed here, not when collected: a reader that stops early (`| head`) must not leave
    # the generator to end its read after the store is closed
    with closing(store.iter_export_csv(flt, safe_cells=safe_cells, columns=names)) as batches:
        for batch in batches:
            batch.append(b"")  # the last line's CRLF
            out.write(b"\r\n".join(batch))
            count += len(batch) - 1
    return count


# Excel turns digit strings longer than 15 digits into rounded numbers (1.05E+17);
# `="…"` makes it keep the text. Shorter numbers are safe as numbers.
EXCEL_LONG_DIGITS = 12
UTF8_BOM = "\ufeff"


def excel_cell(value: object) -> object:
    """A cell Excel opens without losing digits: long all-digit text as ``="…"``."""
    if isinstance(value, str) and len(value) >= EXCEL_LONG_DIGITS and value.isdigit():
        return f'="{value}"'
    return value


def write_excel_csv(
    store: Store,
    out: TextIO,
    flt: ExportFilter,
    *,
    columns: Sequence[tuple[str, str]] = DEFAULT_COLUMNS,
) -> int:
    """CSV for spreadsheets (``--excel``): a UTF-8 BOM so Excel reads UTF-8, formula-like
    text neutralised, long numeric ids kept whole. Slower than :func:`write_csv` (cells
    pass through Python), which is fine for files a person opens."""
    out.write(UTF8_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for _, header in columns])
    counter = itertools.count()
    rows = store.iter_export_rows(flt, safe_cells=True, columns=[name for name, _ in columns])
    with closing(rows):  # as in write_csv: `--excel | head` ends cleanly
        writer.writerows(
            [excel_cell(value) for value in row] for row, _ in zip(rows, counter, strict=False)
        )
    return next(counter)
