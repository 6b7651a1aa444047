"""Model builders for store-level tests: a Post with every field a backfill would give."""

from __future__ import annotations

from datetime import UTC, datetime

from bsarchive.models import Author, Post, Sighting

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WHEN = datetime(2010, 6, 29, 18, 30, tzinfo=UTC)


def post(
    uri: str = "https://a.example/users/al/statuses/1",
    *,
    on: str = "a.example",
    local: str = "1",
    **kw: object,
) -> Post:
    fields: dict[str, object] = {
        "uri": uri,
        "url": uri.replace("/users/al/statuses/", "/@al/"),
        "created_at": WHEN,
        "author": Author("@al@a.example", "Al"),
        "content_html": "<p>Hello #bsnopen</p>",
        "text": "Hello #bsnopen",
        "sighting": Sighting(on, local, None, NOW, f"https://{on}/api/v1/timelines/tag/bsnopen"),
        "tags": ("bsnopen",),
        "boosts": 1,
    }
    fields.update(kw)
    return Post(**fields)  # type: ignore[arg-type]
