"""End to end: `bsarchive import twarc|tags` through the real CLI into a real archive."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

from bsarchive.store import ArchiveLock
from tests.support import paths
from tests.support.cli import Cli
from tests.support.twarc import OTHER, TWARC, USERS, twarc2_lines, tweet, write


def counts(cli: Cli) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(
        cli.rows(
            "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM boosts),"
            " (SELECT count(*) FROM post_links), (SELECT count(*) FROM authors)"
        )
    )


def test_twarc2_response_with_includes_and_retweet(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    result = cli("import", "twarc", str(path), "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"bsarchive: imported 4 tweets (3 new) from {path}\n"
    assert cli.rows("SELECT uri, source, text FROM posts ORDER BY created_at") == [
        (
            "https://twitter.com/ada_l/status/17350000010",
            "twitter",
            "Slides from the open night are up https://blog.example.org/slides #bsnopen",
        ),
        (
            "https://twitter.com/bob_k/status/17350000012",
            "twitter",
            "Tea and a wall of sticky notes at #bsnopen",
        ),
    ]
    assert cli.rows("SELECT b.uri, b.post_uri, a.handle FROM boosts b JOIN authors a"
                    " ON a.id = b.booster_id") == [
        (
            "https://twitter.com/bob_k/status/17350000011",
            "https://twitter.com/ada_l/status/17350000010",
            "@bob_k",
        )
    ]  # fmt: skip
    # The link reaches post_links, where the reactions pass reads it.
    assert cli.rows("SELECT url FROM post_links") == [("https://blog.example.org/slides",)]
    assert cli.rows("SELECT tag, count(*) FROM post_tags GROUP BY tag") == [("bsnopen", 2)]


def test_importing_twice_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    assert cli("import", "twarc", str(path), "--db", str(cli.db)).exit_code == 0
    before = counts(cli)
    again = cli("import", "twarc", str(path), "--db", str(cli.db))
    assert again.exit_code == 0
    assert again.stderr == f"bsarchive: imported 4 tweets (0 new) from {path}\n"
    assert counts(cli) == before == ((2, 1, 1, 2),)
    assert cli.rows("SELECT count(*) FROM sightings") == [(2,)]


def test_gzip_and_malformed_line(cli: Cli, tmp_path: Path) -> None:
    lines = twarc2_lines()
    lines.insert(1, b'{"data": [{"id": "17350000099"')  # cut off mid-object: line 2
    path = tmp_path / "tweets.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    result = cli("import", "twarc", str(path), "--db", str(cli.db))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"bsarchive: error: {path}:2: ")
    assert counts(cli) == ((2, 1, 1, 2),)


def test_many_malformed_lines_are_capped(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [b"not json"] * 25 + twarc2_lines())
    result = cli("import", "twarc", str(path), "--db", str(cli.db))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"bsarchive: error: {path}:1: ")
    assert lines[20] == f"bsarchive: error: {path}: 5 more malformed lines"
    assert lines[21] == f"bsarchive: imported 4 tweets (3 new) from {path}"


def test_tags_csv(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_text(
        "id_str,from_user,text,created_at,time,status_url\n"
        "17350000020,ada_l,Great turnout tonight #bsnopen,"
        "Tue Jun 29 18:20:00 +0000 2010,29/06/2010 18:20:00,"
        "https://twitter.com/ada_l/status/17350000020\n",
        encoding="utf-8",
    )
    result = cli("import", "tags", str(path), "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT p.uri, a.handle, p.source FROM posts p JOIN authors a"
                    " ON a.id = p.author_id") == [
        ("https://twitter.com/ada_l/status/17350000020", "@ada_l", "twitter")
    ]  # fmt: skip


def test_import_exits_75_on_a_held_lock_or_waits_with_wait(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "tweets.jsonl", twarc2_lines())
    with ArchiveLock(cli.db) as lock:
        lock.acquire()
        result = cli("import", "twarc", str(path), "--db", str(cli.db))
    assert result.exit_code == 75
    assert "another bsarchive run is using this archive (use --wait" in result.stderr
    held = ArchiveLock(cli.db)
    held.acquire()
    threading.Timer(0.5, held.release).start()
    waited = cli("import", "twarc", str(path), "--db", str(cli.db), "--wait")
    assert waited.exit_code == 0, waited.output
    assert waited.stderr == f"bsarchive: imported 4 tweets (3 new) from {path}\n"


# The same event from twarc and from a TAGS sheet: one archive, each tweet once.
TAGS_OF_THE_SAME_TWEETS = (
    "id_str,from_user,text,created_at,status_url\n"
    # The retweet, which TAGS keeps as its text only.
    '17350000011,bob_k,"RT @ada_l: Slides from the open night are up https://t.co/abc #bsnopen",'
    "Tue Jun 29 18:11:00 +0000 2010,https://twitter.com/bob_k/status/17350000011\n"
    # Bob's tweet, with his name as the sheet spelled it.
    "17350000012,Bob_K,Tea and a wall of sticky notes at #bsnopen,"
    "Tue Jun 29 18:12:00 +0000 2010,https://twitter.com/Bob_K/status/17350000012\n"
)


def test_a_tags_sheet_and_twarc_of_the_same_tweets_make_one_archive(
    cli: Cli, tmp_path: Path
) -> None:
    twarc = write(tmp_path / "tweets.jsonl", twarc2_lines())
    sheet = tmp_path / "tags.csv"
    sheet.write_text(TAGS_OF_THE_SAME_TWEETS, encoding="utf-8")
    for order in ((twarc, sheet), (sheet, twarc)):
        cli.db.unlink(missing_ok=True)
        for path in order:
            kind = "tags" if path.suffix == ".csv" else "twarc"
            assert cli("import", kind, str(path), "--db", str(cli.db)).exit_code == 0
        # Ada's tweet and Bob's are posts once each; Bob's retweet is a boost, not a post.
        bob = "bob_k" if order[0] == twarc else "Bob_K"  # the first spelling read stays
        assert cli.rows("SELECT uri FROM posts ORDER BY uri") == sorted(
            [
                ("https://twitter.com/ada_l/status/17350000010",),
                (f"https://twitter.com/{bob}/status/17350000012",),
            ]
        ), order
        assert cli.rows("SELECT uri, post_uri FROM boosts") == [
            ("https://twitter.com/bob_k/status/17350000011",
             "https://twitter.com/ada_l/status/17350000010"),
        ]  # fmt: skip


def test_a_tweet_read_without_its_author_takes_the_permalink_a_later_file_gives(
    cli: Cli, tmp_path: Path
) -> None:
    # The first response lacks the user (suspended, or cut from includes): /i/web/ link.
    anonymous = {"data": [OTHER], "includes": {"users": []}, "__twarc": TWARC}
    first = write(tmp_path / "first.jsonl", [json.dumps(anonymous).encode()])
    assert cli("import", "twarc", str(first), "--db", str(cli.db)).exit_code == 0
    assert cli.rows("SELECT uri FROM posts") == [("https://twitter.com/i/web/status/17350000012",)]
    full = write(tmp_path / "full.jsonl", twarc2_lines())
    assert cli("import", "twarc", str(full), "--db", str(cli.db)).exit_code == 0
    assert cli.rows("SELECT p.uri, a.handle FROM posts p JOIN authors a ON a.id = p.author_id"
                    " WHERE p.uri LIKE '%17350000012'") == [
        ("https://twitter.com/bob_k/status/17350000012", "@bob_k")
    ]  # fmt: skip
    assert cli.rows("SELECT count(*) FROM sightings WHERE local_id = '17350000012'") == [(1,)]


def test_the_apis_copy_of_a_tweet_replaces_a_tags_sheets_whichever_came_first(
    cli: Cli, tmp_path: Path
) -> None:
    # The sheet's row: text cut with its t.co link, and only the sheet's local time.
    sheet = tmp_path / "tags.csv"
    sheet.write_text(
        "id_str,from_user,text,time,status_url\n"
        '17350000010,ada_l,"Slides from the open night are up https://t.co/abc #bsn…",'
        "29/06/2010 19:10:00,https://twitter.com/ada_l/status/17350000010\n",
        encoding="utf-8",
    )
    twarc = write(tmp_path / "tweets.jsonl", twarc2_lines())
    query = (
        "SELECT text, created_at, flags, links FROM posts"
        " WHERE uri = 'https://twitter.com/ada_l/status/17350000010'"
    )
    api = [(
        "Slides from the open night are up https://blog.example.org/slides #bsnopen",
        "2010-06-29T18:10:00.000Z", "", "https://blog.example.org/slides",
    )]  # fmt: skip
    for order in ((sheet, twarc), (twarc, sheet)):
        cli.db.unlink(missing_ok=True)
        for path in order:
            kind = "tags" if path.suffix == ".csv" else "twarc"
            assert cli("import", kind, str(path), "--db", str(cli.db)).exit_code == 0
        assert cli.rows(query) == api, order
        assert cli.rows(
            "SELECT l.url FROM post_links l JOIN posts p ON p.id = l.post_id"
            " WHERE p.uri LIKE '%17350000010'"
        ) == [("https://blog.example.org/slides",)]


TAGS_FIXTURE = paths.FIXTURES / "twarc" / "tags_archive.csv"


def test_a_tags_retweet_is_a_boost_of_the_post_it_repeats(cli: Cli) -> None:
    result = cli("import", "tags", str(TAGS_FIXTURE), "--db", str(cli.db))
    assert result.exit_code == 1  # the sheet's one spreadsheet-rounded id, reported
    # Dan's "RT @clairewrites: Next up at #bsnopen: …" names no id: found by its text.
    assert cli.rows("SELECT uri, post_uri FROM boosts") == [
        ("https://twitter.com/dan_civic/status/17350000051",
         "https://twitter.com/clairewrites/status/17350000050"),
    ]  # fmt: skip
    assert cli.rows("SELECT count(*) FROM posts WHERE uri LIKE '%17350000051'") == [(0,)]


def test_a_structured_copy_says_a_tags_retweet_is_a_tweet_whichever_came_first(
    cli: Cli, tmp_path: Path
) -> None:
    # A manual 2010-style RT: "RT @ada_l: …" typed by Bob, no retweet in the API's copy.
    text = "RT @ada_l: Slides from the open night are up https://t.co/abc #bsnopen"
    sheet = tmp_path / "tags.csv"
    sheet.write_text(
        "id_str,from_user,text,created_at,status_url\n"
        f'17350000013,bob_k,"{text}",Tue Jun 29 18:13:00 +0000 2010,'
        "https://twitter.com/bob_k/status/17350000013\n"
        # Ada's tweet, so the guess finds what it would repeat before twarc says otherwise.
        '17350000010,ada_l,"Slides from the open night are up https://t.co/abc #bsnopen",'
        "Tue Jun 29 18:10:00 +0000 2010,https://twitter.com/ada_l/status/17350000010\n",
        encoding="utf-8",
    )
    manual = {"data": [tweet("17350000013", "1002", text)], "includes": {"users": USERS},
              "__twarc": TWARC}  # fmt: skip
    twarc = write(tmp_path / "tweets.jsonl", [json.dumps(manual).encode()])
    for order in ((sheet, twarc), (twarc, sheet)):
        cli.db.unlink(missing_ok=True)
        for path in order:
            kind = "tags" if path.suffix == ".csv" else "twarc"
            assert cli("import", kind, str(path), "--db", str(cli.db)).exit_code == 0
            if path == order[0] == sheet:  # the sheet alone: a retweet of Ada's tweet
                assert cli.rows("SELECT post_uri FROM boosts") == [
                    ("https://twitter.com/ada_l/status/17350000010",)
                ]
        assert cli.rows("SELECT uri FROM posts ORDER BY uri") == [
            ("https://twitter.com/ada_l/status/17350000010",),
            ("https://twitter.com/bob_k/status/17350000013",),
        ], order
        assert cli.rows("SELECT count(*) FROM boosts") == [(0,)], order


def test_importing_a_file_that_does_not_exist_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    real = write(tmp_path / "tweets.jsonl", twarc2_lines())
    missing = tmp_path / "typo.jsonl"
    result = cli("import", "twarc", str(real), str(missing), "--db", str(cli.db))
    assert result.exit_code == 2
    assert result.stderr == f"bsarchive: error: {missing}: no such file\n"
    assert not cli.db.exists()  # nothing imported, not even the file that exists
