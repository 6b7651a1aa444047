"""Reactions: the articles that posts link to, their metadata and their comment threads.

Two halves, as in every source:

- Pure functions: :func:`plan_links` turns ``(post uri, link)`` pairs read from the archive
  into one :class:`LinkGroup` per article (shortener, ``utm_*``, http/https and
  trailing-slash variants folded by :func:`~bsarchive.urls.article_key`), and
  :func:`parse_article` reads an HTML page into a :class:`~bsarchive.models.Reaction`
  (JSON-LD, then OpenGraph, then ``<meta>`` tags, then ``<title>`` and the body text).
- A thin fetch layer: :func:`fetch_reactions` fetches each group's article (redirects
  followed by ``http.py``, at most 5 hops, each hop re-checked by the private-address
  guard), honours robots.txt (RFC 9309, fetched once per host per run) and
  ``noindex``, discovers and reads the comment feed, and yields :class:`ReactionResult`
  values; :func:`fetch_comment_updates` re-reads known comment feeds with conditional GET.
- A page that names no comment feed of its own but advertises its blog's feed (Blogger,
  WordPress themes without per-post feed links) gets both from the blog feed's entry for
  it (:func:`find_feed_entry`, pure): its ``wfw:commentRss``/``rel="replies"`` and stated
  comment count. :class:`BlogFeeds` reads each blog feed at most once per run.

Depth is exactly one hop: links found inside articles are never followed. Every URL is
untrusted (it came from a post), so each request goes through ``Http.get(untrusted=True)``.
A refusal (private address, robots.txt, noindex, not HTML, 404) is a logged skip, never an
error: reactions are best effort and cannot fail a run.

This module never touches the database: the archive passes plain data in (links, known
reactions, comment-feed cursors) and stores what comes out.

This package is the face the rest of the code imports; its modules:

- :mod:`.plan`: links to articles (pure);
- :mod:`.article`: an article page to a reaction (pure);
- :mod:`.robots`: what may be fetched (robots.txt, the URL refusal);
- :mod:`.blogfeeds`: the blog feed's entry for an article;
- :mod:`.fetch`: the reaction pass and the comment-feed re-reads.
"""

from bsarchive.sources.reactions.article import (
    ArticlePage,
    decode_html,
    parse_article,
    read_article,
)
from bsarchive.sources.reactions.blogfeeds import BlogFeeds, find_feed_entry
from bsarchive.sources.reactions.fetch import (
    COMMENTS_KEY_PREFIX,
    ReactionResult,
    fetch_comment_updates,
    fetch_reactions,
)
from bsarchive.sources.reactions.plan import KnownReaction, LinkGroup, LinkPlan, plan_links
from bsarchive.sources.reactions.robots import Robots

__all__ = [
    "COMMENTS_KEY_PREFIX",
    "ArticlePage",
    "BlogFeeds",
    "KnownReaction",
    "LinkGroup",
    "LinkPlan",
    "ReactionResult",
    "Robots",
    "decode_html",
    "fetch_comment_updates",
    "fetch_reactions",
    "find_feed_entry",
    "parse_article",
    "plan_links",
    "read_article",
]
