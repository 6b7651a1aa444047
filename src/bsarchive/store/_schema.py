"""The archive's schema: numbered migrations and the routine that applies them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# Schema migrations: index i brings user_version from i to i + 1. Never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE authors (
        id INTEGER PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        url TEXT,
        uri TEXT,
        bio TEXT NOT NULL DEFAULT '',
        bot INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        url TEXT,
        created_at TEXT NOT NULL,
        author_id INTEGER NOT NULL REFERENCES authors(id),
        content_html TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        spoiler_text TEXT NOT NULL DEFAULT '',
        language TEXT,
        visibility TEXT,
        sensitive INTEGER NOT NULL DEFAULT 0,
        in_reply_to_uri TEXT,
        in_reply_to_local_id TEXT,
        quote_uri TEXT,
        tags TEXT NOT NULL DEFAULT '',
        links TEXT NOT NULL DEFAULT '',
        media TEXT NOT NULL DEFAULT '',
        boosts INTEGER,
        replies INTEGER,
        favourites INTEGER,
        edited_at TEXT,
        deleted_at TEXT,
        source TEXT NOT NULL,
        seen_on TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX posts_created_at ON posts(created_at);
    CREATE INDEX posts_author ON posts(author_id);
    CREATE INDEX posts_url ON posts(url);
    CREATE TABLE sightings (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        local_id TEXT NOT NULL DEFAULT '',
        url TEXT,
        fetched_from TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        PRIMARY KEY (post_id, source, local_id)
    ) WITHOUT ROWID;
    CREATE INDEX sightings_url ON sightings(url);
    CREATE INDEX sightings_local ON sightings(source, local_id);
    CREATE TABLE post_tags (
        tag TEXT NOT NULL,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        PRIMARY KEY (tag, post_id)
    ) WITHOUT ROWID;
    CREATE INDEX post_tags_post ON post_tags(post_id);
    CREATE TABLE post_links (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (post_id, url)
    ) WITHOUT ROWID;
    CREATE INDEX post_links_url ON post_links(url);
    CREATE TABLE post_versions (
        id INTEGER PRIMARY KEY,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        edited_at TEXT,
        content_html TEXT NOT NULL,
        text TEXT NOT NULL,
        spoiler_text TEXT NOT NULL,
        raw TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX post_versions_post ON post_versions(post_id);
    CREATE TABLE boosts (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        post_uri TEXT NOT NULL,
        booster_id INTEGER NOT NULL REFERENCES authors(id),
        created_at TEXT NOT NULL,
        source TEXT NOT NULL,
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL
    );
    CREATE INDEX boosts_post ON boosts(post_uri);
    CREATE TABLE reactions (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        original_url TEXT,
        title TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        published_at TEXT,
        site_name TEXT NOT NULL DEFAULT '',
        language TEXT,
        excerpt TEXT NOT NULL DEFAULT '',
        comments_feed TEXT,
        tags TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX reactions_published ON reactions(published_at);
    CREATE TABLE reaction_links (
        reaction_id INTEGER NOT NULL REFERENCES reactions(id) ON DELETE CASCADE,
        post_uri TEXT NOT NULL,
        PRIMARY KEY (reaction_id, post_uri)
    ) WITHOUT ROWID;
    CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        reaction_id INTEGER NOT NULL REFERENCES reactions(id) ON DELETE CASCADE,
        url TEXT,
        author TEXT NOT NULL DEFAULT '',
        created_at TEXT,
        text TEXT NOT NULL DEFAULT '',
        content_html TEXT NOT NULL DEFAULT '',
        in_reply_to TEXT,
        flags TEXT NOT NULL DEFAULT '',
        raw TEXT NOT NULL DEFAULT '',
        fetched_at TEXT NOT NULL,
        fetched_from TEXT NOT NULL,
        version TEXT NOT NULL
    );
    CREATE INDEX comments_reaction ON comments(reaction_id);
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,
        newest TEXT,
        oldest TEXT,
        backfill_done INTEGER NOT NULL DEFAULT 0,
        etag TEXT,
        last_modified TEXT,
        not_before TEXT,
        gone INTEGER NOT NULL DEFAULT 0,
        last_success_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        items INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0,
        waited REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        version TEXT NOT NULL,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        options TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: full-text search (issue 8). External-content FTS5 tables over the text columns,
    # kept in sync by triggers (https://sqlite.org/fts5.html#external_content_tables) and
    # filled from existing rows; views and indexes for Datasette and researchers.
    """
    CREATE VIRTUAL TABLE posts_fts USING fts5(
        text, spoiler_text, content='posts', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, spoiler_text ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE reactions_fts USING fts5(
        title, excerpt, content='reactions', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER reactions_fts_insert AFTER INSERT ON reactions BEGIN
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    CREATE TRIGGER reactions_fts_delete AFTER DELETE ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
    END;
    CREATE TRIGGER reactions_fts_update AFTER UPDATE OF title, excerpt ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    INSERT INTO reactions_fts (reactions_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE comments_fts USING fts5(
        text, content='comments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO comments_fts (comments_fts) VALUES ('rebuild');
    CREATE INDEX boosts_booster ON boosts(booster_id);
    CREATE INDEX boosts_created_at ON boosts(created_at);
    CREATE INDEX comments_created_at ON comments(created_at);
    CREATE INDEX reactions_first_seen ON reactions(first_seen_at);
    CREATE VIEW timeline AS
        SELECT p.id, p.created_at, a.handle AS author, a.name AS author_name, p.text, p.url,
               p.tags, p.links, p.in_reply_to_uri, p.boosts, p.replies, p.favourites,
               p.source, p.seen_on, p.language, p.edited_at, p.deleted_at, p.uri
        FROM posts p JOIN authors a ON a.id = p.author_id
        ORDER BY p.created_at, p.id;
    CREATE VIEW top_links AS
        SELECT l.url, count(*) AS posts, count(DISTINCT p.author_id) AS people,
               min(p.created_at) AS first_shared_at, max(p.created_at) AS last_shared_at
        FROM post_links l JOIN posts p ON p.id = l.post_id
        GROUP BY l.url
        ORDER BY posts DESC, l.url;
    CREATE VIEW reactions_with_comments AS
        SELECT r.id AS reaction_id, r.url, r.title, r.author, r.site_name, r.published_at,
               r.excerpt,
               (SELECT count(*) FROM reaction_links k WHERE k.reaction_id = r.id)
                   AS linked_from_posts,
               c.id AS comment_id, c.author AS comment_author,
               c.created_at AS comment_created_at, c.text AS comment_text, c.url AS comment_url
        FROM reactions r LEFT JOIN comments c ON c.reaction_id = r.id
        ORDER BY coalesce(r.published_at, r.first_seen_at), r.id, c.created_at, c.id
    """,
    # 3: respect and reach (issue 9): takedowns that keep people out of the archive, and
    # what instance discovery learnt about each server.
    """
    CREATE TABLE forgotten (
        kind TEXT NOT NULL CHECK (kind IN ('author', 'post')),
        value TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        forgotten_at TEXT NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;
    CREATE TABLE instances (
        host TEXT PRIMARY KEY,
        base_url TEXT NOT NULL,
        usable INTEGER NOT NULL,
        software TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        checked_at TEXT NOT NULL
    )
    """,
    # 4: import speed (issue 8). Indexes on keys in random order (URLs sort by user name)
    # cost an import most of its writes, since every batch dirties pages all over them.
    # sightings.url is never searched by url; posts.url needs indexing only where it
    # differs from the uri (the uri's unique index finds the rest), which leaves out every
    # tweet and most feed items. Lookups by url say `url != uri` so SQLite can use it.
    """
    DROP INDEX sightings_url;
    DROP INDEX posts_url;
    CREATE INDEX posts_url ON posts(url) WHERE url IS NOT NULL AND url != uri;
    """,
    # 5: what each account said about being found (issue 14). `indexable` (Mastodon 4.2+,
    # an opt-in to full-text search, false by default) and `discoverable` (an opt-in to
    # the profile directory) are kept for researchers to filter on; `noindex` and the bio
    # decide the opt-out. NULL: the server did not say.
    """
    ALTER TABLE authors ADD COLUMN noindex INTEGER;
    ALTER TABLE authors ADD COLUMN indexable INTEGER;
    ALTER TABLE authors ADD COLUMN discoverable INTEGER
    """,
    # 6: the requests each run sent to each instance (issue 14), so the default re-check
    # of recent posts spends a share of a server's rate budget across runs, not per run.
    """
    CREATE TABLE instance_requests (
        host TEXT NOT NULL,
        at TEXT NOT NULL,
        requests INTEGER NOT NULL,
        recheck INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX instance_requests_host ON instance_requests(host, at)
    """,
    # 7: discovery follows mentions (issue 15). The profile web address of each account a
    # post mentions: the server it lives on, which a server-relative acct does not say.
    """
    CREATE TABLE post_mentions (
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        PRIMARY KEY (post_id, url)
    ) WITHOUT ROWID;
    """,
    # 8: comment threads on blogging platforms (issue 14): the comment count a blog states
    # (feed thr:total / slash:comments, or the page's schema.org commentCount), which can
    # exceed the comments archived (truncated feeds, platforms with no public comment feed).
    """
    ALTER TABLE reactions ADD COLUMN comment_count INTEGER
    """,
    # 9: the full-text indexes of migration 2, declared so that sqlite-utils
    # (`sqlite-utils search`, Table.detect_fts) and Datasette (`_search`) find them: both
    # look for content="table" or content=[table] in the index's CREATE statement, and
    # content='table' is neither. Same columns, tokenizer and triggers; rebuilt from the rows.
    """
    DROP TRIGGER IF EXISTS posts_fts_insert;
    DROP TRIGGER IF EXISTS posts_fts_delete;
    DROP TRIGGER IF EXISTS posts_fts_update;
    DROP TABLE IF EXISTS posts_fts;
    CREATE VIRTUAL TABLE posts_fts USING fts5(
        text, spoiler_text, content="posts", content_rowid="id",
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
    END;
    CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, spoiler_text ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text, spoiler_text)
        VALUES ('delete', old.id, old.text, old.spoiler_text);
        INSERT INTO posts_fts (rowid, text, spoiler_text)
        VALUES (new.id, new.text, new.spoiler_text);
    END;
    INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
    DROP TRIGGER IF EXISTS reactions_fts_insert;
    DROP TRIGGER IF EXISTS reactions_fts_delete;
    DROP TRIGGER IF EXISTS reactions_fts_update;
    DROP TABLE IF EXISTS reactions_fts;
    CREATE VIRTUAL TABLE reactions_fts USING fts5(
        title, excerpt, content="reactions", content_rowid="id",
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER reactions_fts_insert AFTER INSERT ON reactions BEGIN
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    CREATE TRIGGER reactions_fts_delete AFTER DELETE ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
    END;
    CREATE TRIGGER reactions_fts_update AFTER UPDATE OF title, excerpt ON reactions BEGIN
        INSERT INTO reactions_fts (reactions_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
        INSERT INTO reactions_fts (rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    INSERT INTO reactions_fts (reactions_fts) VALUES ('rebuild');
    DROP TRIGGER IF EXISTS comments_fts_insert;
    DROP TRIGGER IF EXISTS comments_fts_delete;
    DROP TRIGGER IF EXISTS comments_fts_update;
    DROP TABLE IF EXISTS comments_fts;
    CREATE VIRTUAL TABLE comments_fts USING fts5(
        text, content="comments", content_rowid="id", tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN
        INSERT INTO comments_fts (comments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO comments_fts (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO comments_fts (comments_fts) VALUES ('rebuild');
    """,
    # 10: provenance stated, not sniffed (issue 16): a post or boost read from a TAGS
    # sheet's row, which a structured copy replaces. Older archives knew it only by a key
    # of the row kept as raw JSON ("from_user"), read here once.
    """
    ALTER TABLE posts ADD COLUMN tags_row INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE boosts ADD COLUMN tags_row INTEGER NOT NULL DEFAULT 0;
    UPDATE posts SET tags_row = 1 WHERE instr(raw, '"from_user":') > 0;
    UPDATE boosts SET tags_row = 1 WHERE instr(raw, '"from_user":') > 0;
    """,
    # 11: a run's counts beyond new/updated/failures (issue 17): items seen but not kept,
    # those of them left out because their author opted out, and new reactions. NULL for
    # runs recorded before: not known, which is not zero.
    """
    ALTER TABLE runs ADD COLUMN skipped INTEGER;
    ALTER TABLE runs ADD COLUMN opted_out INTEGER;
    ALTER TABLE runs ADD COLUMN reactions INTEGER
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements; a trigger body's ``;`` does not end a statement."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending
