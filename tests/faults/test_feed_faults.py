"""Hostile feeds: each ends its own source with one line, within bounds, while the good
source's posts are stored. The real CLI runs in a subprocess, as in ``test_faults``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bsarchive.demo import FixtureMastodon

from . import server as faults
from .harness import (
    RSS_LIMIT_MB,
    TIME_LIMIT,
    error_lines,
    fetch_with_fault,
    good_posts,
)


def run_feed(
    scenario: faults.Scenario, good: FixtureMastodon, tmp_path: Path
) -> tuple[int, str, float, float, int, int]:
    """Fetch the fault server as a feed next to a good instance; return (exit code, stderr,
    seconds, peak RSS MB, good posts stored, feed items stored)."""
    rc, err, elapsed, rss, db = fetch_with_fault(
        scenario, lambda url: ["--feed", url + "/feed.xml"], good, tmp_path, "--no-reactions"
    )
    with sqlite3.connect(db) as conn:
        items = conn.execute("SELECT count(*) FROM reactions").fetchone()[0]
    return rc, err, elapsed, rss, good_posts(db, good), items


CASES: list[tuple[str, faults.Scenario, str]] = [
    ("billion laughs", faults.feed_billion_laughs, "declares XML entities"),
    ("XXE", faults.feed_xxe, "declares XML entities"),
    ("50 MB feed", faults.feed_50_mb, "over the cap of"),
    # httpx fails the send itself on such a Location: once a traceback, and a run that
    # never ended (the other sources stopped without saying they were done).
    ("redirect to javascript:", faults.redirect_to_javascript, "redirect to an unusable URL"),
]


@pytest.mark.parametrize(("name", "scenario", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_feed_fails_alone(
    name: str,
    scenario: Callable[..., None],
    message: str,
    good: FixtureMastodon,
    tmp_path: Path,
) -> None:
    rc, stderr, elapsed, rss, good, items = run_feed(scenario, good, tmp_path)
    assert "Traceback" not in stderr, stderr
    assert rc == 1, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("bsarchive: error: http://127.0.0.1:"), lines[0]
    assert message in lines[0], lines[0]
    assert (good, items) == (5, 0)
    assert elapsed < TIME_LIMIT, f"{name} took {elapsed:.1f}s"
    assert rss < RSS_LIMIT_MB, f"{name} peaked at {rss:.0f} MB"


def test_regex_bait_in_author_is_parsed_quickly(good: FixtureMastodon, tmp_path: Path) -> None:
    # Not an error: the author field is cut before feedparser sees it, so both items are kept.
    rc, stderr, elapsed, _, good, items = run_feed(faults.feed_regex_bait, good, tmp_path)
    assert rc == 0, stderr
    assert error_lines(stderr) == []
    assert (good, items) == (5, 2)
    assert elapsed < 20, f"took {elapsed:.1f}s"
