"""The import reader: stream a twarc JSONL file (plain or gzip, told by its magic bytes) or
a TAGS CSV one line or record at a time, each line detected on its own as v2, flattened
v2 or v1.1; a malformed line becomes a :class:`TwarcLine` with its error, never an abort.

Reads only the file it is given: no network, no database.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from bsarchive.errors import SourceError
from bsarchive.models import Boost, Post, utc
from bsarchive.sources.twarc.common import (
    _GZIP_MAGIC,
    _READ_BUFFER,
    _STREAM_NOTICES,
    _SURROGATE,
    _UTF8_BOM,
    TwarcLine,
    _BadTweet,
    _Fetch,
    _obj,
    _parse_date,
)
from bsarchive.sources.twarc.tags_csv import parse_tags_row
from bsarchive.sources.twarc.v1 import _v1_tweet
from bsarchive.sources.twarc.v2 import _v2_response, _v2_tweet, _V2Context


def iter_twarc_file(path: Path, *, fetched_at: datetime) -> Iterator[TwarcLine]:
    """Yield one :class:`TwarcLine` per non-blank line of a twarc JSONL file.

    The file may be gzip-compressed (detected by its first bytes). Lines are read one at a
    time. A truncated or corrupt gzip stream ends the file with one error record.

    Args:
        path: the twarc output file.
        fetched_at: when the data was fetched, used where a line has no
            ``__twarc.retrieved_at``.

    Raises:
        SourceError: the file cannot be opened or read.
    """
    fetch = _Fetch(utc(fetched_at), str(path))
    line_no = 0
    try:
        with _open_binary(path) as stream:
            for line in stream:
                line_no += 1
                if line_no == 1 and line.startswith(_UTF8_BOM):
                    line = line[3:]
                if not line or line.isspace():
                    continue
                yield _parse_line(line, line_no, fetch)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        yield TwarcLine(line_no + 1, (), f"truncated or corrupt gzip data: {e}")
    except OSError as e:
        raise SourceError(str(path), f"cannot read: {e.strerror or e}") from e


def parse_twarc_line(
    line: bytes | str, *, line_no: int, fetched_at: datetime, fetched_from: str
) -> TwarcLine:
    """Parse one twarc JSONL line (any of the three formats) into a :class:`TwarcLine`.

    Never raises for bad input: a malformed line comes back with ``error`` set.
    """
    return _parse_line(line, line_no, _Fetch(utc(fetched_at), fetched_from))


def iter_tags_csv(path: Path, *, fetched_at: datetime) -> Iterator[TwarcLine]:
    """Yield one :class:`TwarcLine` per record of a TAGS archive sheet exported as CSV.

    A UTF-8 BOM, quoted newlines and gzip compression are handled; blank records are
    skipped; a record with bytes that are not UTF-8 is an error record. A CSV syntax error
    (e.g. an unterminated quote) cannot be resynchronised and ends the file with one error
    record.

    Raises:
        SourceError: the file cannot be opened or read, or its header has neither an
            ``id_str`` nor a ``status_url`` column, or no ``text`` column.
    """
    fetch = _Fetch(utc(fetched_at), str(path))
    try:
        with _open_text(path) as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                return
            columns = [name.strip().lstrip("\ufeff").lower() for name in header]
            if "text" not in columns or not {"id_str", "status_url"} & set(columns):
                raise SourceError(
                    str(path),
                    "not a TAGS archive sheet: the header needs text and id_str or status_url",
                )
            start = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield TwarcLine(start, (), f"CSV syntax error, rest of file skipped: {e}")
                    return
                line_no, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if any(_SURROGATE.search(cell) for cell in row):
                    yield TwarcLine(line_no, (), "invalid UTF-8")
                    continue
                record = dict(zip(columns, row, strict=False))
                yield parse_tags_row(
                    record,
                    line_no=line_no,
                    fetched_at=fetch.fetched_at,
                    fetched_from=fetch.fetched_from,
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise SourceError(str(path), f"truncated or corrupt gzip data: {e}") from e
    except OSError as e:
        raise SourceError(str(path), f"cannot read: {e.strerror or e}") from e


# --- files -----------------------------------------------------------------------------------


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == _GZIP_MAGIC


def _open_binary(path: Path) -> BinaryIO | gzip.GzipFile:
    if _is_gzip(path):
        return gzip.GzipFile(path, "rb")
    return path.open("rb", buffering=_READ_BUFFER)


def _open_text(path: Path) -> IO[str]:
    # `utf-8-sig` drops a BOM; `surrogateescape` lets a bad byte reach one record's check
    # instead of aborting the reader; newline="" is what the csv module requires.
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")


# --- one line --------------------------------------------------------------------------------

_JSON_TYPE_NAMES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
}


def _parse_line(line: bytes | str, line_no: int, fetch: _Fetch) -> TwarcLine:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        if isinstance(line, bytes):
            try:
                line.decode()
            except UnicodeDecodeError as bad:
                return TwarcLine(line_no, (), f"invalid UTF-8 at byte offset {bad.start}")
        return TwarcLine(line_no, (), f"invalid JSON: {e}")
    if not isinstance(doc, dict):
        kind = _JSON_TYPE_NAMES.get(type(doc), "null or a boolean")
        return TwarcLine(line_no, (), f"not a JSON object but {kind}")
    meta = _obj(doc.get("__twarc"))
    if meta is not None:
        fetch = _line_fetch(meta, fetch)
    items: list[Post | Boost] = []
    try:
        if "data" in doc or "meta" in doc or ("errors" in doc and "id" not in doc):
            error = _v2_response(doc, fetch, items)
        elif "id_str" in doc or "user" in doc:
            error = _v1_tweet(doc, fetch, items)
        elif "id" in doc or "text" in doc or "author_id" in doc or "author" in doc:
            error = _v2_tweet(doc, _V2Context(), fetch, items, doc)
        elif _STREAM_NOTICES.intersection(doc):
            error = None
        else:
            keys = ", ".join(sorted(doc)[:5])
            error = f"not a tweet or a twarc2 response (keys: {keys})"
    except _BadTweet as e:
        error = str(e)
    return TwarcLine(line_no, tuple(items), error)


def _line_fetch(meta: Mapping[str, object], fetch: _Fetch) -> _Fetch:
    retrieved = meta.get("retrieved_at")
    url = meta.get("url")
    return _merge_fetch(
        retrieved if isinstance(retrieved, str) else None,
        url if isinstance(url, str) else None,
        fetch,
    )


# Every line of one twarc2 page (and every flattened tweet from it) repeats its `__twarc`.
@lru_cache(maxsize=256)
def _merge_fetch(retrieved: str | None, url: str | None, fetch: _Fetch) -> _Fetch:
    fetched_at = fetch.fetched_at
    if retrieved:
        parsed = _parse_date(retrieved)
        if parsed is not None:
            fetched_at = parsed[0]
    if fetched_at is fetch.fetched_at and not url:
        return fetch
    return _Fetch(fetched_at, url or fetch.fetched_from)
