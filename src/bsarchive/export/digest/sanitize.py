"""Remote HTML made safe for the digest: the nh3 allow-list, http(s)-only links, images
rewritten or dropped, characters XML forbids removed.

The only way remote HTML reaches a digest page. Pure: no network, no files.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3
from markupsafe import escape

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
