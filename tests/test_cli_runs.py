"""End to end: each fetch records its recipe and counts (issue 17 part 4), and `stats
--json`, `export runs` and a Parquet file's metadata all show them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive import __version__
from bsarchive.store import MIGRATIONS, Store
from tests.support.cli import Cli, fetch

RECIPE_KEYS = {
    "command", "version", "tags", "instances", "feeds", "outboxes", "since", "until",
    "discover", "max_instances", "max_pages", "reactions", "max_reactions", "refresh_hours",
    "refetch_gone", "include_opted_out", "allow_private_networks",
}  # fmt: skip


@pytest.fixture
def fetched(cli: Cli, servers: Any, fast_config: Path) -> tuple[Cli, str]:
    statuses = [synthetic_status(n, viewer="a.example", local_id=100 + n) for n in range(5)]
    # one account asks not to be archived: its post is left out, and counted
    statuses[2]["account"] = dict(statuses[2]["account"], note="<p>No archives. #NoBot</p>")
    server = servers(statuses)
    result = fetch(
        cli, fast_config, server.url,
        extra=("--no-reactions", "--max-pages", "7", "--since", "2010-06-29",
               "--until", "2010-06-30", "--refresh", "12", "--max-instances", "3"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return cli, server.url


def _stats_runs(cli: Cli) -> list[dict[str, Any]]:
    result = cli("stats", "--json", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    runs: list[dict[str, Any]] = json.loads(result.stdout)["runs"]
    return runs


def test_a_run_records_its_recipe_and_counts(fetched: tuple[Cli, str]) -> None:
    cli, url = fetched
    [run] = _stats_runs(cli)
    options = run["options"]
    assert set(options) == RECIPE_KEYS
    assert options["command"] == "fetch"
    assert options["version"] == run["version"] == __version__
    assert options["tags"] == ["bsnopen"]
    assert options["instances"] == [url]
    assert (options["since"], options["until"]) == (
        "2010-06-29T00:00:00+00:00",
        "2010-06-30T23:59:59.999999+00:00",
    )
    assert (options["max_pages"], options["max_instances"]) == (7, 3)
    assert (options["discover"], options["reactions"], options["refresh_hours"]) == (
        False, False, 12.0,
    )  # fmt: skip
    assert options["include_opted_out"] is False
    assert run["counts"]["new"] == 4
    assert run["counts"]["opted_out"] == 1
    assert run["counts"]["skipped"] >= 1  # the opted-out post is one of the skipped
    assert run["counts"]["failures"] == 0
    assert run["started_at"] <= run["finished_at"]


def test_export_runs_is_the_runs_as_json_lines(fetched: tuple[Cli, str], tmp_path: Path) -> None:
    cli, url = fetched
    again = fetch(cli, tmp_path / "fast.toml", url, extra=("--no-reactions", "--include-opted-out"))
    assert again.exit_code == 0, again.output
    out = tmp_path / "runs.jsonl"
    result = cli("export", "runs", "-o", str(out), "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == _stats_runs(cli)
    assert [run["id"] for run in lines] == [1, 2]
    # the second run kept the opted-out account's post: nothing left out, the override said
    assert lines[1]["options"]["include_opted_out"] is True
    assert (lines[1]["counts"]["opted_out"], lines[1]["counts"]["new"]) == (0, 1)


def test_parquet_carries_the_runs_as_file_metadata(
    fetched: tuple[Cli, str], tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    cli, _ = fetched
    out = tmp_path / "posts.parquet"
    result = cli(
        "export", "parquet", "-o", str(out), "--kind", "post", "--tag", "bsnopen",
        "--db", str(cli.db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metadata = pq.read_schema(out).metadata
    assert json.loads(metadata[b"bsarchive.runs"]) == _stats_runs(cli)
    assert json.loads(metadata[b"bsarchive.export"]) == {
        "version": __version__, "since": None, "until": None, "tags": ["bsnopen"],
        "kinds": ["post"], "search": None,
    }  # fmt: skip
    assert pq.read_table(out).num_rows == 4


def test_runs_recorded_before_schema_11_have_unknown_counts(cli: Cli, tmp_path: Path) -> None:
    """Migration 11 adds skipped, opted_out and reactions as NULL for earlier runs: not
    known is not zero; the counts they did record are kept."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:10]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 10")
    db.execute(
        "INSERT INTO runs (started_at, finished_at, version, new, updated, failures, options)"
        " VALUES ('2010-06-29T17:00:00.000Z', '2010-06-29T17:01:00.000Z', '0.9', 5, 1, 0,"
        ' \'{"tags": ["bsnopen"]}\')'
    )
    db.commit()
    db.close()
    with Store(path) as store:  # opened for writing (as the next fetch does): migrated
        assert store.schema_version == len(MIGRATIONS)
    result = cli("export", "runs", "--db", str(path))
    assert result.exit_code == 0, result.output
    [run] = [json.loads(line) for line in result.stdout.splitlines()]
    assert run["options"] == {"tags": ["bsnopen"]}
    assert run["counts"] == {
        "new": 5, "updated": 1, "failures": 0, "skipped": None, "opted_out": None,
        "reactions": None,
    }  # fmt: skip
