"""The fault tests' harness: run the real CLI in a subprocess against a fault server and a
good instance, and measure its exit code, stderr, wall time and peak RSS."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
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


# A small launcher between the test process and the CLI: a child forked straight from
# pytest starts with pytest's resident pages, which its peak RSS then counts (fork copies
# the page tables; exec keeps the high-water mark), so the figure would grow with the test
# session. Forked from this launcher instead, the CLI's peak is its own. It passes the
# CLI's exit status through and writes the peak (kB) to the file it is given.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_cli(cmd: list[str]) -> tuple[int, str, float, float]:
    """Run the CLI; return (exit code, stderr, seconds, peak RSS MB of the CLI process)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        launched = [sys.executable, "-c", _LAUNCHER, str(peak_file), *cmd]
        proc = subprocess.Popen(
            launched, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, stderr = proc.communicate(timeout=TIME_LIMIT + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the CLI
            proc.communicate()
            raise AssertionError(f"the CLI did not finish within {TIME_LIMIT + 30:.0f} s") from None
        elapsed = time.monotonic() - start
        peak_kb = int(peak_file.read_text() or 0)
    return proc.returncode, stderr.decode("utf-8", "replace"), elapsed, peak_kb / 1024


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bsarchive: error:")]
