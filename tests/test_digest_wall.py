"""The live wall's view and page (``watch --serve``), from literal DigestData: newest posts
first, posts per minute, the latest reactions, hostile HTML through the digest's sanitiser."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bsarchive.export.digest import render_html, render_wall
from bsarchive.export.digest.chart import minute_counts, render_chart_svg
from bsarchive.export.digest.wall import wall_page
from tests.support.digest_data import HOSTILE_HTML, build_data

NOW = datetime(2025, 11, 21, 12, 0, 30, tzinfo=UTC)


def test_newest_posts_come_first_and_deleted_ones_are_left_off() -> None:
    data = build_data()
    page = wall_page(data, now=NOW, posts=5)
    shown = [v.post.created_at for v in page.posts]
    assert shown == sorted(shown, reverse=True) and len(shown) == 5
    live = sorted((p for p in data.posts if not p.deleted), key=lambda p: p.created_at)
    assert shown[0] == live[-1].created_at
    every = wall_page(data, now=NOW, posts=1000)
    assert not any(v.post.deleted for v in every.posts)
    assert len(every.posts) == len(live) < len(data.posts)  # the fixture has a deleted post


def test_posts_are_counted_per_minute_over_the_last_hours() -> None:
    end = datetime(2025, 11, 21, 12, 0, 59, tzinfo=UTC)
    moments = [
        end,  # 12:00
        end - timedelta(seconds=30),  # 12:00 too
        end - timedelta(minutes=2),  # 11:58
        end - timedelta(minutes=5),  # before the window: left out
        end + timedelta(minutes=1),  # after it: left out
    ]
    buckets = minute_counts(moments, end, 5)
    assert [(b.strftime("%H:%M"), n) for b, n in buckets] == [
        ("11:56", 0), ("11:57", 0), ("11:58", 1), ("11:59", 0), ("12:00", 2),
    ]  # fmt: skip
    svg = render_chart_svg(buckets, size="minute")
    assert svg.count('<rect class="bar"') == 5
    assert "one bar per minute" in svg


def test_the_chart_covers_the_hours_up_to_now() -> None:
    data = build_data()
    page = wall_page(data, now=NOW, hours=2)
    assert len(page.buckets) == 120
    assert page.buckets[-1][0] == datetime(2025, 11, 21, 12, 0, tzinfo=UTC)
    start = page.buckets[0][0]
    recent = [p for p in data.posts if not p.deleted and start <= p.created_at <= NOW]
    assert page.last_minutes == len(recent) > 0


def test_latest_reactions_first_undated_last() -> None:
    data = build_data()
    page = wall_page(data, now=NOW)
    dates = [rv.reaction.published_at for rv in page.reactions]
    dated = [d for d in dates if d is not None]
    assert dated == sorted(dated, reverse=True)
    assert dates[: len(dated)] == dated  # undated ones after every dated one


def test_hostile_html_is_sanitised_as_in_the_digest() -> None:
    data = build_data()
    hostile = next(p for p in data.posts if p.content_html == HOSTILE_HTML)
    newest = replace(hostile, created_at=NOW)  # on the wall for sure
    data = replace(data, posts=[*data.posts, replace(newest, uri=newest.uri + "#again")])
    html = render_wall(data, now=NOW, refresh=30)
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
    wall = render_wall(data, now=NOW, refresh=30)
    digest = render_html(data)

    def csp(html: str) -> str:
        found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
        assert found is not None
        return found.group(1)

    assert csp(wall) == csp(digest)
    assert "script-src &#39;none&#39;" in csp(wall)
    assert '<meta http-equiv="refresh" content="30">' in wall
    assert "<script" not in wall
    assert wall == render_wall(data, now=NOW, refresh=30)  # deterministic
    first = wall.index('id="newest"')
    assert wall.index("Last one from #bsnopen", first) < wall.index("Travelling home", first)
