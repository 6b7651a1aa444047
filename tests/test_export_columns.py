"""The export data model and ``--columns``: pure functions over literals."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bsarchive.errors import ConfigError
from bsarchive.export.columns import PRESETS, json_value, parse_columns, unique_headers
from bsarchive.store import (
    COLUMN,
    COLUMNS,
    EXPORT_COLUMNS,
    KINDS,
    ExportColumn,
    data_dictionary,
    json_array_sql,
)


def test_the_default_columns_are_the_contract_in_order() -> None:
    assert EXPORT_COLUMNS == (
        "kind", "id", "uri", "url", "created_at", "author", "author_name", "text", "tags",
        "links", "in_reply_to", "boosts", "replies", "favourites", "source", "seen_on",
        "reaction_to", "edited_at", "deleted_at", "fetched_at", "fetched_from", "version",
    )  # fmt: skip


@pytest.mark.parametrize("column", COLUMNS, ids=[c.name for c in COLUMNS])
def test_every_column_is_fully_described(column: ExportColumn) -> None:
    assert column.meaning.endswith(".")
    assert column.kinds and set(column.sql) <= set(KINDS)
    assert set(column.json_sql) <= set(column.sql)
    assert column.type != "object" or column.is_list
    assert f"| `{column.name}` | {column.type} |" in data_dictionary()


def test_presets_and_renames() -> None:
    assert parse_columns(None) == PRESETS["default"]
    assert parse_columns("uri:id, mentions,network")[:2] == (
        ("uri", "id"),
        ("mentions", "mentions"),
    )
    assert [name for name, _ in parse_columns("all")] == [c.name for c in COLUMNS]
    with pytest.raises(ConfigError, match="unknown column 'nope'"):
        parse_columns("uri,nope")
    with pytest.raises(ConfigError, match="no columns chosen"):
        parse_columns(" , ")


def test_json_formats_need_distinct_names() -> None:
    unique_headers((("uri", "id"), ("id", "local")), "JSON")
    with pytest.raises(ConfigError, match="'id' named twice: JSON needs unique names"):
        unique_headers((("uri", "id"), ("id", "id")), "JSON")


def test_json_values_follow_the_column_types() -> None:
    assert json_value("tags", '["a","b"]') == ["a", "b"]
    assert json_value("sensitive", 0) is False
    assert json_value("author_indexable", None) is None
    assert json_value("boosts", 3) == 3
    assert json_value("sightings", '[{"server":"a.example"}]') == [{"server": "a.example"}]


@pytest.mark.parametrize(
    ("stored", "items"),
    [
        (None, None),
        ("", []),
        ("bsnopen", ["bsnopen"]),
        ("a b c", ["a", "b", "c"]),
        ('say"what back\\slash', ['say"what', "back\\slash"]),
        ("日本語 タグ", ["日本語", "タグ"]),
    ],
)
def test_joined_text_becomes_a_json_array(stored: str | None, items: list[str] | None) -> None:
    db = sqlite3.connect(":memory:")
    sql = f"SELECT {json_array_sql('x')} FROM (SELECT ? AS x)"
    (value,) = db.execute(sql, (stored,)).fetchone()
    db.close()
    assert (None if value is None else json.loads(value)) == items


def test_kinds_without_a_field_read_null() -> None:
    assert COLUMN["boosts"].kinds == ("post",)
    assert COLUMN["reaction_to"].kinds == ("reaction", "comment", "boost")
