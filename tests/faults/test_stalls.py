"""Stalls under the DEFAULT timeouts (issue 15): unlike the other fault tests, no fast
configuration. A server that sends its headers and then nothing, and one that drips a byte
every two seconds, each end their own source with one line within a minute, while a 10 MB
feed over a slow but steady link and a good instance, fetched in the same run, come through.
The three servers run in one CLI run, in parallel, to keep the wall time to one minute."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from bsarchive.demo import FixtureMastodon

from . import server as faults
from .harness import RSS_LIMIT_MB, error_lines, good_posts, run_cli

# The brief: a stalled source fails within 60 s, with the defaults.
STALL_LIMIT = 60.0


@pytest.mark.slow
def test_stalls_end_within_a_minute_and_a_slow_large_feed_comes_through(
    good: FixtureMastodon, tmp_path: Path
) -> None:
    silent = faults.FaultServer(faults.silent_after_headers).start()
    dripping = faults.FaultServer(faults.dripping).start()
    steady = faults.FaultServer(faults.steady_10_mb_feed).start()
    urls = {"silent": silent.url, "dripping": dripping.url}
    config = tmp_path / "defaults.toml"
    config.write_text("# every setting at its default\n")
    db = tmp_path / "event.db"
    cmd = [
        sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", str(db),
        "--config", str(config), "--no-reactions",
        "--feed", f"{silent.url}/feed.xml", "--feed", f"{dripping.url}/feed.xml",
        "--feed", f"{steady.url}/feed.xml", "--mastodon", good.url,
    ]  # fmt: skip
    try:
        rc, stderr, elapsed, rss = run_cli(cmd)
    finally:
        for server in (silent, dripping, steady):
            server.stop()
    assert "Traceback" not in stderr, stderr
    assert rc == 1, stderr
    lines = sorted(error_lines(stderr))
    assert len(lines) == 2, stderr
    by_server = {
        urls["silent"]: "no data for 30s (read timeout)",
        urls["dripping"]: "response stalled",
    }
    for line in lines:
        url = next(u for u in by_server if line.startswith(f"bsarchive: error: {u}/feed.xml"))
        assert by_server.pop(url) in line, line
    # One request each: a stall is not retried.
    assert (silent.hits, dripping.hits, steady.hits) == (1, 1, 1)
    with sqlite3.connect(db) as conn:
        items = conn.execute("SELECT count(*) FROM reactions").fetchone()[0]
    assert items == faults.STEADY_ITEMS  # the 10 MB feed, whole
    assert good_posts(db, good) == 5
    assert elapsed < STALL_LIMIT, f"the run took {elapsed:.1f}s"
    assert rss < RSS_LIMIT_MB, f"peaked at {rss:.0f} MB"
