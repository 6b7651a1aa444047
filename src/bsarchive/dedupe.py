"""Identity rules: when two posts (or boosts) seen in different places are the same one, and
how to merge them.

One status is known under several strings (PROTOCOL.md §1-§3):

- its ActivityPub ``uri`` (the Mastodon API ``uri``, the AP ``id``): the identity;
- its HTML ``url`` (the API ``url``, the tag RSS ``<link>`` and ``<guid>``);
- on Mastodon the two are derivable from each other:
  ``https://host/users/alice/statuses/123`` <-> ``https://host/@alice/123``
  (GoToSocial: ``/users/dan/statuses/ULID`` <-> ``/@dan/statuses/ULID``);
- the ``Create`` activity id is the uri plus ``/activity``; a boost wrapper's uri is
  ``.../statuses/WRAPPER_ID/activity``;
- Friendica: ``uri == url`` (``/objects/<hash>``);
- Pleroma/Akkoma: uri ``/objects/<uuid>``, url ``/notice/<flake id>``: not derivable, only
  matched when some record carries both.

The same status on three instances has three local ids but one ``uri``; local ids are
never identity. Also near-duplicate rules (cross-posts, copy-pasted texts) for the digest.
Everything here is pure: no network, no database, no clock.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from bsarchive.models import Boost, Post, iso

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "RETWEET_TEXT",
    "BoostDecision",
    "DeletionDecision",
    "NewPostDecision",
    "PostMerge",
    "StoredPost",
    "decide_boost",
    "decide_deletion",
    "decide_new_post",
    "is_retweet_text",
    "from_origin",
    "merge_post",
    "cluster_near_duplicates",
    "identity_candidates",
    "mastodon_uri_to_url",
    "mastodon_url_to_uri",
    "jaccard",
    "normalise_for_duplicates",
    "normalise_identity",
    "same_boost",
    "same_post",
]

# Mastodon usernames: letters, digits, underscore (remote ones may hold `.` and `-` inside).
_USER = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?"
_MASTODON_URI_PATH = re.compile(rf"^/users/({_USER})/statuses/(\d+)$")
_MASTODON_URL_PATH = re.compile(rf"^/@({_USER})/(\d+)$")
# GoToSocial keeps `/statuses/` in the HTML URL and uses ULIDs.
_GTS_URI_PATH = re.compile(rf"^/users/({_USER})/statuses/([0-9A-HJKMNP-TV-Z]{{26}})$")
_GTS_URL_PATH = re.compile(rf"^/@({_USER})/statuses/([0-9A-HJKMNP-TV-Z]{{26}})$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# An http(s) identity already normal but for trailing slashes (lower-case host, no port,
# user, query or fragment): what servers send, so the common case skips urlsplit.
_PLAIN_IDENTITY = re.compile(r"https?://[a-z0-9.\-]+(?:/[^?#\s]*)?\Z")

K = TypeVar("K")


def normalise_identity(value: str) -> str:
    """Lower-case scheme and host, drop a default port, a fragment-free trailing slash.

    ``HTTPS://Mastodon.BSN.example:443/@alice/1/`` -> ``https://mastodon.bsn.example/@alice/1``.
    Paths keep their case (usernames in paths are case-preserving); non-URL identities such
    as ``tag:`` URIs are returned stripped but otherwise unchanged.
    """
    value = value.strip()
    if _PLAIN_IDENTITY.match(value):
        return value.rstrip("/")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return value
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return value
    host = parts.hostname.lower()
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") if parts.path != "/" else ""
    return urlunsplit((scheme, host, path, parts.query, parts.fragment))


def _split(value: str) -> tuple[str, str, str] | None:
    """(scheme, host, path) of a normalised http(s) URL without query or fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.netloc, parts.path


def mastodon_url_to_uri(url: str) -> str | None:
    """``https://host/@alice/123`` -> ``https://host/users/alice/statuses/123``.

    Returns None for other shapes, including ``/@alice@other.host/123`` (a server's local
    view of a remote status, whose number is a local id).
    """
    split = _split(normalise_identity(url))
    if split is None:
        return None
    scheme, host, path = split
    match = _MASTODON_URL_PATH.match(path)
    if match is None:
        return None
    return f"{scheme}://{host}/users/{match.group(1)}/statuses/{match.group(2)}"


def mastodon_uri_to_url(uri: str) -> str | None:
    """``https://host/users/alice/statuses/123`` -> ``https://host/@alice/123``; else None."""
    split = _split(normalise_identity(uri))
    if split is None:
        return None
    scheme, host, path = split
    match = _MASTODON_URI_PATH.match(path)
    if match is None:
        return None
    return f"{scheme}://{host}/@{match.group(1)}/{match.group(2)}"


def _derived(value: str) -> list[str]:
    """Other spellings of one normalised uri/url."""
    forms: list[str] = []
    if value.endswith("/activity"):
        # A Create activity id names its object; a boost wrapper's stripped form is the
        # wrapper status, which is never a post, so this cannot merge a boost into a post.
        value = value[: -len("/activity")]
        forms.append(value)
    for convert in (mastodon_uri_to_url, mastodon_url_to_uri):
        other = convert(value)
        if other is not None:
            forms.append(other)
    split = _split(value)
    if split is not None:
        scheme, host, path = split
        if match := _GTS_URI_PATH.match(path):
            forms.append(f"{scheme}://{host}/@{match.group(1)}/statuses/{match.group(2)}")
        elif match := _GTS_URL_PATH.match(path):
            forms.append(f"{scheme}://{host}/users/{match.group(1)}/statuses/{match.group(2)}")
    return forms


def identity_candidates(post: Post) -> tuple[str, ...]:
    """Every normalised string under which ``post`` may be known, uri first, unique.

    Two posts are the same when their candidates intersect (:func:`same_post`). Local ids
    (``sighting.local_id``) are never candidates: they differ per instance.
    """
    found: dict[str, None] = {}
    for value in (post.uri, post.url):
        if not value:
            continue
        normal = normalise_identity(value)
        found.setdefault(normal, None)
        for form in _derived(normal):
            found.setdefault(form, None)
    return tuple(found)


def same_post(a: Post, b: Post) -> bool:
    """Whether ``a`` and ``b`` are one status seen twice (by uri, url or a derived form)."""
    return not set(identity_candidates(a)).isdisjoint(identity_candidates(b))


def same_boost(a: Boost, b: Boost) -> bool:
    """Whether two boosts are one Announce: same activity uri (the API wrapper ``uri`` equals
    the outbox ``Announce`` id), or the same booster sharing the same post."""
    if normalise_identity(a.uri) == normalise_identity(b.uri):
        return True
    same_target = normalise_identity(a.post_uri) == normalise_identity(b.post_uri)
    booster_a = a.booster.uri or a.booster.handle
    booster_b = b.booster.uri or b.booster.handle
    return same_target and normalise_identity(booster_a) == normalise_identity(booster_b)


def max_count(a: int | None, b: int | None) -> int | None:
    """The larger of two counts where either may be unknown (counts are per viewing
    server and undercount remote posts: keep the highest seen, PROTOCOL.md §1)."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


# --- merging two copies of one post (issue 16) -------------------------------------------
#
# The store finds the stored row of an incoming post (by identity_candidates) and asks
# merge_post what to change; it applies the answer and decides nothing itself.

# The permalink of a tweet whose author the file did not name (sources.twarc).
TWEET_BY_ID_ONLY = "twitter.com/i/web/status/"
# Columns a later source may fill when the first left them empty.
DESCRIBED = ("language", "visibility", "in_reply_to_uri", "in_reply_to_local_id", "quote_uri")


@dataclass(frozen=True, slots=True)
class StoredPost:
    """What the merge rules need of a stored post: its columns as stored (times as ISO
    text, tags/links/seen_on space separated)."""

    uri: str
    content_html: str
    spoiler_text: str
    edited_at: str | None
    deleted_at: str | None
    seen_on: str
    source: str
    boosts: int | None
    replies: int | None
    favourites: int | None
    tags: str
    links: str
    # A TAGS sheet's row (its text may be cut, its time local): any other copy is richer.
    is_tags_row: bool = False
    # DESCRIBED's columns, in that order.
    described: tuple[str | None, ...] = (None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class PostMerge:
    """What storing ``post`` over a stored copy changes (an ``UpdateIntent``).

    ``changes`` are columns and their new stored values (``author_id`` excluded: see
    ``new_author``). ``new_version`` keeps the stored text as a version first (an edit).
    """

    changes: Mapping[str, object] = field(default_factory=dict)
    new_version: bool = False
    # The post's identity changes: what pointed at the old one (boosts, reactions) follows.
    uri_moves_to: str | None = None
    # The incoming post's author replaces the stored one.
    new_author: bool = False
    # Tags to add to the post's tag rows.
    add_tags: tuple[str, ...] = ()
    # Links to add to the post's link rows, in order; ``replace_links`` drops the old first.
    add_links: tuple[str, ...] = ()
    replace_links: bool = False

    @property
    def is_noop(self) -> bool:
        return not self.changes and not self.new_author


def _join(values: Sequence[str]) -> str:
    """Words as stored: space separated, unique, empties dropped."""
    return " ".join(dict.fromkeys(v for v in values if v))


def _merge_words(old: str, new: Sequence[str]) -> str:
    words = old.split()
    extra = [w for w in new if w and w not in words]
    return " ".join(words + extra) if extra else old


def from_origin(uri: str, source: str) -> bool:
    """Whether ``source`` (an instance's host, an outbox's URL) is the post ``uri``'s own
    server (the host of its uri)."""
    where = urlsplit(source).netloc if "://" in source else source
    return bool(where) and where.lower() == urlsplit(uri).netloc.lower()


def is_richer(stored: StoredPost, post: Post) -> bool:
    """Whether ``post`` is a richer copy than the stored one, and replaces its text, author,
    time and flags: an API or ActivityPub copy over a tag RSS item; a tweet's own JSON
    (twarc) over a TAGS sheet's row, whichever was imported first."""
    if stored.source == "rss":
        return post.source in ("mastodon", "activitypub")
    return stored.source == post.source == "twitter" and stored.is_tags_row and not post.is_tags_row


def is_newer_edit(stored_edited_at: str | None, post: Post) -> bool:
    """Whether ``post`` is a later edit than the stored copy. Another instance's copy may
    be older (a remote server keeps the version it was last sent) and must not flip the
    text back; within one second is the same edit (a remote copy gives edited_at in whole
    seconds where the origin has milliseconds)."""
    if post.edited_at is None:
        return False
    return stored_edited_at is None or (iso(post.edited_at) or "")[:19] > stored_edited_at[:19]


def merge_post(stored: StoredPost, post: Post) -> PostMerge:
    """What changes when ``post`` is seen again as the stored copy ``stored``.

    - What a first source left unsaid (a tag RSS item has no language, visibility or
      reply link) is filled from the next that says it; what is known is kept.
    - Counts keep the highest seen (:func:`max_count`); tags and seen_on grow.
    - A newer edit (:func:`is_newer_edit`) replaces the text, the old one kept as a version.
    - A richer copy (:func:`is_richer`) replaces the text, author, time and flags, and gives
      a feed item its ActivityPub identity; a tweet first read without its author (an
      /i/web/ permalink) gets the user's.
    - A deleted post seen again on its own server came back (a suspension lifted); another
      server's copy proves nothing (remote servers keep copies of deleted posts).
    """
    changes: dict[str, object] = {}
    said = (
        post.language,
        post.visibility,
        post.in_reply_to_uri,
        post.in_reply_to_local_id,
        post.quote_uri,
    )
    for name, known, value in zip(DESCRIBED, stored.described, said, strict=True):
        if known is None and value is not None:
            changes[name] = value
    seen_on = _merge_words(stored.seen_on, [post.sighting.source])
    if seen_on != stored.seen_on:
        changes["seen_on"] = seen_on
    for column, old_count, count in (
        ("boosts", stored.boosts, post.boosts),
        ("replies", stored.replies, post.replies),
        ("favourites", stored.favourites, post.favourites),
    ):
        best = max_count(old_count, count)
        if best != old_count:
            changes[column] = best
    tags = _merge_words(stored.tags, post.tags)
    add_tags: tuple[str, ...] = ()
    if tags != stored.tags:
        changes["tags"] = tags
        add_tags = post.tags
    richer = is_richer(stored, post)
    new_author = False
    if richer and stored.uri != post.uri and post.source != "twitter":
        changes["uri"] = post.uri
    if TWEET_BY_ID_ONLY in stored.uri and TWEET_BY_ID_ONLY not in post.uri:
        changes.update(uri=post.uri, url=post.url)
        new_author = True
    edited = is_newer_edit(stored.edited_at, post)
    content_changed = (
        post.content_html != stored.content_html or post.spoiler_text != stored.spoiler_text
    )
    new_version = edited and content_changed
    if new_version or richer:
        changes.update(
            content_html=post.content_html,
            text=post.text,
            spoiler_text=post.spoiler_text,
            edited_at=iso(post.edited_at),
            raw=post.raw,
            links=_join(post.links) or stored.links,
        )
        if richer:
            new_author = True
            changes.update(
                source=post.source,
                created_at=iso(post.created_at),  # to the millisecond, in UTC
                flags=_join(post.flags),  # 'tz-less date', 'unknown author' gone
            )
        if post.is_tags_row != stored.is_tags_row:  # the copy kept is the incoming one
            changes["tags_row"] = int(post.is_tags_row)
    elif edited and stored.edited_at is None:
        changes["edited_at"] = iso(post.edited_at)
    if stored.deleted_at is not None and from_origin(stored.uri, post.sighting.source):
        changes["deleted_at"] = None
    links_changed = "links" in changes and changes["links"] != stored.links
    return PostMerge(
        changes=changes,
        new_version=new_version,
        uri_moves_to=str(changes["uri"]) if "uri" in changes else None,
        new_author=new_author,
        add_tags=add_tags,
        add_links=post.links if links_changed else (),
        replace_links=links_changed and richer,
    )


@dataclass(frozen=True, slots=True)
class DeletionDecision:
    """Whether a deletion seen somewhere marks the post deleted."""

    mark_deleted: bool
    why: str


def decide_deletion(uri: str, seen_by: str, seen_on: Sequence[str]) -> DeletionDecision:
    """Whether a post ``uri`` gone from source ``seen_by`` is deleted, given the sources
    ``seen_on`` where it was seen. Its own server's word is final. Another server no longer
    having its copy (purged, the domain suspended there) proves nothing while the post's
    own server, where it was seen too, can still be asked; only when it was never seen
    there is that the best word."""
    if from_origin(uri, seen_by):
        return DeletionDecision(True, "its own server says so")
    if any(from_origin(uri, source) for source in seen_on):
        return DeletionDecision(False, "its own server, where it was seen, is the one to ask")
    return DeletionDecision(True, "never seen on its own server: the best word there is")


# --- retweets kept as text, boosts guessed from it (TAGS, issue 15) -------------------------
#
# A TAGS sheet keeps a retweet as its text ('RT @x: …'): sources.twarc reads it as a Boost
# guessed from that text (is_tags_row), naming only the original's author; a tweet whose
# text looks like a retweet but that has no retweet structure is a Post flagged
# RETWEET_TEXT. A structured copy of the same tweet (twarc) says what it really is.

# The flag sources.twarc gives a tweet whose text looks like a retweet ('RT @x: …') but that
# has no retweet structure (manual RTs; TAGS retweets too, in archives made before issue 15).
RETWEET_TEXT = "retweet text"


def is_retweet_text(post: Post) -> bool:
    """Whether ``post`` is a retweet known only by its text (:data:`RETWEET_TEXT`)."""
    return RETWEET_TEXT in post.flags


@dataclass(frozen=True, slots=True)
class NewPostDecision:
    """What storing a post not stored yet does."""

    store: bool
    # A stored TAGS guess of a boost with the post's uri goes: the post shows it is a tweet
    # of its own.
    drops_guessed_boost: bool


# The three answers decide_new_post gives, made once: an import asks for every row.
_SAID_BY_A_BOOST = NewPostDecision(store=False, drops_guessed_boost=False)
_A_TWEET = NewPostDecision(store=True, drops_guessed_boost=True)
_A_POST = NewPostDecision(store=True, drops_guessed_boost=False)


def decide_new_post(flags: Sequence[str], source: str, *, boost_stored: bool) -> NewPostDecision:
    """For a post not stored yet, with these ``flags`` from that ``source`` (a Post's, or
    an import's packed row's), ``boost_stored`` telling whether a boost of its uri (not a
    TAGS guess) is: a retweet known by its text (:data:`RETWEET_TEXT`) that such a boost
    says already is not stored again; a tweet replaces a TAGS guess of its uri."""
    if boost_stored and RETWEET_TEXT in flags:
        return _SAID_BY_A_BOOST
    return _A_TWEET if source == "twitter" else _A_POST


@dataclass(frozen=True, slots=True)
class BoostDecision:
    """What storing a boost does."""

    # Store it (a boost of that uri already stored is kept).
    insert: bool
    # A stored TAGS guess of that uri takes the original this boost names instead.
    answers_guess: bool = False
    # A retweet stored as a post from its text alone (RETWEET_TEXT) gives way to the boost.
    drops_retweet_row: bool = False


_GIVES_WAY = BoostDecision(insert=False)
_ANSWERS_GUESS = BoostDecision(insert=False, answers_guess=True)
_A_BOOST = BoostDecision(insert=True, drops_retweet_row=True)


def decide_boost(
    is_tags_row: bool, *, structured_post_stored: bool, guess_stored: bool
) -> BoostDecision:
    """What to do with a boost (a TAGS row's guess when ``is_tags_row``: a Boost's, or an
    import's packed row's), given whether a post of its uri not read from a TAGS row is
    stored (``structured_post_stored``) and whether a TAGS guess of its uri is
    (``guess_stored``). A TAGS guess gives way to any structured copy, post or boost; a
    structured boost answers a stored guess with the original it names."""
    if is_tags_row:
        return _GIVES_WAY if structured_post_stored else _A_BOOST
    return _ANSWERS_GUESS if guess_stored else _A_BOOST


# --- near-duplicates (issue 8) -----------------------------------------------------------------
#
# Cross-posts and copy-pasted texts: two posts are near-duplicates when their texts are equal
# after normalise_for_duplicates, or when the Jaccard similarity of their character 4-gram
# sets is at least the threshold. Candidates are found with prefix filtering (Chaudhuri et
# al. 2006, "A primitive operator for similarity joins"): two sets with Jaccard >= t share at
# least one token among the first |s| - ceil(t * |s|) + 1 tokens of each, in one global order
# (rarest first). Every candidate is then checked exactly, so the rule is exact, not a
# MinHash estimate, and 10,000 posts cluster in well under a second.

# Jaccard similarity of shingle sets at or above which two posts are near-duplicates (issue 8).
NEAR_DUPLICATE_THRESHOLD = 0.9
# Character shingle width: short enough for tweet-length texts, long enough to keep word order.
SHINGLE_SIZE = 4
# Texts with fewer words than this (not counting link placeholders) are never clustered:
# "#bsnopen" alone or a bare link says too little to call two people's posts copies.
MIN_WORDS = 4

_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# @user or @user@host, not inside a word (e-mail addresses are words).
_MENTION = re.compile(r"(?<![\w@])@\w[\w.\-]*(?:@[\w\-]+(?:\.[\w\-]+)+)?")
# A manual retweet's prefix left after mentions are removed: "RT @alice: ..." -> "rt : ...".
_RT_PREFIX = re.compile(r"^(?:rt|via)\s*:?\s+")
_SPACES = re.compile(r"\s+")


def normalise_for_duplicates(text: str) -> str:
    """The text two copies of one post share: lower case, each link replaced by ``URL``,
    mentions removed (and a leading ``RT``), whitespace collapsed; hashtags are kept.

    ``"RT @alice: Slides are up  https://x.example/s #BSNOpen"`` ->
    ``"slides are up URL #bsnopen"``.
    """
    value = unicodedata.normalize("NFKC", text).lower()
    value = _LINK.sub(" URL ", value)
    value = _MENTION.sub(" ", value)
    value = _SPACES.sub(" ", value).strip()
    return _RT_PREFIX.sub("", value).strip()


def _shingles(text: str) -> frozenset[str]:
    if len(text) <= SHINGLE_SIZE:
        return frozenset((text,))
    return frozenset(text[i : i + SHINGLE_SIZE] for i in range(len(text) - SHINGLE_SIZE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


# Similarity checks per clustering run: about a second of work; enough for every real
# event archive we have seen, and a bound for pathological (tiny-vocabulary) text.
MAX_COMPARISONS = 300_000


def cluster_near_duplicates(
    items: Sequence[tuple[K, str, str]],
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    *,
    max_comparisons: int = MAX_COMPARISONS,
) -> list[list[K]]:
    """Group near-duplicate texts.

    Exact matches (after normalising) are always grouped. Near matches are found by
    prefix filtering; on text with a tiny vocabulary that can mean comparing almost every
    pair, so the similarity checks stop after ``max_comparisons`` (a count, not a clock,
    so the same archive always gives the same clusters).

    Args:
        items: ``(key, author, text)`` in display order (oldest first); keys are unique.
        threshold: the shingle Jaccard similarity at or above which two texts match.
        max_comparisons: budget of set comparisons for the near-match phase.

    Returns:
        Clusters of two or more keys, each in input order, ordered by their first key's
        position. A text with fewer than MIN_WORDS words is in no cluster. The author is not
        part of the rule: the same text twice by one account is a cluster too (callers
        decide whom to name).
    """
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    by_text: dict[str, int] = {}
    sets: list[tuple[int, frozenset[str]]] = []
    for index, (_, _, text) in enumerate(items):
        norm = normalise_for_duplicates(text)
        if sum(1 for word in norm.split() if word != "url") < MIN_WORDS:
            continue
        first = by_text.setdefault(norm, index)
        if first != index:
            union(first, index)  # exact match: the representative already stands for it
            continue
        sets.append((index, _shingles(norm)))

    frequency: Counter[str] = Counter()
    for _, shingles in sets:
        frequency.update(shingles)
    # Smaller sets first, so each set only looks back at sets no larger than itself.
    sets.sort(key=lambda entry: (len(entry[1]), entry[0]))
    index_of: dict[str, list[int]] = defaultdict(list)
    budget = max_comparisons
    for position, (index, shingles) in enumerate(sets):
        if budget <= 0:
            break
        ordered = sorted(shingles, key=lambda s: (frequency[s], s))
        size = len(ordered)
        prefix = size - math.ceil(threshold * size) + 1
        seen: set[int] = set()
        for token in ordered[:prefix]:
            for other in index_of[token]:
                if other in seen:
                    continue
                seen.add(other)
                budget -= 1
                other_index, other_set = sets[other]
                if len(other_set) >= threshold * size and (
                    jaccard(shingles, other_set) >= threshold
                ):
                    union(other_index, index)
            index_of[token].append(position)

    groups: dict[int, list[K]] = defaultdict(list)
    for index, (key, _, _) in enumerate(items):
        groups[find(index)].append(key)
    return [keys for _, keys in sorted(groups.items()) if len(keys) > 1]


# A retweet kept as text (TAGS): "RT @name: <the original's text, cut>".
_RETWEET_TEXT_PREFIX = re.compile(r"^RT @[A-Za-z0-9_]{1,50}:\s*")
# How text cut for length ends: an ellipsis, after a word that may itself be cut.
_CUT_END = re.compile(r"\S*(?:…|\.\.\.)$")


def retweeted_post(retweet_text: str, candidates: Sequence[tuple[str, str]]) -> str | None:
    """The uri of the post a text-only retweet (``RT @name: …``) repeats, among
    ``candidates`` (uri, text) of that author's posts; None when none or several fit.

    The retweet carries the original's text, cut to fit and with shortened links, so both
    are compared as :func:`normalise_for_duplicates` gives them (the retweet's entities
    unescaped), the retweet's last
    (possibly cut) word and ellipsis dropped, as a prefix of the original's.
    """
    # Twitter escapes & < > in tweet text, and TAGS keeps it so; stored text is unescaped.
    body = _RETWEET_TEXT_PREFIX.sub("", html.unescape(retweet_text).strip(), count=1)
    cut = _CUT_END.search(body)
    if cut is not None:
        body = body[: cut.start()]
    wanted = normalise_for_duplicates(body)
    if not wanted:
        return None
    found = [uri for uri, text in candidates if normalise_for_duplicates(text).startswith(wanted)]
    return found[0] if len(found) == 1 else None
