"""Tests for export/digest.py: sanitising, buckets, chart, threads, Markdown and HTML.

The Markdown digest is compared with fixtures/golden/digest.md (regenerate with
BSARCHIVE_REGEN_GOLDEN=1); the HTML digest is parsed and checked structurally.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bsarchive.export import digest
from bsarchive.export.digest import (
    DigestPost,
    bucket_counts,
    bucket_size,
    escape_markdown,
    render_chart_svg,
    render_html,
    render_markdown,
    sanitize_html,
    thread,
)
from tests.support.digest_data import HOSTILE_HTML, build_data, build_posts
from tests.support.golden import check_golden

T0 = datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
REL = 'rel="nofollow noopener noreferrer"'


def make_post(n: int, minutes: int, reply_to: int | None = None, **changes: object) -> DigestPost:
    post = DigestPost(
        uri=f"https://a.example/s/{n}",
        url=f"https://a.example/@u/{n}",
        created_at=T0 + timedelta(minutes=minutes),
        author="@u@a.example",
        author_name="U",
        content_html=f"<p>post {n}</p>",
        text=f"post {n}",
        tags=("bsnopen",),
        links=(),
        in_reply_to=f"https://a.example/s/{reply_to}" if reply_to is not None else None,
        boosts=0,
        replies=0,
        favourites=0,
        seen_on=("a.example",),
        deleted=False,
        edited=False,
    )
    return replace(post, **changes)  # type: ignore[arg-type]


# --- a small DOM for structural checks --------------------------------------------------

VOID = {"meta", "br", "img", "link", "input", "hr", "source", "wbr", "area", "col", "base"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)  # elements and text, in order

    def iter(self, tag: str | None = None) -> list[Node]:
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if tag is None or child.tag == tag:
                found.append(child)
            found.extend(child.iter(tag))
        return found

    def find_id(self, ident: str) -> Node:
        (node,) = [n for n in self.iter() if n.attrs.get("id") == ident]
        return node

    def all_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.all_text() for c in self.children)

    def ancestor(self, tag: str) -> Node | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.current = self.root
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    assert builder.doctype == "DOCTYPE html"
    return builder.root


# --- sanitize_html ----------------------------------------------------------------------


def test_sanitize_keeps_formatting_and_web_links() -> None:
    html = '<p>Hi <strong>all</strong><br><a href="https://ex.example/a?b=1&amp;c=2">x</a></p>'
    assert sanitize_html(html) == (
        f'<p>Hi <strong>all</strong><br><a href="https://ex.example/a?b=1&amp;c=2" {REL}>x</a></p>'
    )


def test_sanitize_drops_scripts_styles_frames_with_their_content() -> None:
    html = (
        "<p>a<script>alert(1)</script></p><style>p{}</style><iframe>f</iframe>"
        '<svg onload="alert(1)"><text>s</text></svg><object>o</object><p>b</p>'
    )
    assert sanitize_html(html) == "<p>a</p><p>b</p>"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/path",
    ],
)
def test_sanitize_removes_unsafe_hrefs(href: str) -> None:
    assert sanitize_html(f'<a href="{href}">x</a>') == f"<a {REL}>x</a>"


def test_sanitize_removes_event_handlers_styles_and_classes() -> None:
    html = '<p onclick="x()" style="color:red" class="c"><span class="invisible h">u</span></p>'
    assert sanitize_html(html) == '<p><span class="invisible">u</span></p>'


def test_sanitize_turns_images_into_links_by_default() -> None:
    html = '<p><img src="https://i.example/cat.png" alt="a  cat" onerror="x()"></p>'
    assert sanitize_html(html) == (
        f'<p><a href="https://i.example/cat.png" {REL}>[image: a cat]</a></p>'
    )


def test_sanitize_image_without_usable_src_is_text() -> None:
    assert sanitize_html("<img src=x onerror=alert(1)>") == "[image]"
    assert sanitize_html('<img src="javascript:alert(1)" alt="&lt;b&gt;">') == "[image: &lt;b&gt;]"


def test_sanitize_keeps_web_images_when_asked() -> None:
    html = '<img src="https://i.example/cat.png" alt="cat"><img src="mailto:a@b.example" alt="m">'
    assert sanitize_html(html, images=True) == (
        '<img src="https://i.example/cat.png" alt="cat" loading="lazy"'
        f' referrerpolicy="no-referrer"><a href="mailto:a@b.example" {REL}>[image: m]</a>'
    )


def test_sanitize_strips_characters_that_cannot_be_written() -> None:
    assert sanitize_html("<p>a\x00b\x07c\ud800d</p>") == "<p>abcd</p>"


def test_sanitize_hostile_post_leaves_nothing_active() -> None:
    cleaned = sanitize_html(HOSTILE_HTML).lower()
    for needle in (
        "<script",
        "alert(",
        "onerror",
        "onclick",
        "onmouseover",
        "javascript:",
        "data:",
        "<iframe",
        "<svg",
        "<style",
        "style=",
        "<form",
        "<input",
        "<img",
    ):
        assert needle not in cleaned, needle
    assert '<a href="https://tickets.example.net/claim"' in cleaned


# --- buckets and chart ------------------------------------------------------------------


def test_bucket_size_hourly_up_to_three_days_then_daily() -> None:
    assert bucket_size(T0, T0 + timedelta(days=3), None, None) == "hour"
    assert bucket_size(T0, T0 + timedelta(days=3, seconds=1), None, None) == "day"
    assert bucket_size(None, None, T0, T0 + timedelta(hours=5)) == "hour"
    assert bucket_size(None, None, None, None) == "hour"


def test_bucket_size_widens_past_the_bucket_cap() -> None:
    assert bucket_size(None, None, T0, T0 + timedelta(days=1999)) == "day"
    assert bucket_size(None, None, T0, T0 + timedelta(days=2000)) == "week"
    assert bucket_size(None, None, T0, T0 + timedelta(weeks=2000)) == "month"


def test_bucket_counts_include_empty_buckets() -> None:
    posts = [make_post(1, 5), make_post(2, 50), make_post(3, 190)]
    assert bucket_counts(posts, "hour") == [
        (datetime(2025, 11, 20, 8, tzinfo=UTC), 2),
        (datetime(2025, 11, 20, 9, tzinfo=UTC), 0),
        (datetime(2025, 11, 20, 10, tzinfo=UTC), 0),
        (datetime(2025, 11, 20, 11, tzinfo=UTC), 1),
    ]
    assert bucket_counts([], "hour") == []


def test_bucket_counts_weeks_start_on_monday() -> None:
    posts = [make_post(1, 0), make_post(2, 60 * 24 * 4)]  # Thu 20 Nov, Mon 24 Nov
    assert bucket_counts(posts, "week") == [
        (datetime(2025, 11, 17, tzinfo=UTC), 1),
        (datetime(2025, 11, 24, tzinfo=UTC), 1),
    ]


def test_bucket_counts_are_bounded() -> None:
    posts = [make_post(1, 0), make_post(2, 60 * 24 * 365 * 30)]  # 30 years apart, asked hourly
    buckets = bucket_counts(posts, "hour")
    assert len(buckets) <= digest.MAX_BUCKETS
    assert sum(count for _, count in buckets) == 2


def test_chart_has_one_bar_per_bucket_and_is_accessible() -> None:
    buckets = bucket_counts([make_post(1, 5), make_post(2, 50), make_post(3, 190)], "hour")
    svg = render_chart_svg(buckets, size="hour")
    root = parse("<!DOCTYPE html>" + svg)
    (chart,) = root.iter("svg")
    assert chart.attrs["role"] == "img"
    assert chart.attrs["aria-label"].startswith("Posts per hour: 3 posts in 4 hours")
    assert chart.iter()[0].tag == "title"
    bars = [n for n in chart.iter("rect") if "bar" in n.classes()]
    assert [bar.iter("title")[0].all_text() for bar in bars] == [
        "Thu 20 Nov 2025, 08:00–09:00 UTC: 2 posts",
        "Thu 20 Nov 2025, 09:00–10:00 UTC: 0 posts",
        "Thu 20 Nov 2025, 10:00–11:00 UTC: 0 posts",
        "Thu 20 Nov 2025, 11:00–12:00 UTC: 1 post",
    ]
    assert [bar.attrs["height"] for bar in bars] == ["156.00", "0.00", "0.00", "78.00"]
    labels = [n.all_text() for n in chart.iter("text") if "axis-label" in n.classes()]
    assert labels == ["Time (UTC), one bar per hour", "Posts"]
    assert "<script" not in svg
    assert render_chart_svg(buckets, size="hour") == svg


def test_chart_without_posts() -> None:
    svg = render_chart_svg([])
    assert "No posts" in svg
    assert 'class="bar"' not in svg


# --- threads ----------------------------------------------------------------------------


def shape(nodes: list[digest.ThreadNode]) -> list[object]:
    return [(node.post.uri.rsplit("/", 1)[1], shape(list(node.replies))) for node in nodes]


def test_thread_nests_replies_under_parents_oldest_first() -> None:
    posts = [
        make_post(1, 0),
        make_post(2, 1, reply_to=1),
        make_post(3, 2),
        make_post(4, 3, reply_to=2),
        make_post(5, 4, reply_to=1),
        make_post(6, 5, reply_to=99),  # parent not archived: an orphan, shown at top level
    ]
    random.Random(4).shuffle(posts)
    assert shape(thread(posts)) == [
        ("1", [("2", [("4", [])]), ("5", [])]),
        ("3", []),
        ("6", []),
    ]


def test_thread_depth_is_limited() -> None:
    chain = [make_post(1, 0)] + [make_post(n, n, reply_to=n - 1) for n in range(2, 9)]
    assert shape(thread(chain)) == [
        ("1", [("2", [("3", [("4", [("5", [("6", []), ("7", []), ("8", [])])])])])])
    ]


def test_thread_breaks_cycles_and_drops_duplicate_uris() -> None:
    posts = [make_post(1, 0, reply_to=2), make_post(2, 1, reply_to=1), make_post(1, 9)]
    assert shape(thread(posts)) == [("1", [("2", [])])]


# --- Markdown ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*bold* _it_ `code` ~~s~~", r"\*bold\* \_it\_ \`code\` \~\~s\~\~"),
        ("# heading", r"\# heading"),
        ("> quote", r"\> quote"),
        ("- item", r"\- item"),
        ("12. item", r"12\. item"),
        ("a | b", r"a \| b"),
        ("<b>x</b> &copy; & ok", r"\<b\>x\</b\> \&copy; & ok"),
        ("[x](javascript:alert(1))", r"\[x\](javascript:alert(1))"),
        ("see https://ex.example/a_b.", "see [https://ex.example/a\\_b](https://ex.example/a_b)."),
        ("two\n\n    lines\x00", "two lines"),
    ],
)
def test_escape_markdown(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


def test_markdown_golden() -> None:
    check_golden("digest.md", render_markdown(build_data()))


def test_markdown_contains_no_active_markup_from_remote_text() -> None:
    md = render_markdown(build_data())
    assert re.findall(r"(?<!\\)<[a-z/]", md) == []  # every remote "<" is escaped
    assert re.findall(r"(?<!\\)\]\((?!https?://)", md) == []  # links are http(s) only
    assert "\n# Heading" not in md


def test_markdown_renders_remote_text_as_text() -> None:
    # markdown-it-py (CommonMark + GFM tables) comes with rich, a runtime dependency.
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    html = renderer.render(render_markdown(build_data()))
    root = parse("<!DOCTYPE html><body>" + html + "</body>")
    tags = {node.tag for node in root.iter()}
    assert tags <= {
        "body",
        "a",
        "blockquote",
        "code",
        "em",
        "h1",
        "h2",
        "h3",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
    assert [n.all_text() for n in root.iter("h1")] == ["BSN Open 2025"]
    hrefs = [n.attrs["href"] for n in root.iter("a")]
    assert len(hrefs) == 54 and all(h.startswith("https://") for h in hrefs)
    assert all(len(row.iter("td")) == 3 for row in root.iter("tbody")[0].iter("tr"))
    assert "# Heading *bold* _under_ [click](javascript:alert(1)) <b>x</b> | cell | `code`" in (
        root.all_text()
    )


def test_renders_are_identical_across_processes() -> None:
    script = (
        "import hashlib; from tests.support.digest_data import build_data; "
        "from bsarchive.export.digest import render_html, render_markdown; d = build_data(); "
        "print(hashlib.sha256((render_html(d, images=True) + render_markdown(d)).encode())"
        ".hexdigest())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


# --- HTML -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> Node:
    return parse(render_html(build_data()))


def test_html_headline_counts_match(page: Node) -> None:
    numbers = {
        name: page.find_id(f"count-{name}").all_text()
        for name in ("posts", "people", "instances", "reactions", "comments", "boosts")
    }
    assert numbers == {
        "posts": "30",
        "people": "7",
        "instances": "2",
        "reactions": "4",
        "comments": "7",
        "boosts": "60",
    }
    assert page.iter("h1")[0].all_text() == "BSN Open 2025"


def test_html_timeline_is_oldest_first_with_each_post_once(page: Node) -> None:
    timeline = page.find_id("timeline")
    articles = timeline.iter("article")
    assert sorted(a.attrs["data-uri"] for a in articles) == sorted(p.uri for p in build_posts())
    tops = [a for a in articles if a.ancestor("article") is None]
    times = [a.iter("time")[0].attrs["datetime"] for a in tops]
    assert times == sorted(times)
    assert len(tops) == 25  # 30 posts, five of them replies inside the one thread


def test_html_replies_are_nested_under_their_parents(page: Node) -> None:
    by_uri = {p.uri: p for p in build_posts()}
    articles = page.find_id("timeline").iter("article")
    nested = 0
    for article in articles:
        post = by_uri[article.attrs["data-uri"]]
        parent = article.ancestor("article")
        if post.in_reply_to in by_uri:
            assert parent is not None and parent.attrs["data-uri"] == post.in_reply_to
            nested += 1
        else:
            assert parent is None
    assert nested == 5
    (folded,) = [d for d in page.find_id("timeline").iter("details") if "thread" in d.classes()]
    assert folded.iter("summary")[0].all_text() == "5 replies"


def test_html_loads_nothing_and_runs_nothing(page: Node) -> None:
    nodes = page.iter()
    assert not [n for n in nodes if n.tag in {"script", "iframe", "object", "embed", "img"}]
    assert not [n for n in nodes if n.tag == "link"]
    assert not [n for n in nodes for a in n.attrs if a.startswith("on")]
    assert not [n for n in nodes if "src" in n.attrs or "style" in n.attrs]
    hrefs = [n.attrs["href"] for n in nodes if "href" in n.attrs]
    assert hrefs and all(h.startswith(("https://", "http://", "#", "mailto:")) for h in hrefs)
    metas = {
        n.attrs.get("name") or n.attrs.get("http-equiv"): n.attrs.get("content")
        for n in page.iter("meta")
    }
    assert metas["Content-Security-Policy"] == (
        "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    assert metas["robots"] == "noindex, nofollow"
    assert metas["viewport"] == "width=device-width, initial-scale=1"
    (style,) = page.iter("style")
    assert "@media print" in style.all_text() and "@media (max-width:700px)" in style.all_text()


def test_html_escapes_remote_text(page: Node) -> None:
    html = render_html(build_data())
    assert "Mallory &lt;b&gt;*Admin*&lt;/b&gt;" in html
    assert "Recap: &lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in html
    hostile = [a for a in page.iter("article") if a.attrs["data-uri"].endswith("115500015")]
    assert (
        hostile[0].iter("div")[0].all_text()
        == "Free tickets![image]claim here or here real linkHover me"
    )


def test_html_chart_has_one_bar_per_bucket(page: Node) -> None:
    bars = [n for n in page.find_id("activity").iter("rect") if "bar" in n.classes()]
    assert len(bars) == 28  # 08:00 on day one to 11:00 on day two
    assert len(bars) == len(bucket_counts(build_posts(), "hour"))


def test_html_sections_and_deleted_post(page: Node) -> None:
    voices = page.find_id("voices").iter("li")
    assert voices[0].all_text() == "Ada Quill @ada@bsn.example.social 6 posts"
    boosted = page.find_id("boosted").iter("article")
    assert len(boosted) == 10
    assert all("id" not in a.attrs for a in boosted)
    links = page.find_id("links").iter("a")
    assert links[0].attrs["href"] == "https://slides.example.com/bsnopen-2025/keynote"
    reactions = page.find_id("reactions").iter("li")
    assert [r.iter("strong")[0].all_text() for r in reactions] == [
        "BSN Open, day one: governance and coffee",
        "A reaction whose URL is not a web link",
        "Recap: <script>alert('t')</script> *BSN* [Open] 2025",
        "Unicode at BSN Open",
    ]
    assert reactions[1].iter("a") == []
    deleted = [a for a in page.iter("article") if "deleted" in a.classes()]
    assert [d.iter("p")[0].all_text() for d in deleted] == ["This post was deleted by its author."]


def test_html_is_deterministic_and_ignores_input_order() -> None:
    data = build_data()
    shuffled = list(data.posts)
    random.Random(7).shuffle(shuffled)
    reactions = list(reversed(data.reactions))
    first = render_html(data)
    assert render_html(replace(data, posts=shuffled, reactions=reactions)) == first
    assert "Generated" not in first
    stamped = render_html(replace(data, generated_at=datetime(2025, 11, 22, 9, 0, tzinfo=UTC)))
    assert '<time datetime="2025-11-22T09:00:00Z">Sat 22 Nov 2025, 09:00 UTC</time>' in stamped


def test_html_images_only_when_asked() -> None:
    root = parse(render_html(build_data(), images=True))
    images = root.iter("img")
    assert [i.attrs["src"] for i in images] == ["https://files.example.org/media/w1.jpg"] * 2
    csp = [m.attrs["content"] for m in root.iter("meta") if "http-equiv" in m.attrs][0]
    assert "img-src https: http:;" in csp


def test_html_long_timeline_summarises_after_page_size(monkeypatch: pytest.MonkeyPatch) -> None:
    root = parse(render_html(build_data(), page_size=10))
    timeline = root.find_id("timeline")
    full = [a for a in timeline.iter("article") if a.ancestor("article") is None]
    assert len(full) == 5  # whole threads up to 10 posts: 4 singles then the 6-post thread
    more = [d for d in timeline.iter("details") if "more" in d.classes()]
    assert sum(len([li for li in d.iter("li")]) for d in more) == 20
    note = timeline.iter("p")[0].all_text()
    assert note.startswith("The first 10 posts are shown in full; the next 20 posts are summarised")

    monkeypatch.setattr(digest, "MAX_SUMMARISED", 5)
    root = parse(render_html(build_data(), page_size=10))
    notes = [p.all_text() for p in root.find_id("timeline").iter("p") if "note" in p.classes()]
    assert notes[-1] == "15 later posts not shown."


def test_html_without_posts() -> None:
    empty = replace(build_data(), posts=[], reactions=[], top_voices=[], top_links=[])
    root = parse(render_html(empty))
    assert "No posts in this window." in root.find_id("timeline").all_text()
    assert [n for n in root.iter("rect") if "bar" in n.classes()] == []


def test_reactions_show_their_first_comments_escaped() -> None:
    data = build_data()
    hostile = "<script>alert(1)</script> *not bold* [x](javascript:alert(1)) " + "word " * 80
    comments = (
        digest.DigestComment("Ann <b>", datetime(2025, 11, 21, 9, 5, tzinfo=UTC), hostile),
        digest.DigestComment("", None, "Agreed."),
    )
    first = replace(data.reactions[0], comments=comments)
    data = replace(data, reactions=[first, *data.reactions[1:]])
    html = render_html(data)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="author">Ann &lt;b&gt;</span>' in html
    assert '<time datetime="2025-11-21T09:05:00Z">Fri 21 Nov 2025, 09:05 UTC</time>' in html
    assert '<span class="author">Anonymous</span>: Agreed.</li>' in html
    md = render_markdown(data)
    line = next(x for x in md.splitlines() if x.startswith("  - **Ann"))
    assert line.startswith("  - **Ann \\<b\\>**, Fri 21 Nov 2025, 09:05 UTC: \\<script\\>")
    assert "\\*not bold\\*" in line and line.endswith("\u2026")  # cut at 280 characters
    assert len(line) < 340
    assert "  - **Anonymous**: Agreed." in md
