"""Discovery decisions and NodeInfo parsing (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bsarchive.discovery import candidate_hosts, host_of_handle
from bsarchive.sources.nodeinfo import InstanceInfo, nodeinfo_href, parse_nodeinfo

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_host_of_handle() -> None:
    assert host_of_handle("@alice@Social.Example") == "social.example"
    assert host_of_handle("@bob@127.0.0.1:8002") == "127.0.0.1:8002"
    assert host_of_handle("@carol") is None
    assert host_of_handle("Jane Blogger") is None
    assert host_of_handle("@x@localhost") is None


def test_candidates_rank_skip_and_cap() -> None:
    handles = ["@a@one.example", "@b@one.example", "@c@two.example", "@d@three.example",
               "@e@known.example", "@f@refused.example", "@g@old.example"]  # fmt: skip
    refused = {"refused.example": NOW - timedelta(days=1), "old.example": NOW - timedelta(days=30)}
    got = candidate_hosts(handles, known=["known.example"], refused=refused, now=NOW, limit=3)
    assert got == ["one.example", "old.example", "three.example"]
    assert candidate_hosts(handles, known=[], refused={}, now=NOW, limit=0) == []


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
