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
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, BinaryIO, Final, cast

import orjson

from bsarchive.errors import SourceError
from bsarchive.models import Author, Boost, Post, Sighting, normalise_tag, utc
from bsarchive.sources.fields import int_field, str_field

__all__ = [
    "TwarcLine",
    "iter_tags_csv",
    "iter_twarc_file",
    "parse_tags_row",
    "parse_twarc_line",
    "tweet_id_from_url",
    "tweet_url",
]

TWITTER = "https://twitter.com"
SOURCE: Final = "twitter"
# gzip member header (RFC 1952 section 2.3.1).
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
# Read size for plain files: twarc2 response lines run to megabytes.
_READ_BUFFER = 1 << 20

# Top-level keys of the v1.1 streaming API's non-tweet messages (Twitter "Streaming message
# types"); twarc1 `filter`/`sample` wrote them to the same file as tweets.
_STREAM_NOTICES = frozenset(
    {"delete", "limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning"}
)

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

# A tweet permalink in any of its spellings: twitter.com or x.com, www./mobile./m., the 2010
# `#!/` hashbang, `statuses`, `i/web/status`; a photo/video suffix marks a media link.
_STATUS_URL = re.compile(
    r"https?://(?:www\.|mobile\.|m\.)?(?:twitter|x)\.com/(?:#!/)?"
    r"(?:i/web|(?P<user>[A-Za-z0-9_]+))/status(?:es)?/(?P<id>\d+)"
    r"(?P<media>/(?:photo|video)/\d+)?",
    re.IGNORECASE,
)
# Twitter usernames are letters, digits and underscore (15 today; some old ones longer).
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,50}")
# A native retweet's text always starts so; the name is the original's author.
_RT_PREFIX = re.compile(r"RT @([A-Za-z0-9_]{1,50}):")
# Fallbacks when there are no entities (TAGS rows without entities_str).
_HASHTAG_IN_TEXT = re.compile(r"(?<![\w/&#])[#＃](\w+)")
_MENTION_IN_TEXT = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,50})")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILING = ".,;:!?)]}'\""
# A lone surrogate is what `surrogateescape` leaves for a byte that is not UTF-8.
_SURROGATE = re.compile("[\udc80-\udcff]")
# ISO 639-2 reserves qaa-qtz for local use; Twitter uses them (qme, qht, ...) and `und`,
# `zxx` for "no linguistic content"; none is a language.
_PSEUDO_LANGUAGE = re.compile(r"und|zxx|q[a-t][a-z]")

_HTML_SPECIAL = re.compile(r'[&<>"\s]')

_EMPTY: dict[str, object] = {}

JSONObject = dict[str, object]
# (short link as in the text, expanded link, link target, is a photo/video link)
_Url = tuple[str, str, str, bool]


@dataclass(frozen=True, slots=True)
class TwarcLine:
    """What one line (twarc JSONL) or one record (TAGS CSV) gave.

    ``items`` holds every post and boost parsed from it, in file order. ``error`` says what
    could not be parsed; it may be set while ``items`` is not empty (a v2 response where one
    tweet of many lacks a field). ``line_no`` is 1-based; for CSV it is the physical line
    where the record starts (the header is line 1).
    """

    line_no: int
    items: tuple[Post | Boost, ...] = ()
    error: str | None = None


class _BadTweet(Exception):
    """One tweet in a line cannot be parsed; the message names the missing field."""


# eq=False: hashed by identity, so the per-file value is a cheap cache key.
@dataclass(frozen=True, slots=True, eq=False)
class _Fetch:
    fetched_at: datetime
    fetched_from: str


# --- public helpers --------------------------------------------------------------------------


def tweet_url(username: str | None, tweet_id: str) -> str:
    """Return the permalink of a tweet: ``https://twitter.com/{username}/status/{id}``, or
    ``https://twitter.com/i/web/status/{id}`` when the username is unknown.

    A leading ``@`` on ``username`` is dropped.

    Raises:
        ValueError: ``tweet_id`` is not a decimal number.
    """
    if not tweet_id.isascii() or not tweet_id.isdigit():
        raise ValueError(f"tweet id must be decimal digits, not {tweet_id!r}")
    if username:
        username = username.removeprefix("@")
    if username and username.lower() != "i":
        return f"{TWITTER}/{username}/status/{tweet_id}"
    return f"{TWITTER}/i/web/status/{tweet_id}"


def tweet_id_from_url(url: str) -> str | None:
    """Return the tweet id in a tweet permalink of any spelling, else None.

    ``https://x.com/Alice/status/1``, ``https://mobile.twitter.com/alice/status/1/photo/1``
    and ``https://twitter.com/i/web/status/1`` all give ``"1"``.
    """
    match = _STATUS_URL.match(url)
    return match.group("id") if match else None


def iter_twarc_file(path: Path, *, fetched_at: datetime) -> Iterator[TwarcLine]:
    """Yield one :class:`TwarcLine` per non-blank line of a twarc JSONL file.

    The file may be gzip-compressed (detected by its first bytes). Lines are read one at a
    time. A truncated or corrupt gzip stream ends the file with one error record.

    Args:
        path: the twarc output file.
        fetched_at: when the data was fetched, used where a line has no
            ``__twarc.retrieved_at``.

    Raises:
        SourceError: the file cannot be opened or read.
    """
    fetch = _Fetch(utc(fetched_at), str(path))
    line_no = 0
    try:
        with _open_binary(path) as stream:
            for line in stream:
                line_no += 1
                if line_no == 1 and line.startswith(_UTF8_BOM):
                    line = line[3:]
                if not line or line.isspace():
                    continue
                yield _parse_line(line, line_no, fetch)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        yield TwarcLine(line_no + 1, (), f"truncated or corrupt gzip data: {e}")
    except OSError as e:
        raise SourceError(str(path), f"cannot read: {e.strerror or e}") from e


def parse_twarc_line(
    line: bytes | str, *, line_no: int, fetched_at: datetime, fetched_from: str
) -> TwarcLine:
    """Parse one twarc JSONL line (any of the three formats) into a :class:`TwarcLine`.

    Never raises for bad input: a malformed line comes back with ``error`` set.
    """
    return _parse_line(line, line_no, _Fetch(utc(fetched_at), fetched_from))


def iter_tags_csv(path: Path, *, fetched_at: datetime) -> Iterator[TwarcLine]:
    """Yield one :class:`TwarcLine` per record of a TAGS archive sheet exported as CSV.

    A UTF-8 BOM, quoted newlines and gzip compression are handled; blank records are
    skipped; a record with bytes that are not UTF-8 is an error record. A CSV syntax error
    (e.g. an unterminated quote) cannot be resynchronised and ends the file with one error
    record.

    Raises:
        SourceError: the file cannot be opened or read, or its header has neither an
            ``id_str`` nor a ``status_url`` column, or no ``text`` column.
    """
    fetch = _Fetch(utc(fetched_at), str(path))
    try:
        with _open_text(path) as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                return
            columns = [name.strip().lstrip("\ufeff").lower() for name in header]
            if "text" not in columns or not {"id_str", "status_url"} & set(columns):
                raise SourceError(
                    str(path),
                    "not a TAGS archive sheet: the header needs text and id_str or status_url",
                )
            start = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield TwarcLine(start, (), f"CSV syntax error, rest of file skipped: {e}")
                    return
                line_no, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if any(_SURROGATE.search(cell) for cell in row):
                    yield TwarcLine(line_no, (), "invalid UTF-8")
                    continue
                record = dict(zip(columns, row, strict=False))
                yield parse_tags_row(
                    record,
                    line_no=line_no,
                    fetched_at=fetch.fetched_at,
                    fetched_from=fetch.fetched_from,
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise SourceError(str(path), f"truncated or corrupt gzip data: {e}") from e
    except OSError as e:
        raise SourceError(str(path), f"cannot read: {e.strerror or e}") from e


# --- files -----------------------------------------------------------------------------------


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == _GZIP_MAGIC


def _open_binary(path: Path) -> BinaryIO | gzip.GzipFile:
    if _is_gzip(path):
        return gzip.GzipFile(path, "rb")
    return path.open("rb", buffering=_READ_BUFFER)


def _open_text(path: Path) -> IO[str]:
    # `utf-8-sig` drops a BOM; `surrogateescape` lets a bad byte reach one record's check
    # instead of aborting the reader; newline="" is what the csv module requires.
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")


# --- JSON access (validation at the edge) ----------------------------------------------------


def _obj(value: object) -> JSONObject | None:
    return value if isinstance(value, dict) else None


def _d(data: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = data.get(key)
    return value if isinstance(value, dict) else _EMPTY


def _l(data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _id(data: Mapping[str, object], key: str) -> str | None:
    """A tweet/user id: a decimal string, or an integer (v1.1 `id`)."""
    value = data.get(key)
    if isinstance(value, str):
        return value if value.isascii() and value.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


def _username(value: object) -> str | None:
    if isinstance(value, str) and _USERNAME.fullmatch(value):
        return value
    return None


def _dump(data: object) -> str:
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as e:  # nesting deeper than orjson writes (254)
        raise _BadTweet(f"cannot keep raw JSON: {e}") from None


# --- dates -----------------------------------------------------------------------------------


def _parse_date(value: str) -> tuple[datetime, bool] | None:
    """Parse v2 ISO 8601 or v1.1 ``Tue Jun 29 18:42:07 +0000 2010``; flag tz-less input."""
    if value[:1].isdigit():
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is UTC:  # the usual "…Z"
                return parsed, False
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC), True
            return parsed.astimezone(UTC), False
        except (ValueError, OverflowError):
            return None
    parts = value.split()
    if len(parts) != 6:
        return None
    _, month_name, day, clock, offset, year = parts
    month = _MONTHS.get(month_name)
    hms = clock.split(":")
    if month is None or len(hms) != 3 or len(offset) != 5 or offset[0] not in "+-":
        return None
    try:
        parsed = datetime(
            int(year), month, int(day), int(hms[0]), int(hms[1]), int(hms[2]), tzinfo=UTC
        )
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return (parsed - shift if offset[0] == "+" else parsed + shift), False
    except (ValueError, OverflowError):
        return None


# TAGS `time` column: the sheet's local time, no zone; Excel may drop the seconds or rewrite
# it in ISO order.
_TAGS_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S")


def _parse_tags_time(value: str) -> datetime | None:
    for layout in _TAGS_TIME_FORMATS:
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


# --- text, links, tags -----------------------------------------------------------------------


def _unescape(text: str) -> str:
    # Twitter escapes exactly these three; a full html.unescape would also turn a literal
    # "&copy;" typed by the author (sent as "&amp;copy;") into the right thing, but would
    # decode entities Twitter never produced.
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape_text(text: str) -> str:
    # html.escape(quote=False) without its function layer; then line breaks.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\n" in text:
        text = text.replace("\n", "<br>")
    return text


def _anchor(url: str) -> str:
    escaped = _escape_text(url)
    if url.startswith(("http://", "https://")):
        href = escaped.replace('"', "&quot;") if '"' in escaped else escaped
        return f'<a href="{href}">{escaped}</a>'
    return escaped


def _render(raw_text: str, urls: Sequence[_Url]) -> tuple[str, str]:
    """Return (text with short links expanded, content_html)."""
    text = _unescape(raw_text)
    if len(urls) == 1:
        # The usual tweet: one link, once, and a short link holds nothing to escape, so it
        # can be swapped in the text and in its escaped form alike.
        short, expanded = urls[0][0], urls[0][1]
        start = text.find(short) if short else -1
        end = start + len(short)
        if (
            start >= 0
            and (end == len(text) or not text[end].isalnum())
            and text.find(short, end) < 0
            and short.startswith(("http://", "https://"))
            and not _HTML_SPECIAL.search(short)
        ):
            escaped = _escape_text(text)
            return (
                text[:start] + expanded + text[end:],
                f"<p>{escaped.replace(short, _anchor(expanded), 1)}</p>",
            )
    spans: list[tuple[int, int, str]] = []
    for short, expanded, _target, _media in urls:
        if not short:
            continue
        start = text.find(short)
        while start >= 0:
            end = start + len(short)
            if end == len(text) or not text[end].isalnum():
                spans.append((start, -end, expanded))
            start = text.find(short, end)
    if not spans:
        return text, f"<p>{_escape_text(text)}</p>"
    if len(spans) == 1:  # the common case, without the lists
        start, neg_end, expanded = spans[0]
        head, tail = text[:start], text[-neg_end:]
        return (
            f"{head}{expanded}{tail}",
            f"<p>{_escape_text(head)}{_anchor(expanded)}{_escape_text(tail)}</p>",
        )
    spans.sort()  # by start, the longest first where two links start at one place
    plain: list[str] = []
    marked: list[str] = ["<p>"]
    pos = 0
    for start, neg_end, expanded in spans:
        if start < pos:
            continue
        segment = text[pos:start]
        plain.append(segment)
        plain.append(expanded)
        marked.append(_escape_text(segment))
        marked.append(_anchor(expanded))
        pos = -neg_end
    plain.append(text[pos:])
    marked.append(_escape_text(text[pos:]))
    marked.append("</p>")
    return "".join(plain), "".join(marked)


def _urls_in_text(raw_text: str) -> list[_Url]:
    """Links in text without entities (TAGS rows without entities_str)."""
    found: list[_Url] = []
    for match in _URL_IN_TEXT.finditer(_unescape(raw_text)):
        url = match.group().rstrip(_URL_TRAILING)
        found.append((url, url, url, False))
    return found


def _links(urls: Sequence[_Url], own_id: str, quote_id: str | None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _short, expanded, target, is_media in urls:
        if is_media or not target.startswith(("http://", "https://")):
            continue
        if _maybe_tweet_link(expanded) or _maybe_tweet_link(target):
            status = _STATUS_URL.match(expanded) or _STATUS_URL.match(target)
            if status and (status.group("media") or status.group("id") in (own_id, quote_id)):
                continue
        seen.setdefault(target, None)
    return tuple(seen)


def _maybe_tweet_link(url: str) -> bool:
    # A cheap filter before the regex: the host part mentions twitter.com or x.com.
    host = url[7:32].lower()
    return "twitter.com/" in host or "x.com/" in host


def _tags(entities: Mapping[str, object], key: str, raw_text: str) -> tuple[str, ...]:
    hashtags = entities.get("hashtags")
    seen: dict[str, None] = {}
    if isinstance(hashtags, list) and hashtags:
        for tag in hashtags:
            if isinstance(tag, dict):
                name = tag.get(key)
                if isinstance(name, str) and name:
                    seen.setdefault(normalise_tag(name), None)
        return tuple(seen)
    if "#" not in raw_text and "＃" not in raw_text:
        return ()
    for match in _HASHTAG_IN_TEXT.finditer(raw_text):
        word = match.group(1)
        if not word.isdigit():
            seen.setdefault(normalise_tag(word), None)
    return tuple(seen)


def _mentions(entities: Mapping[str, object], key: str, raw_text: str) -> tuple[str, ...]:
    found = entities.get(key)
    seen: dict[str, None] = {}
    if isinstance(found, list):
        for mention in found:
            if isinstance(mention, dict):
                name = _username(mention.get("username") or mention.get("screen_name"))
                if name:
                    seen.setdefault("@" + name, None)
        return tuple(seen)
    if "@" not in raw_text:
        return ()
    for match in _MENTION_IN_TEXT.finditer(raw_text):
        seen.setdefault("@" + match.group(1), None)
    return tuple(seen)


def _language(value: str | None) -> str | None:
    if not value or (len(value) == 3 and _PSEUDO_LANGUAGE.fullmatch(value)):
        return None
    return value


def _username_in_urls(urls: Sequence[_Url], tweet_id: str) -> str | None:
    """The username in a link to tweet ``tweet_id`` (the quoted tweet's permalink)."""
    for _short, expanded, _target, _media in urls:
        match = _STATUS_URL.match(expanded)
        if match and match.group("id") == tweet_id and match.group("user"):
            return match.group("user")
    return None


# --- shared model building -------------------------------------------------------------------


def _author(
    user: Mapping[str, object], name_key: str, id_key: str
) -> tuple[str | None, Author | None]:
    """(username, Author) from a v2 or v1.1 user object; (None, None) without a username."""
    username = user.get(name_key)
    if not isinstance(username, str):
        return None, None
    name = user.get("name")
    bio = user.get("description")
    user_id = user.get(id_key)
    return _make_author(
        username,
        name if isinstance(name, str) else "",
        user_id if isinstance(user_id, str | int) else None,
        bio if isinstance(bio, str) else "",
    )


# Live-tweeters post hundreds of times; an Author is immutable, so equal ones are shared and
# the checks run once per distinct account.
@lru_cache(maxsize=4096)
def _make_author(
    username: str, name: str, user_id: str | int | None, bio: str
) -> tuple[str | None, Author | None]:
    if not _USERNAME.fullmatch(username):
        return None, None
    if isinstance(user_id, int):
        user_id = None if isinstance(user_id, bool) or user_id < 0 else str(user_id)
    elif user_id is not None and not (user_id.isascii() and user_id.isdigit()):
        user_id = None
    return username, Author(
        handle="@" + username,
        name=name,
        url=f"{TWITTER}/{username}",
        uri=f"{TWITTER}/i/user/{user_id}" if user_id else None,
        bio=bio,
    )


def _unknown_author(user_id: str | None) -> Author:
    if user_id is None:
        raise _BadTweet("missing author")
    return Author(handle=f"id:{user_id}", uri=f"{TWITTER}/i/user/{user_id}")


def _sighting(tweet_id: str, uri: str, fetch: _Fetch) -> Sighting:
    return Sighting(SOURCE, tweet_id, uri, fetch.fetched_at, fetch.fetched_from)


def _required_id(data: Mapping[str, object], *keys: str) -> str:
    for key in keys:
        value = _id(data, key)
        if value:
            return value
    raise _BadTweet("missing id")


def _created_at(data: Mapping[str, object]) -> tuple[datetime, bool]:
    value = str_field(data, "created_at")
    if not value:
        raise _BadTweet("missing created_at")
    parsed = _parse_date(value)
    if parsed is None:
        raise _BadTweet(f"bad created_at {value[:40]!r}")
    return parsed


def _permalink(username: str | None, tweet_id: str) -> str:
    # tweet_url without its checks: both parts were validated where they were read.
    if username and username != "i":
        return f"{TWITTER}/{username}/status/{tweet_id}"
    return f"{TWITTER}/i/web/status/{tweet_id}"


def _flags(tzless: bool, username: str | None, text: str) -> tuple[str, ...]:
    flags = ["tz-less date"] if tzless else []
    if username is None:
        flags.append("unknown author")
    if text.startswith("RT @"):
        flags.append("retweet text")
    return tuple(flags)


def _finish(
    raw_text: str,
    urls: Sequence[_Url],
    tweet_id: str,
    username: str | None,
    quote_id: str | None,
    fetch: _Fetch,
    flags: list[str],
) -> tuple[str, str, str, tuple[str, ...], Sighting, tuple[str, ...]]:
    """The parts every reader derives alike: (uri, text, content_html, links, sighting,
    flags). ``flags`` are the reader's own; the shared ones are added after them."""
    uri = _permalink(username, tweet_id)
    text, content_html = _render(raw_text, urls)
    links = _links(urls, tweet_id, quote_id) if urls else ()
    return (
        uri,
        text,
        content_html,
        links,
        _sighting(tweet_id, uri, fetch),
        (*flags, *_flags(False, username, text)),
    )


# --- one line --------------------------------------------------------------------------------

_JSON_TYPE_NAMES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
}


def _parse_line(line: bytes | str, line_no: int, fetch: _Fetch) -> TwarcLine:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        if isinstance(line, bytes):
            try:
                line.decode()
            except UnicodeDecodeError as bad:
                return TwarcLine(line_no, (), f"invalid UTF-8 at byte offset {bad.start}")
        return TwarcLine(line_no, (), f"invalid JSON: {e}")
    if not isinstance(doc, dict):
        kind = _JSON_TYPE_NAMES.get(type(doc), "null or a boolean")
        return TwarcLine(line_no, (), f"not a JSON object but {kind}")
    meta = _obj(doc.get("__twarc"))
    if meta is not None:
        fetch = _line_fetch(meta, fetch)
    items: list[Post | Boost] = []
    try:
        if "data" in doc or "meta" in doc or ("errors" in doc and "id" not in doc):
            error = _v2_response(doc, fetch, items)
        elif "id_str" in doc or "user" in doc:
            error = _v1_tweet(doc, fetch, items)
        elif "id" in doc or "text" in doc or "author_id" in doc or "author" in doc:
            error = _v2_tweet(doc, _V2Context(), fetch, items, doc)
        elif _STREAM_NOTICES.intersection(doc):
            error = None
        else:
            keys = ", ".join(sorted(doc)[:5])
            error = f"not a tweet or a twarc2 response (keys: {keys})"
    except _BadTweet as e:
        error = str(e)
    return TwarcLine(line_no, tuple(items), error)


def _line_fetch(meta: Mapping[str, object], fetch: _Fetch) -> _Fetch:
    retrieved = meta.get("retrieved_at")
    url = meta.get("url")
    return _merge_fetch(
        retrieved if isinstance(retrieved, str) else None,
        url if isinstance(url, str) else None,
        fetch,
    )


# Every line of one twarc2 page (and every flattened tweet from it) repeats its `__twarc`.
@lru_cache(maxsize=256)
def _merge_fetch(retrieved: str | None, url: str | None, fetch: _Fetch) -> _Fetch:
    fetched_at = fetch.fetched_at
    if retrieved:
        parsed = _parse_date(retrieved)
        if parsed is not None:
            fetched_at = parsed[0]
    if fetched_at is fetch.fetched_at and not url:
        return fetch
    return _Fetch(fetched_at, url or fetch.fetched_from)


# --- API v2 ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _V2Context:
    """The ``includes`` of one v2 response, indexed; empty for a flattened tweet."""

    users: dict[str, Mapping[str, object]] = field(default_factory=dict)
    tweets: dict[str, Mapping[str, object]] = field(default_factory=dict)
    media: dict[str, Mapping[str, object]] = field(default_factory=dict)
    data_ids: frozenset[str] = frozenset()
    emitted: set[str] = field(default_factory=set)
    authors: dict[str, tuple[str | None, Author | None]] = field(default_factory=dict)


_NO_REFS: dict[str, tuple[str, Mapping[str, object] | None]] = {}


def _index(objects: list[object], key: str) -> dict[str, Mapping[str, object]]:
    index: dict[str, Mapping[str, object]] = {}
    for value in objects:
        if isinstance(value, dict):
            name = value.get(key)
            if isinstance(name, str):
                index.setdefault(name, value)
    return index


def _v2_response(doc: Mapping[str, object], fetch: _Fetch, items: list[Post | Boost]) -> str | None:
    data = doc.get("data")
    if data is None:
        return None  # an errors-only or empty response (deleted tweets, no results)
    tweets = [data] if isinstance(data, dict) else data
    if not isinstance(tweets, list):
        return "twarc2 response: data is neither a list nor an object"
    includes = _d(doc, "includes")
    ctx = _V2Context(
        users=_index(_l(includes, "users"), "id"),
        # A replied-to or quoted tweet may sit in `data` rather than `includes.tweets`.
        tweets=_index(_l(includes, "tweets") + tweets, "id"),
        media=_index(_l(includes, "media"), "media_key"),
        data_ids=frozenset(
            tweet_id
            for tweet in tweets
            if isinstance(tweet, dict) and (tweet_id := _id(tweet, "id")) is not None
        ),
    )
    errors: list[str] = []
    for n, tweet in enumerate(tweets):
        if not isinstance(tweet, dict):
            errors.append(f"data[{n}]: not an object")
            continue
        try:
            problem = _v2_tweet(tweet, ctx, fetch, items, tweet)
        except _BadTweet as e:
            problem = str(e)
        if problem:
            errors.append(f"data[{n}]: {problem}")
    return "; ".join(errors) or None


def _v2_user(
    tweet: Mapping[str, object], ctx: _V2Context
) -> tuple[str | None, Author | None, str | None]:
    """(username, Author, author_id) of a v2 tweet: embedded ``author`` or includes."""
    author_id = tweet.get("author_id")
    if not isinstance(author_id, str) or not author_id.isdigit():
        author_id = None
    embedded = tweet.get("author")
    if isinstance(embedded, dict):
        username, author = _author(embedded, "username", "id")
        if author is not None:
            return username, author, author_id
    if author_id is not None:
        cached = ctx.authors.get(author_id)
        if cached is None:
            user = ctx.users.get(author_id)
            cached = _author(user, "username", "id") if user is not None else (None, None)
            ctx.authors[author_id] = cached
        return cached[0], cached[1], author_id
    return None, None, None


def _v2_refs(
    tweet: Mapping[str, object], ctx: _V2Context
) -> dict[str, tuple[str, Mapping[str, object] | None]]:
    """type -> (id, the referenced tweet's object when the line holds it)."""
    refs: dict[str, tuple[str, Mapping[str, object] | None]] = {}
    found = tweet.get("referenced_tweets")
    if not isinstance(found, list):
        return refs
    for ref in found:
        if not isinstance(ref, dict):
            continue
        kind = ref.get("type")
        ref_id = _id(ref, "id")
        if not isinstance(kind, str) or ref_id is None or kind in refs:
            continue
        # `twarc2 flatten` merges the referenced tweet into the reference itself.
        refs[kind] = (ref_id, ref if "text" in ref else ctx.tweets.get(ref_id))
    return refs


def _v2_ref_username(ref: Mapping[str, object] | None, ctx: _V2Context) -> str | None:
    if ref is None:
        return None
    return _v2_user(ref, ctx)[0]


def _v2_urls(entities: Mapping[str, object]) -> list[_Url]:
    urls: list[_Url] = []
    for entity in _l(entities, "urls"):
        if not isinstance(entity, dict):
            continue
        short = entity.get("url")
        if not isinstance(short, str) or not short:
            continue
        expanded = entity.get("expanded_url")
        if not isinstance(expanded, str) or not expanded:
            expanded = short
        target = entity.get("unwound_url")
        if not isinstance(target, str) or not target:
            target = expanded
        urls.append((short, expanded, target, "media_key" in entity))
    return urls


def _v2_media(tweet: Mapping[str, object], ctx: _V2Context) -> tuple[str, ...]:
    attachments = _d(tweet, "attachments")
    found: list[Mapping[str, object]] = []
    for media in _l(attachments, "media"):  # flattened: objects embedded
        if isinstance(media, dict):
            found.append(media)
    if not found:
        for key in _l(attachments, "media_keys"):
            media_obj = ctx.media.get(key) if isinstance(key, str) else None
            if media_obj is not None:
                found.append(media_obj)
    urls: dict[str, None] = {}
    for media_obj in found:
        url = str_field(media_obj, "url") or str_field(media_obj, "preview_image_url")
        if url:
            urls.setdefault(url, None)
    return tuple(urls)


def _v2_tweet(
    tweet: Mapping[str, object],
    ctx: _V2Context,
    fetch: _Fetch,
    items: list[Post | Boost],
    raw: object,
) -> str | None:
    """Append the items of one v2 tweet; return a problem with its retweeted original."""
    tweet_id = tweet.get("id")
    if not isinstance(tweet_id, str) or not tweet_id.isascii() or not tweet_id.isdigit():
        tweet_id = _required_id(tweet, "id")  # an integer id, or the error
    refs = _v2_refs(tweet, ctx) if "referenced_tweets" in tweet else _NO_REFS
    retweeted = refs.get("retweeted")
    if retweeted is None:
        if tweet_id not in ctx.emitted:
            ctx.emitted.add(tweet_id)
            items.append(_v2_post(tweet, tweet_id, refs, ctx, fetch, raw))
        return None

    username, booster, booster_id = _v2_user(tweet, ctx)
    created_at = _created_at(tweet)[0]
    original_id, original = retweeted
    original_username = _v2_ref_username(original, ctx)
    if original_username is None:
        text = str_field(tweet, "text") or ""
        prefix = _RT_PREFIX.match(text)
        original_username = prefix.group(1) if prefix else None
    problem = None
    if original is not None and original_id not in ctx.data_ids and original_id not in ctx.emitted:
        try:
            items.append(
                _v2_post(
                    original,
                    original_id,
                    _v2_refs(original, ctx),
                    ctx,
                    fetch,
                    original,
                    known_as=original_username,
                )  # fmt: skip
            )
            ctx.emitted.add(original_id)
        except _BadTweet as e:
            problem = f"retweeted tweet {original_id}: {e}"
    if problem is None and raw is tweet and original is not None and "text" in original:
        raw = _v2_without_embedded_original(tweet)
    uri = tweet_url(username, tweet_id)
    items.append(
        Boost(
            uri=uri,
            post_uri=tweet_url(original_username, original_id),
            booster=booster or _unknown_author(booster_id),
            created_at=created_at,
            sighting=_sighting(tweet_id, uri, fetch),
            raw=_dump(raw),
        )
    )
    return problem


def _v2_without_embedded_original(tweet: Mapping[str, object]) -> dict[str, object]:
    """A flattened retweet's JSON with the retweeted tweet, which `twarc2 flatten` merged
    into its reference, cut back to the API's own ``{"type", "id"}``: the original's JSON
    is kept once, as its post's raw, instead of again in every retweet of it (a retweet's
    raw was twice a tweet's, a fifth of an import's bytes)."""
    refs = [
        {"type": ref["type"], "id": ref["id"]}
        if isinstance(ref, dict) and ref.get("type") == "retweeted" and "text" in ref
        else ref
        for ref in cast(list[object], tweet["referenced_tweets"])
    ]
    return {**tweet, "referenced_tweets": refs}


def _v2_post(
    tweet: Mapping[str, object],
    tweet_id: str,
    refs: Mapping[str, tuple[str, Mapping[str, object] | None]],
    ctx: _V2Context,
    fetch: _Fetch,
    raw: object,
    known_as: str | None = None,
) -> Post:
    # Hot path (every tweet of a backfill archive): plain gets and isinstance, no helpers
    # where a helper would only wrap one lookup.
    text = tweet.get("text")
    entities = tweet.get("entities")
    if not isinstance(entities, dict):
        entities = _EMPTY
    note = tweet.get("note_tweet")  # a long tweet (over 280) keeps its full text here
    if isinstance(note, dict):
        note_text = note.get("text")
        if isinstance(note_text, str) and note_text:
            text = note_text
            entities = _d(note, "entities") or entities
    if not isinstance(text, str):
        raise _BadTweet("missing text")
    created_at, tzless = _created_at(tweet)
    username, author, author_id = _v2_user(tweet, ctx)
    if author is None and known_as is not None:
        # Its author missing from the file (suspended, protected): a retweet's "RT @name:"
        # still names them, and the boost points at that permalink.
        username, author = _make_author(known_as, "", author_id, "")
    if author is None:
        author = _unknown_author(author_id)
    urls = _v2_urls(entities) if "urls" in entities else []

    reply_id = reply_username = quote_id = quote_username = None
    if refs:
        replied = refs.get("replied_to")
        if replied is not None:
            reply_id = replied[0]
            reply_username = _v2_ref_username(replied[1], ctx) or _v2_reply_username(
                tweet, entities, ctx
            )
        quoted = refs.get("quoted")
        if quoted is not None:
            quote_id = quoted[0]
            quote_username = _v2_ref_username(quoted[1], ctx) or _username_in_urls(urls, quote_id)

    # _finish, inlined on this hot path.
    uri = _permalink(username, tweet_id)
    plain, content_html = _render(text, urls)
    flags: tuple[str, ...] = ()
    if tzless or username is None or plain.startswith("RT @"):
        flags = _flags(tzless, username, plain)
    metrics = tweet.get("public_metrics")
    if not isinstance(metrics, dict):
        metrics = _EMPTY
    lang = tweet.get("lang")
    return Post(
        uri=uri,
        url=uri,
        created_at=created_at,
        author=author,
        content_html=content_html,
        text=plain,
        sighting=_sighting(tweet_id, uri, fetch),
        source=SOURCE,
        language=_language(lang) if isinstance(lang, str) else None,
        sensitive=tweet.get("possibly_sensitive") is True,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id,
        quote_uri=_permalink(quote_username, quote_id) if quote_id else None,
        tags=_tags(entities, "tag", text),
        links=_links(urls, tweet_id, quote_id) if urls else (),
        mentions=_mentions(entities, "mentions", text),
        media=_v2_media(tweet, ctx) if "attachments" in tweet else (),
        # `type(...) is int` refuses bools, as _count does.
        boosts=n if type(n := metrics.get("retweet_count")) is int else None,
        replies=n if type(n := metrics.get("reply_count")) is int else None,
        favourites=n if type(n := metrics.get("like_count")) is int else None,
        flags=flags,
        raw=_dump(raw),
    )


def _v2_reply_username(
    tweet: Mapping[str, object], entities: Mapping[str, object], ctx: _V2Context
) -> str | None:
    """The replied-to user's name when the replied tweet itself is not in the line."""
    embedded = _obj(tweet.get("in_reply_to_user"))  # flattened
    if embedded is not None and (name := _username(embedded.get("username"))):
        return name
    user_id = _id(tweet, "in_reply_to_user_id")
    if user_id is None:
        return None
    user = ctx.users.get(user_id)
    if user is not None and (name := _username(user.get("username"))):
        return name
    for mention in _l(entities, "mentions"):
        if isinstance(mention, dict) and _id(mention, "id") == user_id:
            return _username(mention.get("username"))
    return None


# --- API v1.1 --------------------------------------------------------------------------------


def _v1_tweet(doc: Mapping[str, object], fetch: _Fetch, items: list[Post | Boost]) -> str | None:
    original = _obj(doc.get("retweeted_status"))
    if original is None:
        items.append(_v1_post(doc, fetch))
        return None
    tweet_id = _required_id(doc, "id_str", "id")
    username, booster = _author(_d(doc, "user"), "screen_name", "id_str")
    created_at = _created_at(doc)[0]
    original_id = _required_id(original, "id_str", "id")
    original_username = _username(_d(original, "user").get("screen_name"))
    problem = None
    raw: Mapping[str, object] = doc
    try:
        items.append(_v1_post(original, fetch))
        # The original's JSON is its post's raw: the retweet keeps only its ids.
        raw = {
            **doc,
            "retweeted_status": {k: original[k] for k in ("id", "id_str") if k in original},
        }
    except _BadTweet as e:
        problem = f"retweeted_status: {e}"
    uri = tweet_url(username, tweet_id)
    items.append(
        Boost(
            uri=uri,
            post_uri=tweet_url(original_username, original_id),
            booster=booster or _unknown_author(_id(_d(doc, "user"), "id_str")),
            created_at=created_at,
            sighting=_sighting(tweet_id, uri, fetch),
            raw=_dump(raw),
        )
    )
    return problem


def _v1_urls(entities: Mapping[str, object], extended: Mapping[str, object]) -> list[_Url]:
    urls: list[_Url] = []
    for entity in _l(entities, "urls"):
        if isinstance(entity, dict):
            short = entity.get("url")
            if isinstance(short, str) and short:
                # 2010 entities: `url` is the link as typed and `expanded_url` may be null.
                expanded = entity.get("expanded_url")
                if not isinstance(expanded, str) or not expanded:
                    expanded = short
                urls.append((short, expanded, expanded, False))
    media = _l(extended, "media") or _l(entities, "media")
    for entity in media:
        if isinstance(entity, dict):
            short = entity.get("url")
            expanded = entity.get("expanded_url")
            if isinstance(short, str) and short and isinstance(expanded, str) and expanded:
                urls.append((short, expanded, expanded, True))
    return urls


def _v1_media(entities: Mapping[str, object], extended: Mapping[str, object]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for entity in _l(extended, "media") or _l(entities, "media"):
        if isinstance(entity, dict):
            url = str_field(entity, "media_url_https") or str_field(entity, "media_url")
            if url:
                found.setdefault(url, None)
    return tuple(found)


def _v1_post(doc: Mapping[str, object], fetch: _Fetch) -> Post:
    tweet_id = _required_id(doc, "id_str", "id")
    # Text precedence: streaming compat mode's extended_tweet, then tweet_mode=extended's
    # full_text, then the 140-character text.
    extended_tweet = _d(doc, "extended_tweet")
    text = str_field(extended_tweet, "full_text")
    if text:
        entities = _d(extended_tweet, "entities")
        extended = _d(extended_tweet, "extended_entities")
    else:
        text = str_field(doc, "full_text") or str_field(doc, "text")
        entities = _d(doc, "entities")
        extended = _d(doc, "extended_entities")
    if text is None:
        raise _BadTweet("missing text")
    created_at, tzless = _created_at(doc)
    user = _d(doc, "user")
    username, author = _author(user, "screen_name", "id_str")
    urls = _v1_urls(entities, extended)
    flags = ["tz-less date"] if tzless else []
    if doc.get("truncated") is True and not extended_tweet:
        flags.append("truncated text")

    quote_id = _id(doc, "quoted_status_id_str") or _id(doc, "quoted_status_id")
    quote_username = None
    quoted = _obj(doc.get("quoted_status"))
    if quoted is not None:
        quote_id = quote_id or _id(quoted, "id_str") or _id(quoted, "id")
        quote_username = _username(_d(quoted, "user").get("screen_name"))
    if quote_id and quote_username is None:
        permalink = str_field(_d(doc, "quoted_status_permalink"), "expanded") or ""
        match = _STATUS_URL.match(permalink)
        if match and match.group("id") == quote_id:
            quote_username = match.group("user")
        quote_username = quote_username or _username_in_urls(urls, quote_id)
    reply_id = _id(doc, "in_reply_to_status_id_str") or _id(doc, "in_reply_to_status_id")
    reply_username = _username(doc.get("in_reply_to_screen_name"))

    uri, plain, content_html, links, sighting, all_flags = _finish(
        text, urls, tweet_id, username, quote_id, fetch, flags
    )
    return Post(
        uri=uri,
        url=uri,
        created_at=created_at,
        author=author or _unknown_author(_id(user, "id_str") or _id(user, "id")),
        content_html=content_html,
        text=plain,
        sighting=sighting,
        source=SOURCE,
        language=_language(str_field(doc, "lang")),
        sensitive=doc.get("possibly_sensitive") is True,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id,
        quote_uri=_permalink(quote_username, quote_id) if quote_id else None,
        tags=_tags(entities, "text", text),
        links=links,
        mentions=_mentions(entities, "user_mentions", text),
        media=_v1_media(entities, extended),
        boosts=int_field(doc, "retweet_count"),
        replies=int_field(doc, "reply_count"),
        favourites=int_field(doc, "favorite_count"),
        flags=all_flags,
        raw=_dump(doc),
    )


# --- TAGS ------------------------------------------------------------------------------------


def parse_tags_row(
    row: Mapping[str, str], *, line_no: int, fetched_at: datetime, fetched_from: str
) -> TwarcLine:
    """Parse one record of a TAGS archive sheet (column name -> cell) into a TwarcLine.

    The id comes from ``status_url`` when it has one (Excel rounds long ``id_str`` values,
    e.g. to ``1.23457E+17``; a rounded id with no ``status_url`` is an error record).
    ``created_at`` is preferred; the ``time`` column (the sheet's local time, zone unknown)
    is the fallback, flagged ``tz-less date``. ``entities_str`` (v1.1 entities JSON) expands
    links and gives hashtags; without it they are read from the text. ``user_lang`` is the
    account's interface language, not the tweet's, so ``language`` stays None. A retweet
    (``RT @x: …``) keeps no original id in TAGS: it is a Boost whose ``post_uri`` is the
    original author's profile (``https://twitter.com/x``), the post to be found by the store.
    Never raises for bad input.
    """
    fetch = _Fetch(utc(fetched_at), fetched_from)
    try:
        return TwarcLine(line_no, (_tags_post(row, fetch),))
    except _BadTweet as e:
        return TwarcLine(line_no, (), str(e))


def _cell(row: Mapping[str, str], key: str) -> str:
    return (row.get(key) or "").strip()


def _tags_post(row: Mapping[str, str], fetch: _Fetch) -> Post | Boost:
    status = _STATUS_URL.match(_cell(row, "status_url"))
    id_str = _cell(row, "id_str")
    if status is not None:
        tweet_id = status.group("id")
    elif id_str.isascii() and id_str.isdigit():
        tweet_id = id_str
    elif id_str:
        raise _BadTweet(
            f"id_str {id_str!r} is not a whole id (rounded by a spreadsheet?) "
            "and status_url has none"
        )
    else:
        raise _BadTweet("missing id_str and status_url")
    username = _username(_cell(row, "from_user").removeprefix("@"))
    if username is None and status is not None:
        username = status.group("user")
    user_id = _cell(row, "from_user_id_str")
    if not (user_id.isascii() and user_id.isdigit()):
        user_id = ""
    if username is None:
        author = _unknown_author(user_id or None)
    else:
        author = Author(
            handle="@" + username,
            url=f"{TWITTER}/{username}",
            uri=f"{TWITTER}/i/user/{user_id}" if user_id else None,
        )
    text = row.get("text") or ""
    if not text.strip():
        raise _BadTweet("missing text")

    flags: list[str] = []
    created = _cell(row, "created_at")
    parsed = _parse_date(created) if created else None
    if parsed is None:
        local = _cell(row, "time")
        fallback = _parse_tags_time(local) if local else None
        if fallback is None:
            raise _BadTweet(f"bad created_at {created[:40]!r}" if created else "missing created_at")
        parsed = (fallback, True)
    if parsed[1]:
        flags.append("tz-less date")

    entities: Mapping[str, object] = _EMPTY
    entities_str = _cell(row, "entities_str")
    if entities_str:
        try:
            decoded = orjson.loads(entities_str)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            entities = decoded
        else:
            flags.append("bad entities")
    urls = _v1_urls(entities, _EMPTY) if entities else _urls_in_text(text)
    reply_id = _cell(row, "in_reply_to_status_id_str")
    if reply_id and not (reply_id.isascii() and reply_id.isdigit()):
        flags.append("reply id lost")
        reply_id = ""
    reply_username = _username(_cell(row, "in_reply_to_screen_name"))
    uri, plain, content_html, links, sighting, all_flags = _finish(
        text, urls, tweet_id, username, None, fetch, flags
    )
    retweeted = _RT_PREFIX.match(text)
    if retweeted is not None:
        # TAGS' own way of keeping a retweet: its text, no original id. A boost of one of
        # that user's posts (the store finds which one by its text, and a structured copy
        # of this tweet, if one is imported, says what it really is).
        return Boost(
            uri=uri,
            post_uri=f"{TWITTER}/{retweeted.group(1)}",
            booster=author,
            created_at=parsed[0],
            sighting=sighting,
            raw=_dump(dict(row)),
        )
    return Post(
        uri=uri,
        url=uri,
        created_at=parsed[0],
        author=author,
        content_html=content_html,
        text=plain,
        sighting=sighting,
        source=SOURCE,
        in_reply_to_uri=_permalink(reply_username, reply_id) if reply_id else None,
        in_reply_to_local_id=reply_id or None,
        tags=_tags(entities, "text", text),
        links=links,
        mentions=_mentions(entities, "user_mentions", text),
        media=_v1_media(entities, _EMPTY),
        flags=all_flags,
        raw=_dump(dict(row)),
    )
