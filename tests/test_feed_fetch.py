"""The pure decisions of the feed/outbox fetchers: when a source may be fetched again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bsarchive.http import Response
from bsarchive.models import Cursor
from bsarchive.sources import FetchContext
from bsarchive.sources.feeds import next_fetch_time, skip_reason, tag_rss_request_url

NOW = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)


def _response(**headers: str) -> Response:
    return Response(
        "https://blog.example/feed/", 200, {k.lower(): v for k, v in headers.items()}, b""
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Cache-Control": "public, max-age=600"}, NOW + timedelta(seconds=600)),
        ({"Cache-Control": "max-age=0"}, None),
        ({"Cache-Control": "no-cache, max-age=600"}, None),
        ({"Cache-Control": "s-maxage=600"}, None),
        ({"Cache-Control": "max-age=999999999"}, NOW + timedelta(days=1)),
        ({"Retry-After": "120", "Cache-Control": "max-age=600"}, NOW + timedelta(seconds=120)),
        ({"Retry-After": "Tue, 29 Jun 2010 18:30:00 GMT"}, NOW + timedelta(minutes=30)),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_next_fetch_time(headers: dict[str, str], expected: datetime | None) -> None:
    assert next_fetch_time(_response(**headers), NOW) == expected


def _ctx(refetch_gone: bool = False) -> FetchContext:
    return FetchContext(tags=("bsnopen",), refetch_gone=refetch_gone, now=lambda: NOW)


def test_skip_reason() -> None:
    assert skip_reason(Cursor(), _ctx()) is None
    assert skip_reason(Cursor(gone=True), _ctx()) == (
        "marked gone (HTTP 410) by an earlier run; skipped"
    )
    assert skip_reason(Cursor(gone=True), _ctx(refetch_gone=True)) is None
    later = Cursor(not_before=NOW + timedelta(minutes=5))
    assert skip_reason(later, _ctx()) == (
        "the server asked not to be fetched before 2010-06-29T18:05:00+00:00"
    )
    assert skip_reason(Cursor(not_before=NOW), _ctx()) is None


@pytest.mark.parametrize(
    ("url", "requested"),
    [
        ("https://m.example/tags/bsnopen.rss", "https://m.example/tags/bsnopen.rss?limit=200"),
        (
            "https://m.example/tags/bsnopen.rss?local=1",
            "https://m.example/tags/bsnopen.rss?local=1&limit=200",
        ),
        (
            "https://m.example/tags/bsnopen.rss?limit=50",
            "https://m.example/tags/bsnopen.rss?limit=50",
        ),
        ("https://blog.example/tags/bsnopen/feed/", "https://blog.example/tags/bsnopen/feed/"),
        ("https://m.example/@alice.rss", "https://m.example/@alice.rss"),
    ],
)
def test_a_mastodon_tag_feed_is_asked_for_its_most_items(url: str, requested: str) -> None:
    assert tag_rss_request_url(url) == requested
