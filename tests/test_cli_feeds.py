"""End to end: the real CLI against loopback servers serving feeds and ActivityPub outboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon
from tests.support import paths
from tests.support.cli import Cli, fetch
from tests.support.feed_server import FeedServer, Route

FEEDS = paths.FIXTURES / "feeds"
AP = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


# Feed tests read feeds and outboxes on loopback; reactions have their own tests.
LOOPBACK_FEEDS = ("--no-reactions", "--allow-private-networks")


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bsarchive: error:")]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def fixture(name: str, content_type: str = "application/rss+xml", **kw: Any) -> Route:
    return Route((FEEDS / name).read_bytes(), content_type=content_type, **kw)


# --- each dialect --------------------------------------------------------------------------


def test_each_dialect_is_stored(cli: Cli, feeds: FeedServer, fast_config: Path) -> None:
    feeds.routes.update(
        {
            "/blog/feed/": fixture("wordpress.rss"),
            "/tags/bsnopen.rss": fixture("mastodon_tag.rss"),
            "/blog.atom": fixture("blog.atom", "application/atom+xml"),
            "/feed.json": fixture("feed.json", "application/feed+json"),
        }
    )
    urls = tuple(feeds.url + p for p in feeds.routes)
    result = fetch(cli, fast_config, feeds=urls, extra=LOOPBACK_FEEDS)
    assert result.exit_code == 0, result.output
    # Mastodon tag RSS -> posts, identified by their status URL until the API says more.
    assert cli.rows("SELECT uri, source FROM posts ORDER BY uri") == [
        ("https://social.example/@hannah/110000000000000003", "rss"),
        ("https://social.example/@priya/110000000000000001", "rss"),
        ("https://town.example/@marcus/110000000000000002", "rss"),
    ]
    assert cli.rows("SELECT count(*) FROM sightings WHERE source = ?", urls[1]) == [(3,)]
    # Blog feeds -> reactions; WordPress items carry their comment feed for the reactions pass.
    rows = cli.rows("SELECT url, comments_feed FROM reactions ORDER BY url")
    by_site: dict[str, int] = {}
    for url, _ in rows:
        host = url.split("/")[2]
        by_site[host] = by_site.get(host, 0) + 1
    # feed.json's item with a relative url resolves against the feed URL.
    loopback = feeds.url.removeprefix("http://")
    assert by_site == {"diary.example": 3, loopback: 1, "fieldnotes.example": 1, "notes.example": 2}
    assert ("https://notes.example/2010/06/29/bsnopen-budgets/",
            "https://notes.example/2010/06/29/bsnopen-budgets/feed/") in rows  # fmt: skip
    # Each feed was asked for with a feed Accept header.
    assert all("application/rss+xml" in s.headers["accept"] for s in feeds.seen)


# --- one post, wherever it was seen ----------------------------------------------------------


def _status(home: str) -> dict[str, Any]:
    """A status whose own server (uri, url, author) is ``home``: an outbox speaks only for
    its own server's posts."""
    return _homed(synthetic_status(3, viewer="v.example", local_id=4242), home)


def _homed(status: dict[str, Any], home: str) -> dict[str, Any]:
    parts = urlsplit(status["uri"])
    moved: dict[str, Any] = json.loads(
        json.dumps(status).replace(f"{parts.scheme}://{parts.netloc}", home)
    )
    return moved


def _tag_rss(status: dict[str, Any]) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>#bsnopen</title><link>https://v.example/tags/bsnopen</link>
<generator>Mastodon v4.3.0</generator>
<item>
<guid isPermaLink="true">{status["url"]}</guid><link>{status["url"]}</link>
<pubDate>Tue, 29 Jun 2010 17:00:09 +0000</pubDate>
<description>{status["content"].replace("&", "&amp;").replace("<", "&lt;")}</description>
<category>bsnopen</category>
</item></channel></rss>""".encode()


def _note(status: dict[str, Any], *, tagged: bool = True) -> dict[str, Any]:
    actor = status["account"]["uri"]
    return {
        "id": status["uri"],
        "type": "Note",
        "attributedTo": actor,
        "published": status["created_at"],
        "url": status["url"],
        "to": [PUBLIC],
        "content": status["content"] if tagged else "<p>Nothing to see</p>",
        "tag": (
            [{"type": "Hashtag", "name": "#bsnopen", "href": "https://v.example/tags/bsnopen"}]
            if tagged
            else []
        ),
    }


def _create(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": status["uri"] + "/activity",
        "type": "Create",
        "actor": status["account"]["uri"],
        "published": status["created_at"],
        "to": [PUBLIC],
        "object": _note(status),
    }


def _outbox_routes(base: str, pages: list[list[dict[str, Any] | str]]) -> dict[str, Route]:
    """Actor at /users/alice, outbox at /users/alice/outbox, pages by URL."""
    routes = {
        "/users/alice": Route(
            json.dumps(
                {
                    "id": f"{base}/users/alice",
                    "type": "Person",
                    "preferredUsername": "alice",
                    "outbox": f"{base}/users/alice/outbox",
                }
            ).encode(),
            content_type=AP,
        ),
        "/users/alice/outbox": Route(
            json.dumps(
                {
                    "id": f"{base}/users/alice/outbox",
                    "type": "OrderedCollection",
                    "totalItems": sum(len(p) for p in pages),
                    "first": f"{base}/users/alice/outbox?page=1",
                }
            ).encode(),
            content_type=AP,
        ),
    }
    for n, items in enumerate(pages, 1):
        doc: dict[str, Any] = {
            "id": f"{base}/users/alice/outbox?page={n}",
            "type": "OrderedCollectionPage",
            "partOf": f"{base}/users/alice/outbox",
            "orderedItems": items,
        }
        if n < len(pages):
            doc["next"] = f"{base}/users/alice/outbox?page={n + 1}"
        routes[f"/users/alice/outbox?page={n}"] = Route(json.dumps(doc).encode(), content_type=AP)
    return routes


def test_same_status_via_api_tag_rss_and_outbox_is_one_post(
    cli: Cli, feeds: FeedServer, servers: Any, fast_config: Path
) -> None:
    status = _status(feeds.url)
    api: FixtureMastodon = servers([status])
    feeds.routes["/tags/bsnopen.rss"] = Route(_tag_rss(status))
    feeds.routes.update(_outbox_routes(feeds.url, [[_create(status)]]))
    feed_url, outbox_url = feeds.url + "/tags/bsnopen.rss", feeds.url + "/users/alice/outbox"
    result = fetch(
        cli, fast_config, api.url, feeds=(feed_url,), outboxes=(outbox_url,), extra=LOOPBACK_FEEDS
    )
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT uri, url FROM posts") == [(status["uri"], status["url"])]
    assert cli.rows("SELECT source, local_id FROM sightings ORDER BY source") == [
        (api.url.removeprefix("http://"), "4242"),
        (feed_url, status["url"]),  # the RSS guid
        (outbox_url, ""),
    ]


@pytest.mark.parametrize(
    "order",
    [("feed", "mastodon"), ("mastodon", "feed"), ("feed", "outbox"), ("outbox", "feed")],
    ids="-then-".join,
)
def test_identity_holds_in_either_order(
    order: tuple[str, str], cli: Cli, feeds: FeedServer, servers: Any, fast_config: Path
) -> None:
    status = _status(feeds.url)
    api: FixtureMastodon = servers([status])
    feeds.routes["/tags/bsnopen.rss"] = Route(_tag_rss(status))
    feeds.routes.update(_outbox_routes(feeds.url, [[_create(status)]]))
    sources: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
        "feed": ((), {"feeds": (feeds.url + "/tags/bsnopen.rss",)}),
        "outbox": ((), {"outboxes": (feeds.url + "/users/alice/outbox",)}),
        "mastodon": ((api.url,), {}),
    }
    for kind in order:
        instances, others = sources[kind]
        result = fetch(cli, fast_config, *instances, extra=LOOPBACK_FEEDS, **others)
        assert result.exit_code == 0, result.output
    richer = "activitypub" if "outbox" in order else "mastodon"
    # The RSS record, first or last, ends as the ActivityPub identity from the richer source.
    assert cli.rows("SELECT uri, url, source FROM posts") == [
        (status["uri"], status["url"], richer)
    ]
    assert cli.rows("SELECT count(*) FROM sightings") == [(2,)]
    assert cli.rows("SELECT count(*) FROM post_tags WHERE tag = 'bsnopen'") == [(1,)]


# --- conditional GET and politeness ----------------------------------------------------------


def _snapshot(cli: Cli) -> list[Any]:
    return [
        cli.rows("SELECT count(*) FROM posts"),
        cli.rows("SELECT count(*) FROM reactions"),
        cli.rows("SELECT count(*) FROM sightings"),
        cli.rows(
            "SELECT group_concat(uri || coalesce(url, '') || updated_at || raw, '|') FROM"
            " (SELECT * FROM posts ORDER BY id)"
        ),  # fmt: skip
        cli.rows(
            "SELECT group_concat(url || updated_at, '|') FROM (SELECT * FROM reactions ORDER BY id)"
        ),  # fmt: skip
    ]


def test_unchanged_rerun_costs_one_304_and_writes_nothing(
    cli: Cli, feeds: FeedServer, fast_config: Path
) -> None:
    stamp = "Wed, 30 Jun 2010 08:12:44 GMT"
    feeds.routes["/tags/bsnopen.rss"] = fixture(
        "mastodon_tag.rss", etag='"v1"', last_modified=stamp
    )
    feeds.routes["/blog/feed/"] = fixture("wordpress.rss", etag='"w1"')
    urls = (feeds.url + "/tags/bsnopen.rss", feeds.url + "/blog/feed/")
    assert fetch(cli, fast_config, feeds=urls, extra=LOOPBACK_FEEDS).exit_code == 0
    before = _snapshot(cli)
    assert before[0] == [(3,)] and before[1] == [(2,)]
    result = fetch(cli, fast_config, feeds=urls, extra=LOOPBACK_FEEDS)
    assert result.exit_code == 0, result.output
    assert _snapshot(cli) == before
    rerun = feeds.seen[2:]
    assert sorted((s.path, s.headers.get("if-none-match")) for s in rerun) == [
        ("/blog/feed/", '"w1"'),
        ("/tags/bsnopen.rss?limit=200", '"v1"'),  # a tag feed asks for all it may give
    ]
    assert [s.headers.get("if-modified-since") for s in rerun if ".rss" in s.path] == [stamp]


def test_max_age_defers_the_next_fetch(cli: Cli, feeds: FeedServer, fast_config: Path) -> None:
    feeds.routes["/tags/bsnopen.rss"] = fixture(
        "mastodon_tag.rss", headers={"Cache-Control": "public, max-age=3600"}
    )
    url = feeds.url + "/tags/bsnopen.rss"
    assert fetch(cli, fast_config, feeds=(url,), extra=LOOPBACK_FEEDS).exit_code == 0
    assert fetch(cli, fast_config, feeds=(url,), extra=LOOPBACK_FEEDS).exit_code == 0
    assert feeds.paths() == ["/tags/bsnopen.rss?limit=200"]  # the second run left it alone


# --- bad input ends its own source with one line ----------------------------------------------

BROKEN_XML = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Half a feed</title><item><title>cut</ti"""

BAD: list[tuple[str, Route | None, str]] = [
    ("html login page", fixture("login.html", "text/html"), "got an HTML page, not a feed"),
    ("not well-formed XML", Route(BROKEN_XML), "not well-formed XML and no items recovered"),
    ("billion laughs", fixture("billion_laughs.xml"), "declares XML entities"),
    ("404", None, "HTTP 404 Not Found"),
    ("410", Route(b"gone", status=410), "HTTP 410 Gone"),
    ("redirect loop", Route(b"", status=302, headers={"Location": "/bad"}), "too many redirects"),
]


@pytest.mark.parametrize(("name", "route", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_feed_fails_alone(
    name: str, route: Route | None, message: str, cli: Cli, feeds: FeedServer, fast_config: Path
) -> None:
    feeds.routes["/tags/bsnopen.rss"] = fixture("mastodon_tag.rss")
    if route is not None:
        feeds.routes["/bad"] = route
    bad = feeds.url + "/bad"
    result = fetch(
        cli, fast_config, feeds=(bad, feeds.url + "/tags/bsnopen.rss"), extra=LOOPBACK_FEEDS
    )
    assert result.exit_code == 1, result.output
    lines = errors(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bsarchive: error: {bad}: "), lines[0]
    assert message in lines[0], lines[0]
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]
    assert "Traceback" not in result.output


def test_gone_feed_is_skipped_by_later_runs(cli: Cli, feeds: FeedServer, fast_config: Path) -> None:
    feeds.routes["/bad"] = Route(b"gone", status=410)
    bad = feeds.url + "/bad"
    first = fetch(cli, fast_config, feeds=(bad,), extra=LOOPBACK_FEEDS)
    assert first.exit_code == 1
    assert errors(first.stderr) == [
        f"bsarchive: error: {bad}: HTTP 410 Gone (marked gone; later runs skip this feed)"
    ]
    second = fetch(cli, fast_config, feeds=(bad,), extra=LOOPBACK_FEEDS)
    assert second.exit_code == 0, second.output
    assert feeds.paths() == ["/bad"]
    assert cli.rows("SELECT gone FROM sources WHERE key = ?", "feed:" + bad) == [(1,)]


# --- ActivityPub outboxes ---------------------------------------------------------------------


def test_outbox_walk_boosts_deletions_and_resume(
    cli: Cli, feeds: FeedServer, fast_config: Path
) -> None:
    base = feeds.url
    posts = [_homed(synthetic_status(n, viewer="v.example", local_id=n), base) for n in range(4)]
    # Boosted objects live on this server so they can be dereferenced.
    boosted = {**_note(posts[1]), "id": f"{base}/objects/1"}
    untagged = {**_note(posts[2], tagged=False), "id": f"{base}/objects/2"}
    feeds.routes["/objects/1"] = Route(json.dumps(boosted).encode(), content_type=AP)
    feeds.routes["/objects/2"] = Route(json.dumps(untagged).encode(), content_type=AP)
    announce = {
        "id": f"{base}/users/alice/statuses/9/activity",
        "type": "Announce",
        "actor": f"{base}/users/alice",
        "published": "2010-06-29T19:00:00Z",
        "to": [PUBLIC],
        "object": f"{base}/objects/1",
    }
    announce_untagged = {**announce, "id": f"{base}/users/alice/statuses/8/activity",
                         "object": f"{base}/objects/2"}  # fmt: skip
    announce_gone = {**announce, "id": f"{base}/users/alice/statuses/7/activity",
                     "object": f"{base}/objects/missing"}  # fmt: skip
    delete = {
        "id": f"{base}/users/alice#delete/1",
        "type": "Delete",
        "actor": f"{base}/users/alice",
        "object": {"id": posts[3]["uri"], "type": "Tombstone"},
    }
    feeds.routes.update(
        _outbox_routes(
            base,
            [[announce, _create(posts[0])], [announce_untagged, announce_gone, delete]],
        )
    )
    actor = base + "/users/alice"
    result = fetch(cli, fast_config, outboxes=(actor,), extra=LOOPBACK_FEEDS)
    assert result.exit_code == 0, result.output
    assert sorted(cli.rows("SELECT uri, source FROM posts")) == [
        (f"{base}/objects/1", "activitypub"),
        (posts[0]["uri"], "activitypub"),
    ]
    assert cli.rows("SELECT uri, post_uri FROM boosts") == [(announce["id"], f"{base}/objects/1")]
    walked = len(feeds.seen)
    # actor, outbox, page 1, object 1, page 2, object 2, missing object
    assert walked == 7
    # Next run: a new item on top; the walk stops at what the last run saw first.
    newer = _create(_homed(synthetic_status(5, viewer="v.example", local_id=5), base))
    feeds.routes.update(
        _outbox_routes(
            base,
            [[newer, announce, _create(posts[0])], [announce_untagged, announce_gone, delete]],
        )
    )
    again = fetch(cli, fast_config, outboxes=(actor,), extra=LOOPBACK_FEEDS)
    assert again.exit_code == 0, again.output
    assert [s.path for s in feeds.seen[walked:]] == [
        "/users/alice",
        "/users/alice/outbox",
        "/users/alice/outbox?page=1",
    ]
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]


def test_outbox_html_answer_is_retried_with_plain_activity_json(
    cli: Cli, feeds: FeedServer, fast_config: Path
) -> None:
    status = _status(feeds.url)
    feeds.routes.update(_outbox_routes(feeds.url, [[_create(status)]]))
    feeds.routes["/users/alice/outbox"].html_unless_accept = AP
    outbox = feeds.url + "/users/alice/outbox"
    result = fetch(cli, fast_config, outboxes=(outbox,), extra=LOOPBACK_FEEDS)
    assert result.exit_code == 0, result.output
    accepts = [s.headers["accept"] for s in feeds.seen if s.path == "/users/alice/outbox"]
    assert accepts[1] == AP and accepts[0] != AP
    assert cli.rows("SELECT uri FROM posts") == [(status["uri"],)]


def test_outbox_requiring_signed_fetches_fails_alone(
    cli: Cli, feeds: FeedServer, fast_config: Path
) -> None:
    feeds.routes["/users/secure"] = Route(b'{"error":"Request not signed"}', status=401,
                                          content_type="application/json")  # fmt: skip
    feeds.routes["/tags/bsnopen.rss"] = fixture("mastodon_tag.rss")
    secure = feeds.url + "/users/secure"
    result = fetch(
        cli,
        fast_config,
        outboxes=(secure,),
        feeds=(feeds.url + "/tags/bsnopen.rss",),
        extra=LOOPBACK_FEEDS,
    )
    assert result.exit_code == 1
    assert errors(result.stderr) == [
        f"bsarchive: error: {secure}: HTTP 401: requires signed fetches (authorized fetch); "
        "use --mastodon or the tag RSS for this server"
    ]
    assert cli.rows("SELECT count(*) FROM posts") == [(3,)]


def test_an_outbox_speaks_only_for_its_own_servers_posts(
    cli: Cli, feeds: FeedServer, servers: Any, fast_config: Path
) -> None:
    elsewhere = synthetic_status(3, viewer="v.example", local_id=4242)  # on home0.example
    api: FixtureMastodon = servers([elsewhere])
    assert fetch(cli, fast_config, api.url, extra=LOOPBACK_FEEDS).exit_code == 0
    before = cli.rows("SELECT uri, text, edited_at, deleted_at FROM posts")
    spoofed = {**_note(elsewhere), "content": "<p>SPOOFED #bsnopen</p>",
               "updated": "2010-06-30T09:00:00Z"}  # fmt: skip
    hostile = [
        {"id": f"{feeds.url}/users/alice#updates/1", "type": "Update",
         "actor": f"{feeds.url}/users/alice", "to": [PUBLIC], "object": spoofed},
        {"id": f"{feeds.url}/users/alice#delete/1", "type": "Delete",
         "actor": f"{feeds.url}/users/alice",
         "object": {"id": elsewhere["uri"], "type": "Tombstone"}},
        # An Announce carrying a copy of another server's post: the copy is not believed,
        # the post is asked of its own server (home0.example: not reachable here).
        {"id": f"{feeds.url}/users/alice/statuses/9/activity", "type": "Announce",
         "actor": f"{feeds.url}/users/alice", "to": [PUBLIC], "object": spoofed},
    ]  # fmt: skip
    feeds.routes.update(_outbox_routes(feeds.url, [hostile]))
    result = fetch(
        cli, fast_config, outboxes=(feeds.url + "/users/alice/outbox",), extra=LOOPBACK_FEEDS
    )
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT uri, text, edited_at, deleted_at FROM posts") == before
    assert cli.rows("SELECT count(*) FROM post_versions") == [(0,)]
    assert cli.rows("SELECT count(*) FROM boosts") == [(0,)]
