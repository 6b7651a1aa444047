"""Tests for bsarchive.sources.twarc: twarc JSONL (v2 responses, flattened, v1.1) and TAGS CSV.

The fixtures in fixtures/twarc/ are our own texts about the Big Society Network open
night (#bsnopen, 29 June 2010, CLG London). Gzip copies are made here, never committed.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsarchive.errors import SourceError
from bsarchive.models import Author, Boost, Post, Sighting
from bsarchive.sources.twarc import (
    TwarcLine,
    iter_tags_csv,
    iter_twarc_file,
    parse_tags_row,
    parse_twarc_line,
    tweet_id_from_url,
    tweet_url,
)
from tests.support import paths

FIXTURES = paths.FIXTURES / "twarc"
FETCHED_AT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
SEARCH_URL = (
    "https://api.twitter.com/2/tweets/search/all?query=%23bsnopen"
    "&start_time=2010-06-29T00%3A00%3A00Z&max_results=100"
)
PAGE1 = datetime(2021, 3, 15, 10, 20, 30, 123456, tzinfo=UTC)
PAGE2 = datetime(2021, 3, 15, 10, 20, 31, 500000, tzinfo=UTC)
FLAT_AT = datetime(2021, 3, 16, 9, 0, tzinfo=UTC)
FLAT_URL = "https://api.twitter.com/2/tweets/search/all?query=%23bsnopen"

CLAIRE = Author(
    handle="@clairewrites",
    name="Claire Hollis",
    url="https://twitter.com/clairewrites",
    uri="https://twitter.com/i/user/140002",
    bio="Local news, civic tech, too much tea.",
)
DAN = Author(
    handle="@dan_civic",
    name="Dan Okafor",
    url="https://twitter.com/dan_civic",
    uri="https://twitter.com/i/user/140003",
)
BSN = Author(
    handle="@BigSocietyNet",
    name="Big Society Network",
    url="https://twitter.com/BigSocietyNet",
    uri="https://twitter.com/i/user/150001",
    bio="Helping people come together to improve their communities.",
)


def read(name: str) -> list[TwarcLine]:
    return list(iter_twarc_file(FIXTURES / name, fetched_at=FETCHED_AT))


def summary(records: list[TwarcLine]) -> list[tuple[int, str | None, list[tuple[str, str]]]]:
    return [
        (r.line_no, r.error, [(type(item).__name__, item.uri) for item in r.items]) for r in records
    ]


def without_raw(item: Post | Boost) -> Post | Boost:
    return dataclasses.replace(item, raw="")


# --- helpers ---------------------------------------------------------------------------------


def test_tweet_url() -> None:
    assert tweet_url("clairewrites", "17350000001") == (
        "https://twitter.com/clairewrites/status/17350000001"
    )
    assert tweet_url("@dan_civic", "1") == "https://twitter.com/dan_civic/status/1"
    assert tweet_url(None, "17340000000") == "https://twitter.com/i/web/status/17340000000"
    assert tweet_url("", "5") == "https://twitter.com/i/web/status/5"
    with pytest.raises(ValueError, match="decimal digits"):
        tweet_url("bob", "1.23457E+17")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://twitter.com/clairewrites/status/17350000001", "17350000001"),
        ("https://x.com/ClaireWrites/status/17350000001", "17350000001"),
        ("http://mobile.twitter.com/clairewrites/status/17350000001/photo/1", "17350000001"),
        ("https://twitter.com/i/web/status/880440000000000001", "880440000000000001"),
        ("http://twitter.com/#!/dan_civic/status/17350000010", "17350000010"),
        ("http://twitter.com/clairewrites/statuses/17350000050", "17350000050"),
        ("https://twitter.com/clairewrites", None),
        ("https://bigsociety.example.org/status/1", None),
    ],
)
def test_tweet_id_from_url(url: str, expected: str | None) -> None:
    assert tweet_id_from_url(url) == expected


# --- every fixture, line by line -------------------------------------------------------------

EXPECTED_SUMMARIES = {
    "twarc2_response.jsonl": [
        (
            1,
            None,
            [
                ("Post", "https://twitter.com/hackneyjo/status/17350000004"),
                ("Post", "https://twitter.com/policywonk_uk/status/17350000003"),
                ("Boost", "https://twitter.com/dan_civic/status/17350000002"),
                ("Post", "https://twitter.com/clairewrites/status/17350000001"),
            ],
        ),
        (
            2,
            "data[1]: missing created_at",
            [
                ("Post", "https://twitter.com/clairewrites/status/17350000001"),
                ("Boost", "https://twitter.com/BigSocietyNet/status/17350000005"),
            ],
        ),
        (3, None, []),
    ],
    "twarc2_flat.jsonl": [
        (1, None, [("Post", "https://twitter.com/dan_civic/status/17350000010")]),
        (
            3,
            None,
            [
                ("Post", "https://twitter.com/BigSocietyNet/status/17350000011"),
                ("Boost", "https://twitter.com/clairewrites/status/17350000012"),
            ],
        ),
        (
            4,
            "invalid JSON: unexpected control character in string: line 1 column 68 (char 67)",
            [],
        ),
        (5, None, [("Post", "https://twitter.com/policywonk_uk/status/17350000013")]),
    ],
    "twarc1.jsonl": [
        (1, None, [("Post", "https://twitter.com/hackneyjo/status/17350000020")]),
        (
            2,
            None,
            [
                ("Post", "https://twitter.com/BigSocietyNet/status/17350000030"),
                ("Boost", "https://twitter.com/policywonk_uk/status/17350000031"),
            ],
        ),
        (3, None, []),  # a stream `delete` notice
        (4, None, [("Post", "https://twitter.com/clairewrites/status/880440000000000001")]),
        (5, "not a JSON object but an array", []),
        (6, "missing created_at", []),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SUMMARIES))
def test_fixture_lines(name: str) -> None:
    assert summary(read(name)) == EXPECTED_SUMMARIES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_SUMMARIES))
def test_same_file_twice_gives_equal_items(name: str) -> None:
    assert read(name) == read(name)


# --- twarc2 API v2 responses -----------------------------------------------------------------


def test_v2_original_post_with_link_media_and_escapes() -> None:
    page1 = read("twarc2_response.jsonl")[0]
    original = page1.items[3]
    assert isinstance(original, Post)
    assert without_raw(original) == Post(
        uri="https://twitter.com/clairewrites/status/17350000001",
        url="https://twitter.com/clairewrites/status/17350000001",
        created_at=datetime(2010, 6, 29, 18, 42, 7, tzinfo=UTC),
        author=CLAIRE,
        content_html=(
            "<p>Packed room at CLG for the Big Society Network open night #bsnopen &amp; "
            'the tea is free. Slides: <a href="http://bit.ly/bsn-slides">'
            'http://bit.ly/bsn-slides</a> <a href="https://twitter.com/clairewrites/status/'
            '17350000001/photo/1">https://twitter.com/clairewrites/status/17350000001/photo/1'
            "</a></p>"
        ),
        text=(
            "Packed room at CLG for the Big Society Network open night #bsnopen & the tea is "
            "free. Slides: http://bit.ly/bsn-slides "
            "https://twitter.com/clairewrites/status/17350000001/photo/1"
        ),
        sighting=Sighting(
            source="twitter",
            local_id="17350000001",
            url="https://twitter.com/clairewrites/status/17350000001",
            fetched_at=PAGE1,
            fetched_from=SEARCH_URL,
        ),
        source="twitter",
        language="en",
        tags=("bsnopen",),
        # unwound_url wins over expanded_url; the photo link is media, not a link
        links=("https://bigsociety.example.org/open-night/slides",),
        media=("https://pbs.twimg.com/media/BsnOpenRoom1.jpg",),
        boosts=2,
        replies=0,
        favourites=5,
    )
    raw = json.loads(original.raw)
    assert raw["id"] == "17350000001"
    assert original.raw.startswith('{"attachments":{"media_keys":["3_17350000001"]},"author_id"')


def test_v2_retweet_is_a_boost_of_the_original_in_the_same_response() -> None:
    page1 = read("twarc2_response.jsonl")[0]
    boost = page1.items[2]
    assert isinstance(boost, Boost)
    assert without_raw(boost) == Boost(
        uri="https://twitter.com/dan_civic/status/17350000002",
        post_uri="https://twitter.com/clairewrites/status/17350000001",
        booster=DAN,
        created_at=datetime(2010, 6, 29, 18, 44, 30, tzinfo=UTC),
        sighting=Sighting(
            source="twitter",
            local_id="17350000002",
            url="https://twitter.com/dan_civic/status/17350000002",
            fetched_at=PAGE1,
            fetched_from=SEARCH_URL,
        ),
    )
    # The original is emitted once, from `data`, not again from includes.tweets.
    uris = [item.uri for item in page1.items]
    assert uris.count("https://twitter.com/clairewrites/status/17350000001") == 1


def test_v2_quote_and_reply() -> None:
    reply, quote = read("twarc2_response.jsonl")[0].items[:2]
    assert isinstance(quote, Post) and isinstance(reply, Post)
    assert quote.quote_uri == "https://twitter.com/BigSocietyNet/status/17349990000"
    assert quote.links == ()  # the quoted tweet's permalink is quote_uri, not a link
    assert quote.tags == ("bsnopen", "localgov")
    assert quote.text == (
        "Curious whether the Network can turn this into something local groups actually use. "
        "#BSNopen #localgov https://twitter.com/BigSocietyNet/status/17349990000"
    )
    # The replied tweet is in `data`, not includes.tweets: its author is still found.
    assert reply.in_reply_to_uri == "https://twitter.com/policywonk_uk/status/17350000003"
    assert reply.in_reply_to_local_id == "17350000003"
    assert reply.mentions == ("@policywonk_uk",)
    assert reply.text == (
        "@policywonk_uk Same question from Hackney: who keeps the data once the night is over?"
        " <3 the energy though #bsnopen"
    )
    assert reply.content_html == (
        "<p>@policywonk_uk Same question from Hackney: who keeps the data once the night is "
        "over? &lt;3 the energy though #bsnopen</p>"
    )
    assert (reply.boosts, reply.replies, reply.favourites) == (0, 0, 1)


def test_v2_retweet_in_a_later_page_repeats_the_original_from_includes() -> None:
    page2 = read("twarc2_response.jsonl")[1]
    original, boost = page2.items
    assert isinstance(original, Post) and isinstance(boost, Boost)
    assert original.uri == "https://twitter.com/clairewrites/status/17350000001"
    assert original.sighting.fetched_at == PAGE2
    assert original.sighting.fetched_from == SEARCH_URL + "&next_token=b26v89c19zqg8o3fpds"
    assert original.media == ()  # this page's includes carry no media
    assert boost.booster == BSN
    assert boost.post_uri == "https://twitter.com/clairewrites/status/17350000001"
    assert boost.created_at == datetime(2010, 6, 29, 19, 3, 15, tzinfo=UTC)


def test_v2_author_missing_from_includes() -> None:
    line = json.dumps(
        {
            "data": [
                {
                    "id": "17350000060",
                    "author_id": "140003",
                    "created_at": "2010-06-29T19:00:00.000Z",
                    "text": "no includes here #bsnopen",
                    "referenced_tweets": [{"type": "quoted", "id": "17349990000"}],
                }
            ],
            "meta": {"result_count": 1},
        }
    )
    record = parse_twarc_line(line, line_no=7, fetched_at=FETCHED_AT, fetched_from="f.jsonl")
    (post,) = record.items
    assert isinstance(post, Post)
    assert record.error is None
    assert post.uri == "https://twitter.com/i/web/status/17350000060"
    assert post.author == Author(handle="id:140003", uri="https://twitter.com/i/user/140003")
    assert post.flags == ("unknown author",)
    assert post.quote_uri == "https://twitter.com/i/web/status/17349990000"
    assert post.sighting.fetched_at == FETCHED_AT
    assert post.sighting.fetched_from == "f.jsonl"


def test_v2_long_tweet_uses_note_tweet() -> None:
    line = json.dumps(
        {
            "id": "1540000000000000001",
            "created_at": "2022-06-29T18:00:00.000Z",
            "text": "Twelve years since #bsnopen. A longer look back: the room, the tea, th…",
            "note_tweet": {
                "text": "Twelve years since #bsnopen. A longer look back: the room, the tea, "
                "the ideas wall, and what became of #BigSociety.",
                "entities": {
                    "hashtags": [
                        {"start": 19, "end": 27, "tag": "bsnopen"},
                        {"start": 105, "end": 116, "tag": "BigSociety"},
                    ]
                },
            },
            "author": {"id": "140002", "username": "clairewrites", "name": "Claire Hollis"},
        }
    )
    (post,) = parse_twarc_line(line, line_no=1, fetched_at=FETCHED_AT, fetched_from="f.jsonl").items
    assert isinstance(post, Post)
    assert post.text.endswith("what became of #BigSociety.")
    assert post.tags == ("bsnopen", "bigsociety")


# --- twarc2 flattened ------------------------------------------------------------------------


def test_flattened_reply_to_unknown_tweet_uses_i_web() -> None:
    (post,) = read("twarc2_flat.jsonl")[0].items
    assert isinstance(post, Post)
    assert post.author == DAN
    assert post.in_reply_to_uri == "https://twitter.com/i/web/status/17340000000"
    assert post.links == ("http://dancivic.example.net/2010/06/29/open-night-notes/",)
    assert post.mentions == ("@someone_else",)
    assert post.sighting == Sighting(
        source="twitter",
        local_id="17350000010",
        url="https://twitter.com/dan_civic/status/17350000010",
        fetched_at=FLAT_AT,
        fetched_from=FLAT_URL,
    )
    # raw is the whole flattened line: author and __twarc included, keys sorted, compact
    assert post.raw.startswith('{"__twarc":{"retrieved_at":"2021-03-16T09:00:00.000000+00:00"')
    assert '"author":{"description":"","id":"140003"' in post.raw


def test_flattened_retweet_emits_embedded_original_then_boost() -> None:
    original, boost = read("twarc2_flat.jsonl")[1].items
    assert isinstance(original, Post) and isinstance(boost, Boost)
    assert original.author == BSN
    assert original.text == (
        "Thank you all for coming to #bsnopen \u2014 the ideas wall is here: "
        "https://bigsociety.example.org/ideas-wall?utm_source=twitter"
    )
    assert (original.boosts, original.replies, original.favourites) == (7, 2, 11)
    assert boost.uri == "https://twitter.com/clairewrites/status/17350000012"
    assert boost.post_uri == original.uri
    assert boost.booster == CLAIRE


def test_flattened_retweet_keeps_the_original_json_once() -> None:
    line = (FIXTURES / "twarc2_flat.jsonl").read_text().splitlines()[2]  # after a blank line
    embedded = json.loads(line)["referenced_tweets"][0]
    original, boost = read("twarc2_flat.jsonl")[1].items
    assert isinstance(original, Post) and isinstance(boost, Boost)
    # The original's own JSON is its post's raw; the retweet's raw refers to it by id,
    # as the API sent it before `twarc2 flatten` merged the original in.
    assert json.loads(original.raw)["text"] == embedded["text"]
    raw = json.loads(boost.raw)
    assert raw["referenced_tweets"] == [{"type": "retweeted", "id": embedded["id"]}]
    assert raw["id"] == "17350000012" and raw["author"]["username"] == "clairewrites"
    assert boost.raw.count(embedded["text"]) == 1  # in the retweet's own "RT @…" text only


def test_flattened_quote_of_embedded_tweet() -> None:
    (post,) = read("twarc2_flat.jsonl")[3].items
    assert isinstance(post, Post)
    assert post.quote_uri == "https://twitter.com/dan_civic/status/17350000010"
    assert post.links == ()
    assert post.tags == ()
    assert (post.boosts, post.replies, post.favourites) == (None, None, None)


# --- v1.1 ------------------------------------------------------------------------------------


def test_v1_reply_with_2010_entities() -> None:
    (post,) = read("twarc1.jsonl")[0].items
    assert isinstance(post, Post)
    assert without_raw(post) == Post(
        uri="https://twitter.com/hackneyjo/status/17350000020",
        url="https://twitter.com/hackneyjo/status/17350000020",
        created_at=datetime(2010, 6, 29, 18, 55, 12, tzinfo=UTC),
        author=Author(
            handle="@hackneyjo",
            name="Jo Marsh",
            url="https://twitter.com/hackneyjo",
            uri="https://twitter.com/i/user/140005",
            bio="Hackney residents' association.",
        ),
        content_html=(
            '<p>@clairewrites the slides link works for me, try <a href="http://bit.ly/bsn-'
            'slides">http://bit.ly/bsn-slides</a> #bsnopen</p>'
        ),
        text="@clairewrites the slides link works for me, try http://bit.ly/bsn-slides #bsnopen",
        sighting=Sighting(
            source="twitter",
            local_id="17350000020",
            url="https://twitter.com/hackneyjo/status/17350000020",
            fetched_at=FETCHED_AT,
            fetched_from=str(FIXTURES / "twarc1.jsonl"),
        ),
        source="twitter",
        language="en",
        in_reply_to_uri="https://twitter.com/clairewrites/status/17350000001",
        in_reply_to_local_id="17350000001",
        tags=("bsnopen",),
        links=("http://bit.ly/bsn-slides",),
        mentions=("@clairewrites",),
        boosts=0,
        favourites=1,
    )


def test_v1_retweet_never_uses_the_truncated_rt_text() -> None:
    original, boost = read("twarc1.jsonl")[1].items
    assert isinstance(original, Post) and isinstance(boost, Boost)
    assert original.text == (
        "Thanks to everyone who came to the #bsnopen night at CLG. Notes, slides and the list "
        "of project ideas are all here: https://bigsociety.example.org/open-night/"
    )
    assert original.flags == ()
    assert boost.post_uri == "https://twitter.com/BigSocietyNet/status/17350000030"
    assert boost.booster.handle == "@policywonk_uk"
    assert boost.created_at == datetime(2010, 6, 29, 21, 10, 44, tzinfo=UTC)
    raw = json.loads(boost.raw)
    assert raw["id_str"] == "17350000031"
    # The original's JSON is kept once, as its post's raw; the retweet keeps its ids.
    assert raw["retweeted_status"] == {"id": 17350000030, "id_str": "17350000030"}
    assert json.loads(original.raw)["id_str"] == "17350000030"


def test_v1_extended_tweet_quote_with_photo() -> None:
    (post,) = read("twarc1.jsonl")[3].items
    assert isinstance(post, Post)
    assert post.created_at == datetime(2017, 6, 29, 17, 30, tzinfo=UTC)  # +0100 in the source
    assert post.text == (
        "Seven years since #bsnopen at CLG. Some of the local groups that met that night are "
        "still going, which is more than most of us predicted. #BigSociety "
        "https://twitter.com/clairewrites/status/880440000000000001/photo/1 "
        "https://twitter.com/BigSocietyNet/status/17350000030"
    )
    assert post.tags == ("bsnopen", "bigsociety")
    assert post.media == ("https://pbs.twimg.com/media/DDxReunion.jpg",)
    assert post.links == ()  # photo link and quoted tweet excluded
    assert post.quote_uri == "https://twitter.com/BigSocietyNet/status/17350000030"
    assert (post.boosts, post.replies, post.favourites) == (1, 2, 6)
    assert post.flags == ()


def test_v1_manual_retweet_is_flagged() -> None:
    line = json.dumps(
        {
            "id_str": "17350000070",
            "created_at": "Tue Jun 29 19:50:00 +0000 2010",
            "text": "RT @clairewrites: Packed room at CLG #bsnopen",
            "user": {"id_str": "140004", "screen_name": "policywonk_uk", "name": "Priya Shah"},
            "lang": "und",
        }
    )
    (post,) = parse_twarc_line(line, line_no=1, fetched_at=FETCHED_AT, fetched_from="f").items
    assert isinstance(post, Post)
    assert post.flags == ("retweet text",)
    assert post.tags == ("bsnopen",)  # no entities: read from the text
    assert post.mentions == ("@clairewrites",)
    assert post.language is None


# --- files: gzip, BOM, bad bytes, streaming ---------------------------------------------------


@pytest.mark.parametrize("name", ["twarc2_response.jsonl", "twarc2_flat.jsonl"])
def test_gzip_detected_by_magic_bytes_not_name(tmp_path: Path, name: str) -> None:
    packed = tmp_path / "archive.jsonl"  # no .gz suffix on purpose
    packed.write_bytes(gzip.compress((FIXTURES / name).read_bytes()))
    assert read(name) == list(iter_twarc_file(packed, fetched_at=FETCHED_AT))


def test_gzip_v1_matches_plain_apart_from_the_path(tmp_path: Path) -> None:
    packed = tmp_path / "twarc1.txt"
    packed.write_bytes(gzip.compress((FIXTURES / "twarc1.jsonl").read_bytes()))
    records = list(iter_twarc_file(packed, fetched_at=FETCHED_AT))
    assert summary(records) == EXPECTED_SUMMARIES["twarc1.jsonl"]
    assert records[0].items[0].sighting.fetched_from == str(packed)


def test_truncated_gzip_ends_with_one_error(tmp_path: Path) -> None:
    data = gzip.compress((FIXTURES / "twarc2_flat.jsonl").read_bytes())
    packed = tmp_path / "cut.jsonl.gz"
    packed.write_bytes(data[: len(data) - 40])
    records = list(iter_twarc_file(packed, fetched_at=FETCHED_AT))
    assert records[-1].error is not None
    assert records[-1].error.startswith("truncated or corrupt gzip data: ")
    assert records[-1].items == ()
    assert summary(records[:-1]) == EXPECTED_SUMMARIES["twarc2_flat.jsonl"][: len(records) - 1]


def test_bom_blank_lines_and_invalid_utf8(tmp_path: Path) -> None:
    good = (FIXTURES / "twarc2_flat.jsonl").read_bytes().splitlines()[0]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + good + b"\r\n"
        b"   \n"
        b'{"id": "17350000080", "text": "caf\xe9 at CLG"}\n' + good + b"\n"
    )
    records = list(iter_twarc_file(path, fetched_at=FETCHED_AT))
    assert [(r.line_no, r.error, len(r.items)) for r in records] == [
        (1, None, 1),
        (3, "invalid UTF-8 at byte offset 34", 0),
        (4, None, 1),
    ]


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing.jsonl: cannot read: No such file"):
        list(iter_twarc_file(tmp_path / "missing.jsonl", fetched_at=FETCHED_AT))


def test_reading_streams_line_by_line(tmp_path: Path) -> None:
    line = (FIXTURES / "twarc2_flat.jsonl").read_bytes().splitlines()[0] + b"\n"
    path = tmp_path / "big.jsonl"
    with path.open("wb") as out:
        for _ in range(20):
            out.write(line * 500)
    size = path.stat().st_size
    assert size > 7_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_twarc_file(path, fetched_at=FETCHED_AT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 10_000
    assert peak < 3_000_000  # the 1 MiB read buffer plus one line's objects, not the file


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_record_never_an_exception(data: bytes) -> None:
    record = parse_twarc_line(data, line_no=1, fetched_at=FETCHED_AT, fetched_from="f")
    assert record.line_no == 1
    assert record.error is not None or isinstance(record.items, tuple)


_KEYS = st.sampled_from(
    [
        "id", "id_str", "text", "full_text", "created_at", "author_id", "author", "user",
        "username", "screen_name", "data", "includes", "users", "tweets", "media",
        "entities", "urls", "url", "expanded_url", "hashtags", "tag", "mentions",
        "referenced_tweets", "type", "retweeted_status", "quoted_status", "attachments",
        "media_keys", "public_metrics", "__twarc", "retrieved_at", "note_tweet",
        "extended_tweet", "in_reply_to_status_id_str", "meta",
    ]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from(
        [
            "17350000001",
            "retweeted",
            "quoted",
            "replied_to",
            "2010-06-29T18:42:07.000Z",
            "Tue Jun 29 18:42:07 +0000 2010",
            "bob",
            "https://t.co/x",
            "",
            "#bsnopen",
        ]
    )  # fmt: skip
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=8))
def test_any_json_shape_gives_a_record_never_an_exception(doc: dict[str, object]) -> None:
    line = json.dumps(doc)
    record = parse_twarc_line(line, line_no=3, fetched_at=FETCHED_AT, fetched_from="f")
    for item in record.items:
        assert isinstance(item, Post | Boost)
        assert item.sighting.source == "twitter"


# --- TAGS CSV --------------------------------------------------------------------------------


def test_tags_csv_rows() -> None:
    records = list(iter_tags_csv(FIXTURES / "tags_archive.csv", fetched_at=FETCHED_AT))
    assert summary(records) == [
        (2, None, [("Post", "https://twitter.com/clairewrites/status/17350000050")]),
        (3, None, [("Boost", "https://twitter.com/dan_civic/status/17350000051")]),
        (4, None, [("Post", "https://twitter.com/hackneyjo/status/17350000052")]),
        (7, None, [("Post", "https://twitter.com/policywonk_uk/status/880441234567890123")]),
        (
            8,
            "id_str '8.80442E+17' is not a whole id (rounded by a spreadsheet?) "
            "and status_url has none",
            [],
        ),
    ]
    first, retweet, multiline, recovered = (r.items[0] for r in records[:4])
    assert isinstance(first, Post)
    assert without_raw(first) == Post(
        uri="https://twitter.com/clairewrites/status/17350000050",
        url="https://twitter.com/clairewrites/status/17350000050",
        created_at=datetime(2010, 6, 29, 19, 5, 33, tzinfo=UTC),
        author=Author(
            handle="@clairewrites",
            url="https://twitter.com/clairewrites",
            uri="https://twitter.com/i/user/140002",
        ),
        content_html=(
            "<p>Next up at #bsnopen: how charities can share data without drowning in it "
            '&amp; <a href="http://www.example.org.uk/charity-data-guide">'
            "http://www.example.org.uk/charity-data-guide</a></p>"
        ),
        text=(
            "Next up at #bsnopen: how charities can share data without drowning in it & "
            "http://www.example.org.uk/charity-data-guide"
        ),
        sighting=Sighting(
            source="twitter",
            local_id="17350000050",
            url="https://twitter.com/clairewrites/status/17350000050",
            fetched_at=FETCHED_AT,
            fetched_from=str(FIXTURES / "tags_archive.csv"),
        ),
        source="twitter",
        tags=("bsnopen",),
        links=("http://www.example.org.uk/charity-data-guide",),
        is_tags_row=True,  # its provenance, stated for the store (issue 16)
    )
    assert json.loads(first.raw)["id_str"] == "17350000050"  # the row, BOM-free header
    # TAGS keeps a retweet as its text: a boost of one of that user's posts.
    assert isinstance(retweet, Boost)
    assert retweet.is_tags_row
    assert retweet.post_uri == "https://twitter.com/clairewrites"
    assert retweet.booster.handle == "@dan_civic"
    assert retweet.created_at == datetime(2010, 6, 29, 19, 6, 2, tzinfo=UTC)
    assert isinstance(multiline, Post)
    assert multiline.text == (
        "@clairewrites three things from #bsnopen:\n1. people want it local\n"
        "2. nobody mentioned funding. Wall: http://bsn.example.org/wall."
    )
    assert multiline.content_html == (
        "<p>@clairewrites three things from #bsnopen:<br>1. people want it local<br>"
        '2. nobody mentioned funding. Wall: <a href="http://bsn.example.org/wall">'
        "http://bsn.example.org/wall</a>.</p>"
    )
    assert multiline.links == ("http://bsn.example.org/wall",)
    assert multiline.tags == ("bsnopen",)
    assert multiline.created_at == datetime(2010, 6, 29, 20, 15, tzinfo=UTC)  # from `time`
    assert multiline.flags == ("tz-less date",)
    assert multiline.in_reply_to_uri == "https://twitter.com/clairewrites/status/17350000050"
    assert isinstance(recovered, Post)
    assert recovered.sighting.local_id == "880441234567890123"  # from status_url
    assert recovered.tags == ("bsnopen",)


def test_tags_csv_gzip_is_read_alike(tmp_path: Path) -> None:
    packed = tmp_path / "tags_archive.csv"
    packed.write_bytes(gzip.compress((FIXTURES / "tags_archive.csv").read_bytes()))
    plain = list(iter_tags_csv(FIXTURES / "tags_archive.csv", fetched_at=FETCHED_AT))
    assert summary(list(iter_tags_csv(packed, fetched_at=FETCHED_AT))) == summary(plain)


def test_tags_csv_bad_bytes_and_runaway_quote(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(
        b"id_str,from_user,text,created_at\n"
        b"17350000090,dan_civic,caf\xe9 #bsnopen,Tue Jun 29 19:00:00 +0000 2010\n"
        b"17350000091,dan_civic,fine #bsnopen,Tue Jun 29 19:01:00 +0000 2010\n"
        b'17350000092,dan_civic,"never closed' + b" x" * 70_000 + b"\n"
    )
    records = list(iter_tags_csv(path, fetched_at=FETCHED_AT))
    assert [(r.line_no, r.error, len(r.items)) for r in records] == [
        (2, "invalid UTF-8", 0),
        (3, None, 1),
        (4, "CSV syntax error, rest of file skipped: field larger than field limit (131072)", 0),
    ]


def test_tags_csv_needs_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("name,score\nbob,3\n", encoding="utf-8")
    with pytest.raises(SourceError, match="not a TAGS archive sheet"):
        list(iter_tags_csv(path, fetched_at=FETCHED_AT))


def test_tags_row_without_entities_or_dates() -> None:
    row = {"id_str": "17350000095", "from_user": "hackneyjo", "text": "late #bsnopen"}
    record = parse_tags_row(row, line_no=9, fetched_at=FETCHED_AT, fetched_from="t.csv")
    assert record == TwarcLine(9, (), "missing created_at")
    row["created_at"] = "yesterday"
    record = parse_tags_row(row, line_no=9, fetched_at=FETCHED_AT, fetched_from="t.csv")
    assert record.error == "bad created_at 'yesterday'"


def test_a_retweeted_tweet_whose_author_is_missing_is_named_as_the_retweet_names_them() -> None:
    original = {
        "id": "1588100000000000000", "author_id": "1666", "text": "Opening night #bsnopen",
        "created_at": "2022-11-01T09:00:00.000Z",
    }  # fmt: skip
    retweet = {
        "id": "1588100000000000001", "author_id": "1002", "created_at": "2022-11-01T09:05:00.000Z",
        "text": "RT @SuspendedSam: Opening night #bsnopen",
        "referenced_tweets": [{"type": "retweeted", "id": "1588100000000000000"}],
    }  # fmt: skip
    response = {
        "data": [retweet],
        "includes": {"users": [{"id": "1002", "username": "bob_k", "name": "Bob"}],
                     "tweets": [original]},
        "errors": [{"resource_id": "1666", "title": "Forbidden",
                    "detail": "User has been suspended: [1666]."}],
    }  # fmt: skip
    line = parse_twarc_line(
        json.dumps(response), line_no=1, fetched_at=FETCHED_AT, fetched_from="x.jsonl"
    )
    post, boost = line.items
    assert isinstance(post, Post) and isinstance(boost, Boost)
    assert (
        post.uri == boost.post_uri == "https://twitter.com/SuspendedSam/status/1588100000000000000"
    )
    assert post.author.handle == "@SuspendedSam"
