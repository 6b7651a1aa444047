"""ISO 8601 timestamps to aware UTC datetimes: the one reader every source uses for them.

Mastodon and ActivityPub ``created_at``/``published``, twarc2 ``created_at`` and
``__twarc.retrieved_at``, and JSON-LD/OpenGraph dates of article pages all come through
:func:`parse_iso_datetime`. Feed dates, which also come in reduced precision and RFC 822
forms, are read by ``sources/feeddates.py``.

A pure function of its argument: no clock, no locale, no network.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_iso_datetime"]


def parse_iso_datetime(value: str) -> tuple[datetime, bool]:
    """Parse an ISO 8601 timestamp to aware UTC; the flag says the input had no timezone
    (it is then taken to be UTC).

    Raises:
        ValueError: not an ISO 8601 timestamp.
        OverflowError: a date at the edge of the calendar moved out of it by its offset.
    """
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:  # the usual "…Z": no conversion
        return parsed, False
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), True
    return parsed.astimezone(UTC), False
