"""``--columns`` for every export format: presets, renames, and values in JSON form.

The columns themselves (name, type, list or scalar, meaning, kinds) are defined once, in
the store's data model (:data:`bsarchive.store.COLUMNS`); this module turns a ``--columns``
spec into (column, header) pairs and a stored value into what JSON and Parquet carry.
Never touches the network.
"""

from __future__ import annotations

from typing import Any

import orjson

from bsarchive.errors import ConfigError
from bsarchive.store import ARCHIVE_COLUMNS, COLUMN, EXPORT_COLUMNS

# (archive column, header) pairs.
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

# What a reply, mention or boost network needs, one row per item.
NETWORK_COLUMNS: Columns = tuple(
    (name, name)
    for name in (
        "kind", "id", "uri", "created_at", "author", "in_reply_to", "in_reply_to_author",
        "conversation", "mentions", "boosted_by", "reaction_to", "tags", "language",
    )
)  # fmt: skip

# Every column the data model defines, in its order.
ALL_COLUMNS: Columns = tuple((name, name) for name in ARCHIVE_COLUMNS)

PRESETS: dict[str, Columns] = {
    "default": DEFAULT_COLUMNS,
    "twarc": TWARC_COLUMNS,
    "provenance": PROVENANCE_COLUMNS,
    "network": NETWORK_COLUMNS,
    "all": ALL_COLUMNS,
}


def parse_columns(spec: str | None) -> Columns:
    """Parse ``--columns``: comma-separated presets (default, twarc, provenance, network,
    all) and archive column names, each optionally renamed as ``name:header``; None is the
    default set.

    Raises:
        ConfigError: an unknown column or preset, a header used twice, or nothing chosen.
    """
    if spec is None:
        return DEFAULT_COLUMNS
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


def unique_headers(columns: Columns, where: str) -> None:
    """Refuse two columns with one header where a format needs distinct names (JSON keys,
    Parquet fields).

    Raises:
        ConfigError: a header named twice.
    """
    seen: set[str] = set()
    for _, header in columns:
        if header in seen:
            raise ConfigError("--columns", f"{header!r} named twice: {where} needs unique names")
        seen.add(header)


def json_value(name: str, value: Any) -> Any:
    """A value read with ``lists="json"`` as JSON and Parquet carry it: lists as lists,
    booleans as booleans; everything else unchanged."""
    if value is None:
        return None
    column = COLUMN[name]
    if column.is_list:
        return orjson.loads(value)
    if column.type == "boolean":
        return bool(value)
    return value
