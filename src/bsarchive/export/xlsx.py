"""``export xlsx``: an Excel workbook with typed columns, written in streaming mode.

Ids and text are strings (so no id loses digits), times are real date-times (UTC, shown
as ``yyyy-mm-dd hh:mm:ss``), counts are integers, booleans TRUE/FALSE, list columns their
items joined by one space (as in CSV). Formula-like text is neutralised as in
CSV. openpyxl is an optional extra (``pip install 'bsarchive[xlsx]'``), imported only
here. Never touches the network.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bsarchive.errors import ConfigError
from bsarchive.export.columns import DEFAULT_COLUMNS
from bsarchive.store import COLUMN, COLUMNS, ExportFilter, Store

TIME_COLUMNS = frozenset(c.name for c in COLUMNS if c.type == "timestamp")
# Excel's limit for one cell's text (longer text is cut, with a marker).
MAX_CELL_CHARS = 32_767


def _openpyxl() -> Any:
    try:
        return importlib.import_module("openpyxl")
    except ImportError:
        raise ConfigError(
            "export xlsx", "needs openpyxl", hint="pip install 'bsarchive[xlsx]'"
        ) from None


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in TIME_COLUMNS:
        # Excel has no time zones: store the UTC wall time, say UTC in the header.
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    column = COLUMN[name]
    if column.type == "integer":
        return int(value)
    if column.type == "boolean":
        return bool(value)
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def write_xlsx(
    store: Store,
    path: Path,
    flt: ExportFilter,
    *,
    columns: Sequence[tuple[str, str]] = DEFAULT_COLUMNS,
    safe_cells: bool = True,
) -> int:
    """Write the export to ``path``; return the number of rows. ``safe_cells=False``
    (``--unsafe-cells``) keeps formula-like text as it is, for programs reading the file."""
    try:  # before the work, and before openpyxl's writers exist (a failed save left them
        # to die noisily at exit)
        with path.open("ab"):
            pass
    except OSError as e:
        raise ConfigError(str(path), f"cannot write: {e.strerror}") from None
    openpyxl = _openpyxl()
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("archive")
    names = [name for name, _ in columns]
    sheet.append(
        [f"{header} (UTC)" if name in TIME_COLUMNS else header for name, header in columns]
    )
    count = 0
    for row in store.iter_export_rows(flt, safe_cells=safe_cells, columns=names):
        cells = []
        for name, value in zip(names, row, strict=True):
            cell = openpyxl.cell.WriteOnlyCell(sheet, value=_cell(name, value))
            if name in TIME_COLUMNS and value is not None:
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif name == "id" or (isinstance(cell.value, str) and cell.value.isdigit()):
                cell.number_format = "@"  # text: keeps every digit
            cells.append(cell)
        sheet.append(cells)
        count += 1
    try:
        book.save(path)
    except OSError as e:
        raise ConfigError(str(path), f"cannot write: {e.strerror}") from None
    return count
