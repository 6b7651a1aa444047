"""Before any parser sees a feed body: decoding, the XML prolog and DOCTYPE guards (entity
declarations refused), the author-field cut, the parse time budget; and entry dates.

Pure functions of bytes and strings; no network, no database. Reads a clock only through
the :class:`_Deadline` it is given.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bsarchive.errors import ParseError
from bsarchive.sources.feeddates import (
    ISO_DATE,
    MAX_DATE_CHARS,
    names_zone,
    parse_iso,
    parse_rfc822,
)

# The HTTP layer caps bodies first (http.py); this is the same 10 MiB, checked again so the
# parser is safe on its own.
MAX_BODY_BYTES = 10 * 1024 * 1024
# feedparser's e-mail regex in `_sync_author_detail` is quadratic on long author text
# (measured: a 20 KB `<author>` of letters takes 1.4 s, 200 KB would take minutes; 128
# characters cost 0.1 ms). Real author fields are a name and an address, below this.
MAX_AUTHOR_CHARS = 128
# feedparser's fallback parser for broken XML (sgmllib) runs at 1-5 s per MB on hostile
# input (measured); broken bodies larger than this are refused instead of recovered.
MAX_RECOVER_BYTES = 1024 * 1024
# Dates before the web or more than two days after the fetch are kept but flagged.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)

FLAG_TZLESS = "tz-less date"
FLAG_IMPOSSIBLE = "impossible date"
FLAG_NO_DATE = "no date"  # the date is fetched_at: the entry had none
FLAG_BAD_DATE = "bad date"  # the date is fetched_at: the entry's date could not be read
# --- dates ----------------------------------------------------------------------------------


def _parse_date(
    raw: str | None, feedparser_utc: datetime | None, fetched_at: datetime
) -> tuple[datetime, tuple[str, ...]]:
    """Read an entry date; never raises.

    Our own ISO 8601 / RFC 822 readers come first because they can tell a tz-less date
    (feedparser's ``*_parsed`` silently takes it as UTC); feedparser's result is the
    fallback for the odd formats it knows (localized month names and the like).
    """
    text = (raw or "").strip()
    if not text:
        return fetched_at, (FLAG_NO_DATE,)
    parsed: tuple[datetime, bool] | None = None
    if len(text) <= MAX_DATE_CHARS:
        if ISO_DATE.match(text):  # ISO-shaped but invalid (month 13) is a bad date
            return _checked(parse_iso(text), fetched_at)
        parsed = parse_rfc822(text)
        if parsed is None and feedparser_utc is not None:
            parsed = feedparser_utc, not names_zone(text, rfc822=False)
    return _checked(parsed, fetched_at)


def _checked(
    parsed: tuple[datetime, bool] | None, fetched_at: datetime
) -> tuple[datetime, tuple[str, ...]]:
    if parsed is None:
        return fetched_at, (FLAG_BAD_DATE,)
    when, tzless = parsed
    flags = [FLAG_TZLESS] if tzless else []
    if when < EARLIEST_PLAUSIBLE or when > fetched_at + FUTURE_SLACK:
        flags.append(FLAG_IMPOSSIBLE)
    return when, tuple(flags)


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value.tm_sec, 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


# --- decoding and guards --------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECLARATION = re.compile(r"^<\?xml[^>]{0,200}\?>")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([\w.:\-]{1,40})""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:\-]{1,40})""", re.I)
# Characters XML 1.0 forbids (expat stops on them; real feeds contain them by accident).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _decode(body: bytes, content_type: str | None) -> str:
    """Decode a feed body to text; never raises.

    A BOM wins; then UTF-8 if the bytes are valid UTF-8 (the usual truth when a server's
    charset or the XML declaration says otherwise); then the declared encoding (XML
    declaration, then the HTTP charset); then UTF-8 with replacement characters.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, "replace")
    if body[:4] in (b"<\x00?\x00", b"<\x00\x00\x00"):
        return body.decode("utf-16-le" if body[:4] == b"<\x00?\x00" else "utf-32-le", "replace")
    if body[:4] in (b"\x00<\x00?", b"\x00\x00\x00<"):
        return body.decode("utf-16-be" if body[:4] == b"\x00<\x00?" else "utf-32-be", "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_ENCODING.match(body)
    charset = _CHARSET_PARAM.search(content_type or "")
    for name in (declared.group(1).decode("ascii") if declared else None, charset and charset[1]):
        if not name:
            continue
        try:
            if "<".encode(name) == b"<":  # only ASCII-compatible encodings
                return body.decode(name, "replace")
        except (LookupError, UnicodeError):
            continue
    return body.decode("utf-8", "replace")


_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})


@dataclass(frozen=True, slots=True)
class _Prolog:
    root: str | None  # local name of the root element, lower-cased
    end: int  # offset of the root element
    internal_subset: bool  # a DOCTYPE with `[ ... ]`, where entities are declared


def _read_prolog(text: str) -> _Prolog:
    """Find the root element, skipping the XML declaration, PIs, comments and DOCTYPE.

    Linear: every step jumps with ``str.find``.
    """
    pos, size, subset = 0, len(text), False
    while pos < size:
        while pos < size and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            pos = size if end < 0 else end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            pos = size if end < 0 else end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            pos, found = _skip_doctype(text, pos + 9)
            subset = subset or found
        elif text.startswith("<", pos):
            match = _ELEMENT_NAME.match(text, pos)
            root = (match.group(2) or match.group(1)).lower() if match else None
            return _Prolog(root, pos, subset)
        else:
            break
    return _Prolog(None, pos, subset)


_ELEMENT_NAME = re.compile(r"<([A-Za-z_][\w.\-]*)(?::([\w.\-]+))?")
_DOCTYPE_STOP = re.compile(r"""["'\[>]""")


def _skip_doctype(text: str, pos: int) -> tuple[int, bool]:
    """Return the offset after a DOCTYPE and whether it has an internal subset."""
    while True:
        match = _DOCTYPE_STOP.search(text, pos)
        if match is None:
            return len(text), False
        char = match.group()
        if char == ">":
            return match.end(), False
        if char == "[":
            end = text.find("]", match.end())
            close = text.find(">", end) if end >= 0 else -1
            return (len(text) if close < 0 else close + 1), True
        end = text.find(char, match.end())
        if end < 0:
            return len(text), False
        pos = end + 1


_AUTHOR_ELEMENT = re.compile(
    r"<(?:[A-Za-z_][\w.\-]*:)?"
    r"(?:author|creator|publisher|managingEditor|webMaster|contributor|name|email)"
    r"(?:\s[^<>]*)?>",
    re.I,
)


def _truncate_author_fields(text: str) -> str:
    """Cut author-like element text to ``MAX_AUTHOR_CHARS`` (see the constant for why)."""
    pieces: list[str] = []
    pos = 0
    for match in _AUTHOR_ELEMENT.finditer(text):
        start = match.end()
        if start < pos:
            continue
        if text.startswith("<![CDATA[", start):
            start += 9
            end = text.find("]]>", start)
        else:
            end = text.find("<", start)
        if end < 0:
            end = len(text)
        if end - start <= MAX_AUTHOR_CHARS:
            continue
        cut = start + MAX_AUTHOR_CHARS
        amp = text.rfind("&", cut - 12, cut)  # do not leave half an entity behind
        if amp >= start and ";" not in text[amp:cut]:
            cut = amp
        pieces.append(text[pos:cut])
        pos = end
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


class _Deadline:
    """The parse time budget. It cannot interrupt a running regex (CPython holds the GIL),
    so the author-field cut is the real guard; this turns a slow body into a clean error."""

    def __init__(self, url: str, seconds: float, clock: Callable[[], float]) -> None:
        self.url, self.seconds, self.clock = url, seconds, clock
        self.start = clock()

    def check(self) -> None:
        if self.clock() - self.start > self.seconds:
            raise ParseError(self.url, f"parsing took longer than {self.seconds:g} s; gave up")
