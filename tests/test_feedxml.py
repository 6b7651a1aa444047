"""The lxml fast path (bsarchive.sources.feedxml) gives exactly what feedparser gives.

Every XML fixture is parsed twice, fast path on and off (``feeds._FAST_PATH``), and the
results compared field by field (``raw``, the provenance JSON, aside). Each fixture also
states whether the fast path reads it or declines, so a silent decline shows up here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from feedparser.sanitizer import _sanitize_html
from feedparser.urls import resolve_relative_uris
from hypothesis import given, settings
from hypothesis import strategies as st

from bsarchive.errors import ParseError
from bsarchive.sources.feeds import parse as feeds
from bsarchive.sources.feedxml import _is_plain_html, read_feed
from tests.support import paths
from tests.support.feed_golden import GOLDEN, compact

FIXTURES = paths.FIXTURES / "feeds"
FETCHED_AT = datetime(2010, 7, 1, 12, 0, tzinfo=UTC)

# fixture -> whether the fast path reads it (else feedparser: the reason in the comment)
FAST = {
    "wordpress.rss": True,
    "rdf.rdf": True,
    "old091.rss": True,
    "wp_comments.rss": True,
    "quirks_fast.rss": True,
    "quirks.atom": True,
    "mastodon_tag.rss": False,  # unsorted attributes, translate="no", &#39;
    "blog.atom": False,  # xml:base
    "comments.atom": False,  # xml:base
    "dupes.rss": False,  # xml:base
    "atom03.atom": False,  # Atom 0.3
    "quirks.rss": False,  # a date only feedparser can read ("sometime last week")
    "hostile.rss": False,  # script, onclick, javascript: URL, iframe
    "nbsp.rss": False,  # &nbsp; is not XML: feedparser's recovery, xml_error
}
COMMENT_FEEDS = {name: urls for name, urls in GOLDEN.items() if urls[1] is not None}


def _parse(name: str, fast: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(feeds, "_FAST_PATH", fast)
    body = (FIXTURES / name).read_bytes()
    url, reaction_url = GOLDEN.get(name, ("https://feeds.example/feed/", None))
    if reaction_url is not None:
        return feeds.parse_comments(body, url=url, reaction_url=reaction_url, fetched_at=FETCHED_AT)
    return feeds.parse_feed(body, url=url, tags=("bsnopen",), fetched_at=FETCHED_AT)


def _fast_reads(body: bytes, url: str) -> bool:
    text = body.decode("utf-8")
    return read_feed(body, url, text) is not None


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_path_equals_feedparser(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse(name, True, monkeypatch)
    slow = _parse(name, False, monkeypatch)
    assert compact(fast) == compact(slow)
    url = GOLDEN.get(name, ("https://feeds.example/feed/", None))[0]
    body = (FIXTURES / name).read_bytes()
    if b'encoding="ISO-8859-1"' in body:  # feeds.py re-encodes as UTF-8 first
        body = body.decode("iso-8859-1").replace("ISO-8859-1", "utf-8").encode()
    assert _fast_reads(body, url) is FAST[name]


def test_comment_feeds_take_the_fast_path_too() -> None:
    assert sorted(COMMENT_FEEDS) == ["comments.atom", "wp_comments.rss"]
    url = COMMENT_FEEDS["wp_comments.rss"][0]
    assert _fast_reads((FIXTURES / "wp_comments.rss").read_bytes(), url)


def test_quirks_read_by_the_fast_path() -> None:
    feed = feeds.parse_feed(
        (FIXTURES / "quirks_fast.rss").read_bytes(),
        url="https://feeds.example/feed/",
        tags=("bsnopen",),
        fetched_at=FETCHED_AT,
    )
    assert feed.title == "Café Democracy & Friends"
    first, second, third, fourth = feed.items
    assert compact(first) == {
        "type": "Reaction",
        "url": "https://feeds.example/2010/06/29/budgets/",
        "fetched_at": "2010-07-01T12:00:00.000Z",
        "fetched_from": "https://feeds.example/feed/",
        "title": "Budgets & open data at #bsnopen",
        "author": "Ellen Park",
        "published_at": "2010-06-29T20:30:00.000Z",
        "site_name": "Café Democracy & Friends",
        "excerpt": "Café notes: budgets & data",
        "comments_feed": "https://cafe.example/2010/06/29/budgets/feed/",
        "original_url": "https://feeds.example/2010/06/29/budgets/",
        "tags": ["bsnopen", "open-data"],
    }
    assert (second.author, third.flags, fourth.published_at) == (  # type: ignore[union-attr]
        "Jo Okafor",
        ("tz-less date",),
        datetime(2010, 7, 1, 14, 0, tzinfo=UTC),
    )


# --- declines ---------------------------------------------------------------------------


def _rss(item: str, channel: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
        f"{channel}<item><title>#bsnopen</title><link>https://x.example/1</link>"
        f"{item}</item></channel></rss>"
    )


@pytest.mark.parametrize(
    "text",
    [
        _rss("<description>a&nbsp;b</description>"),
        _rss("<description>x</description>").replace("<channel>", '<channel xml:base="/b/">'),
        _rss("<description>&lt;a href='../up/'&gt;rel&lt;/a&gt;</description>"),
        _rss("<description>&lt;p onclick='x()'&gt;hi&lt;/p&gt;</description>"),
        _rss("<description>&lt;script&gt;x()&lt;/script&gt;</description>"),
        _rss("<description>&lt;p&gt;a<br>b&lt;/p&gt;</description>".replace("<br>", "&lt;br&gt;")),
        _rss("<description>fish &amp; chips</description>"),
        _rss("<pubDate>sometime last week</pubDate>"),
        _rss("<source url='https://y.example/'>Y</source>"),
        _rss("<title>again</title>"),
        _rss("").replace("<title>#bsnopen</title>", "<title>a &amp;amp; b</title>"),
        _rss("<author>ann@x.example (Ann)</author>"),
        _rss("<description><p>inline</p></description>"),
        _rss("<description>x</description>", channel="<dc:title>other</dc:title>"),
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></title>'
        "</entry></feed>",
        '<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry>'
        "<title>x</title></entry></feed>",
        '<?xml version="1.0"?><opml version="2.0"><body/></opml>',
        _rss("<description>truncated"),
    ],
)
def test_declines(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://x.example/feed/"
    assert read_feed(text.encode(), url, text) is None
    results = []
    for fast in (True, False):
        monkeypatch.setattr(feeds, "_FAST_PATH", fast)
        try:
            results.append(
                compact(feeds.parse_feed(text.encode(), url=url, tags=(), fetched_at=FETCHED_AT))
            )
        except ParseError as e:
            results.append(str(e))
    assert results[0] == results[1]


def test_undefined_entity_still_recovers_with_xml_error() -> None:
    feed = feeds.parse_feed(
        (FIXTURES / "nbsp.rss").read_bytes(),
        url="https://entities.example/feed",
        tags=("bsnopen",),
        fetched_at=FETCHED_AT,
    )
    assert (feed.xml_error, [r.title for r in feed.items]) == (  # type: ignore[union-attr]
        "<unknown>:7:17: undefined entity",
        ["Open night #bsnopen"],
    )


def test_hostile_html_is_sanitised_end_to_end() -> None:
    body = (FIXTURES / "hostile.rss").read_bytes()
    feed = feeds.parse_feed(
        body, url="https://hostile.example/feed", tags=("bsnopen",), fetched_at=FETCHED_AT
    )
    assert [item.excerpt for item in feed.items] == ["Hello there"]  # type: ignore[union-attr]
    (comment,) = feeds.parse_comments(
        body,
        url="https://hostile.example/feed",
        reaction_url="https://hostile.example/",
        fetched_at=FETCHED_AT,
    )
    assert comment.content_html == '<p>Hello <a href="">there</a></p>'


# --- the plain-HTML rule against feedparser's own HTML passes ---------------------------

_PIECES = st.sampled_from(
    [
        "text ",
        "&amp;",
        "&eacute;",
        "&#8230;",
        "&#x2026;",
        "&#150;",
        "&#39;",
        "&nbsp;",
        "&bogus;",
        "<p>",
        "</p>",
        "<br />",
        "<br>",
        "<br/>",
        '<a href="https://a.example/x?b=1&amp;c=2">',
        '<a href="../rel/">',
        '<a href="javascript:x()">',
        '<a class="c" href="https://a.example/">',
        '<a href="https://a.example/" class="c">',
        '<a href="https://a.example/" rel="Tag">',
        "</a>",
        '<img alt="x" src="https://a.example/i.png" />',
        '<img src="https://a.example/i.png" alt="x" />',
        '<span translate="no">',
        "</span>",
        "<script>",
        "</script>",
        "<!-- c -->",
        " > ",
        "'q' \"qq\"",
        "<em>",
        "</em>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=8))
def test_plain_html_is_left_unchanged_by_feedparser(pieces: list[str]) -> None:
    fragment = "".join(pieces).strip()
    base = "https://feeds.example/feed/"
    resolved = resolve_relative_uris(fragment, base, "utf-8", "text/html")
    sanitised = _sanitize_html(resolved, "utf-8", "text/html")
    if _is_plain_html(fragment, base):
        assert sanitised == fragment
