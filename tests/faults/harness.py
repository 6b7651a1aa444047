"""The fault tests' harness: run the real CLI in a subprocess against a fault server and a
good instance, and measure its exit code, stderr, wall time and peak RSS."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
