"""End to end: `bsarchive search` and `--search`/`--tag` as people type them (#tags,
hyphenated words, quotes, other scripts), over an archive fetched from loopback servers:
a Mastodon-like instance and a blog's RSS feed (its entry, a reaction, carries a two-word
category)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status

from tests.support.cli import Cli, fetch
from tests.support.feed_server import FeedServer, Route

TEXTS = [
    "Tea and sticky notes at the open night",  # 0: 2010-06-29T17:00:00Z
    "The big-society tag is everywhere",  # 1: 17:00:03
    "Большое общество собралось",  # 2: 17:00:06
    "大きな社会の夜",  # 3: 17:00:09
    'She said "open data" twice',  # 4: 17:00:12
]

BLOG_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Kate's blog</title><link>https://blog.example/</link>
<item>
<title>Notes from the open night</title>
<link>https://blog.example/2010/06/notes</link>
<guid isPermaLink="true">https://blog.example/2010/06/notes</guid>
<pubDate>Wed, 30 Jun 2010 09:00:00 +0000</pubDate>
<category>Big Society</category>
<category>bsnopen</category>
<description>Sticky notes everywhere at #bsnopen.</description>
</item>
</channel></rss>"""


@pytest.fixture
def blog() -> Iterator[FeedServer]:
    with FeedServer({"/feed/": Route(BLOG_FEED)}) as server:
        yield server


@pytest.fixture
def archive(cli: Cli, servers: Any, fast_config: Path, blog: FeedServer) -> Cli:
    statuses = [
        synthetic_status(n, viewer="a.example", local_id=100 + n, authors=5, text=text)
        for n, text in enumerate(TEXTS)
    ]
    result = fetch(
        cli, fast_config, servers(statuses).url, feeds=(blog.url + "/feed/",),
        extra=("--no-reactions",),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return cli


def _search(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("search", *args, "--json", "--db", str(cli.db))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _texts(hits: list[dict[str, Any]]) -> list[str]:
    return sorted(h["snippet"].replace("[", "").replace("]", "") for h in hits)


def test_hashtags_hyphens_quotes_and_scripts_search_as_typed(archive: Cli) -> None:
    assert len(_search(archive, "#bsnopen")) == 6  # every post says #bsnopen
    assert _texts(_search(archive, "big-society")) == ["The big-society tag is everywhere #bsnopen"]
    assert _texts(_search(archive, '"open data"')) == ['She said "open data" twice #bsnopen']
    # an unbalanced quote is part of its word: the word open, in three items
    assert len(_search(archive, '"open')) == len(_search(archive, "open")) == 3
    assert _texts(_search(archive, "общество")) == ["Большое общество собралось #bsnopen"]
    assert _texts(_search(archive, "大きな社会の夜")) == ["大きな社会の夜 #bsnopen"]
    assert len(_search(archive, "sticky NOT tea")) == 1  # FTS5 syntax still works
    assert len(_search(archive, "stick*")) == 2


def test_search_json_carries_the_uri(archive: Cli) -> None:
    [hit] = _search(archive, "sticky", "--kind", "reaction")
    assert hit["uri"] == "https://blog.example/2010/06/notes"
    assert hit["kind"] == "reaction"
    assert hit["id"] == "1"  # text, as the exports' id
    [status] = _search(archive, "big-society")
    assert status["uri"] == "https://home1.example/users/user1/statuses/105000000000000001"
    assert status["url"] == "https://home1.example/@user1/105000000000000001"


def test_search_takes_the_exports_window_and_tags(archive: Cli) -> None:
    # A date-only --until includes that whole day; a datetime --until is exclusive.
    assert len(_search(archive, "sticky", "--until", "2010-06-29")) == 1
    assert len(_search(archive, "sticky", "--until", "2010-06-30")) == 2
    assert len(_search(archive, "bsnopen", "--until", "2010-06-29T17:00:06Z")) == 2
    assert len(_search(archive, "bsnopen", "--since", "2010-06-29T17:00:06Z")) == 4
    # --tag as stored: the blog's "Big Society" category is the tag big-society.
    [tagged] = _search(archive, "sticky", "--tag", "big-society")
    assert tagged["uri"] == "https://blog.example/2010/06/notes"
    assert _search(archive, "sticky", "--tag", "Big Society") == [tagged]
    assert _search(archive, "sticky", "--kind", "comment") == []
    assert _search(archive, "sticky", "--since", "2010-06-30", "--kind", "post") == []


def test_export_search_and_tag_as_typed(archive: Cli) -> None:
    db = ("--db", str(archive.db))
    out = archive("export", "jsonl", "--search", "#big-society", *db)
    assert out.exit_code == 0, out.output
    assert [json.loads(x)["text"] for x in out.stdout.splitlines()] == [
        "The big-society tag is everywhere #bsnopen"
    ]
    tagged = archive("export", "jsonl", "--tag", "big-society", *db)
    assert tagged.exit_code == 0, tagged.output
    assert [json.loads(x)["uri"] for x in tagged.stdout.splitlines()] == [
        "https://blog.example/2010/06/notes"
    ]


def test_nothing_to_search_for_is_a_usage_error(archive: Cli) -> None:
    for typed in ("- #", '""', "   "):
        result = archive("search", "--db", str(archive.db), "--", typed)
        assert result.exit_code == 2, typed
        assert result.stderr.startswith("bsarchive: error: search: "), result.stderr
        assert "Traceback" not in result.output
    for command in (("digest",), ("export", "csv")):
        result = archive(*command, "--search", "- #", "--db", str(archive.db))
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.startswith("bsarchive: error: search: "), result.stderr
    boost = archive("search", "tea", "--kind", "boost", "--db", str(archive.db))
    assert boost.exit_code == 2
    assert boost.stderr.startswith("bsarchive: error: --kind: ")
