"""What an export, the digest and ``search`` select: the filter (window, tags, kinds,
search) and the WHERE-clause tails that apply it, one routine per rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bsarchive.errors import ConfigError
from bsarchive.fts_query import fts_query
from bsarchive.models import iso
from bsarchive.store._columns import COLUMN, DEFAULT_KINDS


@dataclass(frozen=True, slots=True)
class ExportFilter:
    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = DEFAULT_KINDS
    # Search text (``--search``), as a person types it (see :func:`fts_query`): only items
    # whose text matches.
    search: str | None = None


def search_query(text: str) -> str:
    """The FTS5 query for search text as typed (:func:`fts_query`).

    Raises:
        ConfigError: the text is empty or holds no word to search for.
    """
    if not text.strip():
        raise ConfigError("search", "the query is empty")
    query = fts_query(text)
    if not query:
        raise ConfigError("search", f"{text!r} holds no word to search for")
    return query


def _window(column: str, flt: ExportFilter, params: list[Any]) -> str:
    """`` AND column >= since AND column < until`` for the filter's window."""
    clause = ""
    if flt.since is not None:
        clause += f" AND {column} >= ?"
        params.append(iso(flt.since))
    if flt.until is not None:
        clause += f" AND {column} < ?"
        params.append(iso(flt.until))
    return clause


def _reaction_tags(flt: ExportFilter, params: list[Any], reaction_id: str = "r.id") -> str:
    """`` AND`` the reaction (``reaction_id``) is about the filter's tags: it carries one
    (its categories), or a post carrying one links to it. Comments follow their reaction."""
    if not flt.tags:
        return ""
    marks = ",".join("?" * len(flt.tags))
    own = " OR ".join("instr(' ' || r2.tags || ' ', ' ' || ? || ' ') > 0" for _ in flt.tags)
    params.extend(flt.tags)
    params.extend(flt.tags)
    return (
        f" AND {reaction_id} IN (SELECT l.reaction_id FROM reaction_links l"
        " JOIN posts p2 ON p2.uri = l.post_uri JOIN post_tags t ON t.post_id = p2.id"
        f" WHERE t.tag IN ({marks})"
        f" UNION SELECT r2.id FROM reactions r2 WHERE {own})"
    )


def _match(id_column: str, fts: str, flt: ExportFilter, params: list[Any]) -> str:
    """`` AND id IN (rows matching the filter's search)`` when it has one."""
    if not flt.search:
        return ""
    params.append(search_query(flt.search))
    return f" AND {id_column} IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"


def _post_tags(post_id: str, flt: ExportFilter, params: list[Any]) -> str:
    """`` AND`` the post (``post_id``) carries one of the filter's tags."""
    if not flt.tags:
        return ""
    params.extend(flt.tags)
    return (
        f" AND {post_id} IN (SELECT post_id FROM post_tags WHERE tag IN ("
        + ",".join("?" * len(flt.tags))
        + "))"
    )


def _scope(kind: str, flt: ExportFilter, params: list[Any], row: str = "rowid") -> str:
    """`` AND rowid IN (the items of ``kind`` in the filter's window and tags)`` for a
    full-text table's rows (post, reaction or comment; ``row``: their id), "" when the
    filter keeps them all. The window and tags are the exports' rules: the same items,
    the same times."""
    if flt.since is None and flt.until is None and not flt.tags:
        return ""
    time = COLUMN["created_at"].sql[kind]
    if kind == "post":
        tail = _window(time, flt, params) + _post_tags("p.id", flt, params)
        return f" AND {row} IN (SELECT p.id FROM posts p WHERE 1=1{tail})"
    if kind == "reaction":
        tail = _window(time, flt, params) + _reaction_tags(flt, params)
        return f" AND {row} IN (SELECT r.id FROM reactions r WHERE 1=1{tail})"
    tail = _window(time, flt, params) + _reaction_tags(flt, params, "c.reaction_id")
    return f" AND {row} IN (SELECT c.id FROM comments c WHERE 1=1{tail})"
