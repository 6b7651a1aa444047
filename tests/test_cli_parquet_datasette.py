"""Parquet export round trip and the Datasette metadata document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli import Cli
from tests.support.twarc import twarc2_lines, write


def test_parquet_round_trip(cli: Cli, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    assert cli("import", "twarc", str(path), "--db", str(cli.db)).exit_code == 0
    out = tmp_path / "event.parquet"
    result = cli("export", "parquet", "-o", str(out), "--kind", "post", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("boosts").type == pa.int64()
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("tags").type == pa.list_(pa.string())
    rows = table.select(["uri", "created_at", "tags", "links"]).to_pylist()
    assert rows == [
        {
            "uri": "https://twitter.com/ada_l/status/17350000010",
            "created_at": datetime(2010, 6, 29, 18, 10, tzinfo=UTC),
            "tags": ["bsnopen"],
            "links": ["https://blog.example.org/slides"],
        },
        {
            "uri": "https://twitter.com/bob_k/status/17350000012",
            "created_at": datetime(2010, 6, 29, 18, 12, tzinfo=UTC),
            "tags": ["bsnopen"],
            "links": [],
        },
    ]


def test_datasette_metadata(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "metadata.json"
    result = cli("datasette-metadata", "-o", str(out), "--db", str(cli.db), "--title", "Open")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["title"] == "Open"
    tables = doc["databases"]["event"]["tables"]
    assert {"timeline", "top_links", "reactions_with_comments"} <= set(tables)
    assert tables["post_tags"]["facets"] == ["tag"]
    assert tables["posts"]["facets"] == ["source", "seen_on", "language"]


def test_views_exist_and_read(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    assert cli("import", "twarc", str(path), "--db", str(cli.db)).exit_code == 0
    assert cli.rows("SELECT author, created_at FROM timeline") == [
        ("@ada_l", "2010-06-29T18:10:00.000Z"),
        ("@bob_k", "2010-06-29T18:12:00.000Z"),
    ]
    assert cli.rows("SELECT url, posts, people FROM top_links") == [
        ("https://blog.example.org/slides", 1, 1)
    ]
    assert cli.rows("SELECT count(*) FROM reactions_with_comments") == [(0,)]
