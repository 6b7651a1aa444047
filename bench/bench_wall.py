"""Time one render of the live wall (``watch --serve``) on a large archive.

Builds an archive of POSTS posts with bench_export's generator (bsarchive's schema, rows
inserted directly), then times, from a read-only connection as the watch's render thread
reads, what one wall render reads and renders, best of REPEAT; with peak RSS. Asserts
nothing. Usage: ``python bench/bench_wall.py [--posts 100000] [--repeat 5] [--db PATH]``
(``--db``: keep the built archive there and reuse it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_export import _build_in_child  # noqa: E402

from bsarchive.export import build  # noqa: E402
from bsarchive.export.digest import render_wall  # noqa: E402
from bsarchive.store import Store  # noqa: E402

# bench_export dates 100,000 posts 2010-06-29 00:00-01:40: "now" just after them.
NOW = datetime(2010, 6, 29, 1, 45, tzinfo=UTC)


def render(store: Store) -> str:
    data = build.wall_data(store, title="#bsnopen", tags=["bsnopen"], now=NOW)
    return render_wall(data, now=NOW, refresh=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "wall.db"
        if not db.exists():
            _build_in_child(db, args.posts)
        with Store(db, readonly=True) as store:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                page = render(store)
                times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wall render on {args.posts:,} posts: best {min(times) * 1000:.0f} ms, "
          f"worst {max(times) * 1000:.0f} ms of {args.repeat}; page {len(page):,} bytes; "
          f"peak RSS {peak:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
