"""Tests for export/atom.py: a valid, escaped, streamed Atom feed.

The feed of the fixture digest is compared with fixtures/golden/feed.atom (regenerate
with BSARCHIVE_REGEN_GOLDEN=1) and parsed back with feedparser and ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import feedparser

from bsarchive.export.atom import (
    AtomEntry,
    atom_id,
    entry_from_post,
    entry_from_reaction,
    render_atom,
)
from tests.support.digest_data import build_data
from tests.support.golden import check_golden

UPDATED = datetime(2025, 11, 22, 0, 0, tzinfo=UTC)
NS = {"a": "http://www.w3.org/2005/Atom"}


def fixture_feed() -> str:
    data = build_data()
    entries = [entry_from_post(p) for p in data.posts]
    entries += [entry_from_reaction(r) for r in data.reactions]
    return "".join(
        render_atom(
            entries,
            feed_id="https://archive.example.org/bsnopen/feed.atom",
            title="BSN Open 2025 <#bsnopen>",
            updated=UPDATED,
            self_url="https://archive.example.org/bsnopen/feed.atom",
        )
    )


def test_atom_golden() -> None:
    check_golden("feed.atom", fixture_feed())


def test_atom_parses_cleanly_with_every_entry() -> None:
    feed = feedparser.parse(fixture_feed())
    assert feed.bozo == 0
    assert feed.version == "atom10"
    assert feed.feed.title == "BSN Open 2025 <#bsnopen>"
    assert len(feed.entries) == 34
    data = build_data()
    assert [e.id for e in feed.entries] == [p.uri for p in data.posts] + [
        "https://blog.example.org/2025/11/bsnopen-day-one",
        "https://news.example.com/tech/bsnopen-2025-recap",
        "https://dana.example.net/posts/unicode-at-bsnopen",
        "javascript:alert(5)",
    ]
    first = feed.entries[0]
    assert first.title == "Doors open at #bsnopen, coffee is excellent."
    assert first.link == "https://bsn.example.social/@ada/115500001"
    assert first.author == "Ada Quill (@ada@bsn.example.social)"
    assert [t.term for t in first.tags] == ["bsnopen"]
    assert first.published == "2025-11-20T08:05:00.000Z"


def test_atom_entries_carry_only_sanitised_html() -> None:
    root = ET.fromstring(fixture_feed().encode("utf-8"))
    entries = root.findall("a:entry", NS)
    ids = [e.findtext("a:id", default="", namespaces=NS) for e in entries]
    hostile = entries[ids.index("https://toot.example.org/users/mallory/statuses/115500015")]
    content = hostile.find("a:content", NS)
    assert content is not None and content.get("type") == "html"
    assert content.text == (
        '<p>Free tickets!</p><p>[image]<a rel="nofollow noopener noreferrer">claim here</a> '
        '<a rel="nofollow noopener noreferrer">or here</a> '
        '<a href="https://tickets.example.net/claim" rel="nofollow noopener noreferrer">'
        "real link</a></p><p>Hover me</p>"
    )
    # A reaction whose URL is not a web link gets no link element at all.
    odd = entries[ids.index("javascript:alert(5)")]
    assert odd.findall("a:link", NS) == []
    deleted = entries[ids.index("https://toot.example.org/users/farah/statuses/115500013")]
    assert deleted.findtext("a:title", namespaces=NS) == "Deleted post by @farah@toot.example.org"


def test_atom_strips_characters_illegal_in_xml() -> None:
    entry = AtomEntry(
        id="local\x00id 7",
        title="bad\x00 \x07chars\ud800 & <tags>",
        updated=None,
        author="Zed\x1b",
        url="https://ex.example/a?b=1&c=2",
        content_html="<p>x\x0cy</p>",
        tags=("a\x01b", '"quoted"'),
    )
    text = "".join(render_atom([entry], feed_id="feed", title="T", updated=UPDATED))
    text.encode("utf-8")  # no lone surrogate survives
    root = ET.fromstring(text.encode("utf-8"))
    (parsed,) = root.findall("a:entry", NS)
    assert parsed.findtext("a:id", namespaces=NS) == "tag:bsarchive,2025:localid%207"
    assert parsed.findtext("a:title", namespaces=NS) == "bad chars & <tags>"
    assert parsed.findtext("a:updated", namespaces=NS) == "2025-11-22T00:00:00.000Z"
    assert parsed.findtext("a:author/a:name", namespaces=NS) == "Zed"
    assert [link.get("href") for link in parsed.findall("a:link", NS)] == [
        "https://ex.example/a?b=1&c=2"
    ]
    assert [c.get("term") for c in parsed.findall("a:category", NS)] == ["ab", '"quoted"']
    assert parsed.findtext("a:content", namespaces=NS) == "<p>xy</p>"
    assert root.findtext("a:id", namespaces=NS) == "tag:bsarchive,2025:feed"
    assert feedparser.parse(text).bozo == 0


def test_atom_streams_one_chunk_per_entry() -> None:
    entries = (
        AtomEntry(id=f"https://ex.example/{n}", title=f"t{n}", updated=UPDATED) for n in range(3)
    )
    chunks = list(render_atom(entries, feed_id="urn:x:feed", title="T", updated=UPDATED))
    assert len(chunks) == 5
    assert chunks[0].startswith('<?xml version="1.0" encoding="utf-8"?>\n<feed ')
    assert chunks[-1] == "</feed>\n"


def test_atom_id() -> None:
    assert (
        atom_id("https://ex.example/users/a/statuses/1") == "https://ex.example/users/a/statuses/1"
    )
    assert atom_id("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427").startswith("urn:uuid:")
    assert atom_id("12345") == "tag:bsarchive,2025:12345"
    assert atom_id("a b/c") == "tag:bsarchive,2025:a%20b%2Fc"
