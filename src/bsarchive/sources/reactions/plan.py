"""Planning the reaction pass: which links become which articles.

:func:`plan_links` turns ``(post uri, link)`` pairs read from the archive into one
:class:`LinkGroup` per article (shortener, ``utm_*``, http/https and trailing-slash
variants folded by :func:`~bsarchive.urls.article_key`). Pure: no network, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from bsarchive.models import Reaction
from bsarchive.urls import (
    article_key,
    canonical_url,
    is_shortener,
    should_follow,
)

# --------------------------------------------------------------------------------------
# Planning: which links become which articles (pure)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownReaction:
    """A reaction already in the archive, as the archive hands it over."""

    url: str
    fetched_at: datetime
    fetched_from: str
    linked_from: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkGroup:
    """The links (variants of one article) to fetch once, and the posts that linked them."""

    key: str  # article_key of the links
    urls: tuple[str, ...]  # canonical variants, first seen first; urls[0] is fetched
    linked_from: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """What :func:`plan_links` decided: groups to fetch, and links to known reactions."""

    fetch: tuple[LinkGroup, ...]
    # Known reactions linked by new posts: only their linked-from list grows.
    relink: tuple[Reaction, ...]
    ignored: int = 0


def plan_links(
    links: Iterable[tuple[str, str]],
    *,
    skip_hosts: Collection[str],
    known: Mapping[str, KnownReaction],
) -> LinkPlan:
    """Group ``(post uri, link)`` pairs into articles to fetch.

    Links that are not http(s), media/downloads, or on ``skip_hosts`` (the archived
    instances) are ignored. Variants with the same :func:`article_key` form one group,
    tried in the order first linked, non-shortener variants first (saves a redirect). A group
    whose key is a reaction in ``known`` is not fetched again: it becomes a relink record
    when new posts link to it.

    Args:
        links: ``(post_uri, url)`` in the archive's order (oldest post first).
        skip_hosts: hosts or base URLs never followed.
        known: ``article_key -> KnownReaction`` for every stored reaction (by its url and
            by its original url).
    """
    groups: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    ignored = 0
    for post_uri, link in links:
        url = canonical_url(link)
        if url is None or not should_follow(url, skip_hosts):
            ignored += 1
            continue
        urls, posts = groups.setdefault(article_key(url), ({}, {}))
        urls[url] = None
        posts[post_uri] = None
    fetch: list[LinkGroup] = []
    relink: list[Reaction] = []
    for key, (urls, posts) in groups.items():
        seen = known.get(key)
        if seen is not None:
            fresh = tuple(p for p in posts if p not in seen.linked_from)
            if fresh:
                relink.append(
                    Reaction(
                        url=seen.url,
                        fetched_at=seen.fetched_at,
                        fetched_from=seen.fetched_from,
                        linked_from=fresh,
                    )
                )
            continue
        ordered = sorted(urls, key=_is_short)  # stable: first seen first
        fetch.append(LinkGroup(key, tuple(ordered), tuple(posts)))
    return LinkPlan(tuple(fetch), tuple(relink), ignored)


def _is_short(url: str) -> bool:
    return is_shortener(urlsplit(url).hostname or "")
