"""Markdown output: escaping remote text, links, paragraphs, the text chart and each post's
lines.

Pure and deterministic: no network, no files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from bsarchive.export.digest.chart import Bucket, _bucket_short, _plural
from bsarchive.export.digest.model import DigestPost
from bsarchive.export.digest.sanitize import safe_url, strip_illegal_chars
from bsarchive.export.digest.view import _one_line, _PostView, _stats
from bsarchive.text import shorten

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
