"""Comment threads found through a blog's own feed (issue 14, point 4): the pure parts.

Entry matching, page feed discovery, stated comment counts, and Blogger comment feeds,
on literals and on the platform-shaped fixtures in ``fixtures/reactions/``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bsarchive.http import Http, HttpSettings
from bsarchive.models import Author, Post, Reaction, Sighting
from bsarchive.sources.feeds import PageFeeds, discover_feeds, parse_comments, parse_feed
from bsarchive.sources.feeds import parse as feeds
from bsarchive.sources.reactions import BlogFeeds, Robots, find_feed_entry, read_article
from bsarchive.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.support import paths

FIXTURES = paths.FIXTURES / "reactions"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BLOG = "https://fieldnotes-open.blogspot.com"
PAGE = f"{BLOG}/2026/11/open-night-write-up.html"
TAG = "tag:blogger.com,1999:blog-7421938645120348811.post-"


def reaction(url: str, feed: str | None = None, count: int | None = None) -> Reaction:
    return Reaction(
        url=url, fetched_at=AT, fetched_from="f", comments_feed=feed, comment_count=count
    )


# --- find_feed_entry ---------------------------------------------------------------------


def test_entry_is_matched_by_any_variant_of_the_page_url() -> None:
    items = (
        reaction("https://notes.example/2026/11/other/"),
        reaction("http://www.notes.example/2026/11/open-night/", "https://notes.example/c/", 4),
    )
    found = find_feed_entry(items, ["https://notes.example/2026/11/open-night?utm_source=x"])
    assert found == items[1]


def test_entry_is_matched_by_the_canonical_when_the_fetched_url_differs() -> None:
    items = (reaction(PAGE, f"{BLOG}/feeds/5093367784131416754/comments/default", 3),)
    fetched = f"{BLOG}/2026/11/open-night-write-up.html?m=1"
    assert find_feed_entry(items, [fetched, None]) is None
    assert find_feed_entry(items, [fetched, PAGE]) == items[0]


def test_plain_permalinks_differ_by_their_query() -> None:
    items = (reaction("https://ward.example/?p=37"), reaction("https://ward.example/?p=42"))
    assert find_feed_entry(items, ["https://ward.example/?p=42"]) == items[1]
    assert find_feed_entry(items, ["https://ward.example/?p=4"]) is None


def test_posts_in_a_feed_are_never_an_article_entry() -> None:
    status = Post(
        uri="https://social.example/@a/1",
        url="https://social.example/@a/1",
        created_at=AT,
        author=Author(handle="@a@social.example"),
        content_html="",
        text="",
        sighting=Sighting(source="s", local_id="1", url=None, fetched_at=AT, fetched_from="s"),
    )
    assert find_feed_entry([status], ["https://social.example/@a/1"]) is None


# --- discovery on the page ---------------------------------------------------------------


def test_blogger_page_names_its_blog_feeds_and_a_comment_feed_by_shape() -> None:
    html = (FIXTURES / "blogger_post.html").read_text(encoding="utf-8")
    assert discover_feeds(html, PAGE) == PageFeeds(
        comments=None,
        blog=(f"{BLOG}/feeds/posts/default", f"{BLOG}/feeds/posts/default?alt=rss"),
        comments_by_shape=f"{BLOG}/feeds/5093367784131416754/comments/default",
    )


def test_plain_wordpress_page_without_post_feed_links_names_only_the_site_feed() -> None:
    html = (FIXTURES / "wordpress_plain.html").read_text(encoding="utf-8")
    # The site-wide comments feed (?feed=comments-rss2) is no blog feed.
    assert discover_feeds(html, "https://wardseven.example/?p=42") == PageFeeds(
        comments=None, blog=("https://wardseven.example/?feed=rss2",)
    )


def test_wordpress_page_with_its_own_feed_needs_no_blog_feed() -> None:
    html = (
        '<head><link rel="alternate" type="application/rss+xml" href="/feed/">'
        '<link rel="alternate" type="application/rss+xml" href="/comments/feed/">'
        '<link rel="alternate" type="application/rss+xml" href="/2026/11/post/feed/"></head>'
    )
    assert discover_feeds(html, "https://n.example/2026/11/post/") == PageFeeds(
        comments="https://n.example/2026/11/post/feed/", blog=("https://n.example/feed/",)
    )


def test_a_feed_on_another_host_is_not_the_blog_feed() -> None:
    html = '<head><link rel="alternate" type="application/rss+xml" href="https://feeds.example/x"></head>'
    assert discover_feeds(html, "https://n.example/post/") == PageFeeds(comments=None)


# --- counts and comment feeds ------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_blogger_feed_entries_carry_comment_feed_and_thr_total(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds, "_FAST_PATH", fast)
    body = (FIXTURES / "blogger_posts.atom").read_bytes()
    parsed = parse_feed(body, url=f"{BLOG}/feeds/posts/default", tags=(), fetched_at=AT)
    assert [(r.url, r.comments_feed, r.comment_count) for r in parsed.items] == [
        (PAGE, f"{BLOG}/feeds/5093367784131416754/comments/default", 3),
        (
            f"{BLOG}/2026/11/before-open-night.html",
            f"{BLOG}/feeds/1180461935224809732/comments/default",
            0,
        ),
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_wordpress_feed_states_its_count_in_slash_comments(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds, "_FAST_PATH", fast)
    body = (FIXTURES / "wordpress_plain.rss").read_bytes()
    parsed = parse_feed(body, url="https://wardseven.example/?feed=rss2", tags=(), fetched_at=AT)
    assert [(r.url, r.comments_feed, r.comment_count) for r in parsed.items] == [
        ("https://wardseven.example/?p=42", "https://wardseven.example/?feed=rss2&p=42", 2),
        ("https://wardseven.example/?p=37", None, None),  # no comments, comments closed
    ]


def test_count_from_the_replies_link_title_when_there_is_no_thr_total() -> None:
    body = b"""<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom'>
<title>B</title><entry><id>tag:blogger.com,1999:blog-1.post-2</id><title>P</title>
<published>2026-11-21T18:40:00Z</published>
<link rel='replies' type='text/html' href='https://b.example/p.html#comment-form'
 title='12 Comments'/>
<link rel='alternate' type='text/html' href='https://b.example/p.html'/></entry></feed>"""
    (item,) = parse_feed(
        body, url="https://b.example/feeds/posts/default", tags=(), fetched_at=AT
    ).items
    assert isinstance(item, Reaction) and item.comment_count == 12


def test_blogger_comments_keep_authors_dates_and_the_reply_parent() -> None:
    body = (FIXTURES / "blogger_comments.atom").read_bytes()
    feed = f"{BLOG}/feeds/5093367784131416754/comments/default"
    comments = parse_comments(body, url=feed, reaction_url=PAGE, fetched_at=AT)
    assert [(c.uri, c.author, c.created_at.isoformat(), c.in_reply_to) for c in comments] == [
        (f"{TAG}6033918240057712345", "Anonymous", "2026-11-22T08:15:09.552000+00:00", None),
        (
            f"{TAG}2207465519830024680",
            "Mei Tanaka",
            "2026-11-21T21:30:44.120000+00:00",
            f"{TAG}8811290317544120987",
        ),
        (f"{TAG}8811290317544120987", "Ann Okafor", "2026-11-21T20:03:00+00:00", None),
    ]
    assert comments[2].text == "Thanks for writing this up, I could not make it."


@pytest.mark.parametrize(
    ("ld", "count"),
    [
        ('"commentCount": 7', 7),
        ('"commentCount": "12"', 12),
        (
            '"interactionStatistic": [{"@type": "InteractionCounter", "interactionType":'
            ' "https://schema.org/CommentAction", "userInteractionCount": 5}]',
            5,
        ),
        ('"commentCount": true', None),
        ('"headline": "No count"', None),
    ],
)
def test_a_page_stating_its_comment_count_in_json_ld(ld: str, count: int | None) -> None:
    html = (
        '<html><head><script type="application/ld+json">{"@type": "BlogPosting", '
        f'"headline": "H", {ld}}}</script></head><body>x</body></html>'
    ).encode()
    page = read_article(html, "https://ghost.example/p/", AT)
    assert page.reaction.comment_count == count


# --- reading the blog feed ---------------------------------------------------------------

FAST = HttpSettings(
    connect_timeout=2, read_timeout=2, total_timeout=5, retries=0, backoff=0.0, max_wait=5
)


@pytest.mark.parametrize("allow_private", [True, False])
def test_blog_feed_is_read_once_and_only_where_fetching_is_allowed(
    httpserver: HTTPServer, allow_private: bool
) -> None:
    base = httpserver.url_for("").rstrip("/")
    body = (FIXTURES / "blogger_posts.atom").read_text(encoding="utf-8").replace(BLOG, base)
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feeds/posts/default").respond_with_data(
        body, content_type="application/atom+xml; charset=UTF-8"
    )
    settings = dataclasses.replace(FAST, allow_private_networks=allow_private)
    feed = f"{base}/feeds/posts/default"
    with Http(settings) as client:
        blogs = BlogFeeds(client, Robots(client), lambda: AT)
        first, made = blogs.entry(feed, [f"{base}/2026/11/open-night-write-up.html"])
        second, again = blogs.entry(feed, [f"{base}/2026/11/before-open-night.html"])
    feed_requests = [r.path for r, _ in httpserver.log if r.path == "/feeds/posts/default"]
    if allow_private:
        assert first is not None and first.comment_count == 3
        assert second is not None and second.comment_count == 0
        assert (made, again, feed_requests) == (1, 0, ["/feeds/posts/default"])
    else:  # a loopback feed is refused before any request, like every reaction fetch
        assert (first, second, made, again, httpserver.log) == (None, None, 0, 0, [])


# --- the store -----------------------------------------------------------------------------


def test_archive_of_schema_4_gains_the_comment_count(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.save_items([reaction(PAGE, count=3)], AT)
        # A later fetch that states no count keeps the one known.
        store.save_items([reaction(PAGE)], AT)
        assert store.db.execute("SELECT comment_count FROM reactions").fetchall() == [(3,)]
