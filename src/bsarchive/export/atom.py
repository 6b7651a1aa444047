"""Write archived posts and reactions as an Atom feed (RFC 4287), streamed in chunks.

Takes plain values (:class:`AtomEntry`, or digest types through :func:`entry_from_post` and
:func:`entry_from_reaction`); it must not import ``bsarchive.store``, ``http``, ``httpx``,
``sources`` or ``archive``, and it opens no file or socket: the caller writes the chunks.

Every string is XML-escaped after removing characters XML 1.0 forbids (NUL, C0 controls,
lone surrogates); entry content is sanitised HTML carried as ``type="html"`` text; links are
emitted only for http(s) URLs. The same input gives byte-identical output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from bsarchive.export.digest import (
    TITLE_CHARS,
    DigestPost,
    DigestReaction,
    safe_url,
    sanitize_html,
    strip_illegal_chars,
)
from bsarchive.models import iso
from bsarchive.text import shorten

ATOM_NS = "http://www.w3.org/2005/Atom"
# Entry ids that are not absolute IRIs become tag: URIs (RFC 4151) under this authority
# and date, so a feed reader still sees a stable, valid id.
TAG_AUTHORITY = "bsarchive,2025"
# RFC 3986 scheme, then ':' — what makes an id an absolute IRI for atom:id.
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@dataclass(frozen=True, slots=True)
class AtomEntry:
    """One feed entry. ``updated`` falls back to the feed's ``updated`` when None."""

    id: str
    title: str
    updated: datetime | None
    published: datetime | None = None
    author: str = ""
    url: str | None = None
    content_html: str = ""  # remote HTML; sanitised when rendered
    tags: tuple[str, ...] = ()


def atom_id(identity: str) -> str:
    """``identity`` if it is an absolute IRI, else a stable ``tag:`` URI built from it."""
    identity = strip_illegal_chars(identity).strip()
    if _ABSOLUTE.match(identity):
        return identity
    return f"tag:{TAG_AUTHORITY}:{quote(identity, safe='')}"


def entry_from_post(post: DigestPost) -> AtomEntry:
    """A post as an entry: title from the first TITLE_CHARS characters of its text.

    A deleted post keeps its place but not its words.
    """
    who = post.author_name or post.author
    if post.deleted:
        title, content = f"Deleted post by {who}", "<p>This post was deleted by its author.</p>"
    else:
        text = post.spoiler_text or post.text
        title = shorten(text, TITLE_CHARS) or f"Post by {who}"
        content = post.content_html
    return AtomEntry(
        id=post.uri,
        title=title,
        updated=post.created_at,
        published=post.created_at,
        author=post.author if not post.author_name else f"{post.author_name} ({post.author})",
        url=post.url,
        content_html=content,
        tags=post.tags,
    )


def entry_from_reaction(reaction: DigestReaction) -> AtomEntry:
    """A reaction (blog post) as an entry: its title, excerpt and comment count."""
    content = f"<p>{escape(reaction.excerpt)}</p>" if reaction.excerpt else ""
    if reaction.comment_count:
        noun = "comment" if reaction.comment_count == 1 else "comments"
        content += f"<p>{reaction.comment_count} {noun}</p>"
    author = reaction.author
    if reaction.site_name:
        author = f"{author} ({reaction.site_name})" if author else reaction.site_name
    return AtomEntry(
        id=reaction.url,
        title=shorten(reaction.title, 200) or reaction.url,
        updated=reaction.published_at,
        published=reaction.published_at,
        author=author,
        url=reaction.url,
        content_html=content,
        tags=reaction.tags,
    )


def _text(value: str) -> str:
    return escape(strip_illegal_chars(value))


def _attr(value: str) -> str:
    """A quoted attribute value; newlines and tabs kept as references so they survive."""
    return quoteattr(strip_illegal_chars(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _date(moment: datetime) -> str:
    stamp = iso(moment)
    assert stamp is not None  # iso() returns None only for None
    return stamp


def _entry(entry: AtomEntry, fallback: datetime) -> str:
    lines = [
        "<entry>",
        f"<id>{_text(atom_id(entry.id))}</id>",
        f'<title type="text">{_text(_one_line(entry.title) or atom_id(entry.id))}</title>',
        f"<updated>{_date(entry.updated or entry.published or fallback)}</updated>",
    ]
    if entry.published is not None:
        lines.append(f"<published>{_date(entry.published)}</published>")
    if entry.author.strip():
        lines.append(f"<author><name>{_text(_one_line(entry.author))}</name></author>")
    href = safe_url(entry.url)
    if href is not None:
        lines.append(f'<link rel="alternate" type="text/html" href={_attr(href)}/>')
    for tag in entry.tags:
        if tag.strip():
            lines.append(f"<category term={_attr(tag.strip())}/>")
    content = sanitize_html(entry.content_html)
    if content:
        lines.append(f'<content type="html">{_text(content)}</content>')
    lines.append("</entry>\n")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_atom(
    entries: Iterable[AtomEntry],
    *,
    feed_id: str,
    title: str,
    updated: datetime,
    self_url: str | None = None,
    author: str = "bsarchive",
) -> Iterator[str]:
    """Yield an Atom 1.0 feed in chunks (the head, one chunk per entry, the tail).

    ``updated`` is the feed's atom:updated and the fallback for entries without a date;
    ``author`` is the feed-level author RFC 4287 requires when entries lack one.
    """
    head = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="{ATOM_NS}">',
        f"<id>{_text(atom_id(feed_id))}</id>",
        f'<title type="text">{_text(_one_line(title))}</title>',
        f"<updated>{_date(updated)}</updated>",
        f"<author><name>{_text(_one_line(author) or 'bsarchive')}</name></author>",
        "<generator>bsarchive</generator>",
    ]
    link = safe_url(self_url)
    if link is not None:
        head.append(f'<link rel="self" type="application/atom+xml" href={_attr(link)}/>')
    yield "\n".join(head) + "\n"
    for entry in entries:
        yield _entry(entry, updated)
    yield "</feed>\n"
