"""watch.run_watch in process: batching, and reading the archive while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bsarchive.config import Settings, load_settings
from bsarchive.store import Store
from bsarchive.watch import WRITER_CACHE_KIB, WatchOptions, WatchResult, run_watch
from tests.support.streaming import TOKEN, StreamingMastodon, status


def _settings(server: StreamingMastodon, db: Path) -> Settings:
    return load_settings(
        cli={"tags": ["bsnopen"], "mastodon": [server.url], "db": db},
        env={"BSARCHIVE_MASTODON_TOKEN": TOKEN},
    )


def _watching(
    settings: Settings,
    stop: threading.Event,
    results: list[WatchResult],
    trace: Callable[[str], None] | None = None,
) -> threading.Thread:
    """run_watch in a thread of its own (the store is used by the thread that opens it)."""

    def work() -> None:
        with Store(settings.db) as store:
            store.db.set_trace_callback(trace)
            results.append(run_watch(settings, store, WatchOptions(), stop=stop))

    t = threading.Thread(target=work)
    t.start()
    return t


def _count(db: Path, within: float, want: int) -> int:
    deadline = time.monotonic() + within
    with Store(db, readonly=True) as reader:
        while True:
            n = int(reader.db.execute("SELECT count(*) FROM posts").fetchone()[0])
            if n >= want or time.monotonic() > deadline:
                return n
            time.sleep(0.02)


def test_a_burst_of_events_is_stored_in_a_few_transactions(tmp_path: Path) -> None:
    stop = threading.Event()
    statements: list[str] = []
    results: list[WatchResult] = []
    with StreamingMastodon([status(0, 1000)]) as server:
        settings = _settings(server, tmp_path / "event.db")
        t = _watching(settings, stop, results, statements.append)
        try:
            assert server.wait_connections(1)
            assert _count(settings.db, 20, 1) == 1
            before = statements.count("COMMIT")
            # The writer lives as long as the event: its page cache is kept small.
            assert f"PRAGMA cache_size = -{WRITER_CACHE_KIB}" in statements
            burst = "".join(
                f"event: update\ndata: {json.dumps(status(n, 1000 + n))}\n\n" for n in range(1, 501)
            )
            server.raw(burst.encode())  # 500 posts in one go
            assert _count(settings.db, 30, 501) == 501
            burst_commits = statements.count("COMMIT") - before
        finally:
            stop.set()
            t.join(timeout=30)
    assert not t.is_alive()
    assert results[0].new == 501
    # 500 one-post pages, at most 256 a transaction, as fast as they arrive.
    assert burst_commits <= 25, burst_commits


def test_the_archive_is_readable_while_watching(tmp_path: Path) -> None:
    stop = threading.Event()
    out: dict[str, bytes] = {}
    with StreamingMastodon([status(n, 1000 + n) for n in range(1, 6)]) as server:
        settings = _settings(server, tmp_path / "event.db")
        t = _watching(settings, stop, [])
        try:
            assert server.wait_connections(1)
            assert _count(settings.db, 20, 5) == 5
            for name, args in {
                "export": ["export", "jsonl"],
                "stats": ["stats", "--json"],
                "search": ["search", "open night", "--json"],
                "digest": ["digest"],
            }.items():
                done = subprocess.run(
                    [sys.executable, "-m", "bsarchive", *args, "--db", str(settings.db)],
                    capture_output=True, timeout=60,
                )  # fmt: skip
                assert done.returncode == 0, (name, done.stderr)
                out[name] = done.stdout
        finally:
            stop.set()
            t.join(timeout=30)
    assert len(out["export"].splitlines()) == 5
    assert len(out["search"].splitlines()) == 5
    assert b"Post 5 from" in out["digest"]
