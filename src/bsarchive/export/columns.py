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
from bsarchive.store import ARCHIVE_COLUMNS, COLUMN, DEFAULT_KINDS, EXPORT_COLUMNS

# (archive column, header) pairs.
Columns = tuple[tuple[str, str], ...]

DEFAULT_COLUMNS: Columns = tuple((name, name) for name in EXPORT_COLUMNS)

# twarc-csv's (DocNow/twarc-csv) tweet columns that have a counterpart here, in its order,
# its names and its value forms (the ``twarc_*`` columns of the data model: lists as JSON
# arrays, text on one line, True/False, isoformat times), for scripts written against
# Twitter-era archives. `id` is the post's uri: the one identity that is the same on every
# instance (our numeric id is local to one archive), so `conversation_id` and
# `referenced_tweets.replied_to.id` are uris too. The README's mapping table lists the
# twarc-csv columns with no counterpart (left out rather than written empty).
TWARC_COLUMNS: Columns = (
    ("uri", "id"),
    ("conversation", "conversation_id"),
    ("in_reply_to", "referenced_tweets.replied_to.id"),
    ("twarc_in_reply_to_username", "in_reply_to_username"),
    ("created_at", "created_at"),
    ("twarc_text", "text"),
    ("language", "lang"),
    ("replies", "public_metrics.reply_count"),
    ("boosts", "public_metrics.retweet_count"),
    ("favourites", "public_metrics.like_count"),
    ("twarc_sensitive", "possibly_sensitive"),
    ("twarc_hashtags", "entities.hashtags"),
    ("twarc_mentions", "entities.mentions"),
    ("twarc_urls", "entities.urls"),
    ("username", "author.username"),
    ("author_name", "author.name"),
    ("twarc_retrieved_at", "__twarc.retrieved_at"),
    ("fetched_from", "__twarc.url"),
    ("version", "__twarc.version"),
)
# twarc-csv's rows are tweets: the preset exports posts only unless --kind says otherwise.
TWARC_KINDS: tuple[str, ...] = ("post",)

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


def default_kinds(spec: str | None) -> tuple[str, ...]:
    """The kinds an export holds when ``--kind`` is not given: posts only when ``--columns``
    names the ``twarc`` preset (twarc-csv's rows are tweets), else the default three."""
    items = {item.strip() for item in (spec or "").split(",")}
    return TWARC_KINDS if "twarc" in items else DEFAULT_KINDS


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
