"""What a person types into ``bsarchive search`` (or ``--search``), as a safe FTS5 query.

FTS5 reads ``#bsnopen`` as a syntax error and ``big-society`` as a column filter; people
type both. :func:`fts_query` quotes every word FTS5 would misread and keeps the syntax of
those who use it: ``AND``/``OR``/``NOT`` (upper case, between two operands), ``"phrases"``,
``prefix*`` and ``( groups )``. Pure: no database, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["fts_query"]

_OPERATORS = frozenset({"AND", "OR", "NOT"})
# A phrase: balanced double quotes (FTS5 escapes a quote inside as two), optional prefix `*`.
_PHRASE = re.compile(r'"((?:[^"]|"")*)"(\*?)')
# FTS5's barewords: ASCII letters, digits, `_`, and any non-ASCII character.
_BAREWORD = re.compile(r"[A-Za-z0-9_\x1a\x80-\U0010ffff]+")


def _has_token(text: str) -> bool:
    """Whether the unicode61 tokenizer finds a word in ``text`` (letters or digits)."""
    return any(ch.isalnum() for ch in text)


def _word(raw: str) -> str | None:
    """One typed word as an FTS5 operand: kept bare where FTS5 reads it as typed, else
    quoted (a trailing ``*`` stays a prefix); None when it holds no word at all."""
    stem = raw.rstrip("*")
    prefix = "*" if stem != raw else ""
    if not _has_token(stem):
        return None
    if _BAREWORD.fullmatch(stem) and stem not in _OPERATORS and stem != "NEAR":
        return stem + prefix
    return '"' + stem.replace('"', '""') + '"' + prefix


def _lex(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` tokens: ``phrase`` (already FTS5), ``word`` (raw), ``(`` and ``)``."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append((ch, ch))
            i += 1
        elif ch == '"' and (m := _PHRASE.match(text, i)):
            if _has_token(m.group(1)):
                tokens.append(("phrase", m.group(0)))
            i = m.end()
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "()":
                # a quote inside a word (`don"t`) is part of it; one opening a phrase ends it
                if text[j] == '"' and j > i and _PHRASE.match(text, j):
                    break
                j += 1
            j = max(j, i + 1)
            tokens.append(("word", text[i:j]))
            i = j
    return tokens


def _is_operand(token: tuple[str, str]) -> bool:
    return token[0] == "phrase" or token[0] == "word" and _word(token[1]) is not None


def _balanced(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``tokens`` without unmatched parentheses and empty groups."""
    keep = [True] * len(tokens)
    opened: list[int] = []
    for i, (kind, _) in enumerate(tokens):
        if kind == "(":
            opened.append(i)
        elif kind == ")":
            if not opened:
                keep[i] = False
                continue
            start = opened.pop()
            if not any(keep[k] and _is_operand(tokens[k]) for k in range(start, i)):
                keep[start] = keep[i] = False
    for i in opened:
        keep[i] = False
    return [token for token, kept in zip(tokens, keep, strict=True) if kept]


def fts_query(text: str) -> str:
    """Turn search text as a person types it into an FTS5 query that means what they typed.

    - Plain words stay words; a word FTS5 would misread (``#bsnopen``, ``big-society``,
      ``don't``, ``@alice@example.social``, ``text:foo``) is quoted, which makes it the
      phrase of its words: ``"big-society"`` finds *big society* and *big-society*.
    - ``"quoted phrases"`` are kept; an unbalanced ``"`` is part of its word.
    - ``AND``, ``OR`` and ``NOT`` (upper case) are operators between two operands; elsewhere
      (``NOT alone``, ``a OR``) they are words. Lower case ``and``/``or``/``not`` are words.
    - ``word*`` and ``"phrase"*`` are prefix searches.
    - ``( )`` group when balanced and not empty, and are dropped otherwise; a group next to
      an operand is joined with ``AND`` (FTS5 has no implicit AND beside a parenthesis).
    - Words with no letter or digit (``-``, ``#``, an emoji) are dropped: the index has
      none. Words in any script stay as typed.

    Returns "" when nothing searchable is left.
    """
    tokens = _balanced(_lex(text))
    out: list[str] = []
    # Whether the last thing written ends an operand (a word, a phrase or a ")").
    after_operand = False
    for i, (kind, raw) in enumerate(tokens):
        if kind == "word" and raw in _OPERATORS:
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            before_operand = following is not None and (
                following[0] == "(" or _is_operand(following) and following[1] not in _OPERATORS
            )
            if after_operand and before_operand:
                out.append(raw)
                after_operand = False
                continue
        if kind == ")":
            out.append(")")
            after_operand = True
            continue
        if kind == "(":
            if after_operand:
                out.append("AND")
            out.append("(")
            after_operand = False
            continue
        operand = raw if kind == "phrase" else _word(raw)
        if operand is None:
            continue
        if after_operand and out and out[-1] == ")":
            out.append("AND")
        out.append(operand)
        after_operand = True
    return " ".join(out)
