"""Time bsarchive.sources.twarc.iter_twarc_file on synthetic twarc2 flattened lines.

Writes N (default 100,000) lines shaped like `twarc2 flatten` output (author embedded,
entities, public_metrics, `__twarc`; one in five a retweet with its original embedded) to a
temporary file, then parses it and prints tweets per second. Target: 60,000 tweets/s for
parsing alone. No assertion: timings live in bench scripts, never in tests.

    .venv/bin/python bench/bench_twarc_parse.py [N]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bsarchive.sources.twarc import iter_twarc_file

TWARC = {
    "url": "https://api.twitter.com/2/tweets/search/all?query=%23bsnopen",
    "version": "2.10.4",
    "retrieved_at": "2021-03-15T10:20:30.123456+00:00",
}
WORDS = [
    "open",
    "night",
    "community",
    "local",
    "groups",
    "data",
    "charities",
    "volunteers",
    "tea",
    "slides",
    "question",
    "funding",
    "council",
    "Hackney",
    "Peckham",
    "ideas",
    "wall",
    "network",
    "people",
]


# A long tail of made-up words with the event's words spread through it (ranks 20, 40,
# ...), drawn with Zipf-like weights: a realistic spread for full-text queries ("tea" is
# in about 1% of the tweets, not in half of them as with a 19-word vocabulary).
_SYLLABLES = ["ba", "ke", "lo", "mi", "nu", "ra", "si", "to", "ve", "zu", "dor", "lin"]
_FILLER = [a + b + c + d for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES
           for d in ("", "n", "s")][:5000]  # fmt: skip
VOCABULARY = list(_FILLER)
for _rank, _word in enumerate(WORDS):
    VOCABULARY.insert(20 * (_rank + 1), _word)
WEIGHTS = [1 / (rank + 5) for rank in range(len(VOCABULARY))]


def _user(n: int) -> dict[str, object]:
    return {
        "id": str(140000 + n),
        "username": f"attendee_{n}",
        "name": f"Attendee {n}",
        "description": "Live-tweeting the open night.",
        "public_metrics": {"followers_count": n * 3, "following_count": n},
    }


def _tweet(rng: random.Random, tweet_id: int, when: datetime) -> dict[str, object]:
    author = _user(rng.randrange(500))
    words = " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randrange(8, 20)))
    short = f"https://t.co/{tweet_id:x}"
    text = f"{words} #bsnopen &amp; more {short}"
    return {
        "id": str(tweet_id),
        "author_id": author["id"],
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conversation_id": str(tweet_id),
        "lang": "en",
        "text": text,
        "entities": {
            "hashtags": [{"start": len(words) + 1, "end": len(words) + 9, "tag": "bsnopen"}],
            "urls": [
                {
                    "start": len(text) - len(short),
                    "end": len(text),
                    "url": short,
                    "expanded_url": f"https://blog.example.org/{tweet_id}/notes",
                    "display_url": f"blog.example.org/{tweet_id}/…",
                }
            ],
        },
        "public_metrics": {
            "retweet_count": rng.randrange(10),
            "reply_count": rng.randrange(5),
            "like_count": rng.randrange(30),
            "quote_count": 0,
        },
        "author": author,
        "__twarc": TWARC,
    }


def write_lines(path: Path, count: int) -> None:
    rng = random.Random(20100629)
    start = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)
    with path.open("wb") as out:
        for n in range(count):
            tweet = _tweet(rng, 17350000000 + n * 2, start + timedelta(seconds=n))
            if n % 5 == 4:
                original = _tweet(rng, 17350000001 + n * 2, start + timedelta(seconds=n - 60))
                original["type"] = "retweeted"
                original.pop("__twarc")
                tweet["referenced_tweets"] = [original]
                tweet["text"] = "RT @x: " + str(original["text"])[:100] + "…"
            out.write(orjson.dumps(tweet) + b"\n")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flat.jsonl"
        write_lines(path, count)
        size = path.stat().st_size
        fetched_at = datetime(2021, 3, 15, tzinfo=UTC)
        began = time.perf_counter()
        began_cpu = time.process_time()
        lines = items = errors = 0
        for record in iter_twarc_file(path, fetched_at=fetched_at):
            lines += 1
            items += len(record.items)
            errors += record.error is not None
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
    # CPU time as well as wall time: on a shared machine the wall figure swings with load.
    print(
        f"{lines:,} lines ({size / 1e6:.1f} MB) -> {items:,} items, {errors} errors "
        f"in {elapsed:.2f} s: {lines / elapsed:,.0f} tweets/s "
        f"({cpu:.2f} s CPU: {lines / cpu:,.0f} tweets/s)"
    )


if __name__ == "__main__":
    main()
