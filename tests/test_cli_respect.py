"""Takedowns (`forget`), opt-outs end to end, and `doctor`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.synthetic import synthetic_status

from tests.support.cli import Cli, fetch


def test_forget_removes_and_keeps_out(cli: Cli, servers: Any, fast_config: Path) -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(9)]
    statuses[4]["account"] = statuses[7]["account"] = statuses[1]["account"]
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(9,)]
    result = cli(
        "forget", "--author", "@user1@home1.example", "--db", str(cli.db), "--reason", "takedown"
    )
    assert result.exit_code == 0, result.output
    assert "removed 3 post(s)" in result.stderr  # posts 1, 4 and 7
    one = statuses[0]["uri"]
    assert cli("forget", "--post", one, "--db", str(cli.db)).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(5,)]
    assert cli.rows("SELECT count(*) FROM posts_fts") == [(5,)]
    # A fresh archive pass (new cursor) sees them again and still does not store them.
    cli.rows("DELETE FROM sources")
    assert fetch(cli, fast_config, server.url).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(5,)]
    assert cli.rows("SELECT kind, value, reason FROM forgotten ORDER BY kind") == [
        ("author", "@user1@home1.example", "takedown"),
        ("post", one, ""),
    ]
    assert cli("forget", "--db", str(cli.db)).exit_code == 2


def test_opted_out_accounts_are_counted_not_stored(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(5)]
    statuses[0]["account"] = dict(statuses[0]["account"], noindex=True)
    statuses[1]["account"] = dict(statuses[1]["account"], indexable=False, discoverable=None)
    statuses[2]["account"] = dict(statuses[2]["account"], note="<p>Please, no archives. #NoBot</p>")
    statuses[4]["account"] = dict(statuses[4]["account"], indexable=True, discoverable=False)
    server = servers(statuses)
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0
    # indexable: false is Mastodon 4.2's default (no opt-in to search): archived, and the
    # author's flags are kept for researchers to filter on.
    assert cli.rows(
        "SELECT p.uri, a.indexable, a.discoverable, a.noindex FROM posts p"
        " JOIN authors a ON a.id = p.author_id ORDER BY p.created_at"
    ) == [
        (statuses[1]["uri"], 0, None, None),
        (statuses[3]["uri"], None, 1, None),
        (statuses[4]["uri"], 1, 0, None),
    ]
    assert "2 outside the window or opted out" in result.stderr
    csv_out = cli(
        "export",
        "csv",
        "--db",
        str(cli.db),
        "--columns",
        "author,author_indexable,author_discoverable",
    )
    assert csv_out.stdout.splitlines() == [
        "author,author_indexable,author_discoverable",
        '"\'@user1@home1.example",0,',
        '"\'@user3@home3.example",,1',
        '"\'@user4@home4.example",1,0',
    ]
    cli.rows("DELETE FROM sources")
    assert fetch(cli, fast_config, server.url, extra=("--include-opted-out",)).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(5,)]
    assert cli.rows("SELECT noindex FROM authors WHERE handle = '@user0@home0.example'") == [(1,)]
    assert cli.rows("SELECT count(*) FROM meta WHERE key = 'include_opted_out_used'") == [(1,)]


def test_doctor_reports_what_to_fix(cli: Cli, servers: Any, fast_config: Path) -> None:
    server = servers([synthetic_status(1, viewer="v.example", local_id=5)])
    assert fetch(cli, fast_config, server.url).exit_code == 0
    ok = cli("doctor", "--db", str(cli.db), "--no-probe")
    assert ok.exit_code == 0, ok.output
    assert "integrity" in ok.stdout and "FAIL" not in ok.stdout
    cli.db.with_suffix(".toml").write_text(
        'tags = ["bsnopen"]\nfeeds = ["http://127.0.0.1:9/feed"]\n'
    )
    bad = cli("doctor", "--db", str(cli.db), "--config", str(cli.db.with_suffix(".toml")))
    assert bad.exit_code == 1
    assert "FAIL" in bad.stdout
