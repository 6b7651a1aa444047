"""A run killed at any instant loses nothing and repeats nothing; overlapping runs are safe."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fixtures.synthetic import synthetic_instances

from tests.support.cli import FAST_CONFIG


def _cmd(db: Path, config: Path, urls: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "bsarchive", "fetch", "--tag", "bsnopen", "--db", str(db)]
    cmd += ["--config", str(config), "-q"]
    for url in urls:
        cmd += ["--mastodon", url]
    return cmd


def _snapshot(db: Path, urls: list[str]) -> dict[str, Any]:
    # The runs use different server ports; name instances by position instead.
    names = {url.removeprefix("http://"): f"instance{i}" for i, url in enumerate(urls)}
    with sqlite3.connect(db) as conn:
        return {
            # seen_on lists instances in the order they stored the post: compare as sets.
            "posts": [
                (uri, sorted(names[host] for host in seen_on.split()), text)
                for uri, seen_on, text in conn.execute(
                    "SELECT uri, seen_on, text FROM posts ORDER BY uri"
                )
            ],
            "sightings": sorted(
                (uri, names[source], local_id)
                for uri, source, local_id in conn.execute(
                    "SELECT p.uri, s.source, s.local_id FROM sightings s JOIN posts p"
                    " ON p.id = s.post_id"
                )
            ),
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
        }


def test_sigkill_mid_backfill_then_rerun_equals_a_clean_run(servers: Any, tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text(FAST_CONFIG)
    timelines = synthetic_instances(3000, instances=2, shared=0.7)

    clean_servers = [servers(t) for t in timelines]
    clean_urls = [s.url for s in clean_servers]
    clean_db = tmp_path / "clean.db"
    assert subprocess.run(_cmd(clean_db, config, clean_urls), timeout=120).returncode == 0

    slow = [servers(t, latency=0.03) for t in timelines]
    urls = [s.url for s in slow]
    db = tmp_path / "killed.db"
    rng = random.Random(20100629)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(_cmd(db, config, urls))
        time.sleep(rng.uniform(0.4, 1.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 3
    final = subprocess.run(_cmd(db, config, urls), timeout=120)
    assert final.returncode == 0

    got = _snapshot(db, urls)
    want = _snapshot(clean_db, clean_urls)
    assert got["integrity"] == "ok"
    assert len(got["posts"]) == 3000
    assert got == want


def test_overlapping_run_exits_75_or_waits(servers: Any, tmp_path: Path) -> None:
    config = tmp_path / "slow.toml"
    config.write_text(FAST_CONFIG.replace("read_timeout = 2", "read_timeout = 30"))
    (timeline,) = synthetic_instances(100, instances=1)
    reached, release = threading.Event(), threading.Event()

    def hold_first_request(handler: Any, path: str, query: Any) -> bool:
        reached.set()
        release.wait(timeout=30)
        return False

    server = servers(timeline, hook=hold_first_request)
    db = tmp_path / "event.db"
    first = subprocess.Popen(_cmd(db, config, [server.url]))
    waiting = None
    try:
        assert reached.wait(timeout=20), "the first run never reached the server"
        second = subprocess.run(
            _cmd(db, config, [server.url]), capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 75
        assert second.stderr.strip() == (
            f"bsarchive: error: {db}: another bsarchive run is using this archive "
            "(use --wait to wait for it)"
        )
        waiting = subprocess.Popen([*_cmd(db, config, [server.url]), "--wait"])
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        release.set()
        first.wait(timeout=60)
        if waiting is not None:
            waiting.wait(timeout=60)
    assert first.returncode == 0
    assert waiting.returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone() == (100,)


def test_export_during_a_write_sees_a_consistent_snapshot(servers: Any, tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text(FAST_CONFIG)
    (timeline,) = synthetic_instances(400, instances=1)
    server = servers(timeline, latency=0.02)
    db = tmp_path / "event.db"
    writer = subprocess.Popen(_cmd(db, config, [server.url]))
    try:
        counts = []
        deadline = time.monotonic() + 30
        while writer.poll() is None and time.monotonic() < deadline:
            if db.exists():
                out = subprocess.run(
                    [sys.executable, "-m", "bsarchive", "export", "csv", "--db", str(db)],
                    capture_output=True, timeout=30,
                )  # fmt: skip
                if out.returncode == 0:
                    lines = out.stdout.count(b"\r\n") - 1
                    counts.append(lines)
                    # Whole pages only: the writer commits 40 posts at a time.
                    assert lines % 40 == 0, lines
    finally:
        writer.wait(timeout=60)
    assert counts == sorted(counts)


def test_sigterm_stops_cleanly_and_a_rerun_completes(servers: Any, tmp_path: Path) -> None:
    """`timeout` in a crontab and `systemctl stop` send SIGTERM: one line, exit 143, and
    what was stored is kept; the next run finishes the backfill."""
    config = tmp_path / "fast.toml"
    config.write_text(FAST_CONFIG)
    (timeline,) = synthetic_instances(400, instances=1)
    third_request = threading.Event()

    def count(handler: Any, path: str, query: Any) -> bool:
        if len(server.requests) >= 3:
            third_request.set()
        return False

    server = servers(timeline, latency=0.05, hook=count)
    db = tmp_path / "event.db"
    proc = subprocess.Popen(_cmd(db, config, [server.url]), stderr=subprocess.PIPE, text=True)
    third_request.wait(timeout=20)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert stderr == "bsarchive: error: terminated; everything stored so far is kept\n"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    assert kept < 400  # stopped mid-backfill
    assert subprocess.run(_cmd(db, config, [server.url]), timeout=60).returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone() == (400,)
