"""Opt-out rules: each signal, the opt-ins that are not opt-outs, and the override."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bsarchive.models import Author, Cursor, Page, Post, Sighting
from bsarchive.policy import is_opted_out, screen_page

WHEN = datetime(2010, 6, 29, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("author", "opted_out"),
    [
        (Author("@a@x.example"), False),
        (Author("@a@x.example", noindex=True), True),
        (Author("@a@x.example", noindex=False, indexable=True), False),
        # indexable is an opt-in to search (false by default since Mastodon 4.2): not an opt-out
        (Author("@a@x.example", indexable=False), False),
        (Author("@a@x.example", indexable=False, discoverable=False), False),
        (Author("@a@x.example", indexable=False, noindex=True), True),
        (Author("@a@x.example", bio="Community organiser. #nobot"), True),
        (Author("@a@x.example", bio="#NoIndex please"), True),
        (Author("@a@x.example", bio="I like #nobotswanted and #robots"), False),
        (Author("@a@x.example", bio="see example.com/#nobot"), False),
    ],
)
def test_opt_out_signals(author: Author, opted_out: bool) -> None:
    assert is_opted_out(author) is opted_out


def _post(uri: str, author: Author) -> Post:
    sighting = Sighting("x.example", "1", None, WHEN, "https://x.example/api")
    return Post(uri, None, WHEN, author, "", "", sighting)


def test_screen_page_counts_and_override() -> None:
    page = Page(
        "k",
        (_post("u1", Author("@a@x.example")), _post("u2", Author("@b@x.example", noindex=True))),
        Cursor(newest="9"),
    )
    screened = screen_page(page, include_opted_out=False)
    assert [p.uri for p in screened.items] == ["u1"]  # type: ignore[union-attr]
    assert (screened.skipped, screened.cursor) == (1, Cursor(newest="9"))
    assert screen_page(page, include_opted_out=True) is page
