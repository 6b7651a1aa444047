"""Typed reads of one field of a decoded JSON object, shared by the JSON parsers.

A missing or mistyped field reads as None, so foreign JSON never leaks ``Any`` into the
models. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping


def str_field(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def int_field(data: Mapping[str, object], key: str) -> int | None:
    """An integer (a count); booleans, which JSON parsers give as ints, are not."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
