"""The default re-check (issue 14): the rotating walk of a tag timeline within a request
budget, and the budget drawn from a server's rate budget across runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon
from bsarchive.http import Http, HttpSettings
from bsarchive.models import Cursor, Deletion, Post, SourceSpec
from bsarchive.sources import FetchContext
from bsarchive.sources.mastodon import (
    fetch_tag_timeline,
    id_order,
    recheck_budget,
    recheck_tag_timeline,
)
from bsarchive.store import Store

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "rechecked", "budget"),
    [
        (0, 0, 60),  # an idle server: a fifth of the 300-request paging window
        (50, 0, 60),  # after a small backfill
        (120, 0, 30),  # never past half the server's budget: catch-ups keep room
        (500, 0, 0),  # a big backfill in this window: deferred
        (70, 60, 0),  # the re-check's own share is spent
        (70, 45, 15),
    ],
)
def test_recheck_budget(sent: int, rechecked: int, budget: int) -> None:
    assert recheck_budget(sent, rechecked) == budget


@pytest.mark.parametrize(
    ("room", "rechecked", "budget"),
    [
        (None, 0, 60),  # nothing known: the documented budget
        ((300, 300), 0, 60),  # Mastodon's own, headers seen: the same
        ((40, 50), 0, 10),  # a server with 50 a window: a fifth of it
        ((40, 50), 4, 6),
        ((6, 50), 0, 3),  # never more than half of what the window has left
        ((1, 50), 0, 0),
    ],
)
def test_recheck_budget_follows_what_the_headers_say(
    room: tuple[int, int] | None, rechecked: int, budget: int
) -> None:
    assert recheck_budget(10, rechecked, room) == budget


def test_ids_order_as_servers_order_them() -> None:
    ids = ["99", "100", "1000", "101"]
    assert sorted(ids, key=id_order) == ["99", "100", "101", "1000"]


def test_the_walk_rotates_over_runs_within_its_budget() -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(200)]
    # Post 30 is deleted; it was stored, so it is a target.
    server_statuses = [s for s in statuses if s["id"] != "1030"]
    targets = [(s["uri"], s["id"]) for s in statuses]
    ctx = FetchContext(tags=("bsnopen",), now=lambda: NOW)
    with FixtureMastodon(server_statuses) as server, Http(HttpSettings(retries=0)) as http:
        spec = SourceSpec("mastodon", server.url, tag="bsnopen")
        first = list(recheck_tag_timeline(http, spec, targets, Cursor(), ctx, budget=3))
        # Three pages of 40, newest first; the cursor says where the walk stopped.
        assert [len(p.items) for p in first] == [40, 40, 40]
        assert first[-1].cursor == Cursor(oldest="1080")
        assert server.requests[0] == "/api/v1/timelines/tag/bsnopen?limit=40&max_id=1200"
        second = list(recheck_tag_timeline(http, spec, targets, first[-1].cursor, ctx, budget=10))
        items = [i for p in second for i in p.items]
        deletions = [i for i in items if isinstance(i, Deletion)]
        assert [d.uri for d in deletions] == [statuses[30]["uri"]]
        assert len([i for i in items if isinstance(i, Post)]) == 79
        assert second[-1].cursor == Cursor()  # the end: the next walk starts at the top
        assert sum(p.requests for p in second) == 3  # two pages and one status
        third = list(recheck_tag_timeline(http, spec, targets, second[-1].cursor, ctx, budget=1))
        assert server.requests[-1] == "/api/v1/timelines/tag/bsnopen?limit=40&max_id=1200"
        assert third[-1].cursor == Cursor(oldest="1160")


def test_budget_out_while_asking_resumes_at_the_unconfirmed_post() -> None:
    statuses = [synthetic_status(n, viewer="v.example", local_id=1000 + n) for n in range(10)]
    kept = [s for s in statuses if s["id"] not in ("1008", "1004")]
    targets = [(s["uri"], s["id"]) for s in statuses]
    ctx = FetchContext(tags=("bsnopen",), now=lambda: NOW)
    with FixtureMastodon(kept) as server, Http(HttpSettings(retries=0)) as http:
        spec = SourceSpec("mastodon", server.url, tag="bsnopen")
        pages = list(recheck_tag_timeline(http, spec, targets, Cursor(), ctx, budget=2))
        # One page and one question (1008); 1004 is left for the next run to walk to.
        assert [type(i).__name__ for i in pages[0].items].count("Deletion") == 1
        assert pages[-1].cursor == Cursor(oldest="1005")
        rest = list(recheck_tag_timeline(http, spec, targets, pages[-1].cursor, ctx, budget=5))
        assert [i.uri for p in rest for i in p.items if isinstance(i, Deletion)] == [
            statuses[4]["uri"]
        ]
        assert rest[-1].cursor == Cursor()


def test_requests_are_counted_per_host_over_the_window(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        store.record_requests("a.example", NOW - timedelta(days=2), 999, 0)
        store.record_requests("a.example", NOW - timedelta(minutes=20), 100, 10)
        store.record_requests("a.example", NOW - timedelta(minutes=5), 40, 30)
        store.record_requests("b.example", NOW, 7, 0)
        assert store.requests_since("a.example", NOW - timedelta(minutes=15)) == (40, 30)
        assert store.requests_since("a.example", NOW - timedelta(hours=1)) == (140, 40)
        # Rows older than a day are dropped as new ones are recorded.
        assert store.requests_since("a.example", NOW - timedelta(days=3)) == (140, 40)


def test_a_server_listing_only_its_own_posts_is_not_asked_about_the_others() -> None:
    # Remote posts need a login on this server (timelines_access): the walk falls back to
    # local=true, where another server's post is absent without being deleted.
    ctx = FetchContext(tags=("bsnopen",), now=lambda: NOW)

    def local_only(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
        if not path.startswith("/api/v1/timelines/tag/"):
            return False
        if "local" not in query:
            body = b'{"error":"This method requires an authenticated user"}'
            handler.send(401, body)
            return True
        page = [s for s in server.timeline("bsnopen", query) if here in s["uri"]]
        handler.send(200, json.dumps(page).encode())
        return True

    with FixtureMastodon([], hook=local_only) as server, Http(HttpSettings(retries=0)) as http:
        here = server.url.split("//", 1)[1]
        statuses = [synthetic_status(n, viewer="v.example", local_id=2000 + n) for n in range(6)]
        for s in statuses[:3]:  # the server's own posts
            s["uri"] = f"http://{here}/users/u/statuses/{s['id']}"
        server.set_statuses([s for s in statuses if s["id"] != "2001"])  # its own 2001 deleted
        targets = [(s["uri"], s["id"]) for s in statuses]
        spec = SourceSpec("mastodon", server.url, tag="bsnopen")
        pages = list(recheck_tag_timeline(http, spec, targets, Cursor(), ctx, budget=10))
        items = [i for p in pages for i in p.items]
        assert [i.uri for i in items if isinstance(i, Deletion)] == [statuses[1]["uri"]]
        assert [r for r in server.requests if "/statuses/" in r] == ["/api/v1/statuses/2001"]


def test_a_catch_up_from_the_look_back_never_moves_the_cursor_back_on_ulid_ids() -> None:
    # GoToSocial ids are ULIDs; the look-back starts below the newest for them too.
    statuses = [synthetic_status(n, viewer="v.example", local_id=1) for n in range(3)]
    ids = ["01HZX4K6W8D3Q9V2M7N5P1R0SA", "01HZX4K6W8D3Q9V2M7N5P1R0SB", "01HZX4K6W8D3Q9V2M7N5P1R0SC"]
    for status, local_id in zip(statuses, ids, strict=True):
        status["id"] = local_id
    ctx = FetchContext(tags=("bsnopen",), now=lambda: NOW)
    with FixtureMastodon(statuses[:2]) as server, Http(HttpSettings(retries=0)) as http:
        spec = SourceSpec("mastodon", server.url, tag="bsnopen")
        # Stored up to ...SC (seen elsewhere in the run), looking back to ...SA: the page
        # answers ...SB only, which must not become the newest.
        cursor = Cursor(newest=ids[2], lookback=ids[0], backfill_done=True)
        pages = list(fetch_tag_timeline(http, spec, cursor, ctx))
    assert [p.cursor.newest for p in pages] == [ids[2]]
