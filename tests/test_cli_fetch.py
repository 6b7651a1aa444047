"""End to end: the real CLI against loopback Mastodon-like servers."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_instances, synthetic_status

from bsarchive.sources.mastodon import TOKEN_HINT
from tests.support import paths
from tests.support.cli import Cli, fetch


def test_same_status_on_three_instances_is_stored_once(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    timelines = synthetic_instances(100, instances=3, shared=0.7)
    a, b, c = (servers(t) for t in timelines)
    result = fetch(cli, fast_config, a.url, b.url, c.url)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(100,)]
    # 70 shared posts were seen on all three instances, each with its own local id.
    assert cli.rows("SELECT count(*) FROM posts WHERE seen_on LIKE '% % %'") == [(70,)]
    assert cli.rows("SELECT count(*) FROM sightings") == [(70 * 3 + 30,)]
    local_ids = cli.rows(
        "SELECT count(DISTINCT local_id) FROM sightings s JOIN posts p ON p.id = s.post_id"
        " WHERE p.uri = ?",
        timelines[0][0]["uri"],
    )
    assert local_ids == [(3,)]
    assert "100 new" in result.stderr


def test_second_run_fetches_only_new_pages(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(90)]
    server = servers(statuses[:85])
    assert fetch(cli, fast_config, server.url).exit_code == 0
    first_requests = len(server.requests)
    assert first_requests == 4  # 40 + 40 + 5 + the empty page that ends the backfill
    server.set_statuses(statuses)
    result = fetch(cli, fast_config, server.url, extra=("--refresh", "0"))
    assert result.exit_code == 0, result.output
    new_requests = server.requests[first_requests:]
    # One min_id page from 10 stored posts below the newest (1084): those 10 and the 5
    # new ones, a short page, so the top of the timeline; no backfill.
    assert new_requests == ["/api/v1/timelines/tag/bsnopen?limit=40&min_id=1074"]
    assert cli.rows("SELECT count(*) FROM posts") == [(90,)]
    # A third run with nothing new costs one request and writes nothing.
    fetch(cli, fast_config, server.url, extra=("--refresh", "0"))
    assert len(server.requests) == first_requests + 2
    # With the default re-check, a run also walks the recent posts' timeline: 90 posts
    # stored in the last 48 hours, three pages of 40.
    fetch(cli, fast_config, server.url)
    assert len(server.requests) == first_requests + 2 + 1 + 3


def test_a_tag_empty_on_the_first_run_is_read_again_later(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # A cron job set up before the event: nothing carries the hashtag yet.
    server = servers([])
    assert fetch(cli, fast_config, server.url).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(0,)]
    server.set_statuses(
        [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(5)]
    )
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(5,)]
    # From then on the run catches up (from the look-back below the newest id), as after
    # any first run, and re-checks the recent posts (the last request).
    server.requests.clear()
    fetch(cli, fast_config, server.url)
    assert server.requests == [
        "/api/v1/timelines/tag/bsnopen?limit=40&min_id=1000",
        "/api/v1/timelines/tag/bsnopen?limit=40&max_id=1005",
    ]


def instance_saying(hashtag_feeds: dict[str, str]) -> Any:
    """A hook answering /api/v2/instance with the given timelines_access.hashtag_feeds."""

    access = {"live_feeds": hashtag_feeds, "hashtag_feeds": hashtag_feeds}
    answer = _answer(200, json.dumps({"configuration": {"timelines_access": access}}).encode())

    def hook(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        return path == "/api/v2/instance" and bool(answer(handler, path, query))

    return hook


def test_an_empty_tag_on_a_server_with_hashtag_feeds_off_is_reported(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    # A disabled feed answers 200 [] like an unused tag; the server says which it is.
    off = servers([], hook=instance_saying({"local": "disabled", "remote": "disabled"}))
    closed = servers([], hook=instance_saying({"local": "authenticated", "remote": "disabled"}))
    unused = servers([], hook=instance_saying({"local": "public", "remote": "public"}))
    result = fetch(cli, fast_config, off.url, closed.url, unused.url)
    assert result.exit_code == 1
    errors = sorted(line for line in result.stderr.splitlines() if "error" in line)
    assert errors == sorted(
        [
            f"bsarchive: error: {off.url} #bsnopen: the server has hashtag feeds turned off"
            " (timelines_access); it serves none",
            f"bsarchive: error: {closed.url} #bsnopen: the server shows hashtag feeds to"
            f" logged-in users only ({TOKEN_HINT})",
        ]
    )
    assert [r.split("?")[0] for r in unused.requests] == [
        "/api/v1/timelines/tag/bsnopen",
        "/api/v2/instance",
    ]


def test_a_url_with_no_mastodon_api_is_reported_not_archived_as_silence(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    blog = _answer(404, b"<html><body>Not found</body></html>", "text/html")

    instance = instance_saying({"local": "public", "remote": "public"})

    def tag_unknown(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        return bool(instance(handler, path, query) or blog(handler, path, query))

    # A tag unknown to a real server is 404 too: its instance document says it is one.
    unknown_tag = servers([], hook=tag_unknown)
    not_mastodon = servers([], hook=blog)
    result = fetch(cli, fast_config, unknown_tag.url, not_mastodon.url)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"bsarchive: error: {not_mastodon.url} #bsnopen: no Mastodon API here"
        " (HTTP 404 for the tag and /api/v2/instance)"
    ]


def test_since_stops_the_backfill(engine_cli: Cli, servers: Any, fast_config: Path) -> None:
    cli = engine_cli
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(200)]
    server = servers(statuses)
    # Posts are 3 s apart from 17:00:00; since 17:07:30 keeps posts 150..199.
    result = fetch(cli, fast_config, server.url, extra=("--since", "2010-06-29T17:07:30Z"))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*), min(created_at) FROM posts") == [
        (50, "2010-06-29T17:07:30.000Z")
    ]
    # The third page is the first one entirely older than --since: the backfill stops there.
    assert len(server.requests) == 3


def test_instance_requiring_a_token_fails_alone(cli: Cli, servers: Any, fast_config: Path) -> None:
    def refuse(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        body = b'{"error":"This API requires an authenticated user"}'
        handler.send_response(401)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    good = servers([synthetic_status(1, viewer="v.example", local_id=5)])
    locked = servers([], hook=refuse)
    result = fetch(cli, fast_config, good.url, locked.url)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"bsarchive: error: {locked.url} #bsnopen: HTTP 401")
    assert "BSARCHIVE_MASTODON_TOKEN" in lines[0]
    assert cli.rows("SELECT count(*) FROM posts") == [(1,)]


def test_a_server_hiding_remote_posts_from_anonymous_readers_gives_its_local_ones(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    refuse = _answer(401, b'{"error":"This API requires an authenticated user"}')

    def remote_needs_login(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        return "local" not in query and bool(refuse(handler, path, query))

    statuses = [synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(3)]
    server = servers(statuses, hook=remote_needs_login)
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    assert "archiving its local posts (a token would give the rest)" in result.stderr
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]
    # Once told, every request of the run asks for local posts only.
    assert [("local=true" in r) for r in server.requests] == [False, True, True]


def test_a_422_is_an_error_of_the_request_not_a_token_to_add(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    # Mastodon answers 422 for validation errors, never for a timeline needing a login.
    server = servers([], hook=_answer(422, b'{"error":"Validation failed"}'))
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"bsarchive: error: {server.url} #bsnopen: HTTP 422 from the hashtag timeline"
    ]


def test_token_goes_only_to_its_instance_and_is_never_printed(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    token = "s3cr3t-token-value-123"
    a = servers([synthetic_status(1, viewer="a.example", local_id=5)])
    b = servers([synthetic_status(2, viewer="b.example", local_id=6)])
    env = {"BSARCHIVE_MASTODON_TOKEN": f"127.0.0.1:{a.url.rsplit(':', 1)[1]}={token}"}
    result = cli(
        "fetch", "--tag", "bsnopen", "--mastodon", a.url, "--mastodon", b.url,
        "--db", str(cli.db), "--config", str(fast_config), "-vv", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(a.auth_headers) == {f"Bearer {token}"}
    assert set(b.auth_headers) == {None}
    assert token not in result.output
    assert token not in cli.db.read_bytes().decode("latin-1")


def test_bare_token_with_two_instances_is_a_usage_error(cli: Cli, fast_config: Path) -> None:
    result = cli(
        "fetch", "--tag", "x", "--mastodon", "a.example", "--mastodon", "b.example",
        "--db", str(cli.db), env={"BSARCHIVE_MASTODON_TOKEN": "abc"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "ambiguous" in result.stderr
    assert "abc" not in result.output


def _answer(
    status: int, body: bytes, content_type: str = "application/json", **headers: str
) -> Any:
    def hook(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)
        return True

    return hook


def test_bad_answers_end_only_their_source(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    good = servers([synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(3)])
    html = servers(
        [], hook=_answer(200, b"<!doctype html><title>Just a moment...</title>", "text/html")
    )
    broken = servers([], hook=_answer(200, b'[{"id": "1", "uri": "x"'))
    result = fetch(cli, fast_config, good.url, html.url, broken.url)
    assert result.exit_code == 1
    errors = sorted(
        line for line in result.stderr.splitlines() if line.startswith("bsarchive: error")
    )
    assert len(errors) == 2
    assert any(html.url in e and "expected JSON, got text/html" in e for e in errors)
    assert any(broken.url in e and "malformed JSON" in e for e in errors)
    assert "Traceback" not in result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]


def test_link_header_to_another_host_is_refused(cli: Cli, servers: Any, fast_config: Path) -> None:
    body = json.dumps([synthetic_status(1, viewer="v.example", local_id=7)]).encode()
    evil = servers(
        [],
        hook=_answer(
            200,
            body,
            Link='<http://evil.example/api/v1/timelines/tag/bsnopen?max_id=1>; rel="next"',
        ),
    )
    result = fetch(cli, fast_config, evil.url)
    assert result.exit_code == 1
    assert "Link header points to another host (evil.example)" in result.stderr


def test_malformed_statuses_are_skipped_and_reported(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(3)]
    bad = dict(statuses[1])
    del bad["uri"]
    nulls = dict(
        statuses[2],
        url=None,
        card=None,
        language=None,
        account=dict(statuses[2]["account"], acct=None),
    )
    # Entries that are not objects at all count as malformed too, not as nothing.
    dup = [statuses[0], statuses[0], bad, nulls, None, [1, 2], 7]
    server = servers([], hook=_answer(200, json.dumps(dup).encode()))
    result = fetch(cli, fast_config, server.url, extra=("--max-pages", "1"))
    assert result.exit_code == 1
    assert "4 malformed status(es) skipped" in result.stderr
    assert "skipping 3 entries that are not statuses" in result.stderr
    assert cli.rows("SELECT count(*) FROM posts") == [(2,)]


def test_rate_limit_429_retry_after_is_honoured(cli: Cli, servers: Any, fast_config: Path) -> None:
    calls = {"n": 0}

    def limited(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            return bool(
                _answer(429, b'{"error":"Too many requests"}', Retry_After="1")(
                    handler, path, query
                )
            )
        return False

    server = servers([synthetic_status(1, viewer="v.example", local_id=5)], hook=limited)
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(1,)]
    waited = cli.rows("SELECT waited FROM sources")[0][0]
    assert waited >= 1.0


def test_rate_limit_longer_than_max_wait_stops_the_source(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    server = servers([], hook=_answer(429, b'{"error":"Too many requests"}', Retry_After="3600"))
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 1
    assert "asks to wait 3600s, more than --max-wait 5s" in result.stderr


def test_timeout_names_the_instance(cli: Cli, servers: Any, fast_config: Path) -> None:
    import time

    def stall(handler: BaseHTTPRequestHandler, path: str, query: Any) -> bool:
        time.sleep(3)
        return False

    slow = servers([], hook=stall)
    good = servers([synthetic_status(1, viewer="v.example", local_id=5)])
    result = fetch(cli, fast_config, slow.url, good.url)
    assert result.exit_code == 1
    assert f"bsarchive: error: {slow.url} #bsnopen: no data for 2s (read timeout)" in result.stderr
    assert cli.rows("SELECT count(*) FROM posts") == [(1,)]


def test_refresh_records_edits_and_deletions(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    statuses = [
        synthetic_status(n, viewer="v.example", local_id=100 + n, start=0) for n in range(3)
    ]
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url).exit_code == 0
    edited = dict(
        statuses[0], content="<p>Edited text #bsnopen</p>", edited_at="1970-01-01T01:00:00.000Z"
    )
    server.set_statuses([edited, statuses[2]])
    # The default re-check reads again what was stored in the last 48 hours.
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    rows = cli.rows("SELECT text, edited_at, deleted_at IS NOT NULL FROM posts ORDER BY created_at")
    assert rows[0] == ("Edited text #bsnopen", "1970-01-01T01:00:00.000Z", 0)
    assert rows[1][2] == 1  # 101 answered 404: marked deleted, not dropped
    assert rows[2][2] == 0
    versions = cli.rows("SELECT text FROM post_versions")
    assert versions == [("Post 0 from the Big Society Network open night #bsnopen",)]


def test_export_csv_and_jsonl(
    engine_cli: Cli, servers: Any, fast_config: Path, tmp_path: Path
) -> None:
    cli = engine_cli
    statuses = [
        synthetic_status(0, viewer="v.example", local_id=100, text='=HYPERLINK("http://x") hi'),
        synthetic_status(
            1, viewer="v.example", local_id=101, text='line one<br>line two, "quoted"'
        ),
    ]
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url).exit_code == 0
    out = tmp_path / "event.csv"
    assert cli("export", "csv", "--db", str(cli.db), "-o", str(out)).exit_code == 0
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 3 + raw.count(
        b"\r\n", raw.index(b"line one"), raw.index(b"line two") + 1
    )
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert [r["kind"] for r in rows] == ["post", "post"]
    assert rows[0]["text"] == '\'=HYPERLINK("http://x") hi #bsnopen'
    assert rows[0]["author"] == "'@user0@home0.example"
    assert rows[1]["text"] == 'line one\nline two, "quoted" #bsnopen'
    assert rows[0]["created_at"] == "2010-06-29T17:00:00.000Z"
    assert rows[0]["tags"] == "bsnopen"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r"
    result = cli("export", "jsonl", "--db", str(cli.db), "--kind", "post")
    assert result.exit_code == 0
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["uri"] for o in objects] == [s["uri"] for s in statuses]
    assert objects[0]["author"] == "@user0@home0.example"
    # a list since issue 17 (was the space-joined text)
    assert objects[1]["seen_on"] == ["127.0.0.1:" + server.url.rsplit(":", 1)[1]]


def test_export_filters(engine_cli: Cli, servers: Any, fast_config: Path) -> None:
    cli = engine_cli
    server = servers([synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(10)])
    assert fetch(cli, fast_config, server.url).exit_code == 0
    result = cli(
        "export", "jsonl", "--db", str(cli.db),
        "--since", "2010-06-29T17:00:09Z", "--until", "2010-06-29T17:00:20Z",
    )  # fmt: skip
    created = [json.loads(line)["created_at"] for line in result.stdout.splitlines()]
    assert created == [f"2010-06-29T17:00:{s:02d}.000Z" for s in (9, 12, 15, 18)]
    assert cli("export", "jsonl", "--db", str(cli.db), "--tag", "other").stdout == ""
    bad = cli("export", "csv", "--db", str(cli.db), "--kind", "tweet")
    assert bad.exit_code == 2
    assert "bsarchive: error: --kind: 'tweet' is not one of" in bad.stderr


def test_usage_errors_exit_2(cli: Cli, tmp_path: Path) -> None:
    assert cli("fetch", "--db", str(cli.db)).exit_code == 2
    assert cli("fetch", "--tag", "a b", "--mastodon", "x.example").exit_code == 2
    config = tmp_path / "bad.toml"
    config.write_text('tags = ["bsnopen"]\nmastodon = ["x.example"]\ncolour = "red"\n')
    result = cli("fetch", "--config", str(config), "--db", str(cli.db))
    assert result.exit_code == 2
    assert "unknown key 'colour'" in result.stderr
    assert not cli.db.exists()
    # A wrong --db is a usage error too, with one line and no traceback.
    missing = cli("export", "csv", "--db", str(tmp_path / "nope.db"))
    assert missing.exit_code == 2
    assert "no such archive" in missing.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    bad = cli("stats", "--db", str(junk))
    assert (bad.exit_code, bad.stderr.count("\n")) == (2, 1), bad.stderr
    assert "not a usable SQLite archive" in bad.stderr
    nowhere = cli("fetch", "--tag", "bsnopen", "--feed", "http://127.0.0.1:9/f", "--db",
                  str(tmp_path / "no" / "such" / "dir" / "a.db"))  # fmt: skip
    assert (nowhere.exit_code, nowhere.stderr.count("\n")) == (2, 1), nowhere.stderr
    assert "cannot use this archive path: No such file or directory" in nowhere.stderr


def test_token_never_in_logs_db_or_exports(
    cli: Cli, servers: Any, fast_config: Path, tmp_path: Path
) -> None:
    token = "tok-NEVER-PRINT-9f8e7d"
    server = servers([synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(3)])
    log = tmp_path / "bsarchive.log"
    env = {"BSARCHIVE_MASTODON_TOKEN": token}
    result = cli(
        "fetch", "--tag", "bsnopen", "--mastodon", server.url, "--db", str(cli.db),
        "--config", str(fast_config), "-vv", "--log-file", str(log), env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(server.auth_headers) == {f"Bearer {token}"}
    text = log.read_text()
    assert text.splitlines()[0][:4].isdigit()  # timestamped lines
    exports = [cli("export", fmt, "--db", str(cli.db)).stdout for fmt in ("csv", "jsonl", "atom")]
    for blob in (result.output, text, cli.db.read_bytes().decode("latin-1"), *exports):
        assert token not in blob


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["fetch", "--bogus"], "bsarchive: error: bsarchive fetch: No such option: --bogus"),
        (
            ["search", "x", "--limit", "0"],
            "bsarchive: error: bsarchive search: Invalid value for '--limit': 0 is not in the"
            " range x>=1.",
        ),
        (["nosuch"], "bsarchive: error: bsarchive: No such command 'nosuch'."),
    ],
)
def test_usage_errors_are_one_line_from_the_installed_command(args: list[str], line: str) -> None:
    # The console script runs main(), which CliRunner does not: run it as a user would.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "bsarchive"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(line), done.stderr


def _live(now: datetime, minutes_ago: float, n: int) -> dict[str, Any]:
    """Status ``n`` published ``minutes_ago``, with the snowflake id Mastodon gives it."""
    when = now - timedelta(minutes=minutes_ago)
    status = synthetic_status(n, viewer="v.example", local_id=1)
    status["id"] = str(int(when.timestamp() * 1000) << 16)
    status["created_at"] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return status


def test_a_post_delivered_late_just_below_the_newest_id_costs_no_request(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # Mastodon ids a remote status by its published time: one arriving late sorts below
    # ids already read. The catch-up starts a few stored posts below the newest, so the
    # next run's one timeline request reads it.
    now = datetime.now(UTC)
    early, newest, late = _live(now, 10, 1), _live(now, 5, 2), _live(now, 8, 3)
    server = servers([early, newest])
    assert fetch(cli, fast_config, server.url, extra=("--refresh", "0")).exit_code == 0
    server.set_statuses([early, newest, late])
    server.requests.clear()
    result = fetch(cli, fast_config, server.url, extra=("--refresh", "0"))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]
    assert "1 new" in result.stderr
    timeline = [r for r in server.requests if "/timelines/tag/" in r]
    assert timeline == [f"/api/v1/timelines/tag/bsnopen?limit=40&min_id={early['id']}"]
    # The stored cursor never moved back below the newest id read.
    assert cli.rows("SELECT newest FROM sources WHERE key LIKE 'mastodon:%'") == [(newest["id"],)]


def test_a_run_with_nothing_new_is_one_request_per_tag(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    now = datetime.now(UTC)
    server = servers([_live(now, 300 - n, n) for n in range(300)])
    assert fetch(cli, fast_config, server.url, extra=("--refresh", "0")).exit_code == 0
    server.requests.clear()
    result = fetch(cli, fast_config, server.url, extra=("--refresh", "0"))
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 1, server.requests


def test_a_post_delivered_late_far_below_the_newest_is_archived_by_the_next_run(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # 100 posts newer than it had been read when it arrived: beyond the catch-up's
    # look-back, the default re-check's walk of the recent posts finds it.
    now = datetime.now(UTC)
    statuses = [_live(now, 200 - n, n) for n in range(100)]
    late = _live(now, 250, 500)
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url).exit_code == 0
    server.set_statuses([*statuses, late])
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts WHERE uri = ?", late["uri"]) == [(1,)]


def test_edits_and_deletions_are_caught_without_a_flag(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # A past event (2010) archived today: the re-check goes by when posts were stored.
    # 150 posts: the edited and the deleted ones are far below the catch-up's look-back.
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(150)]
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url).exit_code == 0
    edited = dict(
        statuses[3], content="<p>Edited text #bsnopen</p>", edited_at="2010-06-30T10:00:00.000Z"
    )
    server.set_statuses([edited, *statuses[:3], *statuses[4:7], *statuses[8:]])
    server.requests.clear()
    result = fetch(cli, fast_config, server.url)
    assert result.exit_code == 0, result.output
    rows = dict(cli.rows("SELECT uri, text FROM posts WHERE edited_at IS NOT NULL"))
    assert rows == {statuses[3]["uri"]: "Edited text #bsnopen"}
    assert cli.rows("SELECT text FROM post_versions") == [
        ("Post 3 from the Big Society Network open night #bsnopen",)
    ]
    assert cli.rows("SELECT uri FROM posts WHERE deleted_at IS NOT NULL") == [(statuses[7]["uri"],)]
    assert cli.rows("SELECT count(*) FROM posts") == [(150,)]  # marked, never dropped
    # One catch-up, a walk of the timeline (4 pages of 40), one question for the missing post.
    asked = [r for r in server.requests if "/statuses/" in r]
    assert asked == [f"/api/v1/statuses/{statuses[7]['id']}"]
    assert len(server.requests) == 1 + 4 + 1, server.requests
    # --refresh 0 turns the re-check off.
    server.requests.clear()
    assert fetch(cli, fast_config, server.url, extra=("--refresh", "0")).exit_code == 0
    assert len(server.requests) == 1


def test_two_boosts_of_one_post_in_one_page_are_two_boosts(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # Some servers' tag timelines carry boosts; two people boosting one post is two boosts.
    fixtures = paths.FIXTURES / "activitypub"
    first = json.loads((fixtures / "status_boost.json").read_text(encoding="utf-8"))
    second = json.loads(
        json.dumps(first)
        .replace("carol", "dave")
        .replace("104566250000000999", "104566250000001000")
    )
    server = servers([], hook=_answer(200, json.dumps([second, first]).encode()))
    assert fetch(cli, fast_config, server.url, extra=("--max-pages", "1")).exit_code == 0
    assert cli.rows("SELECT count(*) FROM posts") == [(1,)]
    assert sorted(cli.rows("SELECT uri FROM boosts")) == [(first["uri"],), (second["uri"],)]


def test_a_reply_to_an_untagged_post_gets_its_parent_asked_of_the_instance(
    engine_cli: Cli, servers: Any, fast_config: Path
) -> None:
    cli = engine_cli
    # The parent does not carry the tag, so only the reply is in the tag timeline; the
    # API names the parent by its id on this instance.
    parent = synthetic_status(1, viewer="v.example", local_id=500)
    parent["tags"] = []
    parent["content"] = "<p>Who is going tonight?</p>"
    reply = synthetic_status(2, viewer="v.example", local_id=501)
    reply["in_reply_to_id"] = "500"
    gone = synthetic_status(3, viewer="v.example", local_id=502)
    gone["in_reply_to_id"] = "499"  # deleted: asked once, then left alone
    server = servers([parent, reply, gone])
    assert fetch(cli, fast_config, server.url).exit_code == 0
    assert cli.rows("SELECT uri, in_reply_to_uri FROM posts ORDER BY uri") == sorted(
        [(reply["uri"], parent["uri"]), (gone["uri"], None)]
    )
    asked = [r for r in server.requests if r.startswith("/api/v1/statuses/")]
    assert sorted(asked) == ["/api/v1/statuses/499", "/api/v1/statuses/500"]
    assert fetch(cli, fast_config, server.url).exit_code == 0
    assert [r for r in server.requests if r.startswith("/api/v1/statuses/")] == asked
