"""The live wall's reads (``watch --serve``) against a real archive: the newest posts,
posts per minute over a window, the latest reactions with their first comments, the
totals; each bounded by what the wall shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bsarchive.export import build
from bsarchive.models import Author, Comment, Deletion, Post, Reaction
from bsarchive.store import Store
from tests.support.posts import NOW, WHEN, post


def _uri(n: int) -> str:
    return f"https://a.example/users/al/statuses/{n}"


def _posts(count: int) -> list[Post]:
    """``count`` posts a minute apart from WHEN, each with its own text."""
    return [
        post(_uri(n), local=str(n), created_at=WHEN + timedelta(minutes=n),
             text=f"Talk {n} about open data and #bsnopen number {n}")
        for n in range(count)
    ]  # fmt: skip


def test_newest_posts_come_first_deleted_ones_left_off(tmp_path: Path) -> None:
    posts = _posts(6)
    with Store(tmp_path / "a.db") as store:
        store.save_items(posts, NOW)
        store.save_items([Deletion(_uri(4), posts[4].sighting)], NOW)
        assert [p.uri for p in store.newest_posts(3)] == [_uri(5), _uri(3), _uri(2)]
        assert [p.uri for p in store.newest_posts(100)] == [_uri(n) for n in (5, 3, 2, 1, 0)]
        assert store.newest_posts(0) == []


def test_posts_are_counted_per_minute_in_the_window(tmp_path: Path) -> None:
    posts = [
        *_posts(4),  # 18:30, 18:31, 18:32, 18:33
        post(_uri(10), local="10", created_at=WHEN + timedelta(minutes=1, seconds=59)),
    ]
    with Store(tmp_path / "a.db") as store:
        store.save_items(posts, NOW)
        store.save_items([Deletion(_uri(2), posts[2].sighting)], NOW)
        counts = store.posts_per_minute(WHEN + timedelta(minutes=1), WHEN + timedelta(minutes=4))
    minute = WHEN + timedelta(minutes=1)
    # 18:30 is before the window, 18:32's only post was deleted.
    assert counts == [(minute, 2), (minute + timedelta(minutes=2), 1)]
    assert all(m.tzinfo is UTC for m, _ in counts)


def test_latest_reactions_first_undated_last_with_their_first_comments(tmp_path: Path) -> None:
    blog = "https://blog.example"
    day = datetime(2010, 6, 30, tzinfo=UTC)
    reactions = [
        Reaction(f"{blog}/old", NOW, "x", title="Old", published_at=day),
        Reaction(f"{blog}/new", NOW, "x", title="New", published_at=day + timedelta(hours=5)),
        Reaction(f"{blog}/b-undated", NOW, "x", title="Undated B"),
        Reaction(f"{blog}/a-undated", NOW, "x", title="Undated A"),
    ]
    comments = [
        Comment(f"{blog}/new#c{n}", f"{blog}/new", NOW, "x", author=f"Reader {n}",
                created_at=day + timedelta(hours=6, minutes=n), text=f"Comment {n}")
        for n in range(5)
    ]  # fmt: skip
    with Store(tmp_path / "a.db") as store:
        store.save_items([*reactions, *comments], NOW)
        latest = store.latest_reactions(3)
        assert [r.title for r in latest] == ["New", "Old", "Undated A"]
        data = build.wall_data(store, title="t", tags=["bsnopen"], now=NOW, reactions=2)
    assert [r.title for r in data.reactions] == ["New", "Old"]
    assert data.counts.reactions == 4  # the total, not the shown
    new = data.reactions[0]
    assert new.comment_count == 5
    assert [c.text for c in new.comments] == ["Comment 0", "Comment 1", "Comment 2"]


def test_wall_data_reads_what_the_wall_shows(tmp_path: Path) -> None:
    copy = post(
        _uri(99), local="99", created_at=WHEN + timedelta(minutes=9, seconds=30),
        author=Author("@bo@b.example", "Bo"), text="Talk 9 about open data and #bsnopen number 9",
    )  # fmt: skip
    with Store(tmp_path / "a.db") as store:
        store.save_items([*_posts(10), copy], NOW)
        now = WHEN + timedelta(minutes=10)
        data = build.wall_data(store, title="BSN", tags=["bsnopen"], now=now, hours=1, posts=3)
    # Bo's later copy of post 9 is shown once, on the first, "also posted by" Bo.
    assert [p.uri for p in data.posts] == [_uri(9), _uri(8), _uri(7)]
    assert data.posts[0].also_posted_by == ("@bo@b.example",)
    assert data.counts.posts == 11 and data.counts.people == 2
    assert sum(n for _, n in data.per_minute) == 11
    assert data.per_minute[0] == (WHEN, 1) and data.title == "BSN"
