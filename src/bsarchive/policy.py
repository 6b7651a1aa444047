"""Respect rules: which accounts asked not to be archived (issue 9).

Pure decisions on models, no I/O. An account opts out with ``noindex: true`` (Mastodon's
"exclude from search engines") or ``#nobot`` / ``#noindex`` in its bio (the fediverse
convention for "no bots, no archivers"). Opted-out posts and boosts are counted, not
stored, unless the run was given ``--include-opted-out`` (work with consent or ethics
approval).

``indexable: false`` is *not* an opt-out: since Mastodon 4.2 ``indexable`` is an opt-in to
full-text search, false by default, so most accounts carry it; it says nothing about
hashtag timelines, which list public tagged posts regardless (PROTOCOL.md §6, issue 14).
The store keeps it, with ``discoverable``, for researchers to filter on.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bsarchive.models import Author, Boost, Item, Page, Post

# `#nobot`, `#NoBot`, `#noindex` as whole hashtags in the bio.
_OPT_OUT_TAG = re.compile(r"(?<![\w#/])#(?:nobots?|noindex|noarchive)\b", re.IGNORECASE)


def is_opted_out(author: Author) -> bool:
    """True when the account asked not to be indexed or archived."""
    if author.noindex is True:
        return True
    return bool(author.bio and _OPT_OUT_TAG.search(author.bio))


def _author_of(item: Item) -> Author | None:
    if isinstance(item, Post):
        return item.author
    if isinstance(item, Boost):
        return item.booster
    return None


def screen_page(page: Page, *, include_opted_out: bool) -> Page:
    """The page without items by opted-out accounts; they are counted in ``skipped``.

    The cursor is unchanged: the items were seen, just not kept.
    """
    if include_opted_out:
        return page
    kept: list[Item] = []
    for item in page.items:
        author = _author_of(item)
        if author is not None and is_opted_out(author):
            continue
        kept.append(item)
    if len(kept) == len(page.items):
        return page
    return replace(page, items=tuple(kept), skipped=page.skipped + len(page.items) - len(kept))
