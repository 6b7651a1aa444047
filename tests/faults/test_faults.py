"""Fault injection: every misbehaviour ends its own source with one line, within bounds,
and the other source's posts are stored. Each case runs the real CLI in a subprocess so
its peak RSS and wall time can be measured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bsarchive.demo import FixtureMastodon

from . import server as faults
from .harness import (
    RSS_LIMIT_MB,
    TIME_LIMIT,
    error_lines,
    run_against,
)

CASES: list[tuple[str, faults.Scenario, int, str]] = [
    ("429 Retry-After seconds", faults.rate_limited_seconds, 0, ""),
    ("429 Retry-After HTTP-date", faults.rate_limited_http_date, 0, ""),
    ("503 flapping", faults.flapping_503, 0, ""),
    ("503 always", faults.always_503, 1, "HTTP 503"),
    ("stalled after headers", faults.stalled, 1, "read timeout"),
    ("reset mid-body", faults.reset_mid_body, 1, "connection broken mid-response"),
    ("truncated JSON", faults.truncated_json, 1, "malformed JSON"),
    ("HTML challenge page", faults.html_challenge, 1, "expected JSON, got text/html"),
    ("gzip bomb", faults.gzip_bomb, 1, "over the cap of"),
    ("endless chunked body", faults.endless_chunked, 1, ""),
    ("redirect loop", faults.redirect_loop, 1, "too many redirects"),
    ("10-hop redirect chain", faults.redirect_chain, 1, "too many redirects"),
    ("invalid UTF-8 and NUL", faults.invalid_utf8_and_nul, 0, ""),
    ("deeply nested JSON", faults.deeply_nested, 1, ""),
    (
        "Link header to another host",
        faults.link_to_other_host,
        1,
        "Link header points to another host",
    ),
]


@pytest.mark.parametrize(("name", "scenario", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_fault(
    name: str,
    scenario: Callable[..., None],
    code: int,
    message: str,
    good: FixtureMastodon,
    tmp_path: Path,
) -> None:
    rc, stderr, elapsed, rss, stored = run_against(scenario, good, tmp_path)
    assert "Traceback" not in stderr, stderr
    assert rc == code, stderr
    assert stored == 5, stderr  # the other source's posts are all stored
    lines = error_lines(stderr)
    if code:
        assert len(lines) == 1, stderr
        assert message in lines[0], lines[0]
        assert "127.0.0.1" in lines[0]  # names the instance
    else:
        assert lines == [], stderr
    assert elapsed < TIME_LIMIT, f"{name} took {elapsed:.1f}s"
    assert rss < RSS_LIMIT_MB, f"{name} peaked at {rss:.0f} MB"


def test_gzip_bomb_stays_small(good: FixtureMastodon, tmp_path: Path) -> None:
    # The 1 GiB inflation must stop at the 10 MiB cap, far below the memory bound (the run
    # peaks at ~70 MB; an inflation past the cap would be over 1,000 MB).
    rc, stderr, _, rss, _ = run_against(faults.gzip_bomb, good, tmp_path)
    assert rc == 1
    assert rss < 150, rss
