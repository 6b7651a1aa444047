"""What the twarc v1.1, v2 and TAGS readers share: the line result type, tweet permalinks,
the patterns tweets are read with, validated JSON access and Twitter's date formats.

Pure functions: no network, no database, no logging of tweet content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import orjson

from bsarchive.dates import parse_iso_datetime
from bsarchive.models import Boost, Post

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
            return parse_iso_datetime(value)
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
