"""Fault injection: every misbehaviour ends its own source with one line, within bounds,
and the other source's posts are stored. Each case runs the real CLI in a subprocess so
its peak RSS and wall time can be measured."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bsarchive.demo import FixtureMastodon

from . import server as faults

TIME_LIMIT = 60.0
RSS_LIMIT_MB = 300.0
CONFIG = """
connect_timeout = 2
read_timeout = 2
total_timeout = 6
retries = 2
backoff = 0.05
max_wait = 10
"""


def run_against(
    scenario: faults.Scenario, good: FixtureMastodon, tmp_path: Path
) -> tuple[int, str, float, float, int]:
    """Run fetch with the fault server and the good server; return
    (exit code, stderr, seconds, peak RSS MB, posts stored)."""
    rc, err, elapsed, rss, db = fetch_with_fault(
        scenario, lambda url: ["--mastodon", url], good, tmp_path
    )
    return rc, err, elapsed, rss, good_posts(db, good)


def fetch_with_fault(
    scenario: faults.Scenario,
    as_source: Callable[[str], list[str]],
    good: FixtureMastodon,
    tmp_path: Path,
    *extra: str,
) -> tuple[int, str, float, float, Path]:
    """Run fetch with the fault server (given as a source by ``as_source``) before the
    good instance; return (exit code, stderr, seconds, peak RSS MB, archive path)."""
    fault = faults.FaultServer(scenario).start()
    config = tmp_path / "faults.toml"
    config.write_text(CONFIG)
    db = tmp_path / "event.db"
    cmd = [
        sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", str(db),
        "--config", str(config), *extra, *as_source(fault.url), "--mastodon", good.url,
    ]  # fmt: skip
    try:
        rc, err, elapsed, rss = run_cli(cmd)
    finally:
        fault.stop()
    return rc, err, elapsed, rss, db


def good_posts(db: Path, good: FixtureMastodon) -> int:
    """Posts the good instance's sightings account for."""
    with sqlite3.connect(db) as conn:
        count: int = conn.execute(
            "SELECT count(*) FROM sightings WHERE source = ?", (good.url.removeprefix("http://"),)
        ).fetchone()[0]
    return count


def run_cli(cmd: list[str]) -> tuple[int, str, float, float]:
    """Run the CLI; return (exit code, stderr, seconds, peak RSS MB of that child)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stream = proc.stderr
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(stream.read()), daemon=True)
    reader.start()
    deadline = start + TIME_LIMIT + 30
    # os.wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would be the largest of
    # every child the test process has waited for, earlier tests' included).
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the CLI did not finish within {TIME_LIMIT + 30:.0f} s")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    reader.join(timeout=10)
    stream.close()
    return (
        proc.returncode,
        b"".join(chunks).decode("utf-8", "replace"),
        elapsed,
        (usage.ru_maxrss / 1024),
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bsarchive: error:")]


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
    # The 1 GiB inflation must stop at the 10 MiB cap, far below the memory bound.
    rc, stderr, _, rss, _ = run_against(faults.gzip_bomb, good, tmp_path)
    assert rc == 1
    assert rss < 150, rss
