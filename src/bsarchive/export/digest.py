"""Render an event's digest (one self-contained HTML file, or Markdown) from plain data.

The store's digest query fills :class:`DigestData`; this module only turns those values into
text. It must not import ``bsarchive.store``, ``http``, ``httpx``, ``sources`` or ``archive``,
and it opens no file and no socket: exports never touch the network or the database.

Safety rules, each covered by a test:

- remote HTML reaches the page only through :func:`sanitize_html` (nh3 allow-list); every
  other remote string is escaped (Jinja autoescape for HTML, :func:`escape_markdown` for
  Markdown); links are emitted only for ``http``/``https`` URLs;
- the HTML page loads nothing: inline CSS, an inline SVG chart, a Content-Security-Policy that
  forbids scripts and remote resources (images only with ``images=True``);
- output is deterministic: the same input gives byte-identical output (no clock, no locale,
  no hash-order dependence), so digests can be diffed and golden-tested.

All times are shown in UTC.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Literal, NamedTuple
from urllib.parse import quote, urlsplit

import nh3
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

Bucket = Literal["hour", "day", "week", "month", "year"]
_WIDER: dict[Bucket, Bucket] = {"hour": "day", "day": "week", "week": "month", "month": "year"}

# Hourly buckets while the window is at most three days (the rule for a conference).
HOURLY_MAX_SPAN = timedelta(days=3)
# More bars than this and the chart stops being readable and the SVG grows past ~300 kB:
# widen the bucket (hour -> day -> week -> month -> year) until it fits.
MAX_BUCKETS = 2000
# Replies nest this many levels; deeper replies are listed flat under the fifth level.
MAX_THREAD_DEPTH = 5
# Threads with at least this many replies fold them into <details>.
LONG_THREAD_REPLIES = 5
TOP_N = 10
# Posts beyond the first `page_size` are summarised: plain text cut to this many characters.
SUMMARY_CHARS = 140
# Hard stop for summarised posts, so even a huge archive stays under 5 MB (bench_digest.py).
MAX_SUMMARISED = 10_000
# Title length for feed entries and similar one-line uses.
TITLE_CHARS = 80

# Allow-list for remote HTML (issue "timeline digest and exports"): text formatting and links.
_TAGS = frozenset(
    {"p", "br", "a", "span", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote"}
    | {"code", "pre"}
)
# Dropped together with their content (nh3 keeps the text of other disallowed tags).
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript"}
    | {"textarea", "select", "title"}
)
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_LINK_REL = "nofollow noopener noreferrer"
# Mastodon marks the hidden and truncated parts of long links with these classes.
_SPAN_CLASSES = {"span": {"invisible", "ellipsis"}}

# Characters XML 1.0 forbids (C0 controls except tab/LF/CR, lone surrogates, U+FFFE/U+FFFF);
# lone surrogates also cannot be encoded as UTF-8, so a file could not even be written.
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- input types ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestPost:
    """One post as the digest shows it; ``created_at`` is aware UTC."""

    uri: str
    url: str | None
    created_at: datetime
    author: str  # "@alice@example.social"
    author_name: str
    content_html: str  # remote HTML, sanitised here
    text: str  # plain text of the content
    tags: tuple[str, ...]
    links: tuple[str, ...]
    in_reply_to: str | None  # parent uri
    boosts: int
    replies: int
    favourites: int
    seen_on: tuple[str, ...]  # sources/instances where it was seen
    deleted: bool
    edited: bool
    also_posted_by: tuple[str, ...] = ()  # near-duplicates by other accounts
    spoiler_text: str = ""  # content warning
    language: str | None = None  # BCP 47 tag as the server reported it


@dataclass(frozen=True, slots=True)
class DigestComment:
    """A comment on a reaction (plain text, from its blog's comment feed)."""

    author: str
    created_at: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class DigestReaction:
    """A blog post or article reacting to the event."""

    url: str
    title: str
    author: str
    site_name: str
    published_at: datetime | None
    excerpt: str  # plain text
    comment_count: int
    linked_from_count: int
    tags: tuple[str, ...] = ()
    # The first comments, oldest first (``comment_count`` says how many in all).
    comments: tuple[DigestComment, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestCounts:
    """Headline numbers for the whole window."""

    posts: int
    people: int
    instances: int
    reactions: int
    comments: int
    boosts: int


class Voice(NamedTuple):
    """A top voice: handle, display name and how many posts."""

    author: str
    author_name: str
    posts: int


class LinkCount(NamedTuple):
    """A most-shared link and how many posts shared it."""

    url: str
    shares: int


@dataclass(frozen=True, slots=True)
class DigestData:
    """Everything a digest shows; the store's digest query builds it."""

    title: str
    tags: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    posts: Sequence[DigestPost]  # oldest first (re-sorted defensively)
    reactions: Sequence[DigestReaction]
    counts: DigestCounts
    top_voices: Sequence[tuple[str, str, int]]  # (author, author_name, posts), best first
    top_links: Sequence[tuple[str, int]]  # (url, shares), best first
    generated_at: datetime | None = None


class ThreadNode(NamedTuple):
    """A post and its replies (oldest first), as :func:`thread` arranges them."""

    post: DigestPost
    replies: tuple[ThreadNode, ...]

    @property
    def size(self) -> int:
        """Posts in this subtree, this one included."""
        return 1 + sum(reply.size for reply in self.replies)


# --- buckets and chart ------------------------------------------------------------------


def bucket_start(moment: datetime, size: Bucket) -> datetime:
    """Return the start (UTC) of the bucket holding ``moment``."""
    moment = moment.astimezone(UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    if size == "hour":
        return hour
    day = hour.replace(hour=0)
    if size == "day":
        return day
    if size == "week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next_bucket(start: datetime, size: Bucket) -> datetime:
    if size == "hour":
        return start + timedelta(hours=1)
    if size == "day":
        return start + timedelta(days=1)
    if size == "week":
        return start + timedelta(weeks=1)
    if size == "month":
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    return start.replace(year=start.year + 1)


def _bucket_total(first: datetime, last: datetime, size: Bucket) -> int:
    """How many buckets of ``size`` span ``first``..``last`` (both included)."""
    a, b = bucket_start(first, size), bucket_start(last, size)
    if size in ("hour", "day", "week"):
        step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
        return (b - a) // step[size] + 1
    if size == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return b.year - a.year + 1


def _fit(size: Bucket, first: datetime, last: datetime) -> Bucket:
    """Widen ``size`` until ``first``..``last`` needs at most MAX_BUCKETS buckets."""
    while size != "year" and _bucket_total(first, last, size) > MAX_BUCKETS:
        size = _WIDER[size]
    return size


def bucket_size(
    since: datetime | None,
    until: datetime | None,
    first: datetime | None,
    last: datetime | None,
) -> Bucket:
    """Choose the chart and timeline bucket: ``"hour"`` when the window spans at most three
    days, else ``"day"``, widened while the posts (``first``..``last``) would need more than
    MAX_BUCKETS bars.

    The window is ``since``..``until``, falling back to the first and last post.
    """
    start = since if since is not None else first
    end = until if until is not None else last
    if start is None or end is None:
        return "hour"
    size: Bucket = "hour" if end - start <= HOURLY_MAX_SPAN else "day"
    lo = first if first is not None else start
    hi = last if last is not None else end
    return _fit(size, min(lo, hi), max(lo, hi))


def bucket_counts(posts: Iterable[DigestPost], size: Bucket) -> list[tuple[datetime, int]]:
    """Count posts per bucket from the first post's bucket to the last's, empty ones included.

    ``size`` is widened if it would need more than MAX_BUCKETS buckets (:func:`bucket_size`
    already returns a size that fits).
    """
    moments = [post.created_at for post in posts]
    if not moments:
        return []
    first, last = min(moments), max(moments)
    size = _fit(size, first, last)
    counts = Counter(bucket_start(moment, size) for moment in moments)
    result: list[tuple[datetime, int]] = []
    current, end = bucket_start(first, size), bucket_start(last, size)
    while current <= end:
        result.append((current, counts.get(current, 0)))
        current = _next_bucket(current, size)
    return result


def _two(n: int) -> str:
    return f"{n:02d}"


def _date(moment: datetime) -> str:
    """``Thu 20 Nov 2025`` (fixed English, independent of the process locale)."""
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _clock(moment: datetime) -> str:
    return f"{_two(moment.hour)}:{_two(moment.minute)}"


def _datetime(moment: datetime) -> str:
    """``Thu 20 Nov 2025, 14:05 UTC``."""
    moment = moment.astimezone(UTC)
    return f"{_date(moment)}, {_clock(moment)} UTC"


def _bucket_label(start: datetime, size: Bucket) -> str:
    """Heading for a timeline group."""
    if size == "hour":
        end = _next_bucket(start, size)
        return f"{_date(start)}, {_clock(start)}\u2013{_clock(end)} UTC"
    if size == "day":
        weekday = _DAYS_LONG[start.weekday()]
        return f"{weekday} {start.day} {_MONTHS_LONG[start.month - 1]} {start.year}"
    if size == "week":
        return f"Week of {_date(start)}"
    if size == "month":
        return f"{_MONTHS_LONG[start.month - 1]} {start.year}"
    return str(start.year)


def _bucket_short(start: datetime, size: Bucket) -> str:
    """Axis label for a bar."""
    month = _MONTHS[start.month - 1]
    if size == "hour":
        return f"{start.day} {month} {_clock(start)}"
    if size in ("day", "week"):
        return f"{start.day} {month} {start.year}"
    if size == "month":
        return f"{month} {start.year}"
    return str(start.year)


def _plural(count: int, word: str, many: str | None = None) -> str:
    """``1 post``, ``2 posts`` (``many`` for irregular plurals)."""
    return f"{count:,} " + (word if count == 1 else many or word + "s")


def _num(value: float) -> str:
    """Fixed SVG number format: two decimals, so output never depends on float repr."""
    return f"{value:.2f}"


def _infer_size(buckets: Sequence[tuple[datetime, int]]) -> Bucket:
    if len(buckets) < 2:
        return "hour"
    gap = buckets[1][0] - buckets[0][0]
    if gap <= timedelta(hours=1):
        return "hour"
    if gap <= timedelta(days=1):
        return "day"
    if gap <= timedelta(weeks=1):
        return "week"
    if gap <= timedelta(days=31):
        return "month"
    return "year"


def render_chart_svg(buckets: Sequence[tuple[datetime, int]], *, size: Bucket | None = None) -> str:
    """Draw posts per bucket as an inline, accessible SVG bar chart (no scripts, no styles
    that load anything). One ``<rect class="bar">`` per bucket, empty buckets included.

    ``size`` names the bucket for labels; inferred from the bucket spacing when omitted.
    """
    size = size if size is not None else _infer_size(buckets)
    width, height = 720, 220
    left, right, top, bottom = 48, 12, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    total = sum(count for _, count in buckets)
    peak = max((count for _, count in buckets), default=0)
    title = f"Posts per {size}"
    if buckets:
        peak_at = next(start for start, count in buckets if count == peak)
        desc = (
            f"{_plural(total, 'post')} in {_plural(len(buckets), size)} from "
            f"{_bucket_label(buckets[0][0], size)} to {_bucket_label(buckets[-1][0], size)}; "
            f"busiest: {_bucket_label(peak_at, size)} with {_plural(peak, 'post')}."
        )
    else:
        desc = "No posts in this window."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(title)}: {escape(desc)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        '<g font-family="sans-serif" font-size="11" fill="#555">',
    ]
    base = top + plot_h
    # Axes and a mid gridline.
    out.append(
        f'<path class="axis" d="M{left} {top}V{base}H{width - right}" fill="none"'
        ' stroke="#888" stroke-width="1"/>'
    )
    ticks = sorted({0, peak // 2, peak}) if peak else [0]
    for tick in ticks:
        y = base - (tick / peak * plot_h if peak else 0)
        out.append(
            f'<text class="ytick" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{tick}</text>'
        )
        if tick:
            out.append(
                f'<path d="M{left} {_num(y)}H{width - right}" stroke="#ddd" stroke-width="1"/>'
            )
    if buckets:
        slot = plot_w / len(buckets)
        bar_w = slot * 0.8 if slot >= 3 else slot
        for index, (start, count) in enumerate(buckets):
            bar_h = count / peak * plot_h if peak else 0.0
            x = left + index * slot + (slot - bar_w) / 2
            tip = f"{_bucket_label(start, size)}: {_plural(count, 'post')}"
            out.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(base - bar_h)}" width="{_num(bar_w)}"'
                f' height="{_num(bar_h)}" fill="#3b6ea5"><title>{escape(tip)}</title></rect>'
            )
        # X labels: first, middle, last bucket.
        marks = sorted({0, len(buckets) // 2, len(buckets) - 1})
        for index in marks:
            # First label starts at the left edge, last ends at the right, middle is centred.
            if index == 0:
                anchor, offset = "start", 0.0
            elif index == len(buckets) - 1:
                anchor, offset = "end", 1.0
            else:
                anchor, offset = "middle", 0.5
            x = left + (index + offset) * slot
            label = escape(_bucket_short(buckets[index][0], size))
            out.append(
                f'<text class="xtick" x="{_num(x)}" y="{base + 16}" text-anchor="{anchor}">'
                f"{label}</text>"
            )
    else:
        out.append(
            f'<text x="{left + plot_w // 2}" y="{top + plot_h // 2}" text-anchor="middle">'
            "No posts</text>"
        )
    out.append(
        f'<text class="axis-label" x="{left + plot_w // 2}" y="{height - 8}"'
        f' text-anchor="middle">Time (UTC), one bar per {size}</text>'
    )
    out.append(
        f'<text class="axis-label" x="12" y="{top + plot_h // 2}" text-anchor="middle"'
        f' transform="rotate(-90 12 {top + plot_h // 2})">Posts</text>'
    )
    out.append("</g></svg>")
    return "\n".join(out)


# --- sanitising -------------------------------------------------------------------------


def strip_illegal_chars(text: str) -> str:
    """Remove characters XML 1.0 forbids (NUL, C0 controls, lone surrogates, U+FFFE/F)."""
    return _ILLEGAL_CHARS.sub("", text)


def _cleaner(*, images: bool, link_rel: str | None) -> nh3.Cleaner:
    tags = set(_TAGS) | ({"img"} if images else set())
    attributes: dict[str, set[str]] = {"a": {"href"}}
    fixed: dict[str, dict[str, set[str]]] = {}
    if images:
        attributes["img"] = {"src", "alt"}
        # Shown images load lazily and without telling their host where from. The rewriter
        # adds these; nh3's set_tag_attribute_values would emit them in hash order.
        fixed["img"] = {"loading": {"lazy"}, "referrerpolicy": {"no-referrer"}}
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=attributes,
        tag_attribute_values=fixed,
        allowed_classes=_SPAN_CLASSES,
        url_schemes=set(_URL_SCHEMES),
        # A relative URL means nothing in a file opened from disk, and could reach local files.
        url_relative="deny",
        link_rel=link_rel,
        strip_comments=True,
    )


# First pass keeps <img> so it can be rewritten; final passes apply the real policy.
_FIRST_PASS = _cleaner(images=True, link_rel=_LINK_REL)
_FINAL = {
    True: _cleaner(images=True, link_rel=_LINK_REL),
    False: _cleaner(images=False, link_rel=_LINK_REL),
}


def _is_web_url(url: str | None) -> bool:
    if not url or _ILLEGAL_CHARS.search(url) or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is an absolute http(s) URL we may link to, else None."""
    return url if url is not None and _is_web_url(url) else None


class _ImageRewriter(HTMLParser):
    """Re-serialise nh3 output, turning ``<img>`` into a link to the image (or keeping it
    for http(s) sources when images are wanted). Only ever sees already-sanitised HTML; the
    result is sanitised again."""

    def __init__(self, *, images: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.images = images
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "img":
            self._image(values.get("src", ""), values.get("alt", ""))
            return
        rendered = "".join(f' {name}="{escape(value)}"' for name, value in values.items())
        self.parts.append(f"<{tag}{rendered}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag != "img":
            self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(str(escape(data)))

    def _image(self, src: str, alt: str) -> None:
        alt = " ".join(alt.split())
        label = f"[image: {alt}]" if alt else "[image]"
        if self.images and _is_web_url(src):
            self.parts.append(
                f'<img src="{escape(src)}" alt="{escape(alt)}" loading="lazy"'
                ' referrerpolicy="no-referrer">'
            )
        elif src:
            self.parts.append(f'<a href="{escape(src)}">{escape(label)}</a>')
        else:
            self.parts.append(str(escape(label)))


def sanitize_html(html: str, *, images: bool = False) -> str:
    """Reduce remote HTML to safe formatting and links.

    Allowed: p, br, a (href only, http/https/mailto, ``rel="nofollow noopener noreferrer"``),
    span (Mastodon's ``invisible``/``ellipsis`` classes only), em, strong, b, i, ul, ol, li,
    blockquote, code, pre. No scripts, styles, event handlers, frames, forms, SVG; script,
    style, iframe, object, svg and similar are dropped with their content.

    Images are never loaded by default: ``<img>`` becomes ``<a href=src>[image: alt]</a>``.
    With ``images=True``, ``<img src alt>`` is kept for http(s) sources only.
    """
    cleaned = _FIRST_PASS.clean(strip_illegal_chars(html))
    if "<img" not in cleaned:
        return cleaned
    rewriter = _ImageRewriter(images=images)
    rewriter.feed(cleaned)
    rewriter.close()
    return _FINAL[images].clean("".join(rewriter.parts))


# --- threads ----------------------------------------------------------------------------


def _order(post: DigestPost) -> tuple[datetime, str]:
    return (post.created_at, post.uri)


def thread(posts: Iterable[DigestPost]) -> list[ThreadNode]:
    """Arrange posts into threads, oldest first at every level.

    A reply sits under its parent when the parent is in ``posts``; otherwise (an orphan) it
    starts a thread of its own. Nesting stops at MAX_THREAD_DEPTH levels: deeper replies are
    listed, oldest first, under their ancestor at the last level. Each uri appears once (the
    first copy wins); a reply cycle is broken at its oldest post. Boosts are counts on the
    post, never copies, so nothing here duplicates a post.
    """
    by_uri: dict[str, DigestPost] = {}
    for post in posts:
        by_uri.setdefault(post.uri, post)
    ordered = sorted(by_uri.values(), key=_order)
    children: dict[str, list[DigestPost]] = {}
    roots: list[DigestPost] = []
    for post in ordered:
        parent = post.in_reply_to
        if parent is not None and parent != post.uri and parent in by_uri:
            children.setdefault(parent, []).append(post)
        else:
            roots.append(post)
    placed: set[str] = set()

    def descendants(post: DigestPost) -> list[DigestPost]:
        found: list[DigestPost] = []
        stack = list(children.get(post.uri, ()))
        while stack:
            child = stack.pop()
            if child.uri in placed:
                continue
            placed.add(child.uri)
            found.append(child)
            stack.extend(children.get(child.uri, ()))
        return sorted(found, key=_order)

    def build(post: DigestPost, depth: int) -> ThreadNode:
        placed.add(post.uri)
        if depth >= MAX_THREAD_DEPTH - 1:
            flat = tuple(ThreadNode(reply, ()) for reply in descendants(post))
            return ThreadNode(post, flat)
        replies = tuple(
            build(child, depth + 1)
            for child in children.get(post.uri, ())
            if child.uri not in placed
        )
        return ThreadNode(post, replies)

    result = [build(root, 0) for root in roots]
    # Posts in a reply cycle have a parent but no root; start a thread at the oldest one.
    for post in ordered:
        if post.uri not in placed:
            result.append(build(post, 0))
    result.sort(key=lambda node: _order(node.post))
    return result


# --- view model shared by both renderers ------------------------------------------------


def _anchor(uri: str) -> str:
    return "p-" + hashlib.blake2b(uri.encode("utf-8", "replace"), digest_size=6).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(text.split())


# A comment under a reaction is shown up to this many characters (its blog has the rest).
COMMENT_CHARS = 280
# Comments shown under each reaction, the earliest first.
COMMENTS_SHOWN = 3


def shorten(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary to at most ``limit`` characters."""
    line = _one_line(text)
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "\u2026"


_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class _PostView:
    post: DigestPost
    anchor: str
    href: str | None
    when: str
    when_iso: str
    lang: str | None
    content: Markup  # sanitised HTML; empty for summarised or deleted posts
    summary: str  # plain text cut to SUMMARY_CHARS
    footer: tuple[str, ...]  # plain-text facts: counts, where seen, cross-posts
    replies: tuple[_PostView, ...]
    size: int
    folded: bool  # a thread's replies folded into <details>


@dataclass(frozen=True, slots=True)
class _Group:
    label: str
    when_iso: str
    count: int
    full: tuple[_PostView, ...]
    summarised: tuple[_PostView, ...]
    summarised_count: int


@dataclass(frozen=True, slots=True)
class _LinkView:
    url: str
    href: str | None
    count: int


@dataclass(frozen=True, slots=True)
class _CommentView:
    author: str
    when: str | None
    when_iso: str | None
    text: str  # shortened to COMMENT_CHARS


@dataclass(frozen=True, slots=True)
class _ReactionView:
    reaction: DigestReaction
    href: str | None
    when: str | None
    when_iso: str | None
    comments: tuple[_CommentView, ...] = ()


@dataclass(frozen=True, slots=True)
class _Page:
    title: str
    tags: tuple[str, ...]
    window: str
    window_start_iso: str | None
    window_end_iso: str | None
    generated: str | None
    generated_iso: str | None
    counts: DigestCounts
    size: Bucket
    buckets: list[tuple[datetime, int]]
    voices: list[Voice]
    links: list[_LinkView]
    boosted: list[_PostView]
    reactions: list[_ReactionView]
    groups: list[_Group]
    shown: int
    summarised: int
    omitted: int
    total: int


class _Viewer:
    """Builds post views; sanitises each post's HTML at most once."""

    def __init__(self, size: Bucket, *, images: bool, with_html: bool) -> None:
        self.size = size
        self.images = images
        self.with_html = with_html
        self.cache: dict[str, Markup] = {}

    def content(self, post: DigestPost) -> Markup:
        if post.deleted or not self.with_html:
            return Markup("")
        cached = self.cache.get(post.uri)
        if cached is None:
            # sanitize_html's output is safe HTML by construction.
            cached = Markup(sanitize_html(post.content_html, images=self.images))
            self.cache[post.uri] = cached
        return cached

    def when(self, post: DigestPost, group: datetime | None) -> str:
        moment = post.created_at.astimezone(UTC)
        same_day = group is not None and moment.date() == group.date()
        if self.size in ("hour", "day") and same_day:
            return _clock(moment)
        return _datetime(moment)

    def view(
        self, node: ThreadNode, group: datetime | None, *, full: bool, depth: int = 0
    ) -> _PostView:
        post = node.post
        replies = tuple(
            self.view(reply, group, full=full, depth=depth + 1) for reply in node.replies
        )
        size = 1 + sum(reply.size for reply in replies)
        lang = post.language if post.language and _LANG.fullmatch(post.language) else None
        return _PostView(
            post=post,
            anchor=_anchor(post.uri),
            href=safe_url(post.url),
            when=self.when(post, group),
            when_iso=_iso(post.created_at),
            lang=lang,
            content=self.content(post) if full else Markup(""),
            summary="" if post.deleted else shorten(post.text, SUMMARY_CHARS),
            footer=_footer(post) if full else (),
            replies=replies,
            size=size,
            folded=full and depth == 0 and size - 1 >= LONG_THREAD_REPLIES,
        )


def _footer(post: DigestPost) -> tuple[str, ...]:
    parts = [_stats(post)] if _stats(post) else []
    if post.seen_on:
        parts.append("seen on " + ", ".join(post.seen_on))
    if post.also_posted_by:
        parts.append("also posted by " + ", ".join(post.also_posted_by))
    return tuple(parts)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(data: DigestData, posts: Sequence[DigestPost]) -> tuple[str, str | None, str | None]:
    start = data.since if data.since is not None else (posts[0].created_at if posts else None)
    end = data.until if data.until is not None else (posts[-1].created_at if posts else None)
    if start is None or end is None:
        return ("no posts", None, None)
    text = f"{_datetime(start)} \u2013 {_datetime(end)}"
    if data.since is None and data.until is None:
        text += " (first to last post)"
    return (text, _iso(start), _iso(end))


def _page(data: DigestData, *, images: bool, page_size: int, with_html: bool = True) -> _Page:
    posts = sorted(data.posts, key=_order)
    first = posts[0].created_at if posts else None
    last = posts[-1].created_at if posts else None
    size = bucket_size(data.since, data.until, first, last)
    viewer = _Viewer(size, images=images, with_html=with_html)
    groups: list[_Group] = []
    shown = summarised = omitted = 0
    current: datetime | None = None
    full: list[_PostView] = []
    rest: list[_PostView] = []

    def close() -> None:
        if current is None or not (full or rest):
            return
        count = sum(v.size for v in full) + sum(v.size for v in rest)
        groups.append(
            _Group(
                label=_bucket_label(current, size),
                when_iso=_iso(current),
                count=count,
                full=tuple(full),
                summarised=tuple(rest),
                summarised_count=sum(v.size for v in rest),
            )
        )

    for node in thread(posts):
        start = bucket_start(node.post.created_at, size)
        if start != current:
            close()
            current, full, rest = start, [], []
        if shown < page_size:
            full.append(viewer.view(node, start, full=True))
            shown += node.size
        elif summarised < MAX_SUMMARISED:
            rest.append(viewer.view(node, start, full=False))
            summarised += node.size
        else:
            omitted += node.size
    close()

    boosted_posts = sorted(
        (p for p in posts if not p.deleted and p.boosts > 0),
        key=lambda p: (-p.boosts, -p.favourites, p.created_at, p.uri),
    )[:TOP_N]
    reactions = sorted(
        data.reactions,
        key=lambda r: (
            r.published_at is None,
            r.published_at or datetime.min.replace(tzinfo=UTC),
            r.url,
        ),
    )
    window, start_iso, end_iso = _window(data, posts)
    return _Page(
        title=data.title,
        tags=tuple(data.tags),
        window=window,
        window_start_iso=start_iso,
        window_end_iso=end_iso,
        generated=_datetime(data.generated_at) if data.generated_at else None,
        generated_iso=_iso(data.generated_at) if data.generated_at else None,
        counts=data.counts,
        size=size,
        buckets=bucket_counts(posts, size),
        voices=[Voice(*voice) for voice in data.top_voices[:TOP_N]],
        links=[_LinkView(url, safe_url(url), count) for url, count in data.top_links[:TOP_N]],
        boosted=[viewer.view(ThreadNode(p, ()), None, full=True) for p in boosted_posts],
        reactions=[
            _ReactionView(
                reaction=r,
                href=safe_url(r.url),
                when=_date(r.published_at.astimezone(UTC)) if r.published_at else None,
                when_iso=_iso(r.published_at) if r.published_at else None,
                comments=tuple(
                    _CommentView(
                        author=c.author or "Anonymous",
                        when=_datetime(c.created_at) if c.created_at else None,
                        when_iso=_iso(c.created_at) if c.created_at else None,
                        text=shorten(c.text, COMMENT_CHARS),
                    )
                    for c in r.comments
                ),
            )
            for r in reactions
        ],
        groups=groups,
        shown=shown,
        summarised=summarised,
        omitted=omitted,
        total=len(posts),
    )


# --- Markdown helpers -------------------------------------------------------------------

# Inline Markdown/HTML syntax in remote text: escaped with a backslash wherever it appears.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
# An HTML entity or character reference (`&copy;`, `&#106;`) would be decoded: escape its `&`.
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Block syntax that only matters at the start of a line: headings, quotes, lists, rules,
# setext underlines, tables.
_MD_LINE_START = re.compile(r"^([#>+=-])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")


# Bare web addresses in remote text become explicit links (escaping their `_` or `~` would
# corrupt the autolink some renderers make of them); trailing punctuation stays text.
_MD_BARE_URL = re.compile(r"https?://[^\s<>\"\[\]`|]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\""


def _md_inline(text: str) -> str:
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_ENTITY.sub(r"\\&", text)


def _split_url(match: str) -> tuple[str, str]:
    """Split trailing punctuation (and an unbalanced ``)``) off a bare URL."""
    url = match
    while url and (
        url[-1] in _URL_TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))
    ):
        url = url[:-1]
    return url, match[len(url) :]


def escape_markdown(text: str, *, links: bool = True) -> str:
    """Escape remote text for one line of GitHub-flavoured Markdown.

    Whitespace collapses to single spaces (no line breaks, no indented code), and
    ``\\ ` * _ [ ] < > | ~`` are backslash-escaped so remote text cannot add emphasis, links,
    images, HTML, table cells or strike-through; a leading ``# > + = -`` or ``1.`` cannot
    start a heading, quote or list. With ``links``, bare http(s) URLs become ``[url](url)``.
    """
    line = _one_line(strip_illegal_chars(text))
    if links:
        parts: list[str] = []
        pos = 0
        for match in _MD_BARE_URL.finditer(line):
            url, tail = _split_url(match.group())
            parts.append(_md_inline(line[pos : match.start()]))
            parts.append(markdown_link(url, url) + _md_inline(tail))
            pos = match.end()
        parts.append(_md_inline(line[pos:]))
        line = "".join(parts)
    else:
        line = _md_inline(line)
    line = _MD_LINE_START.sub(r"\\\1", line)
    return _MD_ORDERED.sub(r"\1\\\2", line)


def _md_paragraphs(text: str) -> list[str]:
    """Remote multi-line text as escaped Markdown, one paragraph per non-empty line.

    Paragraphs rather than hard line breaks: backslash and two-space breaks are lost or
    shown literally by several blog editors' Markdown importers.
    """
    lines: list[str] = []
    for raw in strip_illegal_chars(text).splitlines():
        line = escape_markdown(raw)
        if line:
            lines.extend(["", line] if lines else [line])
    return lines


# Characters percent-encoded in Markdown link destinations so a URL cannot end the link
# early, open a title or break a table.
_MD_URL_SAFE = "/:?#&=+;,@!$~*%.-_"


def markdown_link(text: str, url: str | None) -> str:
    """``[text](url)`` for http(s) URLs; just the escaped text otherwise."""
    label = escape_markdown(text, links=False)
    href = safe_url(url)
    if href is None:
        return label
    return f"[{label}]({quote(href, safe=_MD_URL_SAFE)})"


_EIGHTHS = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589\u2588"
TEXT_CHART_WIDTH = 40


def _text_bar(count: int, peak: int) -> str:
    if not count or not peak:
        return ""
    eighths = max(1, round(count / peak * TEXT_CHART_WIDTH * 8))
    return "\u2588" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def _text_chart(buckets: Sequence[tuple[datetime, int]], size: Bucket) -> list[str]:
    """A bar chart of block characters; runs of three or more empty buckets fold into one
    line so a quiet night does not scroll."""
    if not buckets:
        return ["(no posts)"]
    peak = max(count for _, count in buckets)
    labels = [_bucket_short(start, size) for start, _ in buckets]
    width = max(len(label) for label in labels)
    digits = len(str(peak))
    lines: list[str] = []
    index = 0
    while index < len(buckets):
        run = index
        while run < len(buckets) and buckets[run][1] == 0:
            run += 1
        if run - index >= 3:
            lines.append(f"{'':<{width}} \u2502 \u2026 {_plural(run - index, size)} with no posts")
            index = run
            continue
        count = buckets[index][1]
        bar = _text_bar(count, peak)
        lines.append(f"{labels[index]:<{width}} \u2502 {count:>{digits}} {bar}".rstrip())
        index += 1
    return lines


def _md_head(view: _PostView) -> str:
    """``**Name** (@handle) · [time](url) · edited · 3 boosts`` for one post."""
    post = view.post
    name = post.author_name or post.author
    head = f"**{escape_markdown(name)}**"
    if post.author_name and post.author != post.author_name:
        head += f" ({escape_markdown(post.author)})"
    when = view.when if view.when.endswith("UTC") else view.when + " UTC"
    head += " \u00b7 " + markdown_link(when, view.href)
    marks = [mark for mark, on in (("edited", post.edited), ("deleted", post.deleted)) if on]
    if marks:
        head += " \u00b7 *" + ", ".join(marks) + "*"
    stats = _stats(post)
    if stats:
        head += " \u00b7 " + stats
    return head


def _md_body(post: DigestPost) -> list[str]:
    if post.deleted:
        return ["*This post was deleted by its author.*"]
    body: list[str] = []
    if post.spoiler_text:
        body = [f"**Content warning:** {escape_markdown(post.spoiler_text)}", ""]
    body += _md_paragraphs(post.text)
    if post.also_posted_by:
        also = ", ".join(escape_markdown(a) for a in post.also_posted_by)
        body += ["", f"*Also posted by {also}*"]
    return body


def _md_post(view: _PostView, depth: int) -> list[str]:
    """One post, then its replies as nested list items, as Markdown lines."""
    indent = "  " * depth
    lines = [f"{indent}- {_md_head(view)}", ""]
    lines += [f"{indent}  {line}" if line else "" for line in _md_body(view.post)]
    for reply in view.replies:
        lines.append("")
        lines.extend(_md_post(reply, depth + 1))
    return lines


def _md_boosted(index: int, view: _PostView) -> list[str]:
    """A numbered most-boosted entry; continuation lines indented to the item's content."""
    marker = f"{index}. "
    lines = [marker + _md_head(view)]
    if not view.post.deleted and view.post.text.strip():
        lines += ["", " " * len(marker) + escape_markdown(shorten(view.post.text, 280))]
    return lines


def _stats(post: DigestPost) -> str:
    parts = []
    if post.boosts:
        parts.append(_plural(post.boosts, "boost"))
    if post.replies:
        parts.append(_plural(post.replies, "reply", "replies"))
    if post.favourites:
        parts.append(_plural(post.favourites, "favourite"))
    return ", ".join(parts)


# --- rendering --------------------------------------------------------------------------

_ENV = Environment(
    loader=PackageLoader("bsarchive.export", "templates"),
    autoescape=lambda name: name is not None and name.endswith(".html.j2"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)
_ENV.filters["plural"] = _plural
_ENV.filters["num"] = "{:,}".format
_ENV.filters["md"] = escape_markdown
_ENV.globals["md_link"] = markdown_link
_ENV.globals["stats"] = _stats


def _csp(images: bool) -> str:
    """Content-Security-Policy for the page: inline styles only; no scripts, fonts, frames,
    forms or fetches; images from the web only when asked for (``data:`` never: nothing we
    write needs it, and it would let a sanitiser slip-up embed content)."""
    img = "https: http:" if images else "'none'"
    return (
        f"default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src {img}; "
        "base-uri 'none'; form-action 'none'"
    )


def render_html(data: DigestData, *, images: bool = False, page_size: int = 2000) -> str:
    """Render the digest as one self-contained, offline HTML page.

    The first ``page_size`` posts of the timeline (whole threads) are shown in full; later
    threads are summarised (plain text cut to SUMMARY_CHARS) inside collapsed sections, and
    past MAX_SUMMARISED summarised posts the rest are counted but left out, with a note.
    """
    page = _page(data, images=images, page_size=page_size)
    html = _ENV.get_template("digest.html.j2").render(
        page=page,
        csp=_csp(images),
        chart=Markup(render_chart_svg(page.buckets, size=page.size)),
        page_size=page_size,
        one_line=_one_line,
    )
    return strip_illegal_chars(html)


def render_markdown(data: DigestData) -> str:
    """Render the digest as GitHub-flavoured Markdown (every post in full)."""
    page = _page(data, images=False, page_size=len(data.posts) + 1, with_html=False)
    groups = [
        (group, [line for view in group.full for line in ["", *_md_post(view, 0)]])
        for group in page.groups
    ]
    boosted = [_md_boosted(index, view) for index, view in enumerate(page.boosted, 1)]
    text = _ENV.get_template("digest.md.j2").render(
        page=page,
        chart=_text_chart(page.buckets, page.size),
        groups=groups,
        boosted=boosted,
    )
    return strip_illegal_chars(text)
