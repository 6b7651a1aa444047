"""Full-text search (FTS5) over posts, reactions and comments."""

from __future__ import annotations

import csv
import json
import sqlite3
from typing import Any, NamedTuple

from bsarchive.errors import ConfigError, StoreError
from bsarchive.store._base import _REACTION_TIME, StoreBase, _errors
from bsarchive.store._filter import ExportFilter, _scope, search_query

# More matches than this in a search are shown newest first, not ranked (see
# Store.search): bm25 over 73,500 posts took 85-99 ms on a 2-core machine; 60,000 keeps
# every ranked search well under 100 ms.
RANKED_MATCHES_AT_MOST = 60_000


# Full-text search, per kind: its FTS table, and the columns of a SearchHit (the rank
# comes from the query that picked the rows: see SearchMixin._search_one).
# The tables with a full-text index (``<table>_fts``, migrations 2 and 9).
_SEARCHABLE = ("posts", "reactions", "comments")
_SNIPPET = "snippet({t}, -1, '[', ']', '…', 12)"
_SEARCHES = {
    "post": (
        "posts_fts",
        "SELECT 'post', p.id, p.created_at, a.handle, p.url, p.uri,"
        f" {_SNIPPET.format(t='posts_fts')}, NULL FROM posts_fts"
        " JOIN posts p ON p.id = posts_fts.rowid JOIN authors a ON a.id = p.author_id",
    ),
    "reaction": (
        "reactions_fts",
        f"SELECT 'reaction', r.id, {_REACTION_TIME}, r.author, r.url, r.url,"
        f" {_SNIPPET.format(t='reactions_fts')}, NULL"
        " FROM reactions_fts JOIN reactions r ON r.id = reactions_fts.rowid",
    ),
    "comment": (
        "comments_fts",
        "SELECT 'comment', c.id, coalesce(c.created_at, c.fetched_at), c.author, c.url, c.uri,"
        f" {_SNIPPET.format(t='comments_fts')}, NULL"
        " FROM comments_fts JOIN comments c ON c.id = comments_fts.rowid",
    ),
}
# Mastodon gives a reply's parent only as an id local to the instance that served it: find


# What ``search`` looks through unless told otherwise: posts, reactions and comments.
_EVERYTHING = ExportFilter(kinds=("post", "reaction", "comment"))


class SearchHit(NamedTuple):
    """One full-text match: what it is, when, who, where, its identity (``uri``: as the
    exports' ``uri`` column), and the matching words in ``[brackets]``; a lower ``rank``
    (FTS5 bm25) is a better match, None when there were too many matches to rank (see
    :meth:`Store.search`)."""

    kind: str
    id: int
    created_at: str | None
    author: str
    url: str | None
    uri: str
    snippet: str
    rank: float | None


def _is_query_error(e: sqlite3.OperationalError) -> bool:
    """True when SQLite rejected the FTS5 query text rather than failed itself."""
    text = str(e)
    return text.startswith(
        ("fts5:", "no such column", "unknown special query", "unterminated")
    ) or ("syntax error" in text)


def _searchable(flt: ExportFilter) -> None:
    """Raise ConfigError when the filter asks for a kind with no text to search."""
    other = [kind for kind in flt.kinds if kind not in _SEARCHES]
    if other:
        raise ConfigError(
            "--kind", f"search looks through post, reaction and comment, not {other[0]}"
        )


def best_first(hits: list[SearchHit], *, ranked: bool, limit: int) -> list[SearchHit]:
    """The ``limit`` best of the kinds' hits together: by rank (then time, no time first)
    as SQL would order them, or newest first when some kind had too many to rank."""
    if ranked:
        hits.sort(key=lambda h: (h.rank or 0.0, h.created_at is not None, h.created_at or ""))
    else:
        hits.sort(key=lambda h: h.created_at or "", reverse=True)
    return hits[:limit]


class SearchMixin(StoreBase):
    """Queries over ``posts_fts``, ``reactions_fts``, ``comments_fts``."""

    # -- full-text search (issue 8) ---------------------------------------------------------

    def fts_tables(self) -> dict[str, str | None]:
        """Each searchable table's full-text index as sqlite-utils finds it (its
        ``Table.detect_fts``, the rule Datasette's ``_search`` follows too), None where it
        finds none: what ``doctor`` checks, so ``sqlite-utils search`` works on the archive.
        """
        # Imported here: sqlite-utils costs 55 ms to import, half a command's start-up.
        # Its import also raises the csv module's field size limit for the whole process;
        # the TAGS reader counts on the default, so it is put back.
        limit = csv.field_size_limit()
        import sqlite_utils

        csv.field_size_limit(limit)
        # On our connection, changing nothing: no recursive triggers, no plugins.
        database = sqlite_utils.Database(self.db, recursive_triggers=False, execute_plugins=False)
        with _errors("read full-text indexes", self.path):
            return {table: database.table(table).detect_fts() for table in _SEARCHABLE}

    def check_search(self, query: str | None) -> str | None:
        """The FTS5 query for search text ``query`` as typed (:func:`fts_query`), checked
        against the index; None for None.

        Raises:
            ConfigError: nothing searchable in ``query``, or FTS5 refuses it.
        """
        if query is None:
            return None
        fts = search_query(query)
        try:
            self.db.execute(
                "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? LIMIT 1", (fts,)
            ).fetchall()
        except sqlite3.OperationalError as e:
            if _is_query_error(e):
                raise ConfigError(
                    "search", f"{e}", hint='see FTS5 query syntax; quote phrases with "..."'
                ) from None
            raise StoreError(str(self.path), f"search failed: {e}") from e
        return fts

    def search(
        self,
        query: str,
        flt: ExportFilter = _EVERYTHING,
        *,
        limit: int = 20,
        rank_at_most: int = RANKED_MATCHES_AT_MOST,
    ) -> list[SearchHit]:
        """Posts, reactions and comments whose text matches ``query`` (search text as
        typed: :func:`fts_query`), best first (FTS5 ``bm25`` rank), at most ``limit``;
        only the kinds, window and tags ``flt`` keeps (its ``search`` is not used).

        When more than ``rank_at_most`` items of a kind match (the event's own hashtag
        matches every post), the most recently archived come first instead, newest first:
        bm25 scores every match before it can pick the best (about a second per million),
        and a word in most posts would only rank them by length.

        Raises:
            ConfigError: nothing to search for in the query, or a kind with no text index.
        """
        _searchable(flt)
        fts = self.check_search(query)
        assert fts is not None
        hits: list[SearchHit] = []
        ranked = True
        with _errors("search", self.path):
            for kind, (table, select) in _SEARCHES.items():
                if kind in flt.kinds:
                    scope: list[Any] = []
                    where = _scope(kind, flt, scope)
                    found, by_rank = self._search_one(
                        table, select, fts, (where, scope), limit, rank_at_most
                    )
                    hits += found
                    ranked = ranked and by_rank
        return best_first(hits, ranked=ranked, limit=limit)

    def _search_one(
        self,
        table: str,
        select: str,
        query: str,
        scope: tuple[str, list[Any]],
        limit: int,
        rank_at_most: int,
    ) -> tuple[list[SearchHit], bool]:
        """The best ``limit`` matches in one FTS table among the rows ``scope`` (a WHERE
        tail on ``rowid`` and its parameters) keeps, and whether they were ranked.

        The matches are picked by rowid first and only those get a snippet: computed in the
        ranking query, snippet() ran for every match before the sort (0.4 s for 70,000).
        """
        where, params = scope
        # Counting reads the term's list of rows only: ~30 ms for a million matches.
        matches = self.db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ?{where} LIMIT ?)",
            (query, *params, rank_at_most + 1),
        ).fetchone()[0]
        by_rank = matches <= rank_at_most
        # bm25 counts every match of each term before scoring (0.4 s for a million):
        # only when ranking, and once.
        picked = self.db.execute(
            f"SELECT rowid, rank FROM {table} WHERE {table} MATCH ?{where} ORDER BY rank LIMIT ?"
            if by_rank
            else f"SELECT rowid, NULL FROM {table} WHERE {table} MATCH ?{where}"
            " ORDER BY rowid DESC LIMIT ?",
            (query, *params, limit),
        ).fetchall()
        if not picked:
            return [], by_rank
        ranks: dict[int, float | None] = dict(picked)
        # One more pass over the matches (a seek per rowid is no faster: FTS5 walks the
        # term's list to each), snippets made only for the rows picked.
        rows = self.db.execute(
            f"{select} WHERE {table} MATCH ? AND {table}.rowid IN (SELECT value FROM json_each(?))",
            (query, json.dumps(list(ranks))),
        ).fetchall()
        return [SearchHit(*row)._replace(rank=ranks[row[1]]) for row in rows], by_rank

    # -- imports (issue 8) ----------------------------------------------------------------
