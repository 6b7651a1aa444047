"""Turn Twitter-era archives into :class:`~bsarchive.models.Post` and
:class:`~bsarchive.models.Boost` values.

Two inputs are read:

* twarc JSONL (plain or gzip, detected by the magic bytes ``1f 8b``, never by the file
  name). Each line is detected on its own as one of: a twarc2 API v2 response
  (``{"data": [...], "includes": {...}, "__twarc": {...}}``), a twarc2 flattened tweet (one
  v2 tweet with ``author`` and referenced tweets embedded, from ``twarc2 flatten``), or an API
  v1.1 tweet (twarc1: ``id_str``, ``user.screen_name``, ``full_text``/``text``).
* a TAGS archive sheet exported as CSV (:func:`iter_tags_csv`).

Both stream: one line or row is read, parsed and yielded at a time, so memory stays flat on
a file of millions of lines. A malformed line never aborts the file: it becomes a
:class:`TwarcLine` with ``error`` set and its line number, and reading goes on.

Decisions (the contract the store and the exports rely on):

* **Identity.** A tweet's ``uri`` (and ``url``) is ``https://twitter.com/{username}/status/{id}``:
  the permalink researchers cite, stable as long as the account keeps its name. The same
  tweet seen as ``x.com/...``, ``mobile.twitter.com/...``, ``twitter.com/i/web/status/{id}``
  or under another username casing is the same tweet; :func:`tweet_id_from_url` returns the
  numeric id for all of them, and that id (``sighting.local_id``) is the true identity for
  dedupe. When the username of a referenced tweet is unknown, its uri is
  ``https://twitter.com/i/web/status/{id}`` (a real Twitter permalink that redirects).
* **Authors.** ``handle`` is ``@username`` (case as Twitter returned it), ``url`` the
  profile ``https://twitter.com/username``, ``uri`` ``https://twitter.com/i/user/{id}``
  (stable across renames). A tweet whose author cannot be resolved keeps a handle of
  ``id:{author_id}``, the ``i/web`` uri and the flag ``unknown author``.
* **Text.** Twitter escapes ``& < >`` in tweet text (v1.1 and v2 alike); they are unescaped.
  Each ``t.co`` link is replaced by its ``expanded_url``; ``content_html`` is the escaped text
  in ``<p>`` with ``<br>`` line breaks and the expanded http(s) links as ``<a>``.
* **Links** are the link entities' targets (``unwound_url`` when Twitter resolved a
  redirect, else ``expanded_url``), in order, unique, excluding photo/video links, the
  quoted tweet's own permalink (it is ``quote_uri``) and the tweet's own permalink (the
  ``… https://t.co/x`` tail of truncated text).
* **Tags** come from hashtag entities (v2 ``tag``, v1.1 ``text``), NFKC + lower case, no
  ``#``; when a tweet has no hashtag entities they are read from the text (``#word``).
* **Retweets** are a :class:`Boost` (retweet's permalink -> original's permalink, booster,
  retweet time) plus the original as a :class:`Post` when the file holds its data (v1.1
  ``retweeted_status``, v2 ``includes.tweets``, flattened ``referenced_tweets``). The
  retweet's own ``RT @x: …`` text is truncated and never used as the original's text. Within
  one line an original is emitted once; a v2 original that is also in the line's ``data`` is
  emitted from ``data`` only. Across lines the store's upsert by ``uri`` merges repeats.
* **Context tweets** (quoted and replied-to tweets in ``includes``/``quoted_status``) are
  used only to build ``quote_uri``/``in_reply_to_uri``; they are not emitted, because they
  need not carry the event's tag. Their JSON stays in the quoting tweet's ``raw``.
* **Text that looks like a retweet** (``RT @x: …``) but has no retweet structure (manual
  2010-style RTs) is a :class:`Post` flagged ``retweet text``. In a TAGS sheet, which keeps
  every retweet so and no original id, it is a :class:`Boost` of one of ``x``'s posts:
  ``post_uri`` is ``https://twitter.com/x`` until the store finds the post by its text.
* **Provenance.** ``raw`` is the tweet's JSON as found in the line (a flattened line whole,
  including ``author`` and ``__twarc``), compact with sorted keys; the sighting's
  ``fetched_at``/``fetched_from`` are ``__twarc.retrieved_at``/``__twarc.url`` when present,
  else the ``fetched_at`` passed in and the file path.
* Parsing is deterministic: the same file gives equal items every time.

Stream notices in twarc1 files (``delete``, ``limit``, …) are skipped without error. This
module does no network access, touches no database and does not log tweet content.

This package is the face the rest of the code imports; its modules:

- :mod:`.reader`: the import reader (files, lines, format detection);
- :mod:`.v2` and :mod:`.v1`: the twarc2 and twarc1 tweet parsers;
- :mod:`.tags_csv`: one TAGS sheet row;
- :mod:`.text`: tweet text, links, tags and mentions;
- :mod:`.build`: authors, sightings and posts, shared by the parsers;
- :mod:`.common`: the result type, permalinks, JSON access and dates.
"""

from bsarchive.sources.twarc.common import TwarcLine, tweet_id_from_url, tweet_url
from bsarchive.sources.twarc.reader import iter_tags_csv, iter_twarc_file, parse_twarc_line
from bsarchive.sources.twarc.tags_csv import parse_tags_row

__all__ = [
    "TwarcLine",
    "iter_tags_csv",
    "iter_twarc_file",
    "parse_tags_row",
    "parse_twarc_line",
    "tweet_id_from_url",
    "tweet_url",
]
