"""Unit tests for the pure half of sources/reactions.py: parse_article and plan_links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bsarchive.models import Reaction
from bsarchive.sources.reactions import KnownReaction, parse_article, plan_links, read_article
from tests.support import paths

FIXTURES = paths.FIXTURES / "reactions"
FETCHED = datetime(2010, 7, 2, 12, 0, tzinfo=UTC)


def test_json_ld_wins_and_finds_comment_feed() -> None:
    url = "https://notes.example/2010/06/30/open-night/"
    page = read_article((FIXTURES / "jsonld.html").read_bytes(), url, FETCHED)
    r = page.reaction
    assert (r.title, r.author, r.site_name, r.language) == (
        "What I learned at the open night",
        "Priya Shah, Tom Reed",
        "Notes from Hackney",
        "en-GB",
    )
    assert r.published_at == datetime(2010, 6, 30, 8, 15, tzinfo=UTC)
    assert r.excerpt == (
        "Three things the Big Society Network open night got right, and one it did not."
    )
    assert r.comments_feed == "https://notes.example/2010/06/30/open-night/feed/"
    assert page.canonical == url
    assert page.noindex is False


def test_opengraph_only_page_in_latin_1() -> None:
    r = parse_article(
        (FIXTURES / "opengraph.html").read_bytes(), "https://civic.example/cafe/", FETCHED
    )
    assert (r.title, r.author, r.site_name, r.language) == (
        "Café chat after #bsnopen",
        "Sam O'Neill",  # article:author is a URL, so the meta author is used
        "Civic Blog",
        "en-GB",
    )
    assert r.published_at == datetime(2010, 7, 1, 18, 0, tzinfo=UTC)
    assert r.excerpt == "Café talk: a long evening of talk about what the network is for."
    assert r.comments_feed is None


def test_bare_title_and_body_excerpt() -> None:
    r = parse_article((FIXTURES / "bare.html").read_bytes(), "https://x.example/p", FETCHED)
    assert r.title == "Plain page"
    assert (r.author, r.site_name, r.language, r.published_at) == ("", "", None, None)
    words = " ".join(f"word{i}" for i in range(44))
    assert r.excerpt == words + "…"
    assert "Site menu" not in r.excerpt and "var x" not in r.excerpt


@pytest.mark.parametrize(
    ("html", "noindex"),
    [
        (b'<meta name="robots" content="noindex, follow"><title>t</title>', True),
        (b'<meta name="bsarchive" content="none"><title>t</title>', True),
        (b'<meta name="robots" content="index"><title>t</title>', False),
    ],
)
def test_noindex(html: bytes, noindex: bool) -> None:
    assert read_article(html, "https://x.example/", FETCHED).noindex is noindex


@pytest.mark.parametrize("body", [b"", b"\x00\xff\xfe", b"<html", b"<<<>>>&&&"])
def test_garbage_never_raises(body: bytes) -> None:
    r = parse_article(body, "https://x.example/", FETCHED)
    assert (r.url, r.title) == ("https://x.example/", "")


def test_plan_groups_variants_and_skips_non_articles() -> None:
    links = [
        ("p1", "https://blog.example/post/?utm_source=mastodon"),
        ("p2", "http://blog.example/post"),
        ("p2", "https://bit.ly/abc"),
        ("p3", "https://www.blog.example/post/"),
        ("p3", "https://social.example/@alice"),  # the archived instance
        ("p3", "https://blog.example/slides.pdf"),
        ("p4", "mailto:a@b.example"),
        ("p4", "https://known.example/a/"),
        ("p5", "https://known.example/a?utm_medium=x"),
    ]
    known = {
        "https://known.example/a": KnownReaction(
            "https://known.example/a/", FETCHED, "https://known.example/a/", frozenset({"p4"})
        )
    }
    plan = plan_links(links, skip_hosts=["https://social.example"], known=known)
    assert [(g.key, g.urls, g.linked_from) for g in plan.fetch] == [
        (
            "https://blog.example/post",
            (
                "https://blog.example/post/",
                "http://blog.example/post",
                "https://www.blog.example/post/",
            ),
            ("p1", "p2", "p3"),
        ),
        ("https://bit.ly/abc", ("https://bit.ly/abc",), ("p2",)),
    ]
    assert plan.relink == (
        Reaction(
            url="https://known.example/a/",
            fetched_at=FETCHED,
            fetched_from="https://known.example/a/",
            linked_from=("p5",),
        ),
    )
    assert plan.ignored == 3
