"""The export data model: every column an export can carry, defined once.

Each :class:`ExportColumn` names its type, whether it is a list, what it means and the SQL
that reads it for each kind of item. The store builds every export query from this table;
the CSV, JSONL, Parquet and xlsx writers follow its types; ``bsarchive export schema`` and
the README's data dictionary print it. A kind that a column does not name reads NULL.

Aliases in the SQL, per kind: ``post`` ``p`` (posts) and ``a`` (its author); ``reaction``
``r``; ``comment`` ``c`` and ``r`` (its reaction); ``boost`` ``b`` and ``a`` (the booster);
``version`` ``v`` (post_versions), ``p`` (the post) and ``a`` (its author).

Lists are read as their stored text, one space between items (no item holds a space: tags,
URLs, uris and handles), which is also their CSV and xlsx form; JSON and Parquet get real
lists. A list column may name its JSON array directly (``json_sql``) where an item could
hold a space (a reaction's site name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "integer", "boolean", "timestamp", "object"]

# Every kind of row an export can hold, in the order rows of one time are merged.
KINDS: tuple[str, ...] = ("post", "reaction", "comment", "boost", "version")
# The kinds an export holds unless --kind says otherwise.
DEFAULT_KINDS: tuple[str, ...] = ("post", "reaction", "comment")
# How CSV and xlsx join a list column's items.
LIST_SEPARATOR = " "


@dataclass(frozen=True, slots=True)
class ExportColumn:
    name: str
    type: ColumnType
    meaning: str
    sql: Mapping[str, str]
    is_list: bool = False
    # Text that came from elsewhere: quoted in CSV, neutralised for spreadsheets.
    remote: bool = False
    # In the default column set (``--columns default``).
    default: bool = False
    # A list's JSON array per kind where splitting the stored text would be wrong.
    json_sql: Mapping[str, str] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind in KINDS if kind in self.sql)


def _every(expression: str) -> dict[str, str]:
    return dict.fromkeys(KINDS, expression)


_POSTS = ("post", "version")  # kinds whose p/a aliases are a post and its author


def _posts(expression: str, **more: str) -> dict[str, str]:
    return {**dict.fromkeys(_POSTS, expression), **more}


# The thread's root as far as it is archived: follow in_reply_to through archived posts;
# the last uri reached (an archived root, or the first parent we do not have) is the key.
_CONVERSATION = """(WITH RECURSIVE up(uri, parent, depth) AS (
        SELECT p.uri, p.in_reply_to_uri, 0
        UNION ALL
        SELECT coalesce(q.uri, up.parent), q.in_reply_to_uri, up.depth + 1
        FROM up LEFT JOIN posts q ON q.uri = up.parent
        WHERE up.parent IS NOT NULL AND up.depth < 10000
    ) SELECT uri FROM up ORDER BY depth DESC LIMIT 1)"""

_SIGHTINGS = """(SELECT json_group_array(json_object(
        'server', s.source, 'local_id', s.local_id, 'url', s.url,
        'first_seen_at', s.first_seen_at, 'last_seen_at', s.last_seen_at))
    FROM (SELECT * FROM sightings s WHERE s.post_id = p.id
          ORDER BY s.first_seen_at, s.source, s.local_id) s)"""


def json_array_sql(x: str) -> str:
    """SQL turning space-joined text ``x`` (a plain reference) into a JSON array: the
    common none and one item without string surgery (a third of the time on a big export)."""
    escaped = f"replace(replace({x}, '\\', '\\\\'), '\"', '\\\"')"
    return (
        f"CASE WHEN {x} IS NULL THEN NULL WHEN {x} = '' THEN json_array()"
        f" WHEN instr({x}, ' ') = 0 THEN json_array({x})"
        f" ELSE json('[\"' || replace({escaped}, ' ', '\",\"') || '\"]') END"
    )


_TEXT = {
    "post": "p.text",
    "reaction": "r.title || CASE WHEN r.excerpt != '' THEN char(10) || r.excerpt ELSE '' END",
    "comment": "c.text",
    "version": "v.text",
}
_FETCHED_AT = {
    "post": "p.fetched_at",
    "reaction": "r.fetched_at",
    "comment": "c.fetched_at",
    "boost": "b.fetched_at",
    "version": "v.recorded_at",
}


def _json_items(joined: str, item: str) -> str:
    """A JSON array of ``item`` (SQL over ``value``) for each item of space-joined text
    ``joined``, as text (`'' ||` drops SQLite's JSON subtype, so JSON exports carry the
    string as CSV does); NULL when there is none (twarc-csv leaves such a cell empty)."""
    return (
        f"(SELECT '' || json_group_array({item}) FROM json_each({json_array_sql(joined)})"
        " HAVING count(*) > 0)"
    )


COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn(
        "kind", "string",
        "What the row is: post, reaction (a blog post linking to the conversation), comment"
        " (on a reaction), boost (`--kind boost`) or version (an earlier text of an edited"
        " post, `--kind version`).",
        {kind: f"'{kind}'" for kind in KINDS}, default=True,
    ),
    ExportColumn(
        "id", "string",
        "The item's row in its kind's table (text; a post, a reaction and a comment may"
        " share one). Not an identity across archives: use `uri`.",
        {"post": "p.id", "reaction": "r.id", "comment": "c.id", "boost": "b.id",
         "version": "v.id"},
        default=True,
    ),
    ExportColumn(
        "uri", "string",
        "The item's identity: a post's ActivityPub uri (the same on every server), a"
        " reaction's url, a boost's activity uri; for a version, the edited post's uri.",
        {"post": "p.uri", "reaction": "r.url", "comment": "c.uri", "boost": "b.uri",
         "version": "p.uri"},
        remote=True, default=True,
    ),
    ExportColumn(
        "url", "string", "Where a person reads the item on the web.",
        _posts("p.url", reaction="r.url", comment="c.url"), remote=True, default=True,
    ),
    ExportColumn(
        "created_at", "timestamp",
        "When the item was posted (UTC): a reaction's published time, else when it was"
        " first seen; a comment's time, else when it was fetched; a boost's time; for a"
        " version, when its text was written (its edit time, else the post's time).",
        {"post": "p.created_at", "reaction": "coalesce(r.published_at, r.first_seen_at)",
         "comment": "coalesce(c.created_at, c.fetched_at)", "boost": "b.created_at",
         "version": "coalesce(v.edited_at, p.created_at)"},
        default=True,
    ),
    ExportColumn(
        "author", "string",
        "The author's handle (`@user@domain` on the fediverse); a boost's booster.",
        _posts("a.handle", reaction="r.author", comment="c.author", boost="a.handle"),
        remote=True, default=True,
    ),
    ExportColumn(
        "author_name", "string", "The author's display name.",
        _posts("a.name", reaction="r.author", comment="c.author", boost="a.name"),
        remote=True, default=True,
    ),
    ExportColumn(
        "text", "string",
        "Plain text: a post's or comment's text, a reaction's title and excerpt (a line"
        " apart), a version's earlier text.",
        _TEXT, remote=True, default=True,
    ),
    ExportColumn(
        "tags", "string", "Hashtags (lower case, without `#`); a reaction's categories.",
        {"post": "p.tags", "reaction": "r.tags", "comment": "''"},
        is_list=True, remote=True, default=True,
    ),
    ExportColumn(
        "links", "string",
        "Links a post shares (canonical URLs, in order); a reaction's comment feed.",
        {"post": "p.links", "reaction": "r.comments_feed"},
        is_list=True, remote=True, default=True,
    ),
    ExportColumn(
        "in_reply_to", "string", "The uri of the post (or comment) this one replies to.",
        {"post": "p.in_reply_to_uri", "comment": "c.in_reply_to"}, remote=True, default=True,
    ),
    ExportColumn(
        "boosts", "integer",
        "Boosts: the largest count any server reported (a post seen on several servers"
        " keeps the maximum seen).",
        {"post": "p.boosts"}, default=True,
    ),
    ExportColumn(
        "replies", "integer",
        "Replies: the largest count any server reported; for a reaction, the comment"
        " count its blog states (empty when it states none).",
        {"post": "p.replies", "reaction": "r.comment_count"}, default=True,
    ),
    ExportColumn(
        "favourites", "integer", "Favourites: the largest count any server reported.",
        {"post": "p.favourites"}, default=True,
    ),
    ExportColumn(
        "source", "string",
        "What the item was read from: mastodon, activitypub, rss, twarc, tags, ...; blog"
        " for reactions and comments.",
        _posts("p.source", reaction="'blog'", comment="'blog'", boost="b.source"),
        remote=True, default=True,
    ),
    ExportColumn(
        "seen_on", "string",
        "Servers and feeds the post was seen on; for a reaction, its site's name (one item,"
        " which may hold spaces).",
        {"post": "p.seen_on", "reaction": "r.site_name"},
        is_list=True, remote=True, default=True,
        json_sql={"reaction": "json_array(r.site_name)"},
    ),
    ExportColumn(
        "reaction_to", "string",
        "What the item responds to: for a reaction, the posts that linked to it; for a"
        " comment, its reaction's url; for a boost, the boosted post's uri.",
        {"reaction": "(SELECT group_concat(post_uri, ' ') FROM reaction_links l"
         " WHERE l.reaction_id = r.id)",
         "comment": "r.url", "boost": "b.post_uri"},
        is_list=True, remote=True, default=True,
    ),
    ExportColumn(
        "edited_at", "timestamp",
        "When the post was last edited; for a version, the edit that made its text (empty"
        " for the original text).",
        {"post": "p.edited_at", "version": "v.edited_at"}, default=True,
    ),
    ExportColumn(
        "deleted_at", "timestamp", "When we saw the post deleted (its text is kept).",
        {"post": "p.deleted_at"}, default=True,
    ),
    ExportColumn(
        "fetched_at", "timestamp",
        "When this copy was fetched; for a version, when it was recorded.",
        _FETCHED_AT, default=True,
    ),
    ExportColumn(
        "fetched_from", "string", "The URL this copy was fetched from.",
        {"post": "p.fetched_from", "reaction": "r.fetched_from",
         "comment": "c.fetched_from", "boost": "b.fetched_from"},
        remote=True, default=True,
    ),
    ExportColumn(
        "version", "string", "The bsarchive version that stored the item.",
        {"post": "p.version", "reaction": "r.version", "comment": "c.version",
         "boost": "b.version"},
        default=True,
    ),
    # Beyond the default set: ask with --columns (or a preset).
    ExportColumn(
        "username", "string", "The handle without its leading `@`.",
        _posts("ltrim(a.handle, '@')", reaction="r.author", comment="c.author",
               boost="ltrim(a.handle, '@')"),
        remote=True,
    ),
    ExportColumn(
        "language", "string", "The language the author or the page declared (BCP 47).",
        _posts("p.language", reaction="r.language"), remote=True,
    ),
    ExportColumn(
        "visibility", "string", "public, unlisted, ... as the server said.",
        _posts("p.visibility"), remote=True,
    ),
    ExportColumn(
        "sensitive", "boolean", "Marked sensitive by its author.", _posts("p.sensitive"),
    ),
    ExportColumn(
        "spoiler_text", "string", "The content warning, empty when none.",
        {"post": "p.spoiler_text", "version": "v.spoiler_text"}, remote=True,
    ),
    ExportColumn(
        "author_indexable", "boolean",
        "The author opted in to search (empty: their server did not say); the booster's"
        " for a boost.",
        _posts("a.indexable", boost="a.indexable"),
    ),
    ExportColumn(
        "author_discoverable", "boolean",
        "The author opted in to the profile directory (empty: not said); the booster's for"
        " a boost.",
        _posts("a.discoverable", boost="a.discoverable"),
    ),
    ExportColumn(
        "mentions", "string",
        "Accounts the post mentions, as `@user@domain` resolved from each mention's profile"
        " address (not the server-relative acct); the address itself when it has no"
        " known shape.",
        {"post": "(SELECT group_concat(bs_handle(m.url), ' ') FROM post_mentions m"
         " WHERE m.post_id = p.id)"},
        is_list=True, remote=True,
    ),
    ExportColumn(
        "boosted_by", "string",
        "Handles of the accounts whose boosts of the post we stored, oldest boost first.",
        {"post": "(SELECT group_concat(h, ' ') FROM (SELECT a2.handle AS h FROM boosts b2"
         " JOIN authors a2 ON a2.id = b2.booster_id WHERE b2.post_uri = p.uri"
         " ORDER BY b2.created_at, a2.handle))"},
        is_list=True, remote=True,
    ),
    ExportColumn(
        "in_reply_to_author", "string",
        "The handle of the author of the post replied to, when that post is archived.",
        {"post": "(SELECT a2.handle FROM posts p2 JOIN authors a2 ON a2.id = p2.author_id"
         " WHERE p2.uri = p.in_reply_to_uri)"},
        remote=True,
    ),
    ExportColumn(
        "conversation", "string",
        "The thread's key: the uri of its root as far as it is archived (following"
        " `in_reply_to` through archived posts; the first parent not archived ends the"
        " walk and is the key). Posts with one key are one thread.",
        {"post": _CONVERSATION}, remote=True,
    ),
    ExportColumn(
        "first_seen_at", "timestamp", "When we first saw the item.",
        _posts("p.first_seen_at", reaction="r.first_seen_at", comment="c.fetched_at"),
    ),
    ExportColumn(
        "local_id", "string",
        "The id the post had where it was first seen (a status id on one server, a tweet"
        " id).",
        {"post": "(SELECT s.local_id FROM sightings s WHERE s.post_id = p.id"
         " ORDER BY s.first_seen_at, s.source LIMIT 1)"},
        remote=True,
    ),
    ExportColumn(
        "sightings", "object",
        "Every server and feed the post was seen on: objects with server, local_id, url,"
        " first_seen_at and last_seen_at, first seen first (JSON text in CSV and xlsx).",
        {"post": _SIGHTINGS}, is_list=True, remote=True,
    ),
    ExportColumn(
        "flags", "string",
        "Doubts recorded about the item's data, as stored (one text; a flag may hold a"
        " space): `tz-less date` (a time without a zone, taken as UTC), `bad date` (the"
        " fetch time stands in), `bad edited_at`, `bad updated date` (the value was not"
        " kept).",
        {"post": "p.flags", "reaction": "r.flags", "comment": "c.flags"}, remote=True,
    ),
    # twarc-csv's forms of the facts above, for the `twarc` preset (DocNow/twarc-csv writes
    # lists as JSON arrays, a newline in text as `\n`, booleans as True/False, times as
    # Python's isoformat).
    ExportColumn(
        "twarc_text", "string",
        "`text` as twarc-csv writes it: a carriage return dropped, a newline as the two"
        " characters `\\n`, so one item is one line.",
        {kind: f"replace(replace({expr}, char(13), ''), char(10), '\\n')"
         for kind, expr in _TEXT.items()},
        remote=True,
    ),
    ExportColumn(
        "twarc_hashtags", "string",
        "A post's hashtags as twarc-csv's `entities.hashtags`: a JSON array of `#tag` (empty"
        " when none).",
        {"post": _json_items("p.tags", "'#' || value")}, remote=True,
    ),
    ExportColumn(
        "twarc_urls", "string",
        "A post's links as twarc-csv's `entities.urls`: a JSON array of URLs (empty when"
        " none).",
        {"post": _json_items("p.links", "value")}, remote=True,
    ),
    ExportColumn(
        "twarc_mentions", "string",
        "The `mentions` as twarc-csv's `entities.mentions`: a JSON array of `@user@domain`"
        " (empty when none).",
        {"post": "(SELECT '' || json_group_array(bs_handle(m.url)) FROM post_mentions m"
         " WHERE m.post_id = p.id HAVING count(*) > 0)"},
        remote=True,
    ),
    ExportColumn(
        "twarc_in_reply_to_username", "string",
        "`in_reply_to_author` without its leading `@`, as twarc-csv's `in_reply_to_username`.",
        {"post": "(SELECT ltrim(a2.handle, '@') FROM posts p2 JOIN authors a2"
         " ON a2.id = p2.author_id WHERE p2.uri = p.in_reply_to_uri)"},
        remote=True,
    ),
    ExportColumn(
        "twarc_sensitive", "string",
        "`sensitive` as twarc-csv's `possibly_sensitive`: True or False.",
        _posts("CASE WHEN p.sensitive THEN 'True' WHEN p.sensitive IS NOT NULL"
               " THEN 'False' END"),
    ),
    ExportColumn(
        "twarc_retrieved_at", "string",
        "`fetched_at` as twarc's `__twarc.retrieved_at`: Python's isoformat"
        " (`2010-07-01T09:00:00.000000+00:00`).",
        {kind: f"CASE WHEN length({expr}) = 24 THEN substr({expr}, 1, 23) || '000+00:00'"
         f" ELSE {expr} END" for kind, expr in _FETCHED_AT.items()},
    ),
    ExportColumn(
        "raw", "string",
        "The stored source payload (status or activity JSON, or what was read from a feed"
        " entry or page); `export jsonl --raw` parses it back.",
        {"post": "p.raw", "reaction": "r.raw", "comment": "c.raw", "boost": "b.raw",
         "version": "v.raw"},
        remote=True,
    ),
)  # fmt: skip

COLUMN: dict[str, ExportColumn] = {column.name: column for column in COLUMNS}
EXPORT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.default)
ARCHIVE_COLUMNS: tuple[str, ...] = tuple(COLUMN)


def inner_sql(column: ExportColumn, kind: str, lists: Literal["joined", "json"]) -> str:
    """SQL reading ``column`` for ``kind``: a list in JSON form is its ``json_sql`` where it
    names one, else the joined text (turned into an array by the outer select)."""
    if lists == "json" and kind in column.json_sql:
        return column.json_sql[kind]
    return column.sql.get(kind, "NULL")


def data_dictionary() -> str:
    """The columns as a Markdown table: the README's data dictionary and
    ``bsarchive export schema``."""
    lines = [
        "| column | type | list | kinds | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for c in COLUMNS:
        kinds = ", ".join(c.kinds) if len(c.kinds) < len(KINDS) else "all"
        lines.append(
            f"| `{c.name}` | {c.type} | {'list' if c.is_list else ''} | {kinds} |"
            f" {'yes' if c.default else ''} | {c.meaning} |"
        )
    return "\n".join(lines) + "\n"
