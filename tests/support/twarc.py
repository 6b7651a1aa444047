"""A small twarc2 capture (two API responses: includes, a retweet) for the import tests."""

from __future__ import annotations

import json
from pathlib import Path

TWARC = {
    "url": "https://api.twitter.com/2/tweets/search/recent",
    "retrieved_at": "2021-03-15T10:20:30+00:00",
}  # noqa: E501
USERS = [
    {"id": "1001", "username": "ada_l", "name": "Ada"},
    {"id": "1002", "username": "bob_k", "name": "Bob"},
]


def tweet(tweet_id: str, author_id: str, text: str, **extra: object) -> dict[str, object]:
    return {
        "id": tweet_id,
        "author_id": author_id,
        "created_at": f"2010-06-29T18:{int(tweet_id[-2:]):02d}:00.000Z",
        "text": text,
        **extra,
    }


ORIGINAL = tweet(
    "17350000010",
    "1001",
    "Slides from the open night are up https://t.co/abc #bsnopen",
    entities={
        "hashtags": [{"start": 51, "end": 59, "tag": "bsnopen"}],
        "urls": [
            {
                "start": 34,
                "end": 50,
                "url": "https://t.co/abc",
                "expanded_url": "https://blog.example.org/slides",
            }
        ],
    },
)
RETWEET = tweet(
    "17350000011",
    "1002",
    "RT @ada_l: Slides from the open night are up https://t.co/abc #bsnopen",
    referenced_tweets=[{"type": "retweeted", "id": "17350000010"}],
)
OTHER = tweet("17350000012", "1002", "Tea and a wall of sticky notes at #bsnopen")


def twarc2_lines() -> list[bytes]:
    first = {"data": [ORIGINAL, OTHER], "includes": {"users": USERS}, "__twarc": TWARC}
    second = {
        "data": [RETWEET],
        "includes": {"users": USERS, "tweets": [ORIGINAL]},
        "__twarc": TWARC,
    }
    return [json.dumps(first).encode(), json.dumps(second).encode()]


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
