"""The store: upserts keyed by uri, sightings, edits, deletions, cursors, locking."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bsarchive.dedupe import RETWEET_TEXT
from bsarchive.errors import ConfigError, LockHeldError, StoreError
from bsarchive.models import (
    Author,
    Boost,
    Comment,
    Cursor,
    Deletion,
    Item,
    Page,
    Reaction,
    Sighting,
    SourceResult,
    iso,
)
from bsarchive.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ArchiveLock,
    ExportFilter,
    PgStore,
    Store,
    pack_items,
    unpack_post,
)
from tests.support.posts import NOW, WHEN, post


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return store.db.execute(sql).fetchall()


def test_schema_is_migrated_and_versioned(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [
            (str(SCHEMA_VERSION),)
        ]
        assert rows(store, "PRAGMA journal_mode") == [("wal",)]
        assert store.integrity_check() == "ok"


def test_archive_of_schema_3_migrates_and_finds_posts_by_url(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert rows(store, "SELECT name FROM sqlite_master WHERE name = 'sightings_url'") == []
        store.save_items([post(), post(uri="https://t.example/status/5", url=None)], NOW)
        # The same post under its HTML url (as a tag RSS item names it) is found by url.
        again = store.save_items([post(uri="https://a.example/@al/1", on="rss")], NOW)
        assert (again.new, again.updated) == (0, 0)
        assert rows(store, "SELECT count(*) FROM sightings") == [(3,)]
        plan = rows(store, "EXPLAIN QUERY PLAN SELECT id FROM posts WHERE url = 'x' AND url != uri")
        assert "posts_url" in str(plan)
        assert store.integrity_check() == "ok"


def test_archive_of_schema_9_learns_which_rows_came_from_a_tags_sheet(tmp_path: Path) -> None:
    # Before issue 16 a TAGS row was known by its raw JSON only; the migration reads it once.
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:9]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 9")
    tweet = "https://twitter.com/clairewrites/status/17350000050"
    db.execute("INSERT INTO authors (id, handle) VALUES (1, '@clairewrites')")
    db.execute(
        "INSERT INTO posts (uri, url, created_at, author_id, text, source, seen_on, raw,"
        " fetched_at, fetched_from, version, first_seen_at, updated_at)"
        " VALUES (?, ?, '2010-06-29T19:05:33.000Z', 1, 'cut…', 'twitter', 'twitter', ?,"
        " '2026-12-01T09:00:00.000Z', 'tags.csv', '0.9', '2026-12-01T09:00:00.000Z',"
        " '2026-12-01T09:00:00.000Z')",
        (tweet, tweet, '{"id_str": "17350000050", "from_user": "clairewrites"}'),
    )
    db.execute(
        "INSERT INTO boosts (uri, post_uri, booster_id, created_at, source, raw, fetched_at,"
        " fetched_from, version) VALUES (?, ?, 1, '2010-06-29T19:06:02.000Z', 'twitter', ?,"
        " '2026-12-01T09:00:00.000Z', 'tags.csv', '0.9')",
        ("https://twitter.com/dan/status/2", "https://twitter.com/clairewrites",
         '{"from_user": "dan", "text": "RT @clairewrites: cut…"}'),
    )  # fmt: skip
    db.commit()
    db.close()
    with Store(path) as store:
        assert rows(store, "SELECT tags_row FROM posts") == [(1,)]
        assert rows(store, "SELECT tags_row FROM boosts") == [(1,)]
        # The tweet's own JSON (twarc) replaces the row, as it did before the migration.
        own = post(tweet, url=tweet, on="twitter", local="17350000050", source="twitter",
                   text="the whole text", author=Author("@clairewrites"))  # fmt: skip
        assert store.save_items([own], NOW).new == 0
        assert rows(store, "SELECT text, tags_row FROM posts") == [("the whole text", 0)]


def test_same_uri_from_three_instances_is_one_post(new_store: Callable[[str], Store]) -> None:
    with new_store("a") as store:
        first = store.save_items([post()], NOW)
        again = store.save_items(
            [post(on="b.example", local="77", boosts=4), post(on="c.example", local="9")], NOW
        )
        assert (first.new, again.new, again.updated) == (1, 0, 0)
        assert rows(store, "SELECT seen_on, boosts FROM posts") == [
            ("a.example b.example c.example", 4)
        ]
        assert rows(store, "SELECT source, local_id FROM sightings ORDER BY source") == [
            ("a.example", "1"),
            ("b.example", "77"),
            ("c.example", "9"),
        ]


def test_edit_keeps_the_prior_version_and_deletion_marks(new_store: Callable[[str], Store]) -> None:
    with new_store("a") as store:
        store.save_items([post()], NOW)
        edited = post(
            content_html="<p>Hello again</p>", text="Hello again", edited_at=WHEN.replace(minute=45)
        )
        result = store.save_items([edited], NOW)
        assert result.updated == 1
        assert rows(store, "SELECT text, edited_at FROM posts") == [
            ("Hello again", "2010-06-29T18:45:00.000Z")
        ]
        assert rows(store, "SELECT text, edited_at FROM post_versions") == [
            ("Hello #bsnopen", None)
        ]
        # The same edit seen again on another instance is not a new version.
        assert (
            store.save_items(
                [replace(edited, sighting=replace(edited.sighting, source="b.example"))], NOW
            ).updated
            == 0
        )
        deleted = store.save_items([Deletion(edited.uri, edited.sighting)], NOW)
        assert deleted.updated == 1
        assert rows(store, "SELECT count(*), count(deleted_at) FROM posts") == [(1, 1)]


def test_boost_is_recorded_not_copied(new_store: Callable[[str], Store]) -> None:
    with new_store("a") as store:
        original = post()
        boost = Boost(
            "https://b.example/users/bo/statuses/5/activity", original.uri,
            Author("@bo@b.example", "Bo"), WHEN, original.sighting,
        )  # fmt: skip
        store.save_items([original, boost, boost], NOW)
        assert rows(store, "SELECT count(*) FROM posts") == [(1,)]
        assert rows(store, "SELECT post_uri, count(*) FROM boosts GROUP BY post_uri") == [
            (original.uri, 1)
        ]


def test_cursor_commits_with_its_page_or_not_at_all(new_store: Callable[[str], Store]) -> None:
    with new_store("a") as store:
        page = Page("mastodon:https://a.example#bsnopen", (post(),), Cursor(newest="9", oldest="1"))
        store.save_page(page, NOW)
        assert store.get_cursor(page.source_key) == Cursor(newest="9", oldest="1")
        bad = Page(
            page.source_key,
            (post(uri="https://a.example/users/al/statuses/2"), "junk"),
            Cursor(newest="10"),
        )  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            store.save_page(bad, NOW)
        assert store.get_cursor(page.source_key).newest == "9"
        assert rows(store, "SELECT count(*) FROM posts") == [(1,)]


def test_grouped_pages_commit_together_each_with_its_cursor(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    key_a, key_b = "feed:https://a.example/feed", "feed:https://b.example/feed"
    with Store(path) as store:
        with store.grouped():
            store.save_page(Page(key_a, (post(),), Cursor(etag='"a1"')), NOW)
            store.save_page(Page(key_b, (), Cursor(etag='"b1"')), NOW)
            with sqlite3.connect(path) as other:  # nothing visible before the group commits
                assert other.execute("SELECT count(*) FROM sources").fetchone() == (0,)
        assert store.get_cursor(key_b).etag == '"b1"'
        with pytest.raises(TypeError), store.grouped():
            store.save_page(Page(key_a, (), Cursor(etag='"a2"')), NOW)
            store.save_page(Page(key_b, ("junk",), Cursor(etag='"b2"')), NOW)  # type: ignore[arg-type]
        assert (store.get_cursor(key_a).etag, store.get_cursor(key_b).etag) == ('"a1"', '"b1"')
        assert rows(store, "SELECT count(*) FROM posts") == [(1,)]
        store.save_page(Page(key_a, (), Cursor(etag='"a3"')), NOW)  # a transaction of its own
        assert store.get_cursor(key_a).etag == '"a3"'


# Every public Store method that writes, called as its callers do (issue 16).
WRITES: dict[str, Callable[[Store], object]] = {
    "save_items": lambda s: s.save_items([post()], NOW),
    "save_page": lambda s: s.save_page(Page("mastodon:a.example", (post(),), Cursor()), NOW),
    "set_reply_parents": lambda s: s.set_reply_parents(
        [(1, "https://a.example/users/al/statuses/0")], Page("k", (), Cursor()), NOW
    ),
    "import_packed": lambda s: s.import_packed(pack_items([post()]), NOW),
    "forget": lambda s: s.forget(author="@al@a.example", reason="asked", now=NOW),
    "resolve_retweets": lambda s: s.resolve_retweets(),
    "resolve_replies": lambda s: s.resolve_replies(),
    "set_meta": lambda s: s.set_meta("k", "v"),
    "record_source_result": lambda s: s.record_source_result(SourceResult("k"), NOW),
    "start_run": lambda s: s.start_run(NOW, "{}"),
    "finish_run": lambda s: s.finish_run(1, NOW, 0, 0, 0),
    "record_instance": lambda s: s.record_instance(
        "a.example", "https://a.example", True, "mastodon", "4.3.2", "", NOW
    ),
    "record_requests": lambda s: s.record_requests("a.example", NOW, 3, 1),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_locked_database_is_a_store_error(tmp_path: Path, write: str) -> None:
    path = tmp_path / "a.db"
    Store(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with Store(path) as store:
            store.db.execute("PRAGMA busy_timeout = 50")
            with pytest.raises(StoreError, match="database is locked"):
                WRITES[write](store)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_every_public_writing_method_has_a_locked_database_test() -> None:
    # A method that writes opens a transaction (or a group of them); a new one must join
    # WRITES above. The two transaction helpers themselves write nothing.
    writers = {
        name
        for name, method in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_")
        and name not in ("transaction", "grouped")
        and (
            "self.transaction()" in (code := inspect.getsource(method)) or "self.grouped()" in code
        )
    }
    assert writers == set(WRITES)


def test_not_a_database_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite archive"):
        Store(path)


def test_archive_lock_is_exclusive(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with ArchiveLock(db) as first:
        first.acquire()
        with pytest.raises(LockHeldError) as info:
            ArchiveLock(db).acquire()
        assert info.value.exit_code == 75
        assert ArchiveLock(db).is_held_elsewhere()
    second = ArchiveLock(db)
    second.acquire()
    second.release()


def test_export_rows_are_oldest_first_and_filtered(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        store.save_items(
            [
                post(
                    "https://a.example/users/al/statuses/2",
                    created_at=WHEN.replace(hour=20),
                    tags=("other",),
                ),
                post("https://a.example/users/al/statuses/1", text="-1 is a number"),
            ],
            NOW,
        )
        uris = [r[2] for r in store.iter_export_rows(ExportFilter())]
        assert uris == [
            "https://a.example/users/al/statuses/1",
            "https://a.example/users/al/statuses/2",
        ]
        tagged = [r[2] for r in store.iter_export_rows(ExportFilter(tags=("other",)))]
        assert tagged == ["https://a.example/users/al/statuses/2"]
        safe = next(store.iter_export_rows(ExportFilter(), safe_cells=True))
        assert safe[7] == "'-1 is a number"
        assert safe[5] == "'@al@a.example"


def test_reply_parent_is_resolved_from_local_ids_in_either_order(
    new_store: Callable[[str], Store],
) -> None:
    parent = post("https://a.example/users/al/statuses/1", local="11")
    reply = post(
        "https://b.example/users/bo/statuses/2", local="12", in_reply_to_local_id="11",
        author=Author("@bo@b.example"),
    )  # fmt: skip
    elsewhere = post(
        "https://b.example/users/bo/statuses/3", on="z.example", local="13",
        in_reply_to_local_id="11", author=Author("@bo@b.example"),
    )  # fmt: skip
    with new_store("a") as store:
        store.save_items([reply, elsewhere], NOW)
        assert store.resolve_replies() == 0  # parent not archived yet
        store.save_items([parent], NOW)
        assert store.resolve_replies() == 1
        assert rows(store, "SELECT uri, in_reply_to_uri FROM posts ORDER BY uri") == [
            ("https://a.example/users/al/statuses/1", None),
            ("https://b.example/users/bo/statuses/2", "https://a.example/users/al/statuses/1"),
            # Local id 11 on z.example is not the same status as 11 on a.example.
            ("https://b.example/users/bo/statuses/3", None),
        ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2010, 6, 29, 17, 0, 1, 123999, tzinfo=UTC), "2010-06-29T17:00:01.123Z"),
        (datetime(2010, 6, 29, 17, 0, 1), "2010-06-29T17:00:01.000Z"),  # naive = UTC
        (datetime.fromisoformat("2010-06-29T18:00:01+01:00"), "2010-06-29T17:00:01.000Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),  # fixed width
    ],
)
def test_iso_is_fixed_width_utc(value: datetime, text: str) -> None:
    from bsarchive.models import iso

    assert iso(value) == text


def test_packed_items_keep_every_field_and_store_like_items(
    new_store: Callable[[str], Store],
) -> None:
    edited = post(
        uri="https://a.example/users/al/statuses/2",
        local="2",
        links=("https://blog.example/notes",),
        edited_at=NOW,
        flags=("tz-less date",),
    )
    boost = Boost(
        "https://b.example/users/bo/statuses/9/activity",
        edited.uri,
        Author("@bo@b.example"),
        WHEN,
        Sighting("b.example", "9", None, NOW, "https://b.example/api"),
    )
    packed = pack_items([post(), edited, boost])
    assert [unpack_post(values) for values in packed.posts] == [post(), edited]
    assert (len(packed.boosts), packed.other) == (1, [])
    with new_store("packed") as a, new_store("plain") as b:
        a.import_packed(packed, NOW)
        b.save_items([post(), edited, boost], NOW)
        sql = (
            "SELECT p.uri, p.url, p.created_at, a.handle, p.text, p.links, p.edited_at, p.flags,"
            " s.source, s.local_id FROM posts p JOIN authors a ON a.id = p.author_id"
            " JOIN sightings s ON s.post_id = p.id ORDER BY p.uri"
        )
        assert rows(a, sql) == rows(b, sql)
        assert rows(a, "SELECT uri, post_uri FROM boosts") == rows(
            b, "SELECT uri, post_uri FROM boosts"
        )
        links = "SELECT p.uri, l.url FROM post_links l JOIN posts p ON p.id = l.post_id"
        assert rows(a, links) == [(edited.uri, "https://blog.example/notes")]


# Every table a post's write touches, as rows to compare (ids apart: they follow order).
DUMP = (
    "SELECT p.uri, p.url, p.created_at, a.handle, a.name, p.content_html, p.text, p.source,"
    " p.seen_on, p.tags, p.links, p.boosts, p.replies, p.favourites, p.edited_at,"
    " p.deleted_at, p.language, p.in_reply_to_local_id, p.flags, p.tags_row, p.updated_at"
    " FROM posts p JOIN authors a ON a.id = p.author_id ORDER BY p.uri",
    "SELECT p.uri, s.source, s.local_id, s.url FROM sightings s JOIN posts p ON p.id = s.post_id"
    " ORDER BY 1, 2, 3",
    "SELECT p.uri, t.tag FROM post_tags t JOIN posts p ON p.id = t.post_id ORDER BY 1, 2",
    "SELECT p.uri, l.url, l.position FROM post_links l JOIN posts p ON p.id = l.post_id"
    " ORDER BY 1, 3",
    "SELECT p.uri, m.url FROM post_mentions m JOIN posts p ON p.id = m.post_id ORDER BY 1, 2",
    "SELECT p.uri, v.edited_at, v.text FROM post_versions v JOIN posts p ON p.id = v.post_id"
    " ORDER BY 1, 2",
    "SELECT uri, post_uri FROM boosts ORDER BY 1",
)
# The full-text index: FTS5's rows on SQLite, the generated tsvector on PostgreSQL.
SEARCH_DUMP = "SELECT rowid, text FROM posts_fts ORDER BY 1"
PG_SEARCH_DUMP = "SELECT id, search::text FROM posts ORDER BY 1"


def test_a_page_stored_at_once_gives_the_rows_of_its_items_one_by_one(
    new_store: Callable[[str], Store],
) -> None:
    # The batched write path (issue 16) against the store's one-by-one path (one lookup and
    # insert or update per post), over the cases it sorts:
    # new, stored, a repeat inside the page, a feed item and its API copy, an edit, a
    # deletion after its post, a boost between posts, mentions, a takedown.
    first = post(mention_urls=("https://b.example/@bo",))
    rss = post(
        "https://a.example/@al/3", url="https://a.example/@al/3", on="rss", local="",
        source="rss", text="Hello (from the feed)",
    )  # fmt: skip
    api = post("https://a.example/users/al/statuses/3", local="3", language="en", boosts=7)
    edit = replace(
        first,
        text="Hello again #bsnopen",
        content_html="<p>Hello again</p>",
        edited_at=NOW,
        tags=("bsnopen", "opendata"),
        links=("https://x.example/",),
    )
    elsewhere = post(on="b.example", local="77", boosts=9, replies=2)
    gone = post("https://a.example/users/al/statuses/4", local="4")
    forgotten = post("https://a.example/users/al/statuses/5", local="5", author=Author("@zed"))
    boost = Boost(
        "https://b.example/users/bo/statuses/9/activity", first.uri,
        Author("@bo@b.example", "Bo"), WHEN, Sighting("b.example", "9", None, NOW, "x"),
    )  # fmt: skip
    stored_before = [post("https://a.example/users/al/statuses/6", local="6")]
    page = [
        first, rss, gone, boost, api, elsewhere, edit, first, forgotten,
        Deletion(gone.uri, gone.sighting),
        post("https://a.example/users/al/statuses/6", local="6", on="c.example", boosts=3),
    ]  # fmt: skip
    with new_store("page") as a, new_store("items") as b:
        for store in (a, b):
            store.forget(author="@zed", reason="asked", now=NOW)
            store.save_items(stored_before, NOW)
        saved = a.save_page(Page("mastodon:a.example", tuple(page), Cursor()), NOW)
        with b.transaction():  # the one-by-one path (_upsert_post per post) as reference
            one_by_one = [b._save_item(item, NOW) for item in b._remembered(page)]
        assert (saved.new, saved.updated) == tuple(map(sum, zip(*one_by_one, strict=True)))
        # New: 3 posts (the API copy is the feed item's) and a boost; an edit, a deletion.
        assert (saved.new, saved.updated) == (4, 2)
        search = PG_SEARCH_DUMP if isinstance(a, PgStore) else SEARCH_DUMP
        for sql in (*DUMP, search):
            assert rows(a, sql) == rows(b, sql), sql
        assert rows(a, "SELECT count(*) FROM posts WHERE uri LIKE '%/5'") == [(0,)]


# A tweet's TAGS guess (a boost read from 'RT @cw: ...', naming only the original's author),
# the same tweet's structured copies (a twarc post of its own, a twarc boost naming the
# original) and a retweet kept as a post from its text alone.
RT_URI = "https://twitter.com/dan/status/9"
RT_SEEN = Sighting("twitter", "9", RT_URI, NOW, "tweets")
GUESS = Boost(RT_URI, "https://twitter.com/cw", Author("@dan"), WHEN, RT_SEEN, is_tags_row=True)
RT_BOOST = Boost(RT_URI, "https://twitter.com/cw/status/1", Author("@dan"), WHEN, RT_SEEN)
TWEET = post(RT_URI, url=RT_URI, source="twitter", on="twitter", local="9", author=Author("@dan"))
RT_ROW = replace(TWEET, flags=(RETWEET_TEXT,))


@pytest.mark.parametrize(
    ("first", "then", "posts", "boosts"),
    [
        # A tweet of its own replaces the guess, whichever came first.
        (GUESS, TWEET, [(RT_URI,)], []),
        (TWEET, GUESS, [(RT_URI,)], []),
        # A structured boost answers the guess with the original; a guess never undoes it.
        (GUESS, RT_BOOST, [], [(RT_URI, RT_BOOST.post_uri)]),
        (RT_BOOST, GUESS, [], [(RT_URI, RT_BOOST.post_uri)]),
        # A retweet kept as text gives way to a boost, whichever came first.
        (RT_ROW, RT_BOOST, [], [(RT_URI, RT_BOOST.post_uri)]),
        (RT_BOOST, RT_ROW, [], [(RT_URI, RT_BOOST.post_uri)]),
        # A twarc copy, even one kept as text, is not a TAGS row: the guess gives way.
        (RT_ROW, GUESS, [(RT_URI,)], []),
    ],
)
def test_an_import_batch_decides_tags_copies_as_items_one_by_one(
    new_store: Callable[[str], Store],
    first: Item,
    then: Item,
    posts: list[tuple[str]],
    boosts: list[tuple[str, str]],
) -> None:
    # import_packed asks dedupe.decide_new_post / decide_boost for every packed row, with
    # the facts looked up for the whole batch: the rows of _upsert_post / _insert_boost.
    with new_store("packed") as a, new_store("items") as b:
        for item in (first, then):
            a.import_packed(pack_items([item]), NOW)
            b.save_items([item], NOW)
        assert rows(a, "SELECT uri FROM posts") == posts
        assert rows(a, "SELECT uri, post_uri FROM boosts") == boosts
        for sql in DUMP:
            assert rows(a, sql) == rows(b, sql), sql


def test_an_older_copy_from_another_instance_never_undoes_an_edit(
    new_store: Callable[[str], Store],
) -> None:
    later, earlier = NOW.replace(hour=8), NOW.replace(hour=7)
    fresh = post(content_html="<p>v3</p>", text="v3", edited_at=later)
    # A remote instance keeps the version it was last sent: v2.
    stale = post(on="b.example", local="77", content_html="<p>v2</p>", text="v2", edited_at=earlier)
    with new_store("a") as store:
        for _ in range(3):
            store.save_items([fresh], NOW)
            store.save_items([stale], NOW)
        assert rows(store, "SELECT text, edited_at FROM posts") == [("v3", iso(later))]
        assert rows(store, "SELECT count(*) FROM post_versions") == [(0,)]
        # A newer edit, from either instance, is an edit.
        newest = replace(stale, content_html="<p>v4</p>", text="v4", edited_at=NOW)
        assert store.save_items([newest], NOW).updated == 1
        assert rows(store, "SELECT text FROM posts") == [("v4",)]
        assert rows(store, "SELECT text FROM post_versions") == [("v3",)]


def test_only_the_posts_own_server_brings_a_deleted_post_back(
    new_store: Callable[[str], Store],
) -> None:
    home, remote = post(), post(on="b.example", local="77")
    with new_store("a") as store:
        store.save_items([home, remote], NOW)
        gone = Deletion(home.uri, Sighting("a.example", "1", None, NOW, "https://a.example/api"))
        store.save_items([gone], NOW)
        # b.example still serves its copy of the deleted post: that proves nothing.
        store.save_items([remote], NOW)
        assert rows(store, "SELECT deleted_at FROM posts") == [(iso(NOW),)]
        # a.example serves it again (a suspension lifted): it is back.
        store.save_items([home], NOW)
        assert rows(store, "SELECT deleted_at FROM posts") == [(None,)]


def test_a_post_first_read_in_tag_rss_gets_what_the_api_adds(tmp_path: Path) -> None:
    feed = "https://a.example/tags/bsnopen.rss"
    reply_uri = "https://a.example/users/al/statuses/2"
    from_rss = post(
        "https://a.example/@al/2",
        url="https://a.example/@al/2",
        source="rss",
        sighting=Sighting(feed, "https://a.example/@al/2", None, NOW, feed),
    )
    parent = post(local="900")
    reply = post(
        reply_uri, local="901", language="en", visibility="public", in_reply_to_local_id="900"
    )
    with Store(tmp_path / "a.db") as store:
        store.save_items([from_rss], NOW)
        store.save_items([parent, reply], NOW)
        store.resolve_replies()
        assert store.db.execute(
            "SELECT language, visibility, in_reply_to_local_id, in_reply_to_uri, source"
            " FROM posts WHERE uri = ?",
            (reply_uri,),
        ).fetchall() == [("en", "public", "900", parent.uri, "mastodon")]


def test_a_tag_filter_keeps_the_reactions_and_comments_about_the_tag(tmp_path: Path) -> None:
    ours = post(tags=("bsnopen",))
    theirs = post("https://a.example/users/al/statuses/2", local="2", tags=("other",))
    blog = "https://blog.example"
    reactions = [
        Reaction(f"{blog}/ours", NOW, "x", title="Ours", linked_from=(ours.uri,)),
        Reaction(f"{blog}/theirs", NOW, "x", title="Theirs", linked_from=(theirs.uri,)),
        Reaction(f"{blog}/tagged", NOW, "x", title="Tagged", tags=("other",)),
    ]
    comments = [
        Comment(f"{blog}/ours#c1", f"{blog}/ours", NOW, "x", text="On ours"),
        Comment(f"{blog}/theirs#c1", f"{blog}/theirs", NOW, "x", text="On theirs"),
    ]
    with Store(tmp_path / "a.db") as store:
        store.save_items([ours, theirs, *reactions, *comments], NOW)

        def kept(tag: str) -> list[tuple[object, ...]]:
            flt = ExportFilter(tags=(tag,))
            return sorted((r[0], r[2]) for r in store.iter_export_rows(flt))

        assert kept("bsnopen") == [
            ("comment", f"{blog}/ours#c1"),
            ("post", ours.uri),
            ("reaction", f"{blog}/ours"),
        ]
        assert kept("other") == [
            ("comment", f"{blog}/theirs#c1"),
            ("post", theirs.uri),
            ("reaction", f"{blog}/tagged"),
            ("reaction", f"{blog}/theirs"),
        ]


def test_another_servers_404_does_not_delete_a_post_its_own_server_has(tmp_path: Path) -> None:
    home, remote = post(), post(on="b.example", local="77")
    only_remote = post("https://c.example/users/cy/statuses/5", on="b.example", local="78")
    with Store(tmp_path / "a.db") as store:
        store.save_items([home, remote, only_remote], NOW)
        purged = Sighting("b.example", "77", None, NOW, "https://b.example/api")
        store.save_items([Deletion(home.uri, purged), Deletion(only_remote.uri, purged)], NOW)
        # a.example, where the first was seen too, will say; nothing else speaks for c.example.
        assert rows(store, "SELECT uri, deleted_at IS NOT NULL FROM posts ORDER BY id") == [
            (home.uri, 0),
            (only_remote.uri, 1),
        ]


def test_the_same_edit_at_second_and_millisecond_precision_is_one_version(
    tmp_path: Path,
) -> None:
    remote_copy = post(
        on="b.example", local="77", content_html="<p>v2</p>", text="v2",
        edited_at=NOW.replace(second=27),
    )  # fmt: skip
    origin_copy = post(
        content_html='<p data-user="1">v2</p>', text="v2",
        edited_at=NOW.replace(second=27, microsecond=123000),
    )  # fmt: skip
    with Store(tmp_path / "a.db") as store:
        store.save_items([post(), remote_copy], NOW)
        assert store.save_items([origin_copy], NOW).updated == 0
        assert rows(store, "SELECT count(*) FROM post_versions") == [(1,)]


def test_a_signal_right_after_begin_leaves_no_transaction_open(tmp_path: Path) -> None:
    # SIGTERM (a KeyboardInterrupt here) can land between BEGIN and the block it opens: the
    # transaction must still end, or the next write trips over it ("cannot start a
    # transaction within a transaction") and a watch's clean stop is lost.
    class Interrupted(Store):
        fire = False  # armed once the archive is open

        def _begin(self, *, write: bool) -> None:
            super()._begin(write=write)
            if self.fire:
                self.fire = False
                raise KeyboardInterrupt

    with Interrupted(tmp_path / "a.db") as store:
        store.fire = True
        with pytest.raises(KeyboardInterrupt):
            store.set_meta("watch_heartbeat", "2026-12-07T10:00:00.000Z")
        assert not store.db.in_transaction
        store.set_meta("watch_heartbeat", "")  # the stopping beat
        assert store.get_meta("watch_heartbeat") == ""
        store.fire = True
        with pytest.raises(KeyboardInterrupt), store.snapshot():
            pass
        assert not store.db.in_transaction
