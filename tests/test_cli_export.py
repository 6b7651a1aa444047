"""End to end: `export csv --columns`, `export jsonl --raw`, `export atom`, `stats --json`,
all through the real CLI over an archive fetched from loopback servers."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bsarchive.models import Author, Post, Sighting
from bsarchive.store import Store
from tests.support.cli import Cli
from tests.support.cli_archive import REACTION_RAW, REACTION_URL, Archive, build_archive


@pytest.fixture
def archive(cli: Cli, servers: Any, fast_config: Path) -> Archive:
    return build_archive(cli, servers, fast_config)


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# twarc-csv's published tweet columns, in its order (DocNow/twarc-csv, dataframe_converter.py
# DEFAULT_TWEET_COLUMNS): the names a script written against a twarc-csv file reads.
TWARC_CSV_TWEET_COLUMNS = """id conversation_id referenced_tweets.replied_to.id
referenced_tweets.retweeted.id referenced_tweets.quoted.id author_id in_reply_to_user_id
in_reply_to_username retweeted_user_id retweeted_username quoted_user_id quoted_username
created_at text lang source public_metrics.impression_count public_metrics.reply_count
public_metrics.retweet_count public_metrics.quote_count public_metrics.like_count
reply_settings edit_history_tweet_ids edit_controls.edits_remaining
edit_controls.editable_until edit_controls.is_edit_eligible possibly_sensitive
withheld.scope withheld.copyright withheld.country_codes entities.annotations
entities.cashtags entities.hashtags entities.mentions entities.urls context_annotations
attachments.media attachments.media_keys attachments.poll.duration_minutes
attachments.poll.end_datetime attachments.poll.id attachments.poll.options
attachments.poll.voting_status attachments.poll_ids author.id author.created_at
author.username author.name author.description author.entities.description.cashtags
author.entities.description.hashtags author.entities.description.mentions
author.entities.description.urls author.url author.location author.pinned_tweet_id
author.profile_image_url author.protected author.public_metrics.followers_count
author.public_metrics.following_count author.public_metrics.listed_count
author.public_metrics.tweet_count author.verified author.withheld.scope
author.withheld.copyright author.withheld.country_codes geo.coordinates.coordinates
geo.coordinates.type geo.country geo.country_code geo.full_name geo.geo.bbox geo.geo.type
geo.id geo.name geo.place_id geo.place_type matching_rules __twarc.retrieved_at
__twarc.url __twarc.version""".split()  # noqa: SIM905 - the list as published, wrapped

# The twarc-csv columns the README says have a counterpart.
TWARC_COUNTERPARTS = {
    "id", "conversation_id", "referenced_tweets.replied_to.id", "in_reply_to_username",
    "created_at", "text", "lang", "public_metrics.reply_count",
    "public_metrics.retweet_count", "public_metrics.like_count", "possibly_sensitive",
    "entities.hashtags", "entities.mentions", "entities.urls", "author.username",
    "author.name", "__twarc.retrieved_at", "__twarc.url", "__twarc.version",
}  # fmt: skip


def test_csv_twarc_preset_is_twarc_csv_for_posts(cli: Cli, archive: Archive) -> None:
    result = cli("export", "csv", "--db", str(cli.db), "--columns", "twarc")
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    # twarc-csv's names, in twarc-csv's order, for every column with a counterpart
    assert rows[0] == [c for c in TWARC_CSV_TWEET_COLUMNS if c in TWARC_COUNTERPARTS]
    assert len(rows) == 1 + 8  # posts only: the reaction and its comment are left out
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    first = by_id[archive.uris[0]]
    assert first["created_at"] == "2010-06-29T17:00:00.000Z"
    assert first["author.username"] == "user0@home0.example"
    assert first["author.name"] == "User 0"
    assert first["text"] == "Post 0 from the Big Society Network open night #bsnopen"
    assert first["lang"] == "en"
    assert first["public_metrics.retweet_count"] == "0"
    assert first["public_metrics.like_count"] == "0"
    assert first["possibly_sensitive"] == "False"
    # lists as twarc-csv writes them: JSON arrays, hashtags with `#`, empty when none
    assert json.loads(first["entities.hashtags"]) == ["#bsnopen"]
    assert first["entities.mentions"] == first["entities.urls"] == ""
    assert first["conversation_id"] == archive.uris[0]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", first["__twarc.retrieved_at"]
    )
    assert first["__twarc.url"].endswith("/api/v1/timelines/tag/bsnopen?limit=40")
    assert first["__twarc.version"] == first["__twarc.version"].strip() != ""
    # the reply: its parent, the parent's author as a username, its thread
    reply = by_id[archive.uris[7]]
    assert reply["referenced_tweets.replied_to.id"] == archive.uris[0]
    assert reply["in_reply_to_username"] == "user0@home0.example"
    assert reply["conversation_id"] == archive.uris[0]
    # Spreadsheet-style check: no cell may start a formula.
    for row in rows[1:]:
        assert all(not cell or cell[0] not in "=+-@\t\r" for cell in row)
    # --kind still says otherwise
    both = cli("export", "csv", "--db", str(cli.db), "--columns", "twarc", "--kind", "post",
               "--kind", "reaction")  # fmt: skip
    assert len(_csv(both.stdout)) == 1 + 8 + 1


def test_twarc_text_is_one_line_as_twarc_csv_writes_it(tmp_path: Path) -> None:
    post = Post(
        uri="https://a.example/users/al/statuses/1",
        url=None,
        created_at=datetime(2010, 6, 29, 17, 0, tzinfo=UTC),
        author=Author(handle="@al@a.example", name="Al"),
        content_html="",
        text="line one\r\nline two\nthree",
        sighting=Sighting(source="a.example", local_id="1", url=None,
                          fetched_at=datetime(2010, 7, 1, 9, 0, tzinfo=UTC),
                          fetched_from="https://a.example/api"),
        tags=("bsnopen", "bigsociety"),
        links=("https://blog.example/a", "https://blog.example/b"),
        mention_urls=("https://b.example/@bo", "https://c.example/users/cy"),
    )  # fmt: skip
    with Store(tmp_path / "t.db") as store:
        store.save_items([post], datetime(2010, 7, 1, 9, 0, tzinfo=UTC))
    cli = Cli(tmp_path)
    cli.db = tmp_path / "t.db"
    result = cli("export", "jsonl", "--db", str(cli.db), "--columns", "twarc")
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["text"] == "line one\\nline two\\nthree"
    assert json.loads(row["entities.hashtags"]) == ["#bsnopen", "#bigsociety"]
    assert json.loads(row["entities.urls"]) == ["https://blog.example/a", "https://blog.example/b"]
    assert json.loads(row["entities.mentions"]) == ["@bo@b.example", "@cy@c.example"]
    assert row["__twarc.retrieved_at"] == "2010-07-01T09:00:00.000000+00:00"


def test_csv_columns_choose_and_rename(cli: Cli, archive: Archive) -> None:
    result = cli(
        "export", "csv", "--db", str(cli.db), "--columns", "kind,uri:id,boosts:shares",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    assert rows[0] == ["kind", "id", "shares"]
    assert [r[0] for r in rows[1:]] == ["post"] * 8 + ["reaction", "comment"]
    assert rows[2] == ["post", archive.uris[1], "1"]
    assert rows[9] == ["reaction", REACTION_URL, ""]


def test_csv_unknown_column_is_a_usage_error(cli: Cli, archive: Archive) -> None:
    result = cli("export", "csv", "--db", str(cli.db), "--columns", "uri,x")
    assert result.exit_code == 2
    assert result.stderr == "bsarchive: error: --columns: unknown column 'x'\n"
    assert result.stdout == ""


def test_jsonl_raw_carries_the_source_payload(cli: Cli, archive: Archive) -> None:
    result = cli("export", "jsonl", "--db", str(cli.db), "--raw")
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["kind"] for o in objects] == ["post"] * 8 + ["reaction", "comment"]
    post = objects[0]
    assert post["uri"] == archive.uris[0]
    assert post["raw"]["uri"] == archive.uris[0]
    assert post["raw"]["account"]["username"] == "user0"
    assert objects[8]["raw"] == REACTION_RAW  # XML stays text
    assert objects[9]["raw"] is None  # nothing stored
    plain = cli("export", "jsonl", "--db", str(cli.db))
    assert "raw" not in json.loads(plain.stdout.splitlines()[0])


def test_ids_are_text_in_every_export(cli: Cli, archive: Archive) -> None:
    # The contract's id columns are text, like local_id: no export writes them as numbers.
    for args in (["--raw"], []):
        lines = cli("export", "jsonl", "--db", str(cli.db), *args).stdout.splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert all(isinstance(i, str) and i.isdigit() for i in ids), ids
    csv_lines = cli("export", "csv", "--db", str(cli.db), "--unsafe-cells").stdout.splitlines()
    assert re.match(r'^post,"[0-9]+",', csv_lines[1]), csv_lines[1]


def test_atom_feed_parses_cleanly(cli: Cli, archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "event.atom"
    result = cli("export", "atom", "--db", str(cli.db), "-o", str(out), "--tag", "bsnopen")
    assert result.exit_code == 0, result.output
    feed = feedparser.parse(out.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == "#bsnopen"
    assert feed.feed.updated == "2010-06-29T18:00:00.000Z"  # the reaction is newest
    assert len(feed.entries) == 9
    ids = [e.id for e in feed.entries]
    # Oldest first: the eight posts (3 s apart from 17:00), then the 18:00 reaction.
    assert ids == [*archive.uris, REACTION_URL]
    hostile = feed.entries[6]
    assert "<script" not in hostile.content[0].value
    assert "javascript:" not in hostile.content[0].value
    assert "onerror" not in hostile.content[0].value
    assert feed.entries[8].title == "What I learnt at the open night"
    only_reactions = cli("export", "atom", "--db", str(cli.db), "--kind", "reaction")
    assert len(feedparser.parse(only_reactions.stdout).entries) == 1


def test_exports_are_byte_identical_across_runs(cli: Cli, archive: Archive, tmp_path: Path) -> None:
    for command in (
        ("export", "csv"),
        ("export", "csv", "--columns", "provenance"),
        ("export", "jsonl", "--raw"),
        ("export", "atom"),
    ):
        first, second = tmp_path / "first", tmp_path / "second"
        for path in (first, second):
            result = cli(*command, "--db", str(cli.db), "-o", str(path))
            assert result.exit_code == 0, result.output
        assert first.read_bytes() == second.read_bytes(), command
        assert first.stat().st_size > 1000


def test_stats_json_is_a_stable_document(cli: Cli, archive: Archive) -> None:
    result = cli("stats", "--json", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "schema_version", "counts", "first_post_at", "last_post_at", "top_authors",
        "top_links", "top_tags", "per_hour", "per_instance", "sources", "servers", "runs",
    ]  # fmt: skip
    assert doc["counts"] == {
        "posts": 8, "boosts": 0, "people": 8, "reactions": 1, "comments": 1, "edited": 0,
        "deleted": 0,
    }  # fmt: skip
    assert doc["first_post_at"] == "2010-06-29T17:00:00.000Z"
    assert doc["top_tags"] == [{"tag": "bsnopen", "posts": 8}]
    assert doc["per_hour"] == [{"hour": "2010-06-29T17:00Z", "posts": 8}]
    # A serves posts 0-5, B posts 0-2, 6 and 7.
    assert sorted((i["posts"], i["only_here"]) for i in doc["per_instance"]) == [(5, 2), (6, 3)]
    assert len(doc["sources"]) == 2
    for source in doc["sources"]:
        assert source["health"] == "ok"
        assert source["last_error"] is None
        assert isinstance(source["items"], int)
        assert source["requests"] == 2
        assert source["gone"] is False
        assert isinstance(source["waited_seconds"], float)
    tables = cli("stats", "--db", str(cli.db))
    assert tables.exit_code == 0
    assert "health" in tables.stdout


def test_a_reader_that_stops_early_is_not_a_failure(tmp_path: Path) -> None:
    # `bsarchive export csv | head` under `set -o pipefail` in cron: exit 0, nothing said.
    db = tmp_path / "big.db"
    when = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)
    with Store(db) as store:
        store.save_items(
            [
                Post(
                    f"https://a.example/users/al/statuses/{n}", None, when, Author("@al@a.example"),
                    "<p>x</p>", "#bsnopen " + "words " * 40,
                    Sighting("a.example", str(n), None, when, "https://a.example/api"),
                )
                for n in range(3000)
            ],
            when,
        )  # fmt: skip
    commands = (
        ["export", "csv"],
        ["export", "csv", "--excel"],  # rows through Python: said "closed database" (issue 17)
        ["export", "jsonl"],
        ["export", "jsonl", "--raw"],
    )
    for command in commands:
        child = subprocess.Popen(
            [sys.executable, "-m", "bsarchive", *command, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline()
        child.stdout.close()
        with child.stderr:
            assert child.wait(timeout=60) == 0
            assert child.stderr.read() == b""


def test_every_reading_command_takes_the_common_quiet_and_verbose(
    cli: Cli, archive: Archive, tmp_path: Path
) -> None:
    # DESIGN.md's common options: -q and -v are accepted everywhere, not only by fetch.
    db = ("--db", str(cli.db))
    commands = [
        ["export", "csv", *db],
        ["export", "jsonl", *db],
        ["export", "atom", *db],
        ["digest", *db, "-o", str(tmp_path / "d.html")],
        ["stats", *db],
        ["search", "bsnopen", *db],
        ["doctor", "--no-probe", *db],
        ["datasette-metadata", *db, "-o", str(tmp_path / "m.json")],
    ]
    for command in commands:
        for flag in ("-q", "-v"):
            result = cli(*command, flag)
            assert result.exit_code == 0, (command, flag, result.output)


def test_an_empty_window_is_a_usage_error_not_an_empty_export(cli: Cli, archive: Archive) -> None:
    result = cli(
        "export", "csv", "--db", str(cli.db), "--since", "2010-07-01", "--until", "2010-06-01"
    )
    assert result.exit_code == 2
    assert result.stderr == "bsarchive: error: --since: must be before --until\n"


def test_stats_counts_the_spellings_of_one_link_as_one(cli: Cli, tmp_path: Path) -> None:
    when = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)
    spellings = [
        "https://blog.example/notes/",
        "https://blog.example/notes/?utm_source=mastodon&utm_medium=social",
        "http://blog.example/notes",
        "https://other.example/",
    ]
    with Store(cli.db) as store:
        store.save_items(
            [
                Post(
                    f"https://a.example/users/al/statuses/{n}", None, when, Author("@al@a.example"),
                    "<p>x</p>", "x", Sighting("a.example", str(n), None, when, "https://a.example/api"),
                    links=(link,),
                )
                for n, link in enumerate(spellings)
            ],
            when,
        )  # fmt: skip
    result = cli("stats", "--json", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["top_links"] == [
        {"url": "http://blog.example/notes", "posts": 3},  # the shortest spelling shown
        {"url": "https://other.example/", "posts": 1},
    ]
