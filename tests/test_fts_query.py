"""Search text as people type it, turned into FTS5 queries (bsarchive.fts_query): unit
tests of the pure function with literal inputs, then each output checked against SQLite's
own FTS5 parser over a literal index."""

from __future__ import annotations

import sqlite3

import pytest

from bsarchive.fts_query import fts_query

CASES = [
    # plain words and people's spellings
    ("sticky notes", "sticky notes"),
    ("#bsnopen", '"#bsnopen"'),
    ("big-society", '"big-society"'),
    ("#big-society tea", '"#big-society" tea'),
    ("don't", '"don\'t"'),
    ("@alice@example.social", '"@alice@example.social"'),
    ("text:foo", '"text:foo"'),
    # quotes: phrases kept, a stray quote is part of its word
    ('"big society"', '"big society"'),
    ('"big society" tea', '"big society" tea'),
    ('"unclosed', '"""unclosed"'),
    ('don"t panic', '"don""t" panic'),
    ('say "hi', 'say """hi"'),
    # operators between operands only; lower case is a word
    ("tea OR coffee", "tea OR coffee"),
    ("tea NOT coffee", "tea NOT coffee"),
    ("tea AND coffee", "tea AND coffee"),
    ("tea and coffee", "tea and coffee"),
    ("NOT coffee", '"NOT" coffee'),
    ("tea OR", 'tea "OR"'),
    ("AND OR", '"AND" "OR"'),
    ("tea AND OR coffee", 'tea "AND" OR coffee'),
    ("NEAR(a b)", '"NEAR" AND ( a b )'),
    # prefixes
    ("slid*", "slid*"),
    ("big-soc*", '"big-soc"*'),
    ('"big soc"*', '"big soc"*'),
    # groups: balanced kept (AND beside them), unbalanced or empty dropped
    ("(tea OR coffee) cake", "( tea OR coffee ) AND cake"),
    ("cake (tea OR coffee)", "cake AND ( tea OR coffee )"),
    ("((tea)", "( tea )"),
    ("tea ( ) cake", "tea cake"),
    ("tea)", "tea"),
    # non-Latin scripts stay as typed
    ("Большое общество", "Большое общество"),
    ("Большое-общество", '"Большое-общество"'),
    ("大きな社会", "大きな社会"),
    ("#大きな社会", '"#大きな社会"'),
    ("مجتمع كبير", "مجتمع كبير"),
    ("café", "café"),
    # nothing searchable
    ("", ""),
    ("   ", ""),
    ("-", ""),
    ("# - !", ""),
    ('""', ""),
    ("😀", ""),
]


@pytest.mark.parametrize(("typed", "query"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_typed_text_becomes_a_query(typed: str, query: str) -> None:
    assert fts_query(typed) == query


@pytest.fixture
def index() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')")
    db.executemany(
        "INSERT INTO t (rowid, text) VALUES (?, ?)",
        [
            (1, "Tea and sticky notes at #bsnopen"),
            (2, "The big-society tag, and the Big Society Network"),
            (3, "Большое общество и чай"),
            (4, "大きな社会"),
            (5, "Don't panic: coffee"),
            (6, "Cafe NEAR the station"),
        ],
    )
    return db


MATCHES = [
    ("#bsnopen", [1]),
    ("big-society", [2]),
    ('"big society"', [2]),
    ("big-soc*", [2]),
    ("don't", [5]),
    ('"unclosed', []),
    ("tea OR coffee", [1, 5]),
    ("tea NOT sticky", []),
    ("(tea OR coffee) panic", [5]),
    ("NOT coffee", []),
    ("общество", [3]),
    ("Большое-общество", [3]),
    ("大きな社会", [4]),
    ("café", [6]),
    ("NEAR", [6]),
]


@pytest.mark.parametrize(("typed", "rows"), MATCHES, ids=[m[0] for m in MATCHES])
def test_queries_are_valid_fts5_and_find_what_was_typed(
    index: sqlite3.Connection, typed: str, rows: list[int]
) -> None:
    found = index.execute(
        "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (fts_query(typed),)
    ).fetchall()
    assert [r for (r,) in found] == rows


def test_every_mix_of_syntax_characters_is_valid_fts5(index: sqlite3.Connection) -> None:
    """Every string of up to three pieces from FTS5's special characters, operators and
    words: each gives a query FTS5 accepts (or nothing to search for)."""
    pieces = ["a", "OR", "NOT", "(", ")", '"', "*", "-", "#", ":", "^", "+", " ", "日", "NEAR"]
    checked = 0
    for x in pieces:
        for y in pieces:
            for z in pieces:
                query = fts_query(x + y + z)
                if query:
                    index.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
                    checked += 1
    assert checked > 2000
