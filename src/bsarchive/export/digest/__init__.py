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

This package is the face the rest of the code imports, and holds the two entry points,
:func:`render_html` and :func:`render_markdown`, with the page they share. Its modules:

- :mod:`.model`: the input values;
- :mod:`.sanitize`: remote HTML made safe, URLs checked;
- :mod:`.chart`: buckets, date labels, the SVG chart;
- :mod:`.threads`: reply threads;
- :mod:`.view`: the view model both renderers share;
- :mod:`.markdown`: Markdown escaping and lines;
- :mod:`.wall`: the live wall's view (``watch --serve``), rendered by :func:`render_wall`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from bsarchive.export.digest.chart import (
    MAX_BUCKETS,
    _bucket_label,
    _datetime,
    _plural,
    bucket_counts,
    bucket_size,
    bucket_start,
    render_chart_svg,
)
from bsarchive.export.digest.markdown import (
    _md_boosted,
    _md_post,
    _text_chart,
    escape_markdown,
    markdown_link,
)
from bsarchive.export.digest.model import (
    DigestComment,
    DigestCounts,
    DigestData,
    DigestPost,
    DigestReaction,
    ThreadNode,
    Voice,
    WallCounts,
    WallData,
)
from bsarchive.export.digest.sanitize import safe_url, sanitize_html, strip_illegal_chars
from bsarchive.export.digest.threads import _order, thread
from bsarchive.export.digest.view import (
    COMMENTS_SHOWN,
    TITLE_CHARS,
    _Group,
    _iso,
    _LinkView,
    _one_line,
    _Page,
    _PostView,
    _stats,
    _Viewer,
    _window,
    reaction_view,
)
from bsarchive.export.digest.wall import WALL_HOURS, WALL_POSTS, WALL_REACTIONS, wall_page

TOP_N = 10
# Hard stop for summarised posts, so even a huge archive stays under 5 MB (bench_digest.py).
MAX_SUMMARISED = 10_000


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
        reactions=[reaction_view(r) for r in reactions],
        groups=groups,
        shown=shown,
        summarised=summarised,
        omitted=omitted,
        total=len(posts),
    )


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


def render_wall(
    data: WallData,
    *,
    now: datetime,
    refresh: int,
    hours: int = WALL_HOURS,
    images: bool = False,
) -> str:
    """Render the live wall (``watch --serve``): ``data``'s newest posts first, posts per
    minute over the last ``hours`` up to ``now``, the latest reactions; the page reloads
    itself every ``refresh`` seconds (a meta refresh: the digest's CSP, no script)."""
    page = wall_page(data, now=now, hours=hours, images=images)
    html = _ENV.get_template("wall.html.j2").render(
        page=page,
        csp=_csp(images),
        refresh=max(1, refresh),
        chart=Markup(render_chart_svg(page.buckets, size="minute")),
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


__all__ = [
    "COMMENTS_SHOWN",
    "MAX_BUCKETS",
    "MAX_SUMMARISED",
    "WALL_HOURS",
    "WALL_POSTS",
    "WALL_REACTIONS",
    "TITLE_CHARS",
    "TOP_N",
    "DigestComment",
    "DigestCounts",
    "DigestData",
    "DigestPost",
    "DigestReaction",
    "ThreadNode",
    "WallCounts",
    "WallData",
    "bucket_counts",
    "bucket_size",
    "escape_markdown",
    "markdown_link",
    "render_chart_svg",
    "render_html",
    "render_markdown",
    "render_wall",
    "safe_url",
    "sanitize_html",
    "strip_illegal_chars",
    "thread",
]
