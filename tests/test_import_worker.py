"""The import pipeline: a large file is parsed in a forked process while this one writes.

The same files imported with the parser in a worker process and in this process give the
same archive and the same report (malformed lines with their numbers, an unreadable file).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bsarchive import archive
from bsarchive.store import IMPORT_BATCH, Store
from tests.support.processes import first_child, stops_within
from tests.support.twarc import twarc2_lines

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the worker is forked (Linux)")

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def flat_lines(count: int) -> list[bytes]:
    """``count`` flattened tweets by 40 authors, every fifth a retweet of the one before."""
    lines = []
    for n in range(count):
        tweet: dict[str, object] = {
            "id": str(17350000000 + n),
            "created_at": f"2010-06-29T18:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            "text": f"Note {n} from the open night #bsnopen",
            "author": {"id": str(900 + n % 40), "username": f"guest_{n % 40}"},
            "entities": {"hashtags": [{"start": 0, "end": 8, "tag": "bsnopen"}]},
        }
        if n % 5 == 4:
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": str(17350000000 + n - 1)}]
            tweet["text"] = f"RT @guest_{(n - 1) % 40}: Note {n - 1}"
        lines.append(json.dumps(tweet).encode())
    return lines


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            "posts": conn.execute(
                "SELECT p.uri, p.text, p.created_at, a.handle, p.raw FROM posts p"
                " JOIN authors a ON a.id = p.author_id ORDER BY p.uri"
            ).fetchall(),
            "boosts": conn.execute("SELECT uri, post_uri FROM boosts ORDER BY uri").fetchall(),
            "sightings": conn.execute(
                "SELECT p.uri, s.local_id FROM sightings s JOIN posts p ON p.id = s.post_id"
                " ORDER BY 1"
            ).fetchall(),
            "search": conn.execute(
                "SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'note' ORDER BY rowid"
            ).fetchall(),
        }


def run(tmp_path: Path, name: str, files: list[Path], worker: bool) -> list[archive.ImportResult]:
    with Store(tmp_path / f"{name}.db") as store:
        return archive.run_import(
            store,
            files,
            "twarc",
            now=lambda: NOW,
            worker_min_bytes=0 if worker else 1 << 62,
        )


def test_worker_and_in_process_imports_give_the_same_archive(tmp_path: Path) -> None:
    lines = flat_lines(IMPORT_BATCH + 1200)  # two batches, so two messages from the worker
    lines[7] = b'{"id": "1", "text": '  # malformed: line 8
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n".join(lines) + b"\n")
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"\n".join(twarc2_lines()) + b"\n")
    missing = tmp_path / "missing.jsonl"

    forked = run(tmp_path, "forked", [big, small, missing], worker=True)
    here = run(tmp_path, "here", [big, small, missing], worker=False)

    report = [(r.path.name, r.items, r.new, r.bad[:1], r.error) for r in forked]
    assert report == [(r.path.name, r.items, r.new, r.bad[:1], r.error) for r in here]
    assert report[0][:3] == ("big.jsonl", IMPORT_BATCH + 1199, IMPORT_BATCH + 1199)
    assert report[0][3][0][0] == 8
    assert report[1][:2] == ("small.jsonl", 4)
    assert report[2][4] is not None and report[2][4].startswith(f"{missing}: cannot read")
    got, want = snapshot(tmp_path / "forked.db"), snapshot(tmp_path / "here.db")
    assert got == want
    # small.jsonl reuses two tweet ids of big.jsonl under other user names: a tweet is its
    # id, so they are two sightings of posts already there.
    assert (len(got["posts"]), len(got["boosts"]), len(got["search"])) == (8_959, 2_241, 8_959)


def test_the_parser_does_not_outlive_a_killed_import(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n".join(flat_lines(60_000)) + b"\n")
    assert big.stat().st_size >= archive.PARSE_IN_WORKER_BYTES
    cmd = [sys.executable, "-m", "bsarchive", "import", "twarc", str(big)]
    proc = subprocess.Popen([*cmd, "--db", str(tmp_path / "event.db")])
    try:
        worker = first_child(proc)
        assert worker is not None, "the import never started its parser"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert stops_within(worker, 10)
