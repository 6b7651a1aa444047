"""The feed golden fixtures: which fixtures/feeds/ files have an ``.expected.json``, the URL
each is parsed as, and the compact form the expectations are written in."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from bsarchive.models import iso
from bsarchive.sources.feeds import ParsedFeed

# fixture -> (feed URL, reaction URL for comment feeds or None)
GOLDEN = {
    "mastodon_tag.rss": ("https://social.example/tags/bsnopen.rss", None),
    "wordpress.rss": ("https://notes.example/feed/", None),
    "blog.atom": ("https://fieldnotes.example/blog/feed/atom/", None),
    "rdf.rdf": ("http://parish.example/news/index.rdf", None),
    "old091.rss": ("http://tenants.example/bulletin/rss.xml", None),
    "atom03.atom": ("http://dan.example/weblog/atom.xml", None),
    "feed.json": ("https://diary.example/feed.json", None),
    "dupes.rss": ("https://community.example/news/feed.rss", None),
    "wp_comments.rss": (
        "https://notes.example/2010/06/29/bsnopen-budgets/feed/",
        "https://notes.example/2010/06/29/bsnopen-budgets/",
    ),
    "comments.atom": (
        "https://fieldnotes.example/blog/2010/06/30/who-was-in-the-room/feed/atom/",
        "https://fieldnotes.example/blog/2010/06/30/who-was-in-the-room/",
    ),
}


def compact(value: object) -> object:
    """A model as JSON-able data: datetimes as ISO text, default-valued fields dropped."""
    if isinstance(value, datetime):
        return iso(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        if not isinstance(value, ParsedFeed):
            out["type"] = type(value).__name__
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.name == "raw" or (
                field.default is not dataclasses.MISSING and item == field.default
            ):
                continue
            out[field.name] = compact(item)
        return out
    if isinstance(value, tuple | list):
        return [compact(item) for item in value]
    if isinstance(value, dict):
        return {key: compact(item) for key, item in value.items()}
    return value
