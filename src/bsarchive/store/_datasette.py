"""Datasette metadata for an archive (``bsarchive datasette-metadata``)."""

from __future__ import annotations

from typing import Any


def datasette_metadata(database: str, title: str) -> dict[str, Any]:
    """A Datasette ``metadata.json`` document for an archive named ``database`` (the file
    name without ``.db``): descriptions of tables, views and columns, facets, sort orders.

    Pure: describes the schema the store creates (its migrations); reads no database.
    """
    posts_columns = {
        "uri": "The post's global identity (ActivityPub id; a tweet's permalink).",
        "url": "Human-readable link to the post.",
        "created_at": "When it was posted (ISO 8601 UTC).",
        "author_id": "The author (authors.id).",
        "text": "Plain text (links expanded, HTML removed).",
        "content_html": "Sanitised HTML as published.",
        "tags": "Hashtags, lower case, space separated.",
        "links": "Links in the post, space separated.",
        "boosts": "Boost/retweet count as last reported.",
        "replies": "Reply count as last reported.",
        "favourites": "Favourite/like count as last reported.",
        "source": "Where it came from: mastodon, activitypub, rss, twitter.",
        "seen_on": "Instances and feeds it was seen on, space separated.",
        "deleted_at": "When we noticed it was deleted (kept in the archive).",
        "edited_at": "When it was last edited.",
        "raw": "The source payload as fetched (JSON or XML text).",
    }
    tables: dict[str, Any] = {
        "posts": {
            "description": "Every archived post, one row per post however many places it was seen.",
            "columns": posts_columns,
            "facets": ["source", "seen_on", "language"],
            "sortable_columns": ["created_at", "boosts", "replies", "favourites"],
            "sort": "created_at",
            "fts_table": "posts_fts",
            "fts_pk": "id",
        },
        "authors": {
            "description": "People and accounts who posted or boosted.",
            "label_column": "handle",
            "columns": {"handle": "@user@host, or @username for Twitter."},
        },
        "post_tags": {
            "description": "One row per (tag, post): facet on tag to browse by hashtag.",
            "facets": ["tag"],
        },
        "post_links": {"description": "One row per link in a post, in order."},
        "post_mentions": {"description": "Profile address of each account a post mentions."},
        "sightings": {
            "description": "Where and when each post was seen (one row per source).",
            "facets": ["source"],
        },
        "boosts": {
            "description": "Boosts/retweets: who shared which post when.",
            "sortable_columns": ["created_at"],
            "facets": ["source"],
        },
        "reactions": {
            "description": "Blog posts and articles that posts linked to.",
            "sortable_columns": ["published_at", "first_seen_at"],
            "facets": ["site_name", "language"],
            "fts_table": "reactions_fts",
            "fts_pk": "id",
        },
        "comments": {
            "description": "Comments on reactions, from their comment feeds.",
            "sortable_columns": ["created_at"],
            "fts_table": "comments_fts",
            "fts_pk": "id",
        },
        "timeline": {
            "description": "View: posts with their authors, oldest first.",
            "columns": {k: v for k, v in posts_columns.items() if k in _TIMELINE_COLUMNS},
            "facets": ["source", "author", "seen_on"],
            "sortable_columns": ["created_at", "boosts", "replies", "favourites"],
        },
        "top_links": {
            "description": "View: links by how many posts shared them.",
            "columns": {
                "posts": "Posts that shared the link.",
                "people": "Distinct authors who shared it.",
            },
            "sortable_columns": ["posts", "people", "first_shared_at"],
        },
        "reactions_with_comments": {
            "description": "View: each reaction with its comments, one row per comment "
            "(a reaction without comments appears once).",
            "facets": ["site_name"],
            "sortable_columns": ["published_at", "comment_created_at"],
        },
        "sources": {"description": "Each source's cursor and health."},
        "runs": {"description": "One row per fetch run."},
        "meta": {"hidden": True},
        "post_versions": {"description": "Earlier versions of edited posts."},
    }
    return {
        "title": title,
        "description": "An event's conversation archived by bsarchive: posts, boosts, "
        "linked blog posts (reactions) and their comments. Full-text search is on posts, "
        "reactions and comments.",
        "databases": {database: {"tables": tables}},
    }


_TIMELINE_COLUMNS = frozenset(
    {"created_at", "text", "url", "tags", "links", "boosts", "replies", "favourites",
     "source", "seen_on", "edited_at", "deleted_at", "uri"}
)  # fmt: skip
