"""``export csv``: RFC 4180 CSV (UTF-8, CRLF), oldest first, streamed row by row.

Cells that a spreadsheet would evaluate (leading ``= + - @``, tab or CR) are neutralised
with a leading ``'`` (OWASP CSV injection guidance); the store does it in SQL so memory
stays flat and the loop stays in C. ``--columns`` chooses and renames columns, also in SQL.
Never touches the network.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from bsarchive.errors import ConfigError
from bsarchive.store import ARCHIVE_COLUMNS, EXPORT_COLUMNS, ExportFilter, Store

# (archive column, CSV header) pairs.
Columns = tuple[tuple[str, str], ...]

DEFAULT_COLUMNS: Columns = tuple((name, name) for name in EXPORT_COLUMNS)

# Named the way twarc-csv (DocNow/twarc-csv, Twitter API v2 field paths) names the same
# facts, for scripts written against Twitter-era archives. `id` is the post's uri: the one
# identity that is the same on every instance (our numeric id is local to one archive).
# twarc-csv columns with no counterpart here (conversation_id, in_reply_to_user_id,
# entities.*, geo.*, attachments.*) are left out rather than written empty.
TWARC_COLUMNS: Columns = (
    ("uri", "id"),
    ("created_at", "created_at"),
    ("username", "author.username"),
    ("author_name", "author.name"),
    ("text", "text"),
    ("language", "lang"),
    ("in_reply_to", "referenced_tweets.replied_to.id"),
    ("boosts", "public_metrics.retweet_count"),
    ("replies", "public_metrics.reply_count"),
    ("favourites", "public_metrics.like_count"),
    ("fetched_at", "fetched_at"),
    ("fetched_from", "fetched_from"),
    ("version", "version"),
)

# The default columns (which already end with fetched_at, fetched_from, version) plus when
# we first saw the item and the stored source payload (JSON or XML text).
PROVENANCE_COLUMNS: Columns = (
    *DEFAULT_COLUMNS,
    ("first_seen_at", "first_seen_at"),
    ("raw", "raw"),
)

PRESETS: dict[str, Columns] = {
    "default": DEFAULT_COLUMNS,
    "twarc": TWARC_COLUMNS,
    "provenance": PROVENANCE_COLUMNS,
}


def parse_columns(spec: str) -> Columns:
    """Parse ``--columns``: comma-separated presets (default, twarc, provenance) and
    archive column names, each optionally renamed as ``name:header``.

    Raises:
        ConfigError: an unknown column or preset, or nothing chosen.
    """
    columns: list[tuple[str, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if item in PRESETS:
            columns.extend(PRESETS[item])
            continue
        name, _, header = item.partition(":")
        name, header = name.strip(), header.strip()
        if name not in ARCHIVE_COLUMNS:
            raise ConfigError("--columns", f"unknown column {name!r}")
        columns.append((name, header or name))
    if not columns:
        raise ConfigError("--columns", "no columns chosen")
    return tuple(columns)


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
    for batch in store.iter_export_csv(flt, safe_cells=safe_cells, columns=names):
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
    writer.writerows(
        [excel_cell(value) for value in row] for row, _ in zip(rows, counter, strict=False)
    )
    return next(counter)
