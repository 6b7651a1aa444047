"""A run with many feeds parses them in a forked worker process (archive._feed_parser).

The archive it writes is the one an in-process parse writes, parse errors come back as
the same one-line errors, and the worker never outlives the run, however it ends.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsarchive import archive
from tests.support import paths
from tests.support.cli import Cli
from tests.support.feed_server import FeedServer, Route
from tests.support.processes import first_child, stops_within

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked (Linux)")

FIXTURES = paths.FIXTURES / "feeds"
GOOD = archive.FEEDS_FOR_A_PARSER + 1


def blog_feed(n: int) -> bytes:
    items = "".join(
        f"<item><title>Open night notes {n}.{e}</title>"
        f"<link>https://blog{n}.example/2010/06/29/notes-{e}/</link>"
        f'<guid isPermaLink="true">https://blog{n}.example/2010/06/29/notes-{e}/</guid>'
        f"<pubDate>Tue, 29 Jun 2010 18:{e:02d}:00 +0000</pubDate>"
        f"<dc:creator>Writer {n}</dc:creator><category>bsnopen</category>"
        f"<description>&lt;p&gt;Part {e} of what we heard. #bsnopen&lt;/p&gt;</description>"
        "</item>"
        for e in range(5)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Blog {n}</title><link>https://blog{n}.example/</link>"
        f"<description>d</description>{items}</channel></rss>"
    ).encode()


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        for n in range(GOOD):
            server.routes[f"/feed/{n}.xml"] = Route(blog_feed(n))
        server.routes["/login"] = Route(
            (FIXTURES / "login.html").read_bytes(), content_type="text/html"
        )
        server.routes["/laughs"] = Route((FIXTURES / "billion_laughs.xml").read_bytes())
        yield server


def command(db: Path, config: Path, server: FeedServer) -> list[str]:
    cmd = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", str(db)]
    cmd += ["--config", str(config), "--no-reactions", "--allow-private-networks"]
    for path in server.routes:
        cmd += ["--feed", server.url + path]
    return cmd


def reactions(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT url, title, author, published_at, excerpt, tags FROM reactions ORDER BY url"
        ).fetchall()


def test_parsed_in_a_worker_as_in_process(
    cli: Cli, feeds: FeedServer, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked = subprocess.run(
        command(cli.db.with_name("forked.db"), fast_config, feeds),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert forked.returncode == 1, forked.stderr
    assert "Traceback" not in forked.stderr
    errors = sorted(line for line in forked.stderr.splitlines() if "error" in line)
    assert errors == [
        f"bsarchive: error: {feeds.url}/laughs: refused: the document declares XML entities"
        " (entity expansion or XXE guard)",
        f"bsarchive: error: {feeds.url}/login: got an HTML page, not a feed"
        " (a login or bot-check page?)",
    ]
    monkeypatch.setattr(archive, "FEEDS_FOR_A_PARSER", 10**6)  # parse in this process
    here = cli(*command(cli.db, fast_config, feeds)[3:])
    assert here.exit_code == 1
    got = reactions(cli.db.with_name("forked.db"))
    assert len(got) == GOOD * 5
    assert got == reactions(cli.db)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_worker_ends_with_the_run(
    sig: signal.Signals, feeds: FeedServer, fast_config: Path, tmp_path: Path
) -> None:
    proc = subprocess.Popen(command(tmp_path / "event.db", fast_config, feeds))
    try:
        worker = first_child(proc)
        assert worker is not None, "the run never started its parser"
        # The run asks for feeds only once its worker is ready (it has asked the kernel to
        # be ended with its parent): killing it earlier would test a half-started worker.
        assert feeds.asked.wait(30), "the run never asked for a feed"
    finally:
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
    assert stops_within(worker, 10)
