"""End to end: comment threads on Blogger and on a WordPress site with plain permalinks.

Neither page names its own comment feed in a way the page alone can prove: the Blogger page
lists its post comments among the blog's Atom links, and the WordPress theme dropped the
per-post feed links. bsarchive reads the blog's feed once per run, finds the page's entry
and takes its comment feed and count (issue 14, point 4). Fixtures in
``fixtures/reactions/`` are written in each platform's markup; their absolute URLs
are pointed at the loopback servers here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status
from pytest_httpserver import HTTPServer

from tests.support import paths
from tests.support.cli import Cli, fetch

FIXTURES = paths.FIXTURES / "reactions"
BLOGGER = "https://fieldnotes-open.blogspot.com"
WORDPRESS = "https://wardseven.example"
POST_ID = "5093367784131416754"
OLDER_ID = "1180461935224809732"
ATOM = "application/atom+xml; charset=UTF-8"
HTML = "text/html; charset=UTF-8"
BLOGGER_ROBOTS = (
    "User-agent: Mediapartners-Google\nDisallow: \n\nUser-agent: *\nDisallow: /search\nAllow: /\n"
)
EMPTY_COMMENTS = f"""<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom' xmlns:openSearch='http://a9.com/-/spec/opensearchrss/1.0/'><id>tag:blogger.com,1999:blog-7421938645120348811.post{OLDER_ID}..comments</id><updated>2026-11-14T10:05:41.260Z</updated><title type='text'>Comments on Field notes: Before the open night</title><link rel='alternate' type='text/html' href='{BLOGGER}/2026/11/before-open-night.html'/><generator version='7.00' uri='http://www.blogger.com'>Blogger</generator><openSearch:totalResults>0</openSearch:totalResults><openSearch:startIndex>1</openSearch:startIndex><openSearch:itemsPerPage>25</openSearch:itemsPerPage></feed>"""  # noqa: E501


@pytest.fixture(autouse=True)
def _werkzeug_logs_warnings_only() -> Iterator[None]:
    """werkzeug gives its logger a stderr handler on its first request log when no handler
    takes INFO; inside a CliRunner call that stream is closed afterwards, and every later
    test's request log would print a logging error into its CLI output."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def fixture(name: str, base: str, real: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace(real, base)


def start() -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    return server


def stop(server: HTTPServer) -> None:
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def blogger() -> Iterator[HTTPServer]:
    server = blogger_server(with_blog_feed=True)
    yield server
    stop(server)


def blogger_server(*, with_blog_feed: bool) -> HTTPServer:
    server = start()
    b = server.url_for("").rstrip("/")
    page = fixture("blogger_post.html", b, BLOGGER)
    older = (
        page.replace("open-night-write-up", "before-open-night")
        .replace(POST_ID, OLDER_ID)
        .replace("Open night write-up", "Before the open night")
    )
    server.expect_request("/robots.txt").respond_with_data(
        BLOGGER_ROBOTS, content_type="text/plain"
    )
    server.expect_request("/2026/11/open-night-write-up.html").respond_with_data(
        page, content_type=HTML
    )
    server.expect_request("/2026/11/before-open-night.html").respond_with_data(
        older, content_type=HTML
    )
    if with_blog_feed:
        server.expect_request("/feeds/posts/default").respond_with_data(
            fixture("blogger_posts.atom", b, BLOGGER), content_type=ATOM
        )
    else:
        server.expect_request("/feeds/posts/default").respond_with_data(
            "Not Found", status=404, content_type="text/html"
        )
    server.expect_request(f"/feeds/{POST_ID}/comments/default").respond_with_data(
        fixture("blogger_comments.atom", b, BLOGGER), content_type=ATOM
    )
    server.expect_request(f"/feeds/{OLDER_ID}/comments/default").respond_with_data(
        EMPTY_COMMENTS.replace(BLOGGER, b), content_type=ATOM
    )
    return server


@pytest.fixture
def wordpress() -> Iterator[HTTPServer]:
    server = start()
    b = server.url_for("").rstrip("/")
    rss = "application/rss+xml; charset=UTF-8"
    server.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n",
        content_type="text/plain",
    )
    server.expect_request("/", query_string={"feed": "rss2", "p": "42"}).respond_with_data(
        fixture("wordpress_plain_comments.rss", b, WORDPRESS), content_type=rss
    )
    server.expect_request("/", query_string={"feed": "rss2"}).respond_with_data(
        fixture("wordpress_plain.rss", b, WORDPRESS), content_type=rss
    )
    server.expect_request("/", query_string={"p": "42"}).respond_with_data(
        fixture("wordpress_plain.html", b, WORDPRESS), content_type=HTML
    )
    yield server
    stop(server)


def post(n: int, *links: str) -> dict[str, Any]:
    anchors = " ".join(f'<a href="{u}" rel="nofollow noopener">{u}</a>' for u in links)
    return synthetic_status(n, viewer="social.example", local_id=2000 + n, text=anchors)


def test_blogger_and_plain_wordpress_comment_threads(
    engine_cli: Cli, servers: Any, fast_config: Path, blogger: HTTPServer, wordpress: HTTPServer
) -> None:
    cli = engine_cli
    b = blogger.url_for("").rstrip("/")
    w = wordpress.url_for("").rstrip("/")
    masto = servers(
        [
            post(0, f"{b}/2026/11/open-night-write-up.html?m=1&utm_source=mastodon"),
            post(1, f"{b}/2026/11/before-open-night.html"),
            post(2, f"{w}/?p=42"),
        ]
    )
    result = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert cli.rows(
        "SELECT url, title, comments_feed, comment_count FROM reactions ORDER BY url"
    ) == sorted(
        [
            (
                f"{b}/2026/11/before-open-night.html",
                "Before the open night",
                f"{b}/feeds/{OLDER_ID}/comments/default",
                0,
            ),
            (
                f"{b}/2026/11/open-night-write-up.html",
                "Open night write-up",
                f"{b}/feeds/{POST_ID}/comments/default",
                3,
            ),
            # No og:site_name on this theme, so the title keeps its " – Site" suffix.
            (
                f"{w}/?p=42",
                "Who checks the checkers? – Ward Seven Voices",
                f"{w}/?feed=rss2&p=42",
                2,
            ),
        ]
    )
    tag = "tag:blogger.com,1999:blog-7421938645120348811.post-"
    assert cli.rows(
        "SELECT c.uri, c.author, c.text, c.created_at, c.in_reply_to FROM comments c"
        " JOIN reactions r ON r.id = c.reaction_id WHERE r.url LIKE ? ORDER BY c.created_at",
        f"{b}/%",
    ) == [
        (
            f"{tag}8811290317544120987",
            "Ann Okafor",
            "Thanks for writing this up, I could not make it.",
            "2026-11-21T20:03:00.000Z",
            None,
        ),
        (
            f"{tag}2207465519830024680",
            "Mei Tanaka",
            "Slides are linked at the end now.",
            "2026-11-21T21:30:44.120Z",
            f"{tag}8811290317544120987",  # a reply: Blogger names its parent rel="related"
        ),
        (
            f"{tag}6033918240057712345",
            "Anonymous",
            "Who checks is the right question.",
            "2026-11-22T08:15:09.552Z",
            None,
        ),
    ]
    assert cli.rows(
        "SELECT c.uri, c.author, c.text FROM comments c JOIN reactions r ON r.id = c.reaction_id"
        " WHERE r.url = ? ORDER BY c.uri",
        f"{w}/?p=42",
    ) == [
        (f"{w}/?p=42#comment-7", "Tom Reed", "The committee minutes are public, for once."),
        (f"{w}/?p=42#comment-8", "Lena Brandt", "Good summary."),
    ]  # fmt: skip
    # One request for the blog's feed, shared by both of its articles.
    blogger_paths = [r.path for r, _ in blogger.log]
    assert blogger_paths.count("/feeds/posts/default") == 1
    assert sum(1 for r, _ in wordpress.log if r.query_string == b"feed=rss2") == 1

    # The stated count is the reaction's `replies` in the exports (a contract column).
    exported = cli("export", "jsonl", "--db", str(cli.db), "--kind", "reaction")
    assert exported.exit_code == 0, exported.output
    replies = {row["url"]: row["replies"] for row in map(json.loads, exported.stdout.splitlines())}
    assert replies == {
        f"{b}/2026/11/before-open-night.html": 0,
        f"{b}/2026/11/open-night-write-up.html": 3,
        f"{w}/?p=42": 2,
    }

    # A second run reads no blog feed again: the comment feeds are re-asked on their own.
    before = len(blogger.log)
    again = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert again.exit_code == 0, again.output
    assert "/feeds/posts/default" not in [r.path for r, _ in blogger.log[before:]]
    assert cli.rows("SELECT count(*) FROM comments") == [(5,)]


def test_without_the_blog_feed_the_blogger_shaped_comment_feed_is_still_read(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    server = blogger_server(with_blog_feed=False)
    try:
        b = server.url_for("").rstrip("/")
        masto = servers([post(0, f"{b}/2026/11/open-night-write-up.html")])
        result = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
        assert result.exit_code == 0, result.output
        # The blog feed is a hint: its 404 is no failure of the run.
        assert "unreadable" not in result.stderr
        assert cli.rows("SELECT comments_feed, comment_count FROM reactions") == [
            (f"{b}/feeds/{POST_ID}/comments/default", None)
        ]
        assert cli.rows("SELECT author FROM comments ORDER BY created_at") == [
            ("Ann Okafor",),
            ("Mei Tanaka",),
            ("Anonymous",),
        ]
        assert [r.path for r, _ in server.log].count("/feeds/posts/default") == 1
    finally:
        stop(server)
