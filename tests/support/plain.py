"""Models as plain data for literal comparisons in tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from bsarchive.models import iso


def as_plain(value: object) -> object:
    """Dataclasses -> dicts (without the provenance fields ``raw`` and ``is_tags_row``: the
    goldens hold content), datetimes -> ISO ``Z`` strings, tuples -> lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: as_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in ("raw", "is_tags_row")
        }
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return [as_plain(v) for v in value]
    return value
