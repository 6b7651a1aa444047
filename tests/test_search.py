"""Full-text search: the FTS5 index, `bsarchive search`, and --search on exports."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bsarchive.store import Store
from tests.support.cli import Cli
from tests.support.posts import NOW, WHEN, post
from tests.support.twarc import twarc2_lines, write


def imported(cli: Cli, tmp_path: Path) -> Cli:
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    assert cli("import", "twarc", str(path), "--db", str(cli.db)).exit_code == 0
    return cli


def test_search_hits_and_misses(cli: Cli, tmp_path: Path) -> None:
    imported(cli, tmp_path)
    hit = cli("search", "sticky notes", "--json", "--db", str(cli.db))
    assert hit.exit_code == 0, hit.output
    rows = [json.loads(line) for line in hit.stdout.splitlines()]
    assert [(r["kind"], r["author"], r["snippet"]) for r in rows] == [
        ("post", "@bob_k", "Tea and a wall of [sticky] [notes] at #bsnopen")
    ]
    miss = cli("search", "lanyard", "--json", "--db", str(cli.db))
    assert (miss.exit_code, miss.stdout) == (0, "")
    table = cli("search", "slid*", "--db", str(cli.db))
    assert table.exit_code == 0
    assert "@ada_l" in table.stdout and "1 matches" in table.stdout


def test_bad_query_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    imported(cli, tmp_path)
    result = cli("search", '"unclosed', "--db", str(cli.db))
    assert result.exit_code == 2
    assert result.stderr.startswith("bsarchive: error: search: ")
    export = cli("export", "jsonl", "--search", "AND OR", "--db", str(cli.db))
    assert export.exit_code == 2
    assert export.stderr.startswith("bsarchive: error: search: ")


def test_export_search_filter(cli: Cli, tmp_path: Path) -> None:
    imported(cli, tmp_path)
    result = cli("export", "jsonl", "--search", "slides", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["uri"] for line in result.stdout.splitlines()] == [
        "https://twitter.com/ada_l/status/17350000010"
    ]
    csv_out = cli("export", "csv", "--search", "tea", "--db", str(cli.db))
    assert csv_out.stdout.count("\n") == 2  # header and one row
    assert "17350000012" in csv_out.stdout


def test_index_follows_updates(cli: Cli, tmp_path: Path) -> None:
    imported(cli, tmp_path)
    with __import__("sqlite3").connect(cli.db) as db:
        db.execute("UPDATE posts SET text = 'Biscuits only' WHERE uri LIKE '%17350000012'")
    assert cli("search", "sticky", "--json", "--db", str(cli.db)).stdout == ""
    assert "Biscuits" in cli("search", "biscuits", "--json", "--db", str(cli.db)).stdout


def test_import_fills_the_index_in_bulk_and_keeps_the_trigger(cli: Cli, tmp_path: Path) -> None:
    """An import indexes its posts per batch without the per-row trigger; afterwards the
    trigger is back, so a post written by anything else is indexed as before."""
    imported(cli, tmp_path)
    with __import__("sqlite3").connect(cli.db) as db:
        triggers = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'posts'"
            " ORDER BY name"
        ).fetchall()
        assert triggers == [("posts_fts_delete",), ("posts_fts_insert",), ("posts_fts_update",)]
        db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")
        indexed = db.execute("SELECT count(*) FROM posts_fts_docsize").fetchone()[0]
        posts = db.execute("SELECT count(*) FROM posts").fetchone()[0]
        assert (indexed, posts) == (2, 2)
        db.execute(
            "INSERT INTO posts (uri, created_at, author_id, text, source, fetched_at,"
            " fetched_from, version, first_seen_at, updated_at)"
            " SELECT 'https://example.org/x', created_at, author_id, 'Flapjacks at the door',"
            " source, fetched_at, fetched_from, version, first_seen_at, updated_at"
            " FROM posts LIMIT 1"
        )
    assert "Flapjacks" in cli("search", "flapjacks", "--json", "--db", str(cli.db)).stdout


def test_too_many_matches_to_rank_come_newest_first(tmp_path: Path) -> None:
    texts = ["tea at #bsnopen", "tea tea tea and more tea at #bsnopen", "slides #bsnopen"]
    posts = [
        post(f"https://a.example/users/al/statuses/{n}", local=str(n), text=text,
             created_at=WHEN + timedelta(minutes=n))
        for n, text in enumerate(texts)
    ]  # fmt: skip
    with Store(tmp_path / "a.db") as store:
        store.save_items(posts, NOW)
        ranked = store.search("tea")
        # Two matches: ranked by bm25, the post saying "tea" four times first.
        assert [h.id for h in ranked] == [2, 1]
        assert all(h.rank is not None and h.rank < 0 for h in ranked)
        assert ranked[0].snippet == "[tea] [tea] [tea] and more [tea] at #bsnopen"
        # More matches than rank_at_most: newest first, unranked, snippets still made.
        unranked = store.search("bsnopen", rank_at_most=2, limit=2)
        assert [(h.id, h.rank) for h in unranked] == [(3, None), (2, None)]
        assert unranked[0].snippet == "slides #[bsnopen]"
        # At the limit they are still ranked: a word in every post ranks them by length.
        assert [h.id for h in store.search("bsnopen", rank_at_most=3)] == [3, 1, 2]
