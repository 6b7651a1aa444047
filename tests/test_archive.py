"""The fetch loop (archive._Drain): every source's pages stored as they come, and the run
ends whatever a source does, a bug in one included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bsarchive.archive import RunResult, _Drain
from bsarchive.config import Settings
from bsarchive.errors import AuthRequiredError
from bsarchive.http import Http
from bsarchive.models import Author, Cursor, Page, Post, Sighting
from bsarchive.sources import FetchContext
from bsarchive.store import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def page(key: str, n: int) -> Page:
    uri = f"https://a.example/users/al/statuses/{n}"
    post = Post(
        uri, None, NOW, Author("@al@a.example"), "<p>#bsnopen</p>", "#bsnopen",
        Sighting("a.example", str(n), None, NOW, "https://a.example/api"), tags=("bsnopen",),
    )  # fmt: skip
    return Page(key, (post,), Cursor(newest=str(n)), requests=1)


def test_a_bug_in_one_source_ends_the_run_without_losing_the_others_pages(
    tmp_path: Path,
) -> None:
    second_page_asked = threading.Event()

    def slow() -> Iterator[Page]:
        yield page("slow", 1)
        second_page_asked.set()
        ctx.stop.wait(5)  # still fetching when the other source's failure stops the run
        yield page("slow", 2)

    def buggy() -> Iterator[Page]:
        second_page_asked.wait(5)
        raise RuntimeError("a bug")
        yield  # pragma: no cover  (a generator)

    ctx = FetchContext(tags=("bsnopen",))
    jobs = [("slow", slow), ("buggy", buggy)]
    outcome: list[object] = []

    def run() -> None:  # in a thread, so that a hang fails the test instead of the suite
        with Store(tmp_path / "a.db") as store, Http() as http:
            try:
                _Drain(store, http, ctx, RunResult(), None, lambda: NOW, Settings()).run(jobs)
            except RuntimeError as e:
                outcome.append(e)
            outcome.append(store.db.execute("SELECT count(*) FROM posts").fetchone()[0])

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(10)
    # The slow source saw the stop after its request and said it was done: no hang.
    assert not runner.is_alive(), "the run never ended"
    assert [str(o) for o in outcome] == ["a bug", "1"]


def test_a_failed_source_comes_back_as_its_error_and_best_effort_keeps_the_run_whole(
    tmp_path: Path,
) -> None:
    refused = AuthRequiredError("https://b.example #bsnopen", "HTTP 401", status=401)

    def ok() -> Iterator[Page]:
        yield page("ok", 1)
        yield page("ok", 2)

    def failing() -> Iterator[Page]:
        raise refused
        yield  # pragma: no cover  (a generator)

    ctx = FetchContext(tags=("bsnopen",))
    with Store(tmp_path / "a.db") as store, Http() as http:
        for best_effort in (False, True):
            result = RunResult()
            drain = _Drain(store, http, ctx, result, None, lambda: NOW, Settings(),
                           best_effort=best_effort)  # fmt: skip
            errors = drain.run([("ok", ok), ("failing", failing)])
            # The error stays an exception object until it is shown.
            assert errors == {"failing": refused} and errors["failing"].status == 401
            outcome = {r.key: (r.requests, r.error) for r in result.results}
            expected = None if best_effort else str(refused)
            assert outcome == {"ok": (2, None), "failing": (0, expected)}
            assert result.exit_code == (0 if best_effort else 1)
        assert store.db.execute("SELECT count(*) FROM posts").fetchone()[0] == 2
