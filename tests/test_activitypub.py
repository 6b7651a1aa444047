"""The pure ActivityPub parsers: decoding, actors, collections, activities; and the outbox
walk against loopback servers, which follows links only on the configured host.

Golden fixtures: ``outbox_page1``/``outbox_page2``/``outbox_gts_embedded``/``note_misskey*``
in ``fixtures/activitypub`` each have an ``.expected.json`` holding, per item, the
expected ParsedActivity fields (``raw`` is checked separately).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsarchive.errors import FetchError, ParseError
from bsarchive.http import Http, HttpSettings
from bsarchive.models import Boost, Cursor, Deletion, Page, Post, SourceSpec, iso
from bsarchive.sources import FetchContext
from bsarchive.sources.activitypub import (
    ACCEPT,
    CollectionPage,
    ParsedActivity,
    fetch_outbox,
    find_outbox,
    parse_activity,
    parse_collection_page,
    parse_json,
)
from tests.support import paths
from tests.support.feed_server import FeedServer, Route
from tests.support.plain import as_plain

FIXTURES = paths.FIXTURES / "activitypub"
FETCHED_AT = datetime(2010, 6, 30, 9, 0, tzinfo=UTC)
ALICE = "https://mastodon.bsn.example/users/alice"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parse(item: Any, *, tags: tuple[str, ...] = ("bsnopen",), **kwargs: Any) -> ParsedActivity:
    return parse_activity(
        item, tags=tags, source="outbox", fetched_at=FETCHED_AT, fetched_from="https://f", **kwargs
    )


def the_post(item: Any, **kwargs: Any) -> Post:
    post = parse(item, **kwargs).post
    assert post is not None
    return post


def note(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"{ALICE}/statuses/1",
        "type": "Note",
        "attributedTo": ALICE,
        "published": "2010-06-29T18:00:00Z",
        "content": "<p>Open night <a href='https://h/tags/bsnopen' rel='tag'>#bsnopen</a></p>",
        "to": [PUBLIC],
        "tag": [{"type": "Hashtag", "name": "#bsnopen"}],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def test_accept_header_offers_both_types() -> None:
    assert ACCEPT == (
        'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    )


# --- parse_json -----------------------------------------------------------------------------


def test_parse_json_decodes_an_object() -> None:
    assert parse_json(b'\xef\xbb\xbf {"type": "Note", "id": "x"}', "u") == {
        "type": "Note",
        "id": "x",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "https://a/b: empty body where ActivityPub JSON was expected"),
        (
            b"  <!DOCTYPE html><html></html>",
            "https://a/b: got HTML, not ActivityPub JSON (not an ActivityPub endpoint, "
            "or a proxy ignored the Accept header)",
        ),
        (b"[1, 2]", "https://a/b: expected a JSON object, got list"),
        (b'"Note"', "https://a/b: expected a JSON object, got str"),
        (b'{"a": [' * 101 + b"]}" * 101, "https://a/b: JSON nested deeper than 100 levels"),
    ],
)
def test_parse_json_refuses(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_json(body, "https://a/b")
    assert str(info.value) == message


@pytest.mark.parametrize(
    "body", [b"{", b'{"a": }', b"\xff\xfe{}", b"[" * 100_000, b'{"a":' * 50_000]
)
def test_parse_json_invalid_or_bomb_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_json(body, "https://a/b")
    assert info.value.url == "https://a/b"


def test_parse_json_accepts_nesting_up_to_the_limit() -> None:
    body = b'{"a":' * 99 + b"{}" + b"}" * 99  # 100 levels of objects
    assert parse_json(body, "u")["a"] is not None


# --- find_outbox ----------------------------------------------------------------------------


def test_find_outbox_of_actor() -> None:
    assert find_outbox(load("actor"), ALICE) == f"{ALICE}/outbox"


@pytest.mark.parametrize("name", ["outbox", "outbox_page1", "outbox_gts_embedded"])
def test_find_outbox_of_a_collection_is_the_url_itself(name: str) -> None:
    assert find_outbox(load(name), "https://given/url") == "https://given/url"


def test_find_outbox_resolves_relative_and_object_outbox() -> None:
    actor = {"type": ["Service", "Actor"], "outbox": {"id": "/users/bot/outbox"}}
    assert find_outbox(actor, "https://h/users/bot") == "https://h/users/bot/outbox"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"type": "Note"}, "u: not an ActivityPub actor or collection (Note)"),
        ({}, "u: not an ActivityPub actor or collection (no type)"),
        ({"type": "Person", "outbox": 7}, "u: actor has no outbox"),
    ],
)
def test_find_outbox_refuses(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ParseError) as info:
        find_outbox(doc, "u")
    assert str(info.value) == message


# --- parse_collection_page ------------------------------------------------------------------


def test_collection_with_first_as_url() -> None:
    assert parse_collection_page(load("outbox"), f"{ALICE}/outbox") == CollectionPage(
        items=(), next=None, first=f"{ALICE}/outbox?page=true", is_page=False
    )


def test_collection_with_embedded_first_page_returns_its_items() -> None:
    page = parse_collection_page(load("outbox_gts_embedded"), "u")
    assert (len(page.items), page.next, page.first, page.is_page) == (
        2,
        "https://gts.bsn.example/users/dan/outbox?limit=40&max_id=01HZX4K6W8D3Q9V2M7N5P1R0SS",
        None,
        False,
    )


def test_pages_with_ordered_items_and_items() -> None:
    first = parse_collection_page(load("outbox_page1"), "u")
    last = parse_collection_page(load("outbox_page2"), "u")
    assert (len(first.items), first.next, first.is_page) == (
        6,
        f"{ALICE}/outbox?max_id=104566203345870013&page=true",
        True,
    )
    assert (len(last.items), last.next, last.is_page) == (3, None, True)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {
                "type": "OrderedCollectionPage",
                "id": "https://h/o?page=2",
                "next": {"id": "?page=3"},
            },
            CollectionPage((), "https://h/o?page=3", None, True),
        ),
        (
            {"type": "CollectionPage", "id": "https://h/o?page=2", "next": "https://h/o?page=2"},
            CollectionPage((), None, None, True),
        ),
        (
            {"type": "OrderedCollectionPage", "orderedItems": {"type": "Create"}},
            CollectionPage(({"type": "Create"},), None, None, True),
        ),
        (
            {"type": "OrderedCollection", "orderedItems": ["https://h/s/1", None, 3, ""]},
            CollectionPage(("https://h/s/1",), None, None, False),
        ),
    ],
)
def test_page_shapes(doc: dict[str, object], expected: CollectionPage) -> None:
    assert parse_collection_page(doc, "https://h/o") == expected


def test_collection_page_refuses_other_documents() -> None:
    with pytest.raises(ParseError) as info:
        parse_collection_page({"type": "Person"}, "https://h/u")
    assert str(info.value) == "https://h/u: expected an ActivityPub collection, got Person"


# --- golden outbox items --------------------------------------------------------------------

GOLDEN = [
    "note_misskey",
    "note_misskey_notag",
    "outbox_gts_embedded",
    "outbox_page1",
    "outbox_page2",
]


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_items(name: str) -> None:
    doc = load(name)
    items = parse_collection_page(doc, doc["id"]).items if name.startswith("outbox") else [doc]
    results = [
        parse_activity(
            item,
            tags=["BSNopen"],
            source="outbox:" + doc["id"],
            fetched_at=FETCHED_AT,
            fetched_from=doc["id"],
        )
        for item in items
    ]
    assert [as_plain(r) for r in results] == load(f"{name}.expected")


def test_outbox_page_kinds_in_order() -> None:
    page = parse_collection_page(load("outbox_page1"), "u")
    kinds = [
        tuple(type(item).__name__ for item in parse(entry).items) or parse(entry).skipped
        for entry in page.items
    ]
    assert kinds == [
        ("Boost",),
        "ignored type Like",
        "untagged",
        ("Post",),
        ("Deletion",),
        ("Post",),
    ]


def test_raw_is_the_object_with_sorted_keys() -> None:
    create = load("outbox_page1")["orderedItems"][5]
    post = the_post(create)
    assert json.loads(post.raw) == create["object"]
    assert post.raw.startswith('{"atomUri":')


# --- posts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        {"type": "Hashtag", "name": "BsnOpen"},  # no `#`, single object
        [{"type": "Hashtag", "href": "https://h/tags/bsnopen", "name": "#ＢＳＮｏｐｅｎ"}],
        ...,  # missing: fall back to `#word` in content
        [{"type": "Hashtag", "href": "https://h/tags/x"}],  # no name: content fallback
    ],
)
def test_tag_shapes(tag: Any) -> None:
    assert the_post(note(tag=tag)).tags == ("bsnopen",)


def test_untagged_is_skipped_unless_asked() -> None:
    item = note(tag=[{"type": "Hashtag", "name": "#other"}], content="<p>hi</p>")
    assert parse(item) == ParsedActivity(skipped="untagged")
    assert the_post(item, include_untagged=True).tags == ("other",)
    assert parse(note(), tags=()) == ParsedActivity(skipped="untagged")


@pytest.mark.parametrize("kind", ["Note", "Article", "Page", "Question", "Video", ["Note", "X"]])
def test_post_types(kind: Any) -> None:
    assert the_post(note(type=kind)).uri == f"{ALICE}/statuses/1"


def test_missing_published_uses_fetch_time_and_flags() -> None:
    post = the_post(note(published=...))
    assert (post.created_at, post.flags) == (FETCHED_AT, ("no date",))
    post = the_post(note(published="last Tuesday"))
    assert (post.created_at, post.flags) == (FETCHED_AT, ("bad date",))


def test_tag_uri_ids_and_string_to() -> None:
    post = the_post(
        note(id="tag:gnusocial.example,2010-06-29:noticeId=42:objectType=note", to=PUBLIC)
    )
    assert (post.uri, post.visibility) == (
        "tag:gnusocial.example,2010-06-29:noticeId=42:objectType=note",
        "public",
    )


@pytest.mark.parametrize(
    ("to", "cc", "visibility"),
    [
        (["as:Public"], [], "public"),
        ("Public", None, "public"),
        ([f"{ALICE}/followers"], [PUBLIC], "unlisted"),
        ([f"{ALICE}/followers"], [], "private"),
        (["https://social.civic.example/users/bob"], None, "direct"),
    ],
)
def test_visibility(to: Any, cc: Any, visibility: str) -> None:
    assert the_post(note(to=to, cc=cc)).visibility == visibility


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/@alice/1", "https://h/@alice/1"),
        ({"type": "Link", "href": "https://h/@alice/1"}, "https://h/@alice/1"),
        (
            [
                {"type": "Link", "mediaType": "video/mp4", "href": "https://h/v.mp4"},
                {"type": "Link", "mediaType": "text/html", "href": "https://h/w/1"},
            ],
            "https://h/w/1",
        ),
        (["https://h/a", "https://h/b"], "https://h/a"),
        (..., None),
    ],
)
def test_url_shapes(url: Any, expected: str | None) -> None:
    assert the_post(note(url=url)).url == expected


def test_embedded_actor_gives_preferred_username_handle() -> None:
    actor = load("actor")
    actor["preferredUsername"] = "Alice"
    post = the_post(note(attributedTo=actor))
    assert (post.author.handle, post.author.name, post.author.url, post.author.indexable) == (
        "@Alice@mastodon.bsn.example",
        "Alice Jones",
        "https://mastodon.bsn.example/@alice",
        True,
    )
    assert post.author.bio == "Community organiser. Big Society Network volunteer.\nViews my own."


@pytest.mark.parametrize(
    ("attributed", "handle"),
    [
        ("https://mastodon.bsn.example/@alice", "@alice@mastodon.bsn.example"),
        ("https://peertube.example/accounts/kim", "https://peertube.example/accounts/kim"),
        (
            [
                {"type": "Group", "id": "https://peertube.example/video-channels/bsn"},
                {"type": "Person", "id": "https://peertube.example/users/kim"},
            ],
            "@kim@peertube.example",
        ),
    ],
)
def test_author_handles(attributed: Any, handle: str) -> None:
    assert the_post(note(attributedTo=attributed)).author.handle == handle


def test_content_map_reply_quote_mentions_media_and_counts() -> None:
    post = the_post(
        note(
            content=...,
            contentMap={
                "en": "<p>Counting chairs #bsnopen <a href='https://b.example/p'>p</a></p>"
            },
            summary="logistics",
            inReplyTo={"id": "https://h/s/0"},
            quoteUri="https://h/s/q",
            tag=[
                {"type": "Hashtag", "name": "#bsnopen"},
                {
                    "type": "Mention",
                    "name": "@bob",
                    "href": "https://social.civic.example/users/bob",
                },
                {"type": "Mention", "name": "@carol@Mastodon.BSN.example", "href": "x"},
            ],
            attachment={"type": "Document", "url": [{"href": "https://files/1.jpg"}]},
            shares={"totalItems": 3},
            likes={"totalItems": True},
        )
    )
    assert (post.text, post.language, post.spoiler_text) == (
        "Counting chairs #bsnopen p",
        "en",
        "logistics",
    )
    assert (post.in_reply_to_uri, post.quote_uri) == ("https://h/s/0", "https://h/s/q")
    assert post.mentions == ("@bob@social.civic.example", "@carol@mastodon.bsn.example")
    assert (post.links, post.media) == (("https://b.example/p",), ("https://files/1.jpg",))
    assert (post.boosts, post.favourites, post.replies) == (3, None, None)


def test_update_without_updated_uses_activity_date_as_edit() -> None:
    update = {
        "type": "Update",
        "published": "2010-06-29T18:09:31Z",
        "object": note(published="2010-06-29T18:05:00Z"),
    }
    assert iso(the_post(update).edited_at) == "2010-06-29T18:09:31.000Z"
    unchanged = note(published="2010-06-29T18:05:00Z", updated="2010-06-29T18:05:00Z")
    assert the_post(unchanged).edited_at is None


def test_create_with_object_uri_needs_fetch() -> None:
    assert parse({"type": "Create", "object": "https://h/s/9"}) == ParsedActivity(
        needs_fetch="https://h/s/9"
    )
    assert parse("https://h/s/8") == ParsedActivity(needs_fetch="https://h/s/8")


# --- boosts and deletions -------------------------------------------------------------------


def test_announce_with_embedded_tagged_note_gives_post_and_boost() -> None:
    announce = {
        "id": "https://gts.bsn.example/users/dan/statuses/01B/activity",
        "type": "Announce",
        "actor": "https://gts.bsn.example/users/dan",
        "published": "2010-06-29T19:05:00Z",
        "object": note(),
    }
    result = parse(announce)
    assert result.post is not None and result.boost is not None
    assert result.needs_fetch is None
    assert (result.boost.uri, result.boost.post_uri, result.boost.booster.handle) == (
        "https://gts.bsn.example/users/dan/statuses/01B/activity",
        f"{ALICE}/statuses/1",
        "@dan@gts.bsn.example",
    )
    assert result.boost.created_at == datetime(2010, 6, 29, 19, 5, tzinfo=UTC)
    assert result.items == (result.post, result.boost)


def test_announce_of_untagged_embedded_note_is_skipped() -> None:
    announce = {"id": "https://h/a/1", "type": "Announce", "object": note(tag=[], content="x")}
    assert parse(announce) == ParsedActivity(skipped="untagged")


def test_announce_without_date_uses_fetch_time() -> None:
    result = parse(
        {"id": "https://h/a/1", "type": "Announce", "actor": ALICE, "object": "https://h/s/2"}
    )
    assert result.boost is not None
    assert (result.boost.created_at, result.needs_fetch) == (FETCHED_AT, "https://h/s/2")


@pytest.mark.parametrize(
    "item",
    [
        {"type": "Delete", "actor": ALICE, "object": f"{ALICE}/statuses/5"},
        {"type": "Delete", "object": {"type": "Tombstone", "id": f"{ALICE}/statuses/5"}},
        {"type": "Tombstone", "id": f"{ALICE}/statuses/5", "formerType": "Note"},
    ],
)
def test_deletions(item: dict[str, object]) -> None:
    result = parse(item)
    assert result.deletion is not None
    assert result.items == (Deletion(f"{ALICE}/statuses/5", result.deletion.sighting),)
    assert result.deletion.uri == f"{ALICE}/statuses/5"


def test_account_deletion_is_not_a_post_deletion() -> None:
    item = {"type": "Delete", "actor": ALICE, "object": ALICE}
    assert parse(item) == ParsedActivity(skipped="account deletion")


@pytest.mark.parametrize(
    ("item", "skipped"),
    [
        ({"type": "Like", "object": "x"}, "ignored type Like"),
        ({"type": "Follow"}, "ignored type Follow"),
        ({"id": "x"}, "ignored type none"),
        ({"type": "Create", "object": {"type": "Event"}}, "ignored Create of Event"),
        ({"type": "Create"}, "ignored Create of nothing"),
    ],
)
def test_ignored_items(item: dict[str, object], skipped: str) -> None:
    assert parse(item) == ParsedActivity(skipped=skipped)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "Delete"}, "https://f: Delete without an object id"),
        ({"type": "Tombstone"}, "https://f: Tombstone without an id"),
        ({"type": "Announce", "object": "x"}, "https://f: Announce without an id or an object id"),
        ({"type": "Create", "object": note(id=...)}, "https://f: tagged post without an id"),
    ],
)
def test_broken_items_raise_parse_error(item: dict[str, object], message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(item)
    assert str(info.value) == message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "id",
        "type",
        "object",
        "actor",
        "tag",
        "to",
        "cc",
        "url",
        "content",
        "contentMap",
        "published",
        "updated",
        "attributedTo",
        "inReplyTo",
        "attachment",
        "summary",
    ]
)
_TYPES = st.sampled_from(["Create", "Update", "Announce", "Delete", "Tombstone", "Note", "Like"])


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_KEYS, _JSON, max_size=10),
    _TYPES,
    st.dictionaries(_KEYS, _JSON | st.just("#bsnopen"), max_size=8),
)
def test_parse_activity_raises_only_parse_error(
    item: dict[str, object], kind: str, obj: dict[str, object]
) -> None:
    item["type"] = kind
    obj.setdefault("type", "Note")
    item.setdefault("object", obj)
    try:
        result = parse(item, include_untagged=True)
    except ParseError as e:
        assert e.url == "https://f"
    else:
        assert isinstance(result, ParsedActivity)
        for model in result.items:
            assert isinstance(model, Post | Boost | Deletion)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_parse_json_raises_only_parse_error(body: bytes) -> None:
    try:
        value = parse_json(body, "u")
    except ParseError as e:
        assert e.url == "u"
    else:
        assert isinstance(value, dict)


# --- the outbox walk, against loopback servers ----------------------------------------------

AP = "application/activity+json; charset=utf-8"
FAST = HttpSettings(
    connect_timeout=2, read_timeout=2, total_timeout=5, retries=0, backoff=0.0, max_wait=5
)
REFUSED_HINT = "(an outbox is only walked on the host of the configured URL)"


@pytest.fixture
def home() -> Iterator[FeedServer]:
    """The configured server, reached as 127.0.0.1."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[FeedServer]:
    """Another server, reached as ``localhost``: a different host name for the same-host rule,
    so any request that wrongly reaches it is recorded."""
    with FeedServer() as server:
        yield server


def other_host(server: FeedServer) -> str:
    return server.url.replace("127.0.0.1", "localhost")


def ap(doc: dict[str, Any], **kwargs: Any) -> Route:
    return Route(json.dumps(doc).encode(), content_type=AP, **kwargs)


def collection(base: str, first: str) -> Route:
    return ap({"id": f"{base}/users/alice/outbox", "type": "OrderedCollection", "first": first})


def outbox_page(url: str, statuses: list[int], next_url: str | None = None) -> Route:
    """A page of Creates by alice on the page's own server (an outbox speaks for no other)."""
    alice = urlsplit(url)._replace(path="/users/alice", query="").geturl()
    doc: dict[str, Any] = {
        "id": url,
        "type": "OrderedCollectionPage",
        "orderedItems": [
            {
                "id": f"{alice}/statuses/{n}/activity",
                "type": "Create",
                "actor": alice,
                "to": [PUBLIC],
                "object": note(id=f"{alice}/statuses/{n}", attributedTo=alice),
            }
            for n in statuses
        ],
    }
    if next_url is not None:
        doc["next"] = next_url
    return ap(doc)


def walk(url: str, pages: list[Page]) -> None:
    """Run the outbox source on ``url``, collecting what it yields until it ends or raises."""
    with Http(FAST) as client:
        pages.extend(
            fetch_outbox(client, SourceSpec("outbox", url), Cursor(), FetchContext(("bsnopen",)))
        )


def uris(pages: list[Page]) -> list[str]:
    return [item.uri for page in pages for item in page.items if isinstance(item, Post)]


def test_outbox_walk_follows_actor_outbox_first_and_next_on_the_same_host(
    home: FeedServer,
) -> None:
    base = home.url
    home.routes.update(
        {
            "/users/alice": ap(
                {"id": f"{base}/users/alice", "type": "Person", "outbox": "/users/alice/outbox"}
            ),
            "/users/alice/outbox": collection(base, f"{base}/users/alice/outbox?page=1"),
            "/users/alice/outbox?page=1": outbox_page(
                f"{base}/users/alice/outbox?page=1", [2], f"{base}/users/alice/outbox?page=2"
            ),
            "/users/alice/outbox?page=2": outbox_page(f"{base}/users/alice/outbox?page=2", [1]),
        }
    )
    pages: list[Page] = []
    walk(f"{base}/users/alice", pages)
    assert uris(pages) == [f"{base}/users/alice/statuses/2", f"{base}/users/alice/statuses/1"]
    assert home.paths() == [
        "/users/alice",
        "/users/alice/outbox",
        "/users/alice/outbox?page=1",
        "/users/alice/outbox?page=2",
    ]


def refused_elsewhere(url: str, pages: list[Page], what: str, elsewhere: FeedServer) -> None:
    """Walking ``url`` stops at a ``what`` link to ``elsewhere``, which is never asked."""
    with pytest.raises(ParseError) as raised:
        walk(url, pages)
    port = elsewhere.url.rsplit(":", 1)[1]
    assert str(raised.value) == (
        f"{url}: {what} link points to another host (localhost:{port}); "
        f"refusing to follow {REFUSED_HINT}"
    )
    assert elsewhere.paths() == []


def test_outbox_first_on_another_host_is_refused_without_a_request(
    home: FeedServer, elsewhere: FeedServer
) -> None:
    outbox = f"{home.url}/users/alice/outbox"
    hostile = f"{other_host(elsewhere)}/users/alice/outbox?page=1"
    home.routes["/users/alice/outbox"] = collection(home.url, hostile)
    elsewhere.routes["/users/alice/outbox?page=1"] = outbox_page(hostile, [1])
    pages: list[Page] = []
    refused_elsewhere(outbox, pages, "first", elsewhere)
    assert home.paths() == ["/users/alice/outbox"]
    assert pages == []


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (
            # The audit's cloud-metadata path, on a loopback host so that even a regression
            # reaches no network.
            "http://127.0.0.2:9/latest/meta-data/",
            f"first link points to another host (127.0.0.2:9); refusing to follow {REFUSED_HINT}",
        ),
        (
            "http://127.0.0.1:9/admin",  # the configured host name, another port
            f"first link points to another host (127.0.0.1:9); refusing to follow {REFUSED_HINT}",
        ),
        (
            "file:///etc/passwd",
            "first link is not an http(s) URL with a valid host and port; refused",
        ),
    ],
    ids=["other-loopback-host", "other-port", "file-url"],
)
def test_outbox_first_to_a_private_or_odd_address_is_refused(
    home: FeedServer, first: str, message: str
) -> None:
    # The refusal comes before any request: these addresses are never contacted.
    outbox = f"{home.url}/users/alice/outbox"
    home.routes["/users/alice/outbox"] = collection(home.url, first)
    with pytest.raises(ParseError) as raised:
        walk(outbox, [])
    assert str(raised.value) == f"{outbox}: {message}"
    assert home.paths() == ["/users/alice/outbox"]


def test_actor_outbox_on_another_host_is_refused_without_a_request(
    home: FeedServer, elsewhere: FeedServer
) -> None:
    actor = f"{home.url}/users/alice"
    hostile = f"{other_host(elsewhere)}/users/alice/outbox"
    home.routes["/users/alice"] = ap({"id": actor, "type": "Person", "outbox": hostile})
    elsewhere.routes["/users/alice/outbox"] = collection(hostile, f"{hostile}?page=1")
    refused_elsewhere(actor, [], "outbox", elsewhere)


def test_next_on_another_host_ends_the_walk_and_keeps_the_first_page(
    home: FeedServer, elsewhere: FeedServer
) -> None:
    outbox = f"{home.url}/users/alice/outbox"
    first = f"{outbox}?page=1"
    hostile = f"{other_host(elsewhere)}/users/alice/outbox?page=2"
    home.routes.update(
        {
            "/users/alice/outbox": collection(home.url, first),
            "/users/alice/outbox?page=1": outbox_page(first, [3, 2], hostile),
        }
    )
    elsewhere.routes["/users/alice/outbox?page=2"] = outbox_page(hostile, [1])
    pages: list[Page] = []
    refused_elsewhere(outbox, pages, "next", elsewhere)
    assert uris(pages) == [f"{home.url}/users/alice/statuses/{n}" for n in (3, 2)]
    assert elsewhere.paths() == []
    assert home.paths() == ["/users/alice/outbox", "/users/alice/outbox?page=1"]


def test_page_redirecting_to_another_host_is_refused(
    home: FeedServer, elsewhere: FeedServer
) -> None:
    outbox = f"{home.url}/users/alice/outbox"
    hostile = f"{other_host(elsewhere)}/users/alice/outbox?page=1"
    home.routes.update(
        {
            "/users/alice/outbox": collection(home.url, f"{outbox}?page=1"),
            "/users/alice/outbox?page=1": Route(status=302, headers={"Location": hostile}),
        }
    )
    elsewhere.routes["/users/alice/outbox?page=1"] = outbox_page(hostile, [1])
    with pytest.raises(FetchError) as raised:
        walk(outbox, [])
    assert str(raised.value) == f"{outbox}: redirected to another host (localhost)"
    assert elsewhere.paths() == []
