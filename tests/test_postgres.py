"""The archive on PostgreSQL (issue 19): the real CLI against a throwaway server.

Each test gets an empty database on the session's cluster (tests/support/pg.py) and skips,
saying why, where no PostgreSQL server can be started. The outputs of a PostgreSQL
archive are compared byte for byte with those of a SQLite archive holding the same items.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_instances, synthetic_status

from bsarchive.dburl import DatabaseUrl, parse_db
from bsarchive.demo import run_demo
from bsarchive.store import PgArchiveLock, pg_sql
from tests.support.cli import Cli, fetch

# What a researcher and a comms person take out of an archive.
OUTPUTS = (
    ("export", "csv", "--kind", "post", "--kind", "reaction", "--kind", "comment"),
    ("export", "csv", "--kind", "boost", "--kind", "version"),
    ("export", "jsonl", "--kind", "post", "--kind", "reaction", "--kind", "comment"),
    ("export", "csv", "--tag", "bsnopen", "--search", "society"),
    ("digest", "--format", "markdown"),
    ("digest", "--format", "html"),
    ("stats",),
    ("stats", "--json"),
)


def outputs(cli: Cli, db: str, tmp_path: Path) -> dict[str, bytes]:
    """Every output in OUTPUTS of archive ``db``, by its command line."""
    got: dict[str, bytes] = {}
    for n, command in enumerate(OUTPUTS):
        out = tmp_path / f"out-{n}"
        args = [*command, "--db", db]
        if command[0] != "stats":
            args += ["-o", str(out)]
        result = cli(*args)
        assert result.exit_code == 0, (command, result.output)
        got[" ".join(command)] = out.read_bytes() if out.exists() else result.stdout.encode()
        out.unlink(missing_ok=True)
    return got


def test_fetch_into_postgresql_stores_what_sqlite_stores(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str, tmp_path: Path
) -> None:
    timelines = synthetic_instances(120, instances=3, shared=0.6)
    urls = [servers(t).url for t in timelines]
    on_sqlite = fetch(cli, fast_config, *urls)
    on_pg = fetch(cli, fast_config, *urls, extra=("--db", pg_url))
    assert on_sqlite.exit_code == on_pg.exit_code == 0, on_pg.output
    assert "120 new" in on_pg.stderr
    # Again: nothing new, nothing doubled.
    again = fetch(cli, fast_config, *urls, extra=("--db", pg_url))
    assert again.exit_code == 0, again.output
    assert "0 new" in again.stderr
    # Two fetches differ in when they ran and, three instances being read at once, in
    # which copy of a shared post came first (its id, its local id, the order of seen_on):
    # compare everything else, byte for byte.
    columns = (
        "kind,uri,url,created_at,author,author_name,text,tags,links,in_reply_to,boosts,"
        "replies,favourites,source,edited_at,deleted_at,username,language,visibility,"
        "sensitive,spoiler_text,mentions,boosted_by,in_reply_to_author,conversation,flags"
    )
    for fmt in ("csv", "jsonl"):
        on = [cli("export", fmt, "--db", db, "--columns", columns) for db in (str(cli.db), pg_url)]
        assert on[0].exit_code == on[1].exit_code == 0, on[1].output
        assert on[0].stdout.count("\n") == 120 + (fmt == "csv")  # a header line
        assert sorted(on[1].stdout.splitlines()) == sorted(on[0].stdout.splitlines()), fmt
    search = [cli("search", "society", "--db", db).stdout for db in (str(cli.db), pg_url)]
    assert search[1].splitlines()[0] == search[0].splitlines()[0] == "20 matches"


def test_edits_and_deletions_reach_a_postgresql_archive(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str
) -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(30)]
    server = servers(statuses)
    assert fetch(cli, fast_config, server.url, extra=("--db", pg_url)).exit_code == 0
    edited = dict(statuses[3], content="<p>edited #bsnopen</p>", edited_at="2026-12-01T10:00:00Z")
    server.set_statuses([edited, *statuses[:3], *statuses[4:29]])  # one edited, one gone
    result = fetch(cli, fast_config, server.url, extra=("--db", pg_url))
    assert result.exit_code == 0, result.output
    rows = cli("export", "csv", "--db", pg_url, "--kind", "version", "--columns", "uri,text").stdout
    assert "edited" not in rows and statuses[3]["uri"] in rows  # the text before the edit
    posts = cli("export", "jsonl", "--db", pg_url, "--columns", "uri,deleted_at,text").stdout
    by_uri = {line.split('"uri":"')[1].split('"')[0]: line for line in posts.splitlines()}
    assert '"deleted_at":null' not in by_uri[statuses[29]["uri"]]
    assert "edited #bsnopen" in by_uri[statuses[3]["uri"]]


def test_copy_round_trip_keeps_every_output_byte_for_byte(
    cli: Cli, pg_url: str, tmp_path: Path
) -> None:
    assert run_demo(tmp_path / "demo") == 0  # reactions, comments, boosts, edits, deletions
    demo = str(tmp_path / "demo" / "demo.db")
    back = str(tmp_path / "back.db")
    first = cli("copy", demo, pg_url)
    assert first.exit_code == 0, first.output
    assert "posts" in first.stderr
    again = cli("copy", demo, pg_url)
    assert again.exit_code == 0 and "nothing new" in again.stderr, again.output
    assert cli("copy", pg_url, back).exit_code == 0
    original = outputs(cli, demo, tmp_path)
    for db in (pg_url, back):
        copied = outputs(cli, db, tmp_path)
        for command in original:  # stats included: read on the server itself
            assert copied[command] == original[command], (db, command)
    # fetching goes on from a copy: the sources' cursors came along
    runs = [cli("export", "runs", "--db", db).stdout for db in (pg_url, demo)]
    assert runs[0] == runs[1]


def test_a_slice_copies_its_posts_and_what_hangs_on_them(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str, tmp_path: Path
) -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(40)]
    assert fetch(cli, fast_config, servers(statuses).url).exit_code == 0
    since = sorted(s["created_at"] for s in statuses)[30][:19]
    result = cli("copy", str(cli.db), pg_url, "--since", since)
    assert result.exit_code == 0, result.output
    assert "10 posts" in result.stderr
    sliced = cli("export", "csv", "--db", pg_url).stdout
    whole = cli("export", "csv", "--db", str(cli.db), "--since", since).stdout
    assert sliced == whole


def test_a_refused_connection_is_one_line_without_the_password(cli: Cli, tmp_path: Path) -> None:
    url = "postgresql://archive:s3cret-pw@127.0.0.1:9/events"
    result = cli("stats", "--db", url)
    assert result.exit_code == 1
    assert "s3cret-pw" not in result.output
    verbose = cli("fetch", "-vv", "--tag", "bsnopen", "--mastodon", "a.example", "--db", url)
    assert verbose.exit_code == 1 and "***" in verbose.output, verbose.output
    assert "s3cret-pw" not in verbose.output
    assert "postgresql://archive:***@127.0.0.1:9/events" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_run_while_another_holds_the_archive_exits_75(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str
) -> None:
    server = servers([synthetic_status(1, viewer="v.example", local_id=1)])
    with PgArchiveLock(DatabaseUrl(pg_url)) as lock:
        lock.acquire()
        assert lock.is_held_elsewhere()  # as another connection sees it
        held = fetch(cli, fast_config, server.url, extra=("--db", pg_url))
        assert held.exit_code == 75, held.output
        assert "another bsarchive run" in held.output
    assert fetch(cli, fast_config, server.url, extra=("--db", pg_url)).exit_code == 0
    with PgArchiveLock(DatabaseUrl(pg_url)) as lock:
        lock.acquire()
        doctor = cli("doctor", "--no-probe", "--db", pg_url)
    assert doctor.exit_code == 0, doctor.output
    for line in ("PostgreSQL 1", "version 11", "0 sources held by running", "held by a running"):
        assert line in " ".join(doctor.output.split()), line


def test_an_archive_from_a_newer_bsarchive_is_refused(cli: Cli, pg_url: str) -> None:
    import psycopg

    empty = cli("stats", "--db", pg_url)  # a database with no archive yet: a usage error
    assert empty.exit_code == 2 and "no archive in this database" in empty.output
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    result = cli("stats", "--db", pg_url)
    assert result.exit_code == 1
    assert "newer than this bsarchive" in result.output


@pytest.mark.parametrize(
    ("sqlite", "psycopg"),
    [
        ("WHERE a = ? AND b IN (?, ?)", "WHERE a = %s AND b IN (%s, %s)"),
        ("SELECT '?' || \"a?\" FROM t WHERE x = ?", "SELECT '?' || \"a?\" FROM t WHERE x = %s"),
        ("WHERE s = :source LIMIT :depth + 1", "WHERE s = %(source)s LIMIT %(depth)s + 1"),
        ("WHERE k NOT LIKE 'x:%' AND t = '10:30'", "WHERE k NOT LIKE 'x:%%' AND t = '10:30'"),
    ],
)  # fmt: skip
def test_sqlite_placeholders_become_psycopg_ones(sqlite: str, psycopg: str) -> None:
    assert pg_sql(sqlite) == psycopg


def test_a_database_url_is_shown_without_its_password() -> None:
    db = parse_db("postgresql://archive:pw@db.lab:5433/events?sslmode=require")
    assert isinstance(db, DatabaseUrl)
    assert db.shown == "postgresql://archive:***@db.lab:5433/events?sslmode=require"
    assert "pw" not in repr(db)
    assert db.stem == "events"
    assert parse_db("postgres://db.lab/x").shown == "postgres://db.lab/x"
    assert isinstance(parse_db("~/event.db"), Path)


def assert_same_items(cli: Cli, pg_url: str, posts: int) -> None:
    """The PostgreSQL archive holds the same ``posts`` posts as ``cli.db`` (a single run's),
    compared by what does not depend on which copy of a shared post came first."""
    columns = "kind,uri,created_at,author,text,tags,links,in_reply_to,boosts,deleted_at"
    exports = [
        cli("export", "csv", "--db", db, "--columns", columns).stdout
        for db in (pg_url, str(cli.db))
    ]
    assert exports[0].count("\n") == posts + 1  # and a header
    assert sorted(exports[0].splitlines()) == sorted(exports[1].splitlines())


def _collector(db: str, urls: list[str], config: Path) -> subprocess.Popen[str]:
    """A ``bsarchive fetch`` process over ``urls`` into ``db`` (a collector of its own)."""
    args = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", db]
    args += ["--config", str(config), "--no-reactions", "--refresh", "0"]
    for url in urls:
        args += ["--mastodon", url]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_four_collectors_divide_twelve_instances_and_store_what_one_would(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str, tmp_path: Path
) -> None:
    timelines = synthetic_instances(600, instances=12, shared=0.5)
    urls = [servers(t, latency=0.01).url for t in timelines]
    collectors = [_collector(pg_url, urls, fast_config) for _ in range(4)]
    done = [c.communicate(timeout=120) for c in collectors]
    codes = [c.returncode for c in collectors]
    # Each either stored its share or found every source held by the others (exit 75).
    assert set(codes) <= {0, 75} and 0 in codes, done
    # ... every instance read by one of them at least (one that starts after another has
    # ended may read again what it left: a catch-up from the stored cursor).
    read = [int(n) for _, err in done for n in re.findall(r"(\d+) sources?: ", err)]
    assert sum(read) >= 12, done
    alone = fetch(cli, fast_config, *urls, extra=("--no-reactions", "--refresh", "0"))
    assert alone.exit_code == 0, alone.output
    assert_same_items(cli, pg_url, 600)
    # Every sighting is there once: each instance was read by one collector.
    sightings = [
        cli("export", "csv", "--db", db, "--columns", "uri,seen_on").stdout for db in (pg_url,)
    ]
    assert all(len(line.split(",")[1].split()) in (1, 12) for line in sightings[0].splitlines()[1:])


def test_a_collector_killed_mid_page_loses_and_doubles_nothing(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str
) -> None:
    timelines = synthetic_instances(400, instances=3, shared=0.5)
    urls = [servers(t, latency=0.05).url for t in timelines]
    victim = _collector(pg_url, urls, fast_config)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until some pages are stored
        got = cli("stats", "--json", "--db", pg_url)
        if got.exit_code == 0 and json.loads(got.stdout)["counts"]["posts"] > 0:
            break
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    again = fetch(cli, fast_config, *urls, extra=("--db", pg_url, "--refresh", "0"))
    assert again.exit_code == 0, again.output
    alone = fetch(cli, fast_config, *urls, extra=("--refresh", "0"))
    assert alone.exit_code == 0, alone.output
    assert_same_items(cli, pg_url, 400)


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("society", ("--limit", "500")),
        ('"big society"', ("--limit", "500")),
        ("network", ("--limit", "500", "--kind", "reaction", "--kind", "comment")),
        ("open", ("--limit", "500", "--since", "2010-06-30")),
        ("bsnopen", ("--limit", "5")),
    ],
)
def test_search_on_postgresql_finds_what_fts5_finds(
    cli: Cli, pg_url: str, tmp_path: Path, query: str, options: tuple[str, ...]
) -> None:
    assert run_demo(tmp_path / "demo") == 0
    demo = str(tmp_path / "demo" / "demo.db")
    assert cli("copy", demo, pg_url).exit_code == 0
    found = []
    for db in (demo, pg_url):
        result = cli("search", query, "--json", "--db", db, *options)
        assert result.exit_code == 0, result.output
        hits = [json.loads(line) for line in result.stdout.splitlines()]
        assert any("[" in hit["snippet"] for hit in hits), hits  # the words marked
        found.append(sorted((hit["kind"], hit["uri"]) for hit in hits))
    assert found[0], query
    if "5" in options:  # the five best: ranked differently (bm25, ts_rank), as many
        assert len(found[1]) == len(found[0]) == 5
    else:
        assert found[1] == found[0]


def test_a_server_gone_mid_run_is_one_line_and_keeps_every_committed_page(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    import psycopg

    from tests.support import pg

    try:
        own = pg.cluster()
        server = own.__enter__()
    except pg.Unavailable as e:
        pytest.skip(f"PostgreSQL unavailable: {e}")
    try:
        url = server.fresh("ev")
        timelines = synthetic_instances(400, instances=2, shared=0.5)
        urls = [servers(t, latency=0.05).url for t in timelines]
        collector = _collector(url, urls, fast_config)
        deadline = time.monotonic() + 30
        stored = 0
        while stored == 0 and time.monotonic() < deadline:
            with psycopg.connect(url) as conn:
                exists = conn.execute("SELECT to_regclass('posts') IS NOT NULL").fetchone()
                if exists and exists[0]:
                    stored = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
            time.sleep(0.05)
        server.stop("immediate")  # the database goes away mid-run
        _, err = collector.communicate(timeout=60)
        assert collector.returncode == 1, err
        assert "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith(f"bsarchive: error: {url}"), err
        server.start()
        with psycopg.connect(url) as conn:
            kept = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        assert kept >= stored > 0  # every page committed before is there
        again = fetch(cli, fast_config, *urls, extra=("--db", url, "--refresh", "0"))
        assert again.exit_code == 0, again.output
        alone = fetch(cli, fast_config, *urls, extra=("--refresh", "0"))
        assert alone.exit_code == 0, alone.output
        assert_same_items(cli, url, 400)
    finally:
        own.__exit__(None, None, None)


def test_a_tag_of_a_many_event_archive_exports_as_from_sqlite(
    cli: Cli, servers: Any, fast_config: Path, pg_url: str, tmp_path: Path
) -> None:
    # One archive, two events: the demo's #bsnopen and another tag's posts, the same items
    # on both engines (copied once both are in); a tag's export reads only its slice.
    assert run_demo(tmp_path / "demo") == 0
    demo = str(tmp_path / "demo" / "demo.db")
    other = servers(synthetic_instances(60, instances=1, tag="localgov")[0])
    for db in (demo, pg_url):
        if db == pg_url:
            assert cli("copy", demo, pg_url).exit_code == 0
        args = ["fetch", "--tag", "localgov", "--mastodon", other.url, "--db", db]
        done = cli(*args, "--config", str(fast_config), "--no-reactions", "--refresh", "0")
        assert done.exit_code == 0, done.output
    for tag in ("bsnopen", "localgov"):
        for command in (
            ("export", "csv", "--kind", "post", "--kind", "reaction", "--kind", "comment"),
            ("export", "jsonl", "--kind", "boost", "--kind", "version"),
            ("digest", "--format", "markdown"),
        ):
            got = [cli(*command, "--tag", tag, "--db", db).stdout for db in (demo, pg_url)]
            assert got[1] == got[0], (tag, command)
            assert got[0].count("\n") > 1 or "boost" in command, (tag, command)


def test_forget_on_postgresql_removes_and_keeps_out_as_on_sqlite(
    cli: Cli, pg_url: str, tmp_path: Path
) -> None:
    assert run_demo(tmp_path / "demo") == 0
    demo = str(tmp_path / "demo" / "demo.db")
    assert cli("copy", demo, pg_url).exit_code == 0
    said = [
        cli("forget", "--author", "@regen@civic.example", "--reason", "asked", "--db", db)
        for db in (demo, pg_url)
    ]
    assert said[0].exit_code == said[1].exit_code == 0
    assert said[0].stderr == said[1].stderr and "removed" in said[0].stderr
    exports = [cli("export", "csv", "--db", db).stdout for db in (demo, pg_url)]
    assert exports[1] == exports[0] and "@regen@civic.example" not in exports[0]
    # kept out: copying in an archive that still holds the author does not bring them back
    assert run_demo(tmp_path / "again") == 0
    assert cli("copy", str(tmp_path / "again" / "demo.db"), pg_url).exit_code == 0
    assert cli("export", "csv", "--db", pg_url).stdout == exports[0]


def test_watch_on_postgresql_serves_its_wall_and_writes_its_digest(
    servers: Any, pg_url: str, tmp_path: Path
) -> None:
    import socket
    import urllib.request

    statuses = [synthetic_status(n, viewer="v.example", local_id=100 + n) for n in range(12)]
    server = servers(statuses)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    digest = tmp_path / "wall.html"
    args = [sys.executable, "-m", "bsarchive", "watch", "--tag", "bsnopen", "--no-reactions"]
    args += ["--mastodon", server.url, "--db", pg_url, "--digest", str(digest), "--every", "2s"]
    watch = subprocess.Popen(
        [*args, "--serve", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True
    )
    try:
        page = b""
        deadline = time.monotonic() + 30
        wanted = statuses[5]["content"][3:20].encode()  # "Post 5 from the ": on the wall
        while time.monotonic() < deadline and wanted not in page:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            except OSError:
                time.sleep(0.1)
        assert wanted in page
        while time.monotonic() < deadline and not digest.exists():
            time.sleep(0.1)
        assert "<html" in digest.read_text()
    finally:
        watch.terminate()
        _, err = watch.communicate(timeout=30)
    assert watch.returncode == 143, err


def test_doctor_on_an_empty_database_and_on_no_server(cli: Cli, pg_url: str) -> None:
    empty = cli("doctor", "--no-probe", "--db", pg_url)
    assert empty.exit_code == 0, empty.output
    assert "archive in this database" in " ".join(empty.output.split())
    gone = cli("doctor", "--no-probe", "--db", "postgresql://archive:pw@127.0.0.1:9/events")
    assert gone.exit_code == 1 and "Traceback" not in gone.output
    assert "connect" in " ".join(gone.output.split()) and ":pw@" not in gone.output
