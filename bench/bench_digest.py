"""Time render_html (and render_markdown) on a synthetic 10,000-post digest.

Builds the DigestData in memory (no archive, no network): two days of posts on five
instances, Mastodon-sized HTML bodies with links and hashtags, one post in five a reply,
a few long threads. Prints wall time and output size; asserts nothing (STYLE.md section 7).

    .venv/bin/python bench/bench_digest.py [POSTS] [PAGE_SIZE]
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bsarchive.export.digest import (
    DigestCounts,
    DigestData,
    DigestPost,
    DigestReaction,
    render_html,
    render_markdown,
)

WORDS = (
    "open",
    "data",
    "archive",
    "keynote",
    "session",
    "talk",
    "slides",
    "panel",
    "governance",
    "community",
    "sprint",
    "docs",
    "fediverse",
    "federation",
    "hallway",
    "coffee",
    "workshop",
    "notes",
    "recording",
    "question",
    "answer",
    "thanks",
    "great",
    "interesting",
    "agree",
    "disagree",
    "tomorrow",
    "today",
    "room",
    "speaker",
    "funding",
    "standards",
)
INSTANCES = ("bsn.example.social", "toot.example.org", "m.example.net", "a.example", "b.example")


def build(posts_wanted: int, seed: int = 1) -> DigestData:
    rng = random.Random(seed)
    start = datetime(2025, 11, 20, 7, 0, tzinfo=UTC)
    authors = [f"@user{n}@{INSTANCES[n % len(INSTANCES)]}" for n in range(posts_wanted // 8)]
    posts: list[DigestPost] = []
    for n in range(posts_wanted):
        author = rng.choice(authors)
        host = author.rsplit("@", 1)[1]
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
        link = f"https://blog{n % 97}.example.com/2025/11/post-{n % 211}"
        html = (
            f"<p>{words} <a href='{link}' rel='nofollow noopener' target='_blank'>"
            f"<span class='invisible'>https://</span><span class='ellipsis'>"
            f"{link[8:38]}</span><span class='invisible'>{link[38:]}</span></a></p>"
            f"<p><a href='https://{host}/tags/bsnopen' class='mention hashtag' rel='tag'>"
            "#<span>bsnopen</span></a></p>"
        )
        parent = None
        if posts and rng.random() < 0.2:
            parent = posts[rng.randrange(max(0, len(posts) - 50), len(posts))].uri
        posts.append(
            DigestPost(
                uri=f"https://{host}/users/u/statuses/{1155000000 + n}",
                url=f"https://{host}/@u/{1155000000 + n}",
                created_at=start + timedelta(seconds=n * 2 * 86400 // posts_wanted),
                author=author,
                author_name=author.split("@")[1].title(),
                content_html=html,
                text=f"{words} {link} #bsnopen",
                tags=("bsnopen",),
                links=(link,),
                in_reply_to=parent,
                boosts=rng.choice((0, 0, 0, 1, 2, 5, 40)),
                replies=0,
                favourites=rng.randint(0, 30),
                seen_on=(host,),
                deleted=n % 500 == 0,
                edited=n % 70 == 0,
            )
        )
    reactions = [
        DigestReaction(
            url=f"https://blog{n}.example.com/2025/11/post-{n}",
            title=f"Thoughts on the conference, part {n}",
            author=f"Blogger {n}",
            site_name=f"Blog {n}",
            published_at=start + timedelta(hours=n),
            excerpt=" ".join(rng.choice(WORDS) for _ in range(40)),
            comment_count=n % 7,
            linked_from_count=n % 5,
        )
        for n in range(60)
    ]
    voices = Counter(p.author for p in posts).most_common(10)
    links = Counter(link for p in posts for link in p.links).most_common(10)
    return DigestData(
        title="Synthetic conference",
        tags=("bsnopen",),
        since=start,
        until=start + timedelta(days=2),
        posts=posts,
        reactions=reactions,
        counts=DigestCounts(
            posts=len(posts),
            people=len({p.author for p in posts}),
            instances=len(INSTANCES),
            reactions=len(reactions),
            comments=sum(r.comment_count for r in reactions),
            boosts=sum(p.boosts for p in posts),
        ),
        top_voices=[(a, a.split("@")[1].title(), c) for a, c in voices],
        top_links=links,
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    page_size = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    data = build(count)
    renders: tuple[tuple[str, Callable[[], str]], ...] = (
        ("html", lambda: render_html(data, page_size=page_size)),
        ("markdown", lambda: render_markdown(data)),
    )
    for name, render in renders:
        began = time.perf_counter()
        text = render()
        elapsed = time.perf_counter() - began
        size = len(text.encode("utf-8")) / 1_000_000
        print(f"{name:8} {count:,} posts: {elapsed:.2f} s, {size:.2f} MB")


if __name__ == "__main__":
    main()
