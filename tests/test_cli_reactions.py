"""End to end: posts on a loopback Mastodon link to articles on a loopback blog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support.cli import Cli, fetch

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>What I learned at the open night | Notes</title>
<link rel="canonical" href="/2010/06/30/open-night/">
<link rel="alternate" type="application/rss+xml" href="/feed/">
<link rel="alternate" type="application/rss+xml" href="/2010/06/30/open-night/feed/">
<script type="application/ld+json">{"@type": "BlogPosting",
 "headline": "What I learned at the open night", "author": {"name": "Priya Shah"},
 "datePublished": "2010-06-30T09:15:00Z", "publisher": {"name": "Notes"}}</script>
</head><body><article><p>It was a good night. <a href="/elsewhere/">not followed</a></p>
</article></body></html>"""

SECOND = """<html><head><title>Second thoughts - Notes</title>
<link rel="canonical" href="/second-post">
<meta property="og:title" content="Second thoughts">
<meta property="og:description" content="On the morning after.">
</head><body><p>Body.</p></body></html>"""

NOINDEX = """<html><head><title>Quiet</title><meta name="robots" content="noindex">
</head><body>Please do not archive.</body></html>"""

ELSEWHERE = "<html><head><title>Depth two</title></head><body>never fetched</body></html>"


def comment_item(n: int, author: str, parent: int | None) -> str:
    reply = (
        f'<thr:in-reply-to ref="http://notes/?p=7#comment-{parent}" '
        f'href="http://notes/2010/06/30/open-night/#comment-{parent}"/>'
        if parent
        else ""
    )
    return f"""<item><title>By: {author}</title>
<link>http://notes/2010/06/30/open-night/#comment-{n}</link>
<dc:creator><![CDATA[{author}]]></dc:creator>
<pubDate>Wed, 30 Jun 2010 1{n}:00:00 +0000</pubDate>
<guid isPermaLink="false">http://notes/?p=7#comment-{n}</guid>
<description><![CDATA[Comment {n} by {author}]]></description>{reply}</item>"""


COMMENTS = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:thr="http://purl.org/syndication/thread/1.0">
<channel><title>Comments on: What I learned at the open night</title>
<link>http://notes/2010/06/30/open-night/</link><description>c</description>
{comment_item(1, "Ann", None)}{comment_item(2, "Bob", 1)}{comment_item(3, "Cat", None)}
</channel></rss>"""


@pytest.fixture
def blog() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    html = "text/html; charset=utf-8"
    server.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    server.expect_request("/2010/06/30/open-night/").respond_with_data(ARTICLE, content_type=html)
    # WordPress sends a permalink without its trailing slash to the one with it.
    server.expect_request("/2010/06/30/open-night").respond_with_response(
        Response(status=301, headers={"Location": "/2010/06/30/open-night/?utm_medium=social"})
    )
    server.expect_request("/second-post").respond_with_data(SECOND, content_type=html)
    server.expect_request("/second-post/").respond_with_data(SECOND, content_type=html)
    server.expect_request("/s/abc").respond_with_response(
        Response(status=302, headers={"Location": "/2010/06/30/open-night/?utm_source=short"})
    )
    server.expect_request("/download").respond_with_data(
        b"%PDF-1.4", content_type="application/pdf"
    )
    server.expect_request("/gone").respond_with_data("missing", status=404, content_type=html)
    server.expect_request("/private/diary").respond_with_data(ARTICLE, content_type=html)
    server.expect_request("/quiet").respond_with_data(NOINDEX, content_type=html)
    server.expect_request("/elsewhere/").respond_with_data(ELSEWHERE, content_type=html)

    def comments(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"c1"':
            return Response(status=304, headers={"ETag": '"c1"'})
        return Response(COMMENTS, content_type="application/rss+xml", headers={"ETag": '"c1"'})

    server.expect_request("/2010/06/30/open-night/feed/").respond_with_handler(comments)
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def post(n: int, *links: str) -> dict[str, Any]:
    anchors = " ".join(f'<a href="{u}" rel="nofollow noopener">{u}</a>' for u in links)
    return synthetic_status(n, viewer="social.example", local_id=1000 + n, text=anchors)


def statuses(b: str) -> list[dict[str, Any]]:
    return [
        post(0, f"{b}/s/abc"),
        post(1, f"{b}/2010/06/30/open-night?utm_medium=social&utm_source=mastodon"),
        post(2, f"{b}/second-post/?utm_campaign=x", f"{b}/second-post", f"{b}/slides.pdf"),
        post(3, f"{b}/download", f"{b}/gone", f"{b}/private/diary", f"{b}/quiet"),
    ]


def article_requests(blog: HTTPServer) -> list[str]:
    return [r.path for r, _ in blog.log if r.path != "/robots.txt"]


def test_reactions_end_to_end(
    engine_cli: Cli, servers: Any, fast_config: Path, blog: HTTPServer
) -> None:
    cli = engine_cli
    b = blog.url_for("").rstrip("/")
    masto = servers(statuses(b))
    result = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert result.exit_code == 0, result.output
    assert "2 reactions" in result.stderr
    uri = {n: s["uri"] for n, s in enumerate(statuses(b))}
    # Which of the two links to the first article is fetched first depends on timing.
    first_links = {f"{b}/s/abc", f"{b}/2010/06/30/open-night"}  # canonical: no utm_*
    assert {row[0] for row in cli.rows("SELECT original_url FROM reactions")} & first_links
    rows = cli.rows(
        "SELECT url, title, author, site_name, excerpt, comments_feed FROM reactions ORDER BY url"
    )
    assert rows == [
        (
            f"{b}/2010/06/30/open-night/",
            "What I learned at the open night",
            "Priya Shah",
            "Notes",
            "It was a good night. not followed",
            f"{b}/2010/06/30/open-night/feed/",
        ),
        (
            f"{b}/second-post",
            "Second thoughts",
            "",
            "",
            "On the morning after.",
            None,
        ),
    ]
    links = cli.rows(
        "SELECT r.url, l.post_uri FROM reaction_links l JOIN reactions r ON r.id = l.reaction_id"
        " ORDER BY r.url, l.post_uri"
    )
    assert links == sorted(
        [
            (f"{b}/2010/06/30/open-night/", uri[0]),
            (f"{b}/2010/06/30/open-night/", uri[1]),
            (f"{b}/second-post", uri[2]),
        ]
    )
    comments = cli.rows("SELECT uri, author, text, in_reply_to FROM comments ORDER BY uri")
    assert comments == [
        ("http://notes/?p=7#comment-1", "Ann", "Comment 1 by Ann", None),
        ("http://notes/?p=7#comment-2", "Bob", "Comment 2 by Bob", "http://notes/?p=7#comment-1"),
        ("http://notes/?p=7#comment-3", "Cat", "Comment 3 by Cat", None),
    ]
    paths = article_requests(blog)
    # One hop only, robots.txt and noindex honoured, nothing fetched twice.
    assert "/elsewhere/" not in paths and "/private/diary" not in paths
    assert "/slides.pdf" not in paths  # media never requested
    assert paths.count("/2010/06/30/open-night/") <= 2  # direct link + shortener target
    assert sum(1 for r, _ in blog.log if r.path == "/robots.txt") == 1
    assert "Traceback" not in result.output, result.output

    # Second run: no new articles fetched; comment feed answered 304; a new post that
    # links a known reaction grows its linked-from list.
    before = len(blog.log)
    # The same posts plus one, served by a second instance (the posts' uris are global).
    more = servers([*statuses(b), post(4, f"{b}/second-post/")])
    again = fetch(cli, fast_config, more.url, extra=("--allow-private-networks",))
    assert again.exit_code == 0, again.output
    assert cli.rows("SELECT count(*) FROM reactions") == [(2,)]
    assert cli.rows("SELECT count(*) FROM comments") == [(3,)]
    assert cli.rows(
        "SELECT l.post_uri FROM reaction_links l JOIN reactions r ON r.id = l.reaction_id"
        " WHERE r.url = ? ORDER BY l.post_uri",
        f"{b}/second-post",
    ) == sorted([(uri[2],), (post(4)["uri"],)])
    second = [r.path for r, _ in blog.log[before:] if r.path != "/robots.txt"]
    # Known articles and already-tried links are not fetched again; the comment feed is
    # asked with If-None-Match and answers 304.
    assert second == ["/2010/06/30/open-night/feed/"]
    assert [resp.status_code for r, resp in blog.log[before:] if r.path.endswith("/feed/")] == [304]


def test_without_allow_private_networks_everything_is_refused(
    cli: Cli, servers: Any, fast_config: Path, blog: HTTPServer
) -> None:
    b = blog.url_for("").rstrip("/")
    masto = servers(statuses(b))
    result = fetch(cli, fast_config, masto.url)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM posts") == [(4,)]
    assert cli.rows("SELECT count(*) FROM reactions") == [(0,)]
    assert cli.rows("SELECT count(*) FROM comments") == [(0,)]
    assert blog.log == []
    assert "Traceback" not in result.output, result.output
    assert f"reaction {b}/gone: targets a loopback address 127.0.0.1" in result.stderr
    # A later run allowed to reach them reads the links the first one refused.
    allowed = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert allowed.exit_code == 0, allowed.output
    assert cli.rows("SELECT count(*) FROM reactions") == [(2,)]
    # ... once: the run after that plans nothing again.
    before = len(article_requests(blog))
    assert fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",)).exit_code == 0
    assert [p for p in article_requests(blog)[before:] if not p.endswith("/feed/")] == []


def test_no_reactions_flag_fetches_nothing(
    cli: Cli, servers: Any, fast_config: Path, blog: HTTPServer
) -> None:
    b = blog.url_for("").rstrip("/")
    masto = servers(statuses(b))
    result = fetch(
        cli, fast_config, masto.url, extra=("--allow-private-networks", "--no-reactions")
    )
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM reactions") == [(0,)]
    assert blog.log == []


def test_a_link_added_by_an_edit_is_followed(
    engine_cli: Cli, servers: Any, fast_config: Path, blog: HTTPServer
) -> None:
    cli = engine_cli
    b = blog.url_for("").rstrip("/")
    original = post(0, f"{b}/2010/06/30/open-night/")
    masto = servers([original])
    first = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert first.exit_code == 0, first.output
    assert cli.rows("SELECT count(*) FROM reactions") == [(1,)]
    links = f'<a href="{b}/2010/06/30/open-night/">one</a> <a href="{b}/second-post">two</a>'
    edited = dict(original, edited_at="2010-06-30T08:00:00.000Z", content=f"<p>{links}</p>")
    masto.set_statuses([edited])
    # --refresh re-reads recent statuses (everything since 1958 is "recent" here).
    before = len(blog.log)
    again = fetch(
        cli, fast_config, masto.url, extra=("--allow-private-networks", "--refresh", "600000")
    )
    assert again.exit_code == 0, again.output
    assert cli.rows("SELECT count(*) FROM post_versions") == [(1,)]
    assert cli.rows("SELECT url, title FROM reactions ORDER BY url") == [
        (f"{b}/2010/06/30/open-night/", "What I learned at the open night"),
        (f"{b}/second-post", "Second thoughts"),
    ]
    fetched = [r.path for r, _ in blog.log[before:] if r.path != "/robots.txt"]
    assert "/second-post" in fetched and "/2010/06/30/open-night/" not in fetched
    # A third run plans nothing new: the edit was seen.
    before = len(blog.log)
    third = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert third.exit_code == 0, third.output
    paths = [r.path for r, _ in blog.log[before:] if r.path != "/robots.txt"]
    assert paths == ["/2010/06/30/open-night/feed/"]  # only the comment feed, re-asked


def test_unreadable_pages_and_comment_feeds_are_said_but_never_fail_the_run(
    cli: Cli, servers: Any, fast_config: Path, blog: HTTPServer
) -> None:
    b = blog.url_for("").rstrip("/")
    html = "text/html; charset=utf-8"
    blog.expect_request("/down").respond_with_data("oops", status=503, content_type=html)
    blog.expect_request("/with-comments").respond_with_data(
        '<html><head><title>Has comments</title><link rel="alternate"'
        ' type="application/rss+xml" href="/with-comments/feed/"></head></html>',
        content_type=html,
    )
    # A comments "feed" that is a login page.
    blog.expect_request("/with-comments/feed/").respond_with_data(
        "<!DOCTYPE html><html><body>Log in</body></html>", content_type=html
    )
    masto = servers([post(0, f"{b}/down", f"{b}/with-comments", f"{b}/gone")])
    result = fetch(cli, fast_config, masto.url, extra=("--allow-private-networks",))
    assert result.exit_code == 0, result.output
    assert f"reaction {b}/down: HTTP 503" in result.stderr
    assert f"comments {b}/with-comments/feed/: " in result.stderr
    assert f"{b}/gone" not in result.stderr  # a dead link is the author's, not a failure
    assert "2 linked pages or comment feeds unreadable" in result.stderr
    assert cli.rows("SELECT url FROM reactions") == [(f"{b}/with-comments",)]
