"""Reading feed dates: ISO 8601 (W3C-DTF, Atom) and RFC 822 (RSS), telling a date that
states its zone from one that does not (feedparser's ``*_parsed`` takes both as UTC).

Shared by feeds.py (which reads every entry date here first) and feedxml.py (which hands
a feed whose dates these readers cannot read to feedparser). Pure functions; never raise.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

# A date longer than this is not a date (the longest RFC 822 form is ~40 characters).
MAX_DATE_CHARS = 100

ISO_DATE = re.compile(
    r"^\d{4}(?:-\d{2}(?:-\d{2})?)?"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.I,
)
_SPACE_BEFORE_ZONE = re.compile(r"\s+(?=Z$|[+-]\d{2}(?::?\d{2})?$)")
# The zone at the end of a date string: `Z`, `+01:00`, `+0100`, `GMT`, `EST`, `CEST`.
_ZONE_AT_END = re.compile(r"(?:\d|\s)(Z|[+-]\d{2}:?\d{2}|[A-Za-z]{1,5})\s*$")
# The zone names email.utils knows (RFC 822 §5); it reads any other name, and a missing
# zone, as +0000 without saying so.
_RFC822_ZONES = frozenset({"UT", "UTC", "GMT", "Z"}) | {"EST", "EDT", "CST", "CDT", "MST", "MDT"}
_RFC822_ZONES |= {"PST", "PDT"}


def names_zone(text: str, *, rfc822: bool) -> bool:
    """Whether a date string states its offset (RFC 2822 `-0000` means "unknown")."""
    match = _ZONE_AT_END.search(text)
    if match is None:
        return False
    zone = match.group(1).upper()
    if zone.isalpha():
        return zone in _RFC822_ZONES if rfc822 else True
    return zone not in ("-0000", "-00:00")


def parse_iso(text: str) -> tuple[datetime, bool] | None:
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    try:
        text = _SPACE_BEFORE_ZONE.sub("", text.replace(",", ".").upper()).replace(" ", "T", 1)
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC), True
        return when.astimezone(UTC), False
    except (ValueError, OverflowError):
        return None


def parse_rfc822(text: str) -> tuple[datetime, bool] | None:
    try:
        fields = parsedate_tz(text)
        if fields is None:
            return None
        year, month, day, hour, minute, second = fields[:6]
        when = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        return when - timedelta(seconds=fields[9] or 0), not names_zone(text, rfc822=True)
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def readable(text: str) -> bool:
    """Whether feeds.py reads ``text`` without feedparser's help (an empty or over-long
    string counts: it is "no date" or "bad date" there either way)."""
    if not text or len(text) > MAX_DATE_CHARS or ISO_DATE.match(text):
        return True
    return parse_rfc822(text) is not None
