"""Turn RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed 1.0/1.1 bodies into models.

This is the pure half of the feed source: bytes in, :class:`~bsarchive.models.Post`,
:class:`~bsarchive.models.Reaction` and :class:`~bsarchive.models.Comment` values out.
The parsers do no network access, touch no database, read no clock except to enforce the
parse time budget, and never read files: XML entity declarations are refused before any XML
parser sees the body (billion laughs, XXE), and feedparser is only ever handed bytes.

What is kept (PROTOCOL.md §2, §5):

- an entry that carries one of the event's tags (a category equal to it, ``#tag`` in the
  title or text, a hashtag link ``.../tags/NAME``), or every entry of a feed that is itself
  a tag feed (Mastodon ``/tags/NAME.rss``, WordPress ``/tag/NAME/feed/``);
- microblog items (Mastodon tag/account RSS) as ``Post`` with ``source="rss"``. The RSS
  carries no ActivityPub ``uri``, so ``uri`` is the status URL from the guid/link; mapping
  it to the ActivityPub identity is left to ``dedupe.py``, which matches on ``url``;
- blog items as ``Reaction`` with their comment feed (``wfw:commentRss`` or Atom
  ``<link rel="replies" type="application/atom+xml">``).

Foreign failures (feedparser, JSON, decoding) are translated once, at the edge, into
:class:`~bsarchive.errors.ParseError`; dates never raise (doubtful ones are flagged).

The thin fetching half, :func:`fetch_feed`, is one conditional GET per feed through the
shared :class:`~bsarchive.http.Http` client (ETag/Last-Modified, ``Cache-Control: max-age``
and ``Retry-After`` between runs, 410 Gone remembered); it never touches the database.

This package is the face the rest of the code imports; its modules, in the order data
flows through them:

- :mod:`.guards`: decoding, prolog/DOCTYPE guards, author-field cut, time budget, dates;
- :mod:`.entries`: one entry shape read from feedparser's result or a JSON Feed;
- :mod:`.tags`: tag folding and matching, tag feeds;
- :mod:`.html`: entry HTML to text, excerpts, links, mentions, hashtag links;
- :mod:`.parse`: :func:`parse_feed` and :func:`parse_comments`;
- :mod:`.discover`: the feeds an article page advertises;
- :mod:`.fetch`: :func:`fetch_feed` and its revisit rules.
"""

from bsarchive.sources.feeds.discover import PageFeeds, discover_comment_feed, discover_feeds
from bsarchive.sources.feeds.fetch import (
    fetch_feed,
    next_fetch_time,
    skip_reason,
    tag_rss_request_url,
)
from bsarchive.sources.feeds.guards import MAX_BODY_BYTES
from bsarchive.sources.feeds.parse import ParsedFeed, parse_comments, parse_feed
from bsarchive.sources.feeds.tags import is_tag_feed, matches_tag

__all__ = [
    "MAX_BODY_BYTES",
    "PageFeeds",
    "ParsedFeed",
    "discover_comment_feed",
    "discover_feeds",
    "fetch_feed",
    "is_tag_feed",
    "matches_tag",
    "next_fetch_time",
    "parse_comments",
    "parse_feed",
    "skip_reason",
    "tag_rss_request_url",
]
