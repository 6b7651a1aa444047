"""The live wall's view and page (``watch --serve``), from literal WallData: the posts in the
order the wall queries give, posts per minute, hostile HTML through the digest's
sanitiser. What the wall queries choose is tested in test_store_wall.py."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bsarchive.export.digest import DigestData, WallCounts, WallData, render_html, render_wall
from bsarchive.export.digest.chart import minute_series, minute_window, render_chart_svg
from bsarchive.export.digest.wall import wall_page
from tests.support.digest_data import HOSTILE_HTML, build_data

NOW = datetime(2025, 11, 21, 12, 0, 30, tzinfo=UTC)


def wall_of(data: DigestData, *, now: datetime = NOW, shown: int = 30) -> WallData:
    """The wall's input for the fixture digest, chosen by hand as the store's wall queries
    choose it (those are tested against a real archive in test_store_wall.py)."""
    live = [p for p in data.posts if not p.deleted]
    newest = sorted(live, key=lambda p: (p.created_at, p.uri), reverse=True)[:shown]
    per_minute = Counter(p.created_at.replace(second=0, microsecond=0) for p in live)
    return WallData(
        title=data.title,
        tags=data.tags,
        posts=newest,
        per_minute=sorted(per_minute.items()),
        reactions=data.reactions[:8],
        counts=WallCounts(data.counts.posts, data.counts.people, data.counts.reactions),
    )


def test_the_wall_shows_its_posts_in_the_order_given() -> None:
    data = wall_of(build_data(), shown=5)
    page = wall_page(data, now=NOW)
    assert [v.post.uri for v in page.posts] == [p.uri for p in data.posts]
    shown = [v.post.created_at for v in page.posts]
    assert shown == sorted(shown, reverse=True) and len(shown) == 5


def test_posts_are_counted_per_minute_over_the_last_hours() -> None:
    end = datetime(2025, 11, 21, 12, 0, 59, tzinfo=UTC)
    minute = end.replace(second=0)
    counts = [
        (minute, 2),  # 12:00
        (minute - timedelta(minutes=2), 1),  # 11:58
        (minute - timedelta(minutes=5), 7),  # before the window: left out
        (minute + timedelta(minutes=1), 9),  # after it: left out
    ]
    buckets = minute_series(counts, end, 5)
    assert [(b.strftime("%H:%M"), n) for b, n in buckets] == [
        ("11:56", 0), ("11:57", 0), ("11:58", 1), ("11:59", 0), ("12:00", 2),
    ]  # fmt: skip
    assert minute_window(end, 5) == (minute - timedelta(minutes=4), minute + timedelta(minutes=1))
    svg = render_chart_svg(buckets, size="minute")
    assert svg.count('<rect class="bar"') == 5
    assert "one bar per minute" in svg


def test_the_chart_covers_the_hours_up_to_now() -> None:
    data = wall_of(build_data())
    page = wall_page(data, now=NOW, hours=2)
    assert len(page.buckets) == 120
    assert page.buckets[-1][0] == datetime(2025, 11, 21, 12, 0, tzinfo=UTC)
    start = page.buckets[0][0]
    recent = [p for p in build_data().posts if not p.deleted and start <= p.created_at <= NOW]
    assert page.last_minutes == len(recent) > 0


def test_hostile_html_is_sanitised_as_in_the_digest() -> None:
    data = build_data()
    hostile = next(p for p in data.posts if p.content_html == HOSTILE_HTML)
    newest = replace(hostile, created_at=NOW)  # on the wall for sure
    data = replace(data, posts=[*data.posts, replace(newest, uri=newest.uri + "#again")])
    html = render_wall(wall_of(data), now=NOW, refresh=30)
    assert "<script" not in html.lower()
    start = html.index(f'data-uri="{newest.uri}#again"')
    card = html[start : html.index("</article>", start)].lower()
    for needle in ("alert(", "onerror", "onclick", "javascript:", "data:", "<iframe", "<form"):
        assert needle not in card, needle
    assert '<a href="https://tickets.example.net/claim"' in card
    # Mallory's display name markup is text, not HTML.
    assert "<b>*Admin*</b>" not in html and "&lt;b&gt;*Admin*&lt;/b&gt;" in html


def test_the_page_refreshes_itself_under_the_digests_csp() -> None:
    data = build_data(generated_at=NOW)
    wall = render_wall(wall_of(data), now=NOW, refresh=30)
    digest = render_html(data)

    def csp(html: str) -> str:
        found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
        assert found is not None
        return found.group(1)

    assert csp(wall) == csp(digest)
    assert "script-src &#39;none&#39;" in csp(wall)
    assert '<meta http-equiv="refresh" content="30">' in wall
    assert "<script" not in wall
    assert wall == render_wall(wall_of(data), now=NOW, refresh=30)  # deterministic
    first = wall.index('id="newest"')
    assert wall.index("Last one from #bsnopen", first) < wall.index("Travelling home", first)
