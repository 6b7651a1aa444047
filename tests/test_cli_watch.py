"""``bsarchive watch`` end to end: the real CLI in a subprocess against a loopback Mastodon
that speaks the REST API and the streaming API (tests/support/streaming.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bsarchive.config import parse_duration
from bsarchive.errors import ConfigError
from bsarchive.http import Http
from bsarchive.sources.streaming import poll_every
from tests.support.chromium import CHROMIUM, Chromium
from tests.support.feed_server import FeedServer, Route
from tests.support.streaming import TOKEN, StreamingMastodon, status
from tests.test_cli_runs import RECIPE_KEYS

pytestmark = pytest.mark.slow


class Watch:
    """A running ``bsarchive watch``; always ended by the fixture."""

    def __init__(self, db: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.db, self.proc, self.log = db, proc, log

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=5) as db:
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:  # not created yet
                return []

    def until(self, check: Callable[[], bool], within: float = 20.0) -> bool:
        """Poll the archive (bounded) until ``check`` holds or the watch ended."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.proc.poll() is None:
            if check():
                return True
            time.sleep(0.05)
        return check()

    def posts(self) -> int:
        return (
            int(self.rows("SELECT count(*) FROM posts")[0][0])
            if self.rows("SELECT 1 FROM sqlite_master WHERE name = 'posts'")
            else 0
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=5)

    @property
    def stderr(self) -> str:
        return self.log.read_text()


@pytest.fixture
def watch(tmp_path: Path, fast_config: Path) -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(*args: str, token: str | None = TOKEN) -> Watch:
        db = tmp_path / "event.db"
        env = {k: v for k, v in os.environ.items() if k != "BSARCHIVE_MASTODON_TOKEN"}
        if token:
            env["BSARCHIVE_MASTODON_TOKEN"] = token
        log = tmp_path / f"watch{len(started)}.err"
        cmd = [sys.executable, "-m", "bsarchive", "watch", "--tag", "bsnopen", "--db", str(db),
               "--config", str(fast_config), "--poll-every", "0.2", *args]  # fmt: skip
        with log.open("wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        w = Watch(db, proc, log)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_posts_edits_and_deletions_on_the_stream_are_stored(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101), status(2, 102)]) as server:
        w = watch("--mastodon", server.url)
        assert server.wait_connections(1), w.stderr
        # The catch-up (here a backfill) is read before the stream opens.
        assert w.until(lambda: w.posts() == 2), w.stderr
        server.post(status(3, 103))
        server.post(status(4, 104))
        assert w.until(lambda: w.posts() == 4), w.stderr
        edited = status(3, 103, text="Post 3, corrected")
        edited["edited_at"] = "2010-06-29T18:00:00.000Z"
        server.edit(edited)
        assert w.until(lambda: len(w.rows("SELECT 1 FROM post_versions")) >= 1), w.stderr
        server.delete("104")
        assert w.until(lambda: bool(w.rows("SELECT 1 FROM posts WHERE deleted_at IS NOT NULL")))
        assert w.stop() == 143
    deleted = w.rows("SELECT uri FROM posts WHERE deleted_at IS NOT NULL")
    assert [uri.rsplit("/", 1)[1] for (uri,) in deleted] == ["105000000000000004"]
    assert w.rows("SELECT text FROM posts WHERE uri LIKE '%000003'")[0][0].startswith(
        "Post 3, corrected"
    )
    assert w.posts() == 4
    assert "streaming" in w.stderr and "terminated; everything stored so far is kept" in w.stderr
    # The token went to the instance's stream only as a bearer header; no other party.
    assert server.stream_auth == [f"Bearer {TOKEN}"]


def test_a_dropped_stream_is_caught_up_without_gaps_or_doubles(
    watch: Callable[..., Watch],
) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url)
        assert server.wait_connections(1), w.stderr
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        # Posted while the stream is down: only the REST catch-up can see them.
        for n in range(3, 8):
            server.post(status(n, 100 + n), stream=False)
        server.drop()
        assert server.wait_connections(2), w.stderr
        assert w.until(lambda: w.posts() == 7), w.stderr
        server.post(status(8, 108))  # and the new stream carries on
        assert w.until(lambda: w.posts() == 8), w.stderr
        assert w.stop() == 143
    assert w.rows("SELECT count(DISTINCT uri), count(*) FROM posts") == [(8, 8)]
    assert w.rows("SELECT count(*) FROM sightings") == [(8,)]


def test_without_a_token_it_polls_the_timeline(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, token=None)
        assert w.until(lambda: w.posts() == 1), w.stderr
        server.post(status(2, 102))
        server.post(status(3, 103))
        assert w.until(lambda: w.posts() == 3), w.stderr
        assert w.stop() == 143
        assert server.connections == 0 and server.stream_auth == []
    assert "polling every 0.2s (no token for this instance)" in w.stderr
    polls = [p for p in server.server.requests if "min_id=" in p]
    assert polls, "catch-ups poll with min_id"


def test_a_refused_stream_falls_back_to_polling(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)], token="another-token") as server:
        w = watch("--mastodon", server.url)
        assert w.until(lambda: "stream refused" in w.stderr), w.stderr
        server.post(status(2, 102), stream=False)
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
    assert "polling every 0.2s (stream refused: HTTP 401" in w.stderr
    # stats keeps the refusal as the source's last error; the polls since are successes.
    ((error, error_at, success_at),) = w.rows(
        "SELECT last_error, last_error_at, last_success_at FROM sources WHERE key LIKE 'mastodon:%'"
    )
    assert "stream refused" in error and success_at >= error_at


def test_bad_events_are_logged_and_skipped(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url)
        assert server.wait_connections(1), w.stderr
        server.send("update", "{not json")
        server.send("notification", "{}")
        server.send("update", json.dumps(status(2, 102, tag="othertag")))
        server.post(status(3, 103))
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
        assert server.connections == 1  # bad events do not cost the stream
    assert "malformed JSON in update event" in w.stderr
    assert "does not carry #bsnopen" in w.stderr
    assert "Traceback" not in w.stderr


def test_sigterm_keeps_everything_and_the_lock_is_held_meanwhile(
    watch: Callable[..., Watch], tmp_path: Path, fast_config: Path
) -> None:
    with StreamingMastodon([status(n, 100 + n) for n in range(1, 4)]) as server:
        w = watch("--mastodon", server.url, "--digest", str(tmp_path / "wall.html"), "--every",
                  "1s")  # fmt: skip
        assert server.wait_connections(1), w.stderr
        fetch = subprocess.run(
            [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--mastodon",
             server.url, "--db", str(w.db), "--config", str(fast_config)],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert fetch.returncode == 75, fetch.stderr
        server.post(status(4, 104))
        assert w.until(lambda: w.posts() == 4), w.stderr
        wall = tmp_path / "wall.html"
        assert w.until(lambda: "Post 4 from" in wall.read_text()), w.stderr
        assert w.stop() == 143
    assert w.posts() == 4
    assert not list(tmp_path.glob(".wall.html.*"))  # no temp file left behind


def test_poll_interval_spends_a_tenth_of_the_paging_budget() -> None:
    assert poll_every(1) == 30.0
    assert poll_every(3) == 90.0
    assert parse_duration("2m", "--every") == 120.0
    assert parse_duration("90", "--every") == 90.0
    with pytest.raises(ConfigError):
        parse_duration("soon", "--every")


def test_an_endless_line_drops_the_stream_not_the_memory(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "-v")
        assert server.wait_connections(1), w.stderr
        server.raw(b"data: " + b"x" * (2 * 1024 * 1024))  # over the 1 MiB cap, no newline
        assert server.wait_connections(2), w.stderr  # dropped, caught up, reconnected
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
    assert "an event line over 1048576 bytes" in w.stderr


def test_the_token_goes_only_to_the_instances_own_hosts() -> None:
    with Http(tokens={"https://mastodon.social": "t"}) as http:
        assert http.share_token("https://mastodon.social", "https://streaming.mastodon.social")
        assert http.has_token("https://streaming.mastodon.social/api/v1/streaming/hashtag")
        for other in (
            "https://evil.example",
            "https://notmastodon.social",
            "http://streaming2.mastodon.social",  # not over plain http
        ):
            assert not http.share_token("https://mastodon.social", other)
            assert not http.has_token(other)
        assert not http.share_token("https://hachyderm.io", "https://streaming.hachyderm.io")


def test_a_killed_watch_restarts_where_it_was(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url)
        assert server.wait_connections(1), w.stderr
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        w.proc.kill()  # SIGKILL: no chance to tidy up
        assert w.proc.wait(timeout=20) == -signal.SIGKILL
        for n in range(3, 6):  # posted while no watch runs
            server.post(status(n, 100 + n), stream=False)
        again = watch("--mastodon", server.url)
        assert server.wait_connections(2), again.stderr
        server.post(status(6, 106))
        assert again.until(lambda: again.posts() == 6), again.stderr
        assert again.stop() == 143
    assert again.rows("SELECT count(DISTINCT uri), count(*) FROM posts") == [(6, 6)]
    assert again.rows("SELECT count(*) FROM sightings") == [(6,)]


def test_a_token_revoked_mid_stream_turns_to_polling(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url)
        assert server.wait_connections(1), w.stderr
        server.token = "revoked"  # the next stream request is answered 401
        server.drop()
        assert w.until(lambda: "stream refused" in w.stderr), w.stderr
        server.post(status(2, 102), stream=False)
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
    assert server.connections == 1


def test_a_silent_stream_is_dead_and_reconnected(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "--idle-timeout", "1", "-v")
        assert server.wait_connections(1), w.stderr
        server.muted.set()  # connected, but no heartbeat any more
        server.post(status(2, 102), stream=False)
        assert server.wait_connections(2), w.stderr
        server.muted.clear()
        assert w.until(lambda: w.posts() == 2), w.stderr  # caught up on the reconnect
        assert "stream silent for 1s (no heartbeat)" in w.stderr
        assert w.stop() == 143


def test_a_redirected_stream_is_not_followed(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        server.stream_status = 302  # to a private address: never followed, token kept
        w = watch("--mastodon", server.url)
        assert w.until(lambda: "stream failing: HTTP 302" in w.stderr), w.stderr
        server.post(status(2, 102), stream=False)
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
    assert server.connections == 0
    assert len(server.stream_auth) == 1


def test_the_live_wall_serves_the_digest_and_its_counts(watch: Callable[..., Watch]) -> None:
    with StreamingMastodon([status(1, 101)]) as server:
        # Rendered on this schedule, and whenever a reload finds it behind the archive.
        w = watch("--mastodon", server.url, "--serve", "127.0.0.1:0", "--every", "60s")
        assert w.until(lambda: "the live wall is at http://127.0.0.1:" in w.stderr), w.stderr
        url = w.stderr.split("the live wall is at ", 1)[1].split()[0]
        assert server.wait_connections(1), w.stderr
        assert "Post 1 from" in httpx.get(url, timeout=5).text
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        # The first request after the commit shows it, long before the next scheduled render.
        page = httpx.get(url, timeout=10)
        # The browser reloads it as often as the schedule; no script needed.
        assert '<meta http-equiv="refresh" content="60">' in page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src &#39;none&#39;" in page.text  # the digest's own CSP, unchanged
        # The wall, not the digest: newest first, a chart per minute.
        assert page.text.index("Post 2 from") < page.text.index("Post 1 from")
        assert "Posts per minute, last 3 hours" in page.text and "<script" not in page.text
        stats = httpx.get(url + "stats.json", timeout=5).json()
        assert stats["new"] == 2
        assert list(stats["modes"].values())[0].startswith("streaming")
        assert httpx.get(url + "other", timeout=5).status_code == 404
        assert w.stop() == 143


def test_the_live_wall_shows_a_streamed_post_at_the_next_reload_in_headless_chromium(
    watch: Callable[..., Watch], tmp_path: Path
) -> None:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    every = 2.0
    with StreamingMastodon([status(1, 101)]) as server, Chromium(tmp_path / "profile") as browser:
        w = watch("--mastodon", server.url, "--serve", "127.0.0.1:0", "--every", f"{every:g}s")
        assert w.until(lambda: "the live wall is at " in w.stderr), w.stderr
        url = w.stderr.split("the live wall is at ", 1)[1].split()[0]
        assert server.wait_connections(1), w.stderr
        assert w.until(lambda: "Post 1 from" in httpx.get(url, timeout=5).text), w.stderr
        browser.open(url)  # the only navigation the test makes

        def shown() -> tuple[float, str, str]:
            """When the page on screen started loading (epoch ms), its state, its text."""
            value = browser.evaluate(
                "[performance.timeOrigin, document.readyState,"
                " document.body ? document.body.innerText : '']"
            )
            return (float(value[0]), str(value[1]), str(value[2])) if value else (0.0, "", "")

        assert w.until(lambda: "Post 1 from" in shown()[2]), w.stderr  # it renders
        loaded = shown()[0]
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        stored = time.time() * 1000  # on the clock performance.timeOrigin reads
        # Every load of the page that started after the post was stored, as it ended.
        loads: dict[float, str] = {}

        def reloaded_since() -> bool:
            origin, state, text = shown()
            if origin > stored and state == "complete":
                loads[origin] = text
            return bool(loads)

        # The next reload comes within one refresh interval (plus slack for a busy machine)
        assert w.until(reloaded_since, within=every + 8), w.stderr
        first = loads[min(loads)]
        shot = browser.screenshot()
        assert w.stop() == 143
    assert min(loads) != loaded  # the page reloaded itself (a meta refresh, no script)
    # ...and that first reload already shows the streamed post, newest first: within one
    # refresh, not one render and one refresh.
    assert "Post 2 from" in first, first
    assert first.index("Post 2 from") < first.index("Post 1 from")
    assert "Posts per minute" in first and "Newest posts" in first
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000


def _rss(*items: int) -> bytes:
    entries = "".join(
        f"<item><guid>https://blog.example/{n}</guid><link>https://blog.example/{n}</link>"
        f"<title>Notes {n}</title><category>bsnopen</category>"
        f"<pubDate>Tue, 29 Jun 2010 2{n}:00:00 +0000</pubDate>"
        f"<description>Notes from the open night, part {n}</description></item>"
        for n in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>A blog</title><link>https://blog.example/</link>{entries}</channel></rss>"
    ).encode()


def test_feeds_are_re_read_with_conditional_get_on_their_schedule(
    watch: Callable[..., Watch],
) -> None:
    with FeedServer({"/feed": Route(_rss(1), etag='"v1"')}) as feeds:
        w = watch("--feed", f"{feeds.url}/feed", "--feed-every", "0.2s", token=None)

        # A blog's entries are reactions (articles about the event).
        def reactions() -> int:
            return len(w.rows("SELECT url FROM reactions"))

        assert w.until(lambda: reactions() == 1), w.stderr
        assert w.until(lambda: len(feeds.paths()) >= 3), w.stderr  # 304s meanwhile
        feeds.routes["/feed"] = Route(_rss(1, 2), etag='"v2"')
        assert w.until(lambda: reactions() == 2), w.stderr

        def asked_with(etag: str) -> bool:
            return any(s.headers.get("if-none-match") == etag for s in list(feeds.seen))

        assert w.until(lambda: asked_with('"v2"')), w.stderr  # the next read is conditional
        assert w.stop() == 143
    assert asked_with('"v1"')
    assert w.rows("SELECT count(DISTINCT url), count(*) FROM reactions") == [(2, 2)]


def test_doctor_tells_a_running_watch_from_a_killed_one(
    watch: Callable[..., Watch], fast_config: Path
) -> None:
    def doctor(w: Watch) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "bsarchive", "doctor", "--no-probe", "--db", str(w.db)],
            capture_output=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip

    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url)
        assert w.until(lambda: bool(w.rows("SELECT value FROM meta WHERE key = 'watch_heartbeat'")))
        running = doctor(w)
        assert running.returncode == 0, running.stdout
        assert b"running, last heartbeat" in running.stdout
        w.proc.kill()
        w.proc.wait(timeout=20)
        killed = doctor(w)
        assert killed.returncode == 1
        assert b"a watch ended without stopping" in killed.stdout
        again = watch("--mastodon", server.url)
        assert server.wait_connections(2), again.stderr
        assert again.stop() == 143
    assert again.rows("SELECT value FROM meta WHERE key = 'watch_heartbeat'") == [("",)]
    assert doctor(again).returncode == 0  # stopped cleanly: nothing to say


ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Live from the open night | Notes</title>
<link rel="alternate" type="application/rss+xml" href="/article/feed/">
</head><body><article><p>Written while it happened.</p></article></body></html>"""

COMMENTS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Comments on: Live from the open night</title><link>http://notes/article/</link>
<description>c</description><item><title>By: Ann</title>
<link>http://notes/article/#comment-1</link><dc:creator>Ann</dc:creator>
<pubDate>Tue, 29 Jun 2010 22:00:00 +0000</pubDate><guid>http://notes/?c=1</guid>
<description>Wish I had been there</description></item></channel></rss>"""


def test_links_in_streamed_posts_are_followed_within_the_pass_interval(
    watch: Callable[..., Watch],
) -> None:
    html = "text/html; charset=utf-8"
    routes = {
        "/article/": Route(ARTICLE.encode(), content_type=html),
        "/article/feed/": Route(COMMENTS.encode(), etag='"c1"'),
        "/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"),
    }
    with FeedServer(routes) as blog, StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "--reactions-every", "0.5s",
                  "--allow-private-networks")  # fmt: skip
        assert server.wait_connections(1), w.stderr
        link = f"{blog.url}/article/"
        server.post(status(2, 102, text=f'<a href="{link}">{link}</a>'))
        assert w.until(lambda: bool(w.rows("SELECT 1 FROM comments"))), w.stderr
        assert w.stop() == 143
    assert w.rows("SELECT url, title FROM reactions") == [
        (link, "Live from the open night | Notes")
    ]
    assert w.rows("SELECT author FROM comments") == [("Ann",)]


def test_stream_events_are_stored_while_a_slow_reaction_pass_runs(
    watch: Callable[..., Watch],
) -> None:
    reached, release = threading.Event(), threading.Event()
    routes = {
        "/article/": Route(ARTICLE.encode(), content_type="text/html; charset=utf-8",
                           reached=reached, hold=release),
        "/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"),
    }  # fmt: skip
    with FeedServer(routes) as blog, StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "--reactions-every", "0.5s",
                  "--allow-private-networks")  # fmt: skip
        assert server.wait_connections(1), w.stderr
        link = f"{blog.url}/article/"
        server.post(status(2, 102, text=f'<a href="{link}">{link}</a>'))
        assert reached.wait(20), w.stderr  # the pass is fetching; the blog drips its answer
        server.post(status(3, 103))
        server.post(status(4, 104))
        try:
            assert w.until(lambda: w.posts() == 4, within=6), w.stderr
            # Committed while the pass still waits for the article.
            assert not release.is_set() and w.rows("SELECT url FROM reactions") == []
        finally:
            release.set()
        assert w.until(lambda: bool(w.rows("SELECT 1 FROM reactions"))), w.stderr
        assert w.stop() == 143
    assert w.rows("SELECT url FROM reactions") == [(link,)]
    assert w.posts() == 4


def test_stats_shows_each_watched_sources_health(watch: Callable[..., Watch]) -> None:
    routes = {"/feed": Route(b"down for maintenance", status=500, content_type="text/plain")}
    with FeedServer(routes) as feeds, StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "--feed", f"{feeds.url}/feed", "--feed-every",
                  "0.2s")  # fmt: skip
        assert server.wait_connections(1), w.stderr
        server.post(status(2, 102))
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.until(
            lambda: bool(w.rows("SELECT 1 FROM sources WHERE last_error LIKE '%500%'"))
        ), w.stderr
        # Read while the watch holds the archive (WAL).
        stats = subprocess.run(
            [sys.executable, "-m", "bsarchive", "stats", "--json", "--db", str(w.db)],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert stats.returncode == 0, stats.stderr
        assert w.stop() == 143
    sources = {s["key"]: s for s in json.loads(stats.stdout)["sources"]}
    stream = next(s for key, s in sources.items() if key.startswith("mastodon:"))
    feed = next(s for key, s in sources.items() if key.startswith("feed:"))
    assert stream["health"] == "ok" and stream["last_success_at"]
    assert stream["items"] == 2 and stream["requests"] >= 1  # the catch-up's
    assert stream["last_error"] is None
    assert feed["health"] == "failing" and "500" in feed["last_error"]
    assert feed["items"] == 0


def test_a_watch_records_the_same_recipe_and_counts_as_a_fetch(
    watch: Callable[..., Watch],
) -> None:
    opted = status(2, 102)
    # one account asks not to be archived: its streamed post is left out, and counted
    opted["account"] = dict(opted["account"], note="<p>No archives. #NoBot</p>")
    with StreamingMastodon([status(1, 101)]) as server:
        w = watch("--mastodon", server.url, "--no-reactions", "--feed-every", "45s")
        assert server.wait_connections(1), w.stderr
        server.post(opted)
        server.post(status(3, 103))
        assert w.until(lambda: w.posts() == 2), w.stderr
        assert w.stop() == 143
    [(raw, new, skipped, opted_out, failures, reactions, finished)] = w.rows(
        "SELECT options, new, skipped, opted_out, failures, reactions, finished_at FROM runs"
    )
    options = json.loads(raw)
    # fetch's recipe (the same routine writes both), and what only a watch is asked
    assert set(options) == RECIPE_KEYS | {
        "poll_seconds", "feed_seconds", "reactions_seconds", "digest", "digest_every",
    }  # fmt: skip
    assert options["command"] == "watch"
    assert (options["tags"], options["instances"]) == (["bsnopen"], [server.url])
    assert (options["reactions"], options["feed_seconds"]) == (False, 45.0)
    assert (new, opted_out, failures, reactions) == (2, 1, 0, 0)
    assert skipped >= 1 and finished is not None
