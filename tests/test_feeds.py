"""Tests for bsarchive.sources.feeds: feed bytes in, models out (no network, no database).

Golden fixtures: each ``fixtures/feeds/NAME`` has ``NAME.expected.json`` next to it,
the parse result in a compact form (fields equal to their defaults and ``raw`` left out;
``raw`` has its own tests). To review a change, run with ``BSARCHIVE_WRITE_GOLDENS=1``
and read the diff: the goldens are checked by hand, never trusted blindly.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsarchive.errors import ParseError
from bsarchive.models import Post, Reaction, iso
from bsarchive.sources.feeds import (
    MAX_BODY_BYTES,
    ParsedFeed,
    discover_comment_feed,
    is_tag_feed,
    matches_tag,
    parse_comments,
    parse_feed,
)
from tests.support import paths
from tests.support.feed_golden import GOLDEN, compact

FIXTURES = paths.FIXTURES / "feeds"
FETCHED_AT = datetime(2010, 7, 1, 12, 0, tzinfo=UTC)
TAGS = ("bsnopen",)


def reactions(feed: ParsedFeed) -> list[Reaction]:
    """The feed's items, all of which the test expects to be reactions."""
    items = [item for item in feed.items if isinstance(item, Reaction)]
    assert len(items) == len(feed.items)
    return items


def parse_fixture(name: str) -> object:
    url, reaction_url = GOLDEN[name]
    body = (FIXTURES / name).read_bytes()
    if reaction_url is not None:
        return parse_comments(body, url=url, reaction_url=reaction_url, fetched_at=FETCHED_AT)
    return parse_feed(body, url=url, tags=TAGS, fetched_at=FETCHED_AT)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden(name: str) -> None:
    actual = compact(parse_fixture(name))
    expected_path = FIXTURES / f"{name}.expected.json"
    if os.environ.get("BSARCHIVE_WRITE_GOLDENS"):
        text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    assert actual == json.loads(expected_path.read_text(encoding="utf-8"))


# --- refused bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "message"),
    [
        (
            "login.html",
            "text/html; charset=utf-8",
            "https://feeds.example/feed: got an HTML page, not a feed (a login or bot-check page?)",
        ),
        (
            "login.html",
            None,
            "https://feeds.example/feed: got an HTML page, not a feed (a login or bot-check page?)",
        ),
        (
            "billion_laughs.xml",
            "application/rss+xml",
            "https://feeds.example/feed: refused: the document declares XML entities "
            "(entity expansion or XXE guard)",
        ),
        (
            "xxe.xml",
            "application/rss+xml",
            "https://feeds.example/feed: refused: the document declares XML entities "
            "(entity expansion or XXE guard)",
        ),
    ],
)
def test_refused_fixture(name: str, content_type: str | None, message: str) -> None:
    body = (FIXTURES / name).read_bytes()
    with pytest.raises(ParseError) as info:
        parse_feed(
            body,
            url="https://feeds.example/feed",
            tags=TAGS,
            fetched_at=FETCHED_AT,
            content_type=content_type,
        )
    assert str(info.value) == message
    assert info.value.url == "https://feeds.example/feed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"  \n ", "empty body"),
        (b"just some text", "not a feed: no XML root element"),
        (b"<?xml version='1.0'?>", "not a feed: no XML root element"),
        (b"<config><debug/></config>", "not a feed: root element <config>"),
        (
            b"<rss version='2.0'><channel><title>x</title><item><title>a</tit",
            "not well-formed XML and no items recovered: <unknown>:2:58: unclosed token",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
            "JSON Feed not valid JSON: unexpected end of data: line 1 column 59 (char 58)",
        ),
        (
            b"[" * 2000 + b"]" * 2000,
            "JSON Feed nested too deeply: depth limit exceeded: line 1 column 1026 (char 1025)",
        ),
        (b'{"items": []}', "not a JSON Feed: no jsonfeed.org version"),
        (
            b'{"version": "https://jsonfeed.org/version/1", "items": {}}',
            "not a JSON Feed: items is not a list",
        ),
        (b'"a string"', "not a feed: no XML root element"),
        (b"[1, 2]", "not a JSON Feed: the top level is not an object"),
    ],
)
def test_refused_body(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="https://feeds.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert str(info.value) == f"https://feeds.example/feed: {message}"


def test_body_over_the_size_cap_is_refused() -> None:
    body = b"<rss>" + b" " * MAX_BODY_BYTES
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="https://feeds.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert str(info.value) == (
        "https://feeds.example/feed: body is 10485765 bytes, over the 10485760 byte cap"
    )


def test_large_broken_body_is_refused_not_recovered() -> None:
    # feedparser's recovering parser is slow on hostile input; past 1 MiB we refuse.
    body = b"<rss><channel><item><title>#bsnopen</title>" + b"<x>" * 400_000
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="https://feeds.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert str(info.value) == (
        "https://feeds.example/feed: not well-formed XML (no element found: line 1, "
        "column 1200043), too large to recover (1200043 bytes)"
    )


def test_external_dtd_is_never_read(tmp_path: Path) -> None:
    # An external DTD (no internal subset, so not refused up front) that would define an
    # entity from a local file: the file must not be read and the entity not expanded.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "{secret.as_uri()}">')
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n'
        '<rss version="2.0"><channel><title>t</title><item><title>#bsnopen</title>'
        "<link>https://x.example/1</link><description>before &leak; after</description>"
        "</item></channel></rss>"
    ).encode()
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert feed.xml_error == "<unknown>:3:125: undefined entity"
    assert [(item.title, item.excerpt) for item in reactions(feed)] == [
        ("#bsnopen", "before &leak after")
    ]
    assert "TOP-SECRET-VALUE" not in feed.items[0].raw


def test_xxe_fixture_never_reads_the_file() -> None:
    body = (FIXTURES / "xxe.xml").read_bytes()
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert "root:" not in str(info.value)
    assert info.value.__cause__ is None  # refused before any XML parser ran


# --- time and size guards -------------------------------------------------------------------


def _one_item_rss(inner: str, title: str = "#bsnopen") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>t</title><item><title>{title}</title><link>https://x.example/1</link>"
        f"{inner}</item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "inner",
    [
        "<author>" + "a" * 200_000 + "</author>",
        "<author>" + "a@" * 100_000 + "</author>",
        "<author>a" + " " * 200_000 + "b</author>",
        "<dc:creator><![CDATA[" + "a." * 100_000 + "]]></dc:creator>",
        "<managingEditor>" + "x" * 200_000 + "</managingEditor>",
    ],
    ids=["letters", "at-signs", "spaces", "cdata-creator", "managing-editor"],
)
def test_crafted_200kb_author_parses_within_budget(inner: str) -> None:
    # feedparser's author regex is quadratic: unguarded, this takes minutes. The parser's
    # own budget raises ParseError past 2 s, so success means it stayed under.
    feed = parse_feed(
        _one_item_rss(inner),
        url="https://x.example/feed",
        tags=TAGS,
        fetched_at=FETCHED_AT,
        max_parse_seconds=2.0,
    )
    assert len(feed.items) == 1
    author = feed.items[0].author
    assert isinstance(author, str) and len(author) <= 128


class SteppingClock:
    """A monotonic clock that advances ``step`` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_time_budget_exceeded_is_a_parse_error() -> None:
    body = (FIXTURES / "wordpress.rss").read_bytes()
    with pytest.raises(ParseError) as info:
        parse_feed(
            body,
            url="https://notes.example/feed/",
            tags=TAGS,
            fetched_at=FETCHED_AT,
            max_parse_seconds=10.0,
            clock=SteppingClock(6.0),
        )
    assert str(info.value) == "https://notes.example/feed/: parsing took longer than 10 s; gave up"


# --- bytes that must not crash ----------------------------------------------------------------


def test_invalid_utf8_and_nul_bytes() -> None:
    body = _one_item_rss("<description>caf\xe9 \x00 bar \x01</description>").replace(
        b"caf\xc3\xa9", b"caf\xe9"
    )
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert [(item.title, item.excerpt) for item in reactions(feed)] == [
        ("#bsnopen", "caf\ufffd bar")
    ]
    assert feed.xml_error is None


def test_utf16_with_bom() -> None:
    body = _one_item_rss("<description>Café</description>").decode().replace("utf-8", "utf-16")
    feed = parse_feed(
        body.encode("utf-16"), url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT
    )
    assert [item.excerpt for item in reactions(feed)] == ["Café"]


def test_recovers_items_from_broken_xml() -> None:
    body = (
        b"<rss version='2.0'><channel><title>Broken</title>"
        b"<item><title>#bsnopen ok</title><link>https://x.example/1</link></item>"
        b"<item><title>&bogus; <b>unclosed</title></channel>"
    )
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert [item.title for item in reactions(feed)] == ["#bsnopen ok"]
    assert feed.xml_error == "<unknown>:2:133: undefined entity"


def test_feed_served_as_text_html_is_still_a_feed() -> None:
    body = (FIXTURES / "wordpress.rss").read_bytes()
    feed = parse_feed(
        body,
        url="https://notes.example/feed/",
        tags=TAGS,
        fetched_at=FETCHED_AT,
        content_type="text/html; charset=UTF-8",
    )
    assert len(feed.items) == 2


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # keep the suite fast; parsing is the slow part
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_parse_error(body: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    with contextlib.suppress(ParseError):
        parse_comments(
            body,
            url="https://x.example/c",
            reaction_url="https://x.example/",
            fetched_at=FETCHED_AT,
        )


_SAMPLE = (FIXTURES / "wordpress.rss").read_bytes()[:1500]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(_SAMPLE)), st.binary(max_size=8), st.integers(0, 40))
def test_damaged_feed_raises_only_parse_error(at: int, insert: bytes, cut: int) -> None:
    body = _SAMPLE[:at] + insert + _SAMPLE[at + cut :]
    with contextlib.suppress(ParseError):
        parse_feed(body, url="https://x.example/feed", tags=(), fetched_at=FETCHED_AT)


# --- raw, identity, kinds ---------------------------------------------------------------------


def test_raw_is_compact_sorted_json_with_the_raw_date() -> None:
    body = _one_item_rss(
        "<guid isPermaLink='false'>item-7</guid><pubDate>2010-06-29T19:00</pubDate>"
        "<category>BSNopen</category>"
    )
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    (item,) = reactions(feed)
    assert item.raw == (
        '{"guidislink":false,"id":"item-7","link":"https://x.example/1",'
        '"links":[{"href":"https://x.example/1","rel":"alternate","type":"text/html"}],'
        '"published":"2010-06-29T19:00",'
        '"tags":[{"label":null,"scheme":null,"term":"BSNopen"}],"title":"#bsnopen"}'
    )
    assert (iso(item.published_at), item.flags) == ("2010-06-29T19:00:00.000Z", ("tz-less date",))


def test_json_feed_raw_keeps_only_read_fields() -> None:
    feed = parse_fixture("feed.json")
    assert isinstance(feed, ParsedFeed)
    assert feed.invalid == 1
    assert json.loads(feed.items[0].raw) == {
        "authors": [{"name": "Sam Idowu", "url": ""}],
        "content_html": "<p>Spending over &pound;500, planning applications, and "
        "<em>who owns the empty shops</em>.</p>",
        "date_published": "2010-06-30T12:00:00+01:00",
        "id": "https://diary.example/2010/06/30/bsnopen-datasets",
        "tags": ["open data", "bsnopen"],
        "title": "Datasets people asked for at #bsnopen",
        "url": "https://diary.example/2010/06/30/bsnopen-datasets",
    }


def test_mastodon_post_raw_and_sighting() -> None:
    feed = parse_fixture("mastodon_tag.rss")
    assert isinstance(feed, ParsedFeed)
    post = feed.items[2]
    assert isinstance(post, Post)
    assert json.loads(post.raw)["published"] == "Tue, 29 Jun 2010 17:58:00 +0000"
    assert (post.sighting.source, post.sighting.local_id) == (
        "https://social.example/tags/bsnopen.rss",
        "https://social.example/@priya/110000000000000001",
    )


def _rss(items: str, generator: str = "") -> bytes:
    return (
        '<rss version="2.0"><channel><title>Feed</title>'
        f"<generator>{generator}</generator>{items}</channel></rss>"
    ).encode()


def test_mastodon_account_feed_keeps_only_tagged_posts() -> None:
    body = _rss(
        "<item><guid>https://town.example/@marcus/2</guid><link>https://town.example/@marcus/2</link>"
        "<pubDate>Tue, 29 Jun 2010 19:00:00 +0000</pubDate>"
        "<description>&lt;p&gt;Off to the open night&lt;/p&gt;</description>"
        "<category>bsnopen</category></item>"
        "<item><guid>https://town.example/@marcus/1</guid><link>https://town.example/@marcus/1</link>"
        "<pubDate>Tue, 29 Jun 2010 08:00:00 +0000</pubDate>"
        "<description>&lt;p&gt;Breakfast&lt;/p&gt;</description></item>",
        generator="Mastodon v4.2.1+glitch",
    )
    feed = parse_feed(
        body, url="https://town.example/@marcus.rss", tags=["#BSNopen"], fetched_at=FETCHED_AT
    )
    assert compact(feed) == {
        "title": "Feed",
        "kind": "rss",
        "is_tag_feed": False,
        "items": [
            {
                "type": "Post",
                "uri": "https://town.example/@marcus/2",
                "url": "https://town.example/@marcus/2",
                "created_at": "2010-06-29T19:00:00.000Z",
                "author": {
                    "type": "Author",
                    "handle": "@marcus@town.example",
                    "url": "https://town.example/@marcus",
                },
                "content_html": "<p>Off to the open night</p>",
                "text": "Off to the open night",
                "sighting": {
                    "type": "Sighting",
                    "source": "https://town.example/@marcus.rss",
                    "local_id": "https://town.example/@marcus/2",
                    "url": "https://town.example/@marcus/2",
                    "fetched_at": "2010-07-01T12:00:00.000Z",
                    "fetched_from": "https://town.example/@marcus.rss",
                },
                "source": "rss",
                "tags": ["bsnopen"],
            }
        ],
        "comment_feeds": {},
        "skipped": 1,
    }


def test_untitled_status_links_are_posts_without_generator() -> None:
    body = _rss(
        "<item><link>http://127.0.0.1:8001/@alice@remote.example/42</link>"
        "<description>#bsnopen from a relay</description></item>"
        "<item><title>A blog post</title><link>https://blog.example/@alice/43</link>"
        "<description>#bsnopen on a blog</description></item>"
    )
    feed = parse_feed(body, url="https://relay.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert [type(item).__name__ for item in feed.items] == ["Post", "Reaction"]
    post = feed.items[0]
    assert isinstance(post, Post)
    assert (post.author.handle, post.author.url, post.flags) == (
        "@alice@remote.example",
        "http://127.0.0.1:8001/@alice@remote.example",
        ("no date",),
    )


def test_no_tags_keeps_every_entry() -> None:
    feed = parse_feed(
        (FIXTURES / "wordpress.rss").read_bytes(),
        url="https://notes.example/feed/",
        tags=(),
        fetched_at=FETCHED_AT,
    )
    assert (len(feed.items), feed.skipped) == (3, 0)


def test_wordpress_tag_feed_keeps_untagged_entries() -> None:
    feed = parse_feed(
        (FIXTURES / "wordpress.rss").read_bytes(),
        url="https://notes.example/tag/bsnopen/feed/",
        tags=TAGS,
        fetched_at=FETCHED_AT,
    )
    assert (feed.is_tag_feed, len(feed.items), feed.skipped) == (True, 3, 0)


def test_excerpt_is_cut_at_a_word() -> None:
    words = " ".join(["budget"] * 80)  # 559 characters
    feed = parse_feed(
        _one_item_rss(f"<description>&lt;p&gt;{words}&lt;/p&gt;</description>"),
        url="https://x.example/feed",
        tags=TAGS,
        fetched_at=FETCHED_AT,
    )
    excerpt = reactions(feed)[0].excerpt
    assert excerpt == " ".join(["budget"] * 42) + "…"
    assert len(excerpt) == 294


@pytest.mark.parametrize(
    ("date", "expected", "flags"),
    [
        ("Tue, 29 Jun 2010 19:42:10 +0000", "2010-06-29T19:42:10.000Z", ()),
        ("Tue, 29 Jun 2010 20:42:10 +0100", "2010-06-29T19:42:10.000Z", ()),
        ("29 Jun 2010 15:42 EDT", "2010-06-29T19:42:00.000Z", ()),
        ("Wed, 30 Jun 10 08:00:00 GMT", "2010-06-30T08:00:00.000Z", ()),
        ("Tue, 29 Jun 2010 19:42:10", "2010-06-29T19:42:10.000Z", ("tz-less date",)),
        ("Tue, 29 Jun 2010 19:42:10 -0000", "2010-06-29T19:42:10.000Z", ("tz-less date",)),
        ("Tue, 29 Jun 2010 19:42:10 BST", "2010-06-29T19:42:10.000Z", ("tz-less date",)),
        ("2010-06-29", "2010-06-29T00:00:00.000Z", ("tz-less date",)),
        ("2010-06-29T20:42:10+01:00", "2010-06-29T19:42:10.000Z", ()),
        ("2010-06-29 20:42:10 +0100", "2010-06-29T19:42:10.000Z", ()),
        ("2010-06-29T19:42:10.123456789Z", "2010-06-29T19:42:10.123Z", ()),
        ("1989-12-31T23:59:59Z", "1989-12-31T23:59:59.000Z", ("impossible date",)),
        ("2010-07-03T12:00:01Z", "2010-07-03T12:00:01.000Z", ("impossible date",)),
        ("2010-07-03T11:59:59Z", "2010-07-03T11:59:59.000Z", ()),
        ("1970-01-01", "1970-01-01T00:00:00.000Z", ("tz-less date", "impossible date")),
        ("", "2010-07-01T12:00:00.000Z", ("no date",)),
        ("29 juin 2010 19:42", "2010-07-01T12:00:00.000Z", ("bad date",)),
        ("2010-13-45T25:61:00Z", "2010-07-01T12:00:00.000Z", ("bad date",)),
        ("Tue, 31 Feb 2010 10:00:00 GMT", "2010-07-01T12:00:00.000Z", ("bad date",)),
        ("Tue, 29 Jun 99999 19:42:10 +0000", "2010-07-01T12:00:00.000Z", ("bad date",)),
        ("0001-01-01T00:00:00+01:00", "2010-07-01T12:00:00.000Z", ("bad date",)),
        ("9" * 300, "2010-07-01T12:00:00.000Z", ("bad date",)),
    ],
)
def test_dates(date: str, expected: str, flags: tuple[str, ...]) -> None:
    feed = parse_feed(
        _one_item_rss(f"<pubDate>{date}</pubDate>"),
        url="https://x.example/feed",
        tags=TAGS,
        fetched_at=FETCHED_AT,
    )
    (item,) = reactions(feed)
    assert (iso(item.published_at), item.flags) == (expected, flags)


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tag", "expected"),
    [
        ("At the #bsnopen night", "bsnopen", True),
        ("#BSNOpen.", "bsnopen", True),
        ("(#bsnopen)", "#bsnopen", True),
        ("#bsnopen-2010 photos", "bsnopen", True),
        ("line one\n#bsnopen", "BSNOPEN", True),
        ("full width ＃ＢＳＮｏｐｅｎ too", "bsnopen", True),
        ("#bsnopen", "ＢＳＮｏｐｅｎ", True),
        ("foo#bsnopen", "bsnopen", False),
        ("https://x.example/#bsnopen", "bsnopen", False),
        ("see www.example.org/page#bsnopen", "bsnopen", False),
        ("#bsnopen2", "bsnopen", False),
        ("#bsnopen_night", "bsnopen", False),
        ("bsnopen without hash", "bsnopen", False),
        ("&#bsnopen", "bsnopen", False),
        ("##bsnopen", "bsnopen", False),
        ("#straße", "STRASSE", True),
        ("#bsnopen", "", False),
    ],
)
def test_matches_tag(text: str, tag: str, expected: bool) -> None:
    assert matches_tag(text, tag) is expected


@pytest.mark.parametrize(
    ("url", "meta", "expected"),
    [
        ("https://social.example/tags/bsnopen.rss", None, True),
        ("https://social.example/tags/BSNOpen.rss?limit=40", None, True),
        ("https://social.example/tags/bsnopen", None, True),
        ("https://social.example/@hannah/tagged/bsnopen.rss", None, True),
        ("https://notes.example/tag/bsnopen/feed/", None, True),
        ("https://notes.example/tag/bsnopen/feed/atom/", None, True),
        ("https://notes.example/?tag=bsnopen&feed=rss2", None, True),
        ("https://notes.example/?feed=rss2&tag=BSNopen", None, True),
        ("https://notes.example/tag/%EF%BC%A2SNOPEN/feed/", None, True),  # full-width B
        ("https://social.example/tags/bsnopen2.rss", None, False),
        ("https://notes.example/?tag=bsnopen", None, False),
        ("https://notes.example/feed/", None, False),
        ("https://notes.example/category/bsnopen/feed/", None, False),
        (
            "https://social.example/feeds/1",
            {"generator": "Mastodon v4.3.0", "link": "https://social.example/tags/bsnopen"},
            True,
        ),
        (
            "https://notes.example/feed/",
            {"generator": "WordPress", "link": "https://notes.example/tags/bsnopen"},
            False,
        ),
    ],
)
def test_is_tag_feed(url: str, meta: dict[str, str] | None, expected: bool) -> None:
    assert is_tag_feed(url, meta, ["#bsnopen", "other"]) is expected


def test_is_tag_feed_without_tags() -> None:
    assert is_tag_feed("https://social.example/tags/bsnopen.rss", None, []) is False


def test_hashtag_link_carries_the_tag() -> None:
    body = _one_item_rss(
        '<description>&lt;a href="/tags/BsnOpen"&gt;the event&lt;/a&gt;</description>',
        title="No hash here",
    )
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert [item.title for item in reactions(feed)] == ["No hash here"]


def test_tag_inside_a_link_does_not_carry_it() -> None:
    body = _one_item_rss(
        "<description>see https://x.example/#bsnopen and foo#bsnopen</description>",
        title="Nothing",
    )
    feed = parse_feed(body, url="https://x.example/feed", tags=TAGS, fetched_at=FETCHED_AT)
    assert (feed.items, feed.skipped) == ((), 1)


# --- comment feed discovery -----------------------------------------------------------------

WP_HEAD = """<!DOCTYPE html><html lang="en-GB"><head>
<meta charset="UTF-8">
<title>What I took away from the Big Society Network open night – Civic Notes</title>
<link rel="alternate" type="application/rss+xml" title="Civic Notes &raquo; Feed"
  href="https://notes.example/feed/" />
<link rel="alternate" type="application/rss+xml" title="Civic Notes &raquo; Comments Feed"
  href="https://notes.example/comments/feed/" />
<link rel="alternate" type="application/rss+xml"
  title="Civic Notes &raquo; What I took away from the open night Comments Feed"
  href="https://notes.example/2010/06/29/bsnopen-budgets/feed/" />
<link rel="alternate" type="application/rss+xml" title="Civic Notes &raquo; Events Feed"
  href="https://notes.example/category/events/feed/" />
</head><body><link rel="alternate" type="application/rss+xml" href="/late/feed/"></body></html>
"""


@pytest.mark.parametrize(
    ("html", "page_url", "expected"),
    [
        (
            WP_HEAD,
            "https://notes.example/2010/06/29/bsnopen-budgets/",
            "https://notes.example/2010/06/29/bsnopen-budgets/feed/",
        ),
        (
            WP_HEAD,
            "http://notes.example/2010/06/29/bsnopen-budgets?utm_source=x#comments",
            "https://notes.example/2010/06/29/bsnopen-budgets/feed/",
        ),
        (WP_HEAD, "https://notes.example/", None),
        (WP_HEAD, "https://notes.example/2010/06/27/allotments/", None),
        (
            '<head><link rel="replies" type="application/atom+xml" href="feed/atom/">'
            '<link rel="alternate" type="application/rss+xml" href="/post/feed/"></head>',
            "https://b.example/post/",
            "https://b.example/post/feed/atom/",
        ),
        (
            '<head><base href="https://b.example/2010/"><LINK REL="Alternate" '
            'TYPE="application/rss+xml; charset=UTF-8" HREF="post/feed/"></head>',
            "https://b.example/2010/post/",
            "https://b.example/2010/post/feed/",
        ),
        (
            '<head><link rel="alternate" type="application/rss+xml" '
            'href="https://b.example/?feed=comments-rss2">'
            '<link rel="alternate" type="application/rss+xml" '
            'href="https://b.example/?feed=rss2&amp;p=412"></head>',
            "https://b.example/?p=412",
            "https://b.example/?feed=rss2&p=412",
        ),
        (
            '<head><link rel="alternate" type="application/rss+xml" '
            'href="https://elsewhere.example/post/feed/"></head>',
            "https://b.example/post/",
            None,
        ),
        ("<head><link rel=alternate href=http://[::1/feed/></head>", "https://b.example/", None),
        ("", "https://b.example/post/", None),
    ],
)
def test_discover_comment_feed(html: str, page_url: str, expected: str | None) -> None:
    assert discover_comment_feed(html, page_url) == expected


def test_tag_rss_items_naming_no_user_get_one_unknown_author_per_server() -> None:
    items = "".join(
        f"<item><guid isPermaLink='true'>{link}</guid><link>{link}</link>"
        "<pubDate>Tue, 29 Jun 2010 18:30:00 +0000</pubDate>"
        f"<description>&lt;p&gt;{n} #bsnopen&lt;/p&gt;</description>"
        "<category>bsnopen</category></item>"
        for n, link in enumerate(
            [
                "https://pleroma.example/notice/AbCdEf123",
                "https://misskey.example/notes/9abc",
                "https://pleroma.example/notice/AbCdEf124",
            ]
        )
    )
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel>"
        "<title>#bsnopen</title><link>https://viewer.example/tags/bsnopen</link>"
        "<generator>Mastodon v4.2.1</generator>"
        f"<description>Public posts tagged #bsnopen</description>{items}</channel></rss>"
    ).encode()
    feed = parse_feed(
        body, url="https://viewer.example/tags/bsnopen.rss", tags=TAGS, fetched_at=FETCHED_AT
    )
    posts = [item for item in feed.items if isinstance(item, Post)]
    assert [(p.author.handle, p.flags) for p in posts] == [
        ("@unknown@pleroma.example", ("unknown author",)),
        ("@unknown@misskey.example", ("unknown author",)),
        ("@unknown@pleroma.example", ("unknown author",)),
    ]
