"""Near-duplicate rules (dedupe.py): normalisation and clustering, literal cases."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

from bsarchive.dedupe import cluster_near_duplicates, normalise_for_duplicates
from bsarchive.models import Author, Post, Sighting
from bsarchive.store import ExportFilter, Store


def test_normalise() -> None:
    assert (
        normalise_for_duplicates("RT @alice: Slides are   UP https://x.example/s?utm=1 #BSNOpen")
        == "slides are up URL #bsnopen"
    )
    assert normalise_for_duplicates("@bob@social.example Thanks!\n\nSee www.a.example") == (
        "thanks! see URL"
    )
    assert normalise_for_duplicates("mail me at a@b.example") == "mail me at a@b.example"


def test_exact_and_near_duplicates_cluster() -> None:
    items = [
        ("a", "@ann", "Slides from tonight are up https://one.example/s #bsnopen"),
        ("b", "@bob", "Totally different thoughts about funding for local groups"),
        ("c", "@cat", "RT @ann: Slides from tonight are up https://two.example/x #bsnopen"),
        ("d", "@dan", "SLIDES from tonight are up https://three.example #bsnopen"),
        ("e", "@eve", "Totally different thoughts about funding for local group"),
        ("f", "@fay", "#bsnopen"),
        ("g", "@gus", "#bsnopen"),
        ("h", "@hal", "Slides from last week are up https://one.example/s #bsnopen"),
    ]
    assert cluster_near_duplicates(items) == [["a", "c", "d"], ["b", "e"]]


def test_threshold_is_respected() -> None:
    items = [
        ("x", "@a", "the quick brown fox jumps over the lazy dog near the river bank"),
        ("y", "@b", "the quick brown fox jumps over the lazy cat near the river bank"),
    ]
    assert cluster_near_duplicates(items, threshold=0.9) == []
    assert cluster_near_duplicates(items, threshold=0.7) == [["x", "y"]]


def test_ten_thousand_posts_cluster_quickly() -> None:
    rng = random.Random(8)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randrange(3, 9))) for _ in range(3000)]
    texts = [" ".join(rng.choice(words) for _ in range(15)) for _ in range(10_000)]
    items = [(n, "@a", t) for n, t in enumerate(texts)]
    items.append((10_000, "@b", texts[42] + "!"))
    began = time.perf_counter()
    clusters = cluster_near_duplicates(items)
    assert time.perf_counter() - began < 10  # a guard against quadratic blow-up, not a timing
    assert clusters == [[42, 10_000]]


def test_store_near_duplicates(tmp_path: Path) -> None:
    now = datetime(2021, 3, 15, tzinfo=UTC)

    def post(n: int, handle: str, text: str) -> Post:
        uri = f"https://s.example/users/{handle}/statuses/{n}"
        return Post(
            uri=uri, url=uri, created_at=datetime(2021, 3, 1, 12, n, tzinfo=UTC),
            author=Author(handle=f"@{handle}@s.example"), content_html="", text=text,
            sighting=Sighting(
                source="s.example", local_id=str(n), url=uri, fetched_at=now, fetched_from=uri
            ),
        )  # fmt: skip

    with Store(tmp_path / "a.db") as store:
        store.save_items(
            [
                post(1, "ann", "Join us tonight for the open night in Hackney"),
                post(2, "bob", "Join us tonight for the open night in Hackney!"),
                post(3, "ann", "Join us tonight for the open night in hackney"),
                post(4, "cat", "Something else entirely about tea and biscuits"),
            ],
            now,
        )
        found = store.near_duplicates(ExportFilter())
        rows = store.db.execute("SELECT count(*) FROM posts").fetchone()
    first = "https://s.example/users/ann/statuses/1"
    assert found.also_posted_by == {first: ("@bob@s.example",)}
    assert found.hidden == {
        "https://s.example/users/bob/statuses/2",
        "https://s.example/users/ann/statuses/3",
    }
    assert rows == (4,)  # nothing deleted
