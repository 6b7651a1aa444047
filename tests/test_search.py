"""Full-text search: the FTS5 index, `bsarchive search`, and --search on exports."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive.store import MIGRATIONS, Store
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


def test_a_query_with_no_word_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    """What FTS5 would refuse as syntax is read as typed (see test_fts_query); a query with
    no word left in it is one usage error, for search and --search alike."""
    imported(cli, tmp_path)
    result = cli("search", '"#"', "--db", str(cli.db))
    assert result.exit_code == 2
    assert result.stderr.startswith("bsarchive: error: search: ")
    export = cli("export", "jsonl", "--search", "( - )", "--db", str(cli.db))
    assert export.exit_code == 2
    assert export.stderr.startswith("bsarchive: error: search: ")
    typed = cli("export", "jsonl", "--search", "AND OR", "--db", str(cli.db))
    assert (typed.exit_code, typed.stdout) == (0, "")


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


@pytest.fixture
def sqlite_utils() -> Iterator[ModuleType]:
    """sqlite-utils, imported inside the test: its import raises the csv module's field
    size limit for the whole process (the TAGS reader counts on the default), and makes
    the test process, which the fault tests' children are forked from, 20 MB larger."""
    limit = csv.field_size_limit()
    import sqlite_utils

    yield sqlite_utils
    csv.field_size_limit(limit)


def test_sqlite_utils_finds_the_index_of_a_fetched_archive(
    cli: Cli, servers: Any, fast_config: Path, sqlite_utils: ModuleType
) -> None:
    """sqlite-utils (and Datasette's ``_search``, by the same rule) find each searchable
    table's full-text index by how it names its content table: `sqlite-utils search
    event.db posts society` works on a bare archive, no metadata needed."""
    statuses = [synthetic_status(n, viewer="a.example", local_id=100 + n) for n in range(3)]
    statuses.append(synthetic_status(3, viewer="a.example", local_id=103, text="Tea at six"))
    server = servers(statuses)
    fetched = cli(
        "fetch", "--tag", "bsnopen", "--mastodon", server.url, "--no-reactions",
        "--db", str(cli.db), "--config", str(fast_config),
    )  # fmt: skip
    assert fetched.exit_code == 0, fetched.output
    db = sqlite_utils.Database(cli.db)
    assert [db[t].detect_fts() for t in ("posts", "reactions", "comments")] == [
        "posts_fts",
        "reactions_fts",
        "comments_fts",
    ]
    found = sorted(row["uri"] for row in db["posts"].search("society", columns=["uri"]))
    assert found == sorted(s["uri"] for s in statuses[:3])
    db.close()
    from click.testing import CliRunner
    from sqlite_utils.cli import cli as sqlite_utils_cli

    shell = CliRunner().invoke(
        sqlite_utils_cli, ["search", str(cli.db), "posts", "society", "-c", "uri", "--csv"]
    )
    assert shell.exit_code == 0, shell.output
    assert sorted(shell.output.split()[1:]) == found
    doctor = cli("doctor", "--db", str(cli.db), "--no-probe")
    assert doctor.exit_code == 0, doctor.output
    (row,) = [line for line in doctor.stdout.splitlines() if "│ search" in line]
    assert "│ ok" in row and "posts, reactions, comments" in row


def test_schema_8_archive_is_reindexed_with_the_same_matches(
    tmp_path: Path, sqlite_utils: ModuleType
) -> None:
    """Migration 9 declares the indexes the way sqlite-utils finds them and rebuilds them
    from the rows: the same matches as before (same columns, same tokenizer)."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:8]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 8")
    stamp = "2010-06-29T18:00:00.000Z"
    db.execute("INSERT INTO authors (id, handle) VALUES (1, '@al@a.example')")
    texts = ["Big Société open night", "Tea and slides", "The big society, again"]
    db.executemany(
        "INSERT INTO posts (uri, created_at, author_id, text, spoiler_text, source, fetched_at,"
        " fetched_from, version, first_seen_at, updated_at)"
        " VALUES (?, ?, 1, ?, ?, 'rss', ?, 'x', '0', ?, ?)",
        [(f"https://a.example/{i}", stamp, t, "cw" * i, stamp, stamp, stamp)
         for i, t in enumerate(texts)],
    )  # fmt: skip
    db.execute(
        "INSERT INTO reactions (id, url, title, excerpt, fetched_at, fetched_from, version,"
        " first_seen_at, updated_at) VALUES (1, 'https://blog.example/1', 'Societies',"
        " 'A night of slides', ?, 'x', '0', ?, ?)",
        (stamp, stamp, stamp),
    )
    db.execute(
        "INSERT INTO comments (uri, reaction_id, text, fetched_at, fetched_from, version)"
        " VALUES ('https://blog.example/1#c1', 1, 'Great slides', ?, 'x', '0')",
        (stamp,),
    )
    queries = [("posts_fts", "societe"), ("posts_fts", "big AND night"), ("posts_fts", "cwcw"),
               ("reactions_fts", "slides"), ("comments_fts", "slides")]  # fmt: skip
    before = [
        db.execute(f"SELECT rowid FROM {t} WHERE {t} MATCH ? ORDER BY rowid", (q,)).fetchall()
        for t, q in queries
    ]
    assert sqlite_utils.Database(db)["posts"].detect_fts() is None  # content='posts'
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.fts_tables() == {
            "posts": "posts_fts",
            "reactions": "reactions_fts",
            "comments": "comments_fts",
        }
        after = [
            store.db.execute(
                f"SELECT rowid FROM {t} WHERE {t} MATCH ? ORDER BY rowid", (q,)
            ).fetchall()
            for t, q in queries
        ]
        assert after == before == [[(1,)], [(1,)], [(3,)], [(1,)], [(1,)]]
        assert [h.kind for h in store.search("slides")] == ["post", "reaction", "comment"]
        store.db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")
        assert store.integrity_check() == "ok"
