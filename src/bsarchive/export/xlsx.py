"""``export xlsx``: an Excel workbook with typed columns, written in streaming mode.

Ids and text are strings (so no id loses digits), times are real date-times (UTC, shown
as ``yyyy-mm-dd hh:mm:ss``), counts are integers, booleans TRUE/FALSE, list columns their
items joined by one space (as in CSV). Formula-like text is neutralised as in
CSV. openpyxl is an optional extra (``pip install 'bsarchive[xlsx]'``), imported only
here. Never touches the network.
"""

from __future__ import annotations

import importlib
import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from bsarchive.errors import ConfigError
from bsarchive.export.columns import DEFAULT_COLUMNS
from bsarchive.export.output import replacing
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
    with replacing(path) as tmp:
        raw = tmp.with_name(tmp.name + ".raw")
        try:
            return _write_book(store, path, raw, tmp, flt, columns, safe_cells)
        finally:
            raw.unlink(missing_ok=True)


def _write_book(
    store: Store,
    path: Path,
    raw: Path,
    tmp: Path,
    flt: ExportFilter,
    columns: Sequence[tuple[str, str]],
    safe_cells: bool,
) -> int:
    """Write the workbook to ``raw`` with openpyxl, then its stable copy to ``tmp``."""
    try:  # before the work, and before openpyxl's writers exist (a failed save left them
        # to die noisily at exit)
        with raw.open("wb"):
            pass
    except OSError as e:
        raise ConfigError(str(path), f"cannot write: {e.strerror}") from None
    openpyxl = _openpyxl()
    rows = store.iter_export_rows(flt, safe_cells=safe_cells, columns=[n for n, _ in columns])
    with closing(rows):
        # The first row read before openpyxl's writers exist: a refused query (a bad
        # --search) fails here, not inside a half-written sheet that then dies noisily.
        first = list(itertools.islice(rows, 1))
        return _write_sheet(openpyxl, raw, tmp, path, columns, itertools.chain(first, rows))


def _write_sheet(
    openpyxl: Any,
    raw: Path,
    tmp: Path,
    path: Path,
    columns: Sequence[tuple[str, str]],
    rows: Iterator[tuple[Any, ...]],
) -> int:
    names = [name for name, _ in columns]
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("archive")
    sheet.append(
        [f"{header} (UTC)" if name in TIME_COLUMNS else header for name, header in columns]
    )
    count = 0
    for row in rows:
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
        book.save(raw)
        _stable_copy(raw, tmp)
    except OSError as e:
        raise ConfigError(str(path), f"cannot write: {e.strerror}") from None
    return count


# openpyxl stamps the save time in the document properties and the zip entries; the same
# archive must give the same bytes, so both get this fixed time (the zip format's epoch).
STABLE_TIME = (1980, 1, 1, 0, 0, 0)
_PROPERTY_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _stable_copy(source: Path, target: Path) -> None:
    """Copy the workbook zip with fixed entry times and property times."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "docProps/core.xml":
                data = _PROPERTY_TIME.sub(rb"\g<1>1980-01-01T00:00:00Z\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=STABLE_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            zout.writestr(entry, data)
