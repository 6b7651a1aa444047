"""Discovery decisions and NodeInfo parsing (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bsarchive.discovery import (
    candidate_servers,
    host_of_handle,
    refusal,
    server_of,
    server_state,
)
from bsarchive.errors import AuthRequiredError, FeedsDisabledError, FetchError
from bsarchive.sources.mastodon_parse import parse_status
from bsarchive.sources.nodeinfo import (
    InstanceInfo,
    nodeinfo_href,
    parse_nodeinfo,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_host_of_handle() -> None:
    assert host_of_handle("@alice@Social.Example") == "social.example"
    assert host_of_handle("@bob@127.0.0.1:8002") == "127.0.0.1:8002"
    assert host_of_handle("@carol") is None
    assert host_of_handle("Jane Blogger") is None
    assert host_of_handle("@x@localhost") is None


def test_server_of_prefers_the_web_address() -> None:
    # A mention's profile address names the server; the acct's domain may be an alias.
    assert server_of("@ann@example.org", "https://social.example.org/@ann") == (
        "social.example.org", "https://social.example.org")  # fmt: skip
    assert server_of(None, "http://127.0.0.1:8123/@bob") == (
        "127.0.0.1:8123", "http://127.0.0.1:8123")  # fmt: skip
    assert server_of(None, "https://Big.Example:443/users/x/statuses/1") == (
        "big.example", "https://big.example")  # fmt: skip
    assert server_of("@carol@one.example", None) == ("one.example", "https://one.example")
    assert server_of(None, "tag:gnusocial.example,2010:noticeId=1") is None
    assert server_of("@twit", "https://localhost/@x") is None
    assert server_of(None, "http://[::1]:9000/@v") == ("[::1]:9000", "http://[::1]:9000")


def test_a_page_reveals_authors_mentions_and_reply_parents() -> None:
    # What one stored page of the tag timeline points at: its author, the accounts it
    # mentions (one reached only that way) and the post it replies to.
    page = [
        ("@a@one.example", "https://one.example/@a", 2),
        (None, "http://127.0.0.1:8001/@mentioned", 1),  # a mention's profile address
        (None, "https://three.example/users/p/statuses/9", 1),  # in_reply_to_uri
        ("@e@known.example", "https://known.example/@e", 5),
        (None, "https://refused.example/@f", 3),
        (None, "https://old.example/@g", 1),
        ("@twitter_user", None, 9),
    ]
    refused = {"refused.example": NOW - timedelta(days=1), "old.example": NOW - timedelta(days=30)}
    got = candidate_servers(page, known=["known.example"], refused=refused, now=NOW, limit=9)
    assert got == [
        ("one.example", "https://one.example"),
        ("127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("old.example", "https://old.example"),
        ("three.example", "https://three.example"),
    ]
    assert candidate_servers(page, known=[], refused={}, now=NOW, limit=2) == [
        ("known.example", "https://known.example"),
        ("refused.example", "https://refused.example"),
    ]
    assert candidate_servers(page, known=[], refused={}, now=NOW, limit=0) == []


def test_mastodon_mentions_keep_their_profile_addresses() -> None:
    status = {
        "id": "7", "uri": "https://home.example/users/a/statuses/7",
        "created_at": "2010-06-29T17:00:00.000Z", "content": "<p>hi</p>",
        "in_reply_to_id": "5", "in_reply_to_account_id": "42",
        "account": {"id": "1", "acct": "a", "url": "https://home.example/@a"},
        "mentions": [
            {"id": "42", "acct": "b", "username": "b", "url": "http://127.0.0.1:8002/@b"},
            {"id": "43", "acct": "c@alias.example", "url": "https://c.alias.example/@c"},
            {"id": "44", "acct": "d", "url": "javascript:alert(1)"},
        ],
    }  # fmt: skip
    post, _ = parse_status(status, instance="home.example", fetched_at=NOW, fetched_from="u")
    assert post.mention_urls == ("http://127.0.0.1:8002/@b", "https://c.alias.example/@c")


def test_server_state_words() -> None:
    assert server_state(True, "mastodon", "", 3) == "archived (3 posts)"
    assert server_state(True, "mastodon", "", 1) == "archived (1 post)"
    assert server_state(False, "", "http://h:1/api/v1/timelines/tag/t: HTTP 401", 0) == (
        "refused with 401 (needs a token)"
    )
    off = "h #t: the server has hashtag feeds turned off (timelines_access); it serves none"
    assert server_state(False, "mastodon", off, 0) == "hashtag feeds disabled"
    # A refusal is told by the error's kind and status, not by its words.
    assert refusal(FeedsDisabledError("h #t", "hashtag feeds off")) == "hashtag feeds disabled"
    assert refusal(AuthRequiredError("h #t", "refused", status=401)) == (
        "refused with 401 (needs a token)"
    )
    assert refusal(FetchError("h #t", "not accepted", status=422)) == (
        "refused with 422 (not accepted)"
    )
    assert refusal(FetchError("h #t", "timed out after 3 tries")) is None
    assert refusal(FetchError("h #t", "HTTP 503", status=503)) is None
    # The words recorded are what stats shows.
    assert server_state(False, "", "refused with 401 (needs a token)", 0) == (
        "refused with 401 (needs a token)"
    )
    assert server_state(False, "misskey", "unsupported software misskey", 0) == (
        "not Mastodon-compatible (misskey)"
    )
    assert server_state(False, "gotosocial", "gotosocial requires a token for tag timelines",
                        0) == "needs a token (gotosocial)"  # fmt: skip
    assert server_state(False, "", "h:1: h resolves to non-public address 127.0.0.1", 0) == (
        "not contacted: private address (see --allow-private-networks)"
    )
    assert server_state(False, "", "timed out", 0) == "not usable: timed out"


def test_nodeinfo_documents() -> None:
    wellknown = (
        b'{"links":[{"rel":"http://nodeinfo.diaspora.software/ns/schema/2.0",'
        b'"href":"https://a.example/nodeinfo/2.0"},'
        b'{"rel":"http://nodeinfo.diaspora.software/ns/schema/2.1",'
        b'"href":"https://a.example/nodeinfo/2.1"}]}'
    )
    assert nodeinfo_href(wellknown) == "https://a.example/nodeinfo/2.1"
    assert nodeinfo_href(b"<html>") is None
    doc = (
        b'{"version":"2.0","software":{"name":"mastodon","version":"4.3.2"},'
        b'"protocols":["activitypub"]}'
    )
    assert parse_nodeinfo("a.example", doc) == InstanceInfo("a.example", True, "mastodon", "4.3.2")
    gts = b'{"software":{"name":"gotosocial","version":"0.17.0"}}'
    assert parse_nodeinfo("g.example", gts) == InstanceInfo(
        "g.example", False, "gotosocial", "0.17.0", "gotosocial requires a token for tag timelines"
    )
    misskey = b'{"software":{"name":"misskey","version":"2024.11.0"}}'
    assert parse_nodeinfo("m.example", misskey).usable is False  # type: ignore[union-attr]
    assert parse_nodeinfo("x.example", b'{"hello": 1}') is None
