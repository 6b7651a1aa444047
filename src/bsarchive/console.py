"""What the CLI shows: error lines, the run summary, rich progress and tables, logging setup.

Owned by ``cli.py``; library modules never print. Everything here writes to stderr except
tables a command was asked for (``stats``), which go to stdout.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bsarchive.discovery import server_state
from bsarchive.errors import BsarchiveError

if TYPE_CHECKING:  # types only: importing the run loop would slow every command's start
    from bsarchive.archive import Progress, ProgressCallback, RunResult
    from bsarchive.store import SearchHit, Stats
    from bsarchive.watch import WatchResult

err = Console(stderr=True, highlight=False, soft_wrap=True)


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        """`bsarchive stats | head`: the reader stopped reading, which is not a failure
        (rich's default exits 1); cli._run turns this into exit 0."""
        self.quiet = True
        raise BrokenPipeError


out = _StdoutConsole(highlight=False, soft_wrap=True)


def error_line(e: BsarchiveError | str) -> None:
    """``bsarchive: error: <subject>: <what happened> (<hint>)`` on stderr, one line."""
    print(f"bsarchive: error: {e}", file=sys.stderr)


# The name of the handlers a command adds (and takes away at its end).
_HANDLER = "bsarchive"


def setup_logging(verbose: int, quiet: bool, log_file: Path | None = None) -> None:
    level = (
        logging.ERROR
        if quiet
        else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    )
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER)
    handler.setFormatter(logging.Formatter("bsarchive: %(levelname)s: %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if log_file else level)
    if log_file:
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.set_name(_HANDLER)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        file_handler.setLevel(logging.INFO if verbose < 2 else logging.DEBUG)
        root.addHandler(file_handler)
    # httpx logs every request URL at INFO; keep that to -vv (URLs carry no tokens, but
    # they are noise for cron mail).
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def end_logging() -> None:
    """At the end of a command: close the ``--log-file`` and take away the handlers
    :func:`setup_logging` added, so that nothing logs later (another thread, a command
    run in the same process) through a stream the command has finished with."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) or handler.get_name() == _HANDLER:
            if isinstance(handler, logging.FileHandler):
                handler.close()
            root.removeHandler(handler)


@contextmanager
def fetch_progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress display on a TTY; nothing otherwise."""
    if not enabled or not err.is_terminal:
        yield None
        return
    with RichProgress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
        transient=True,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}
        totals: dict[str, int] = {}

        def update(p: Progress) -> None:
            if p.source not in tasks:
                tasks[p.source] = bar.add_task(p.source, total=None)
                totals[p.source] = 0
            totals[p.source] += p.new
            state = "failed" if p.error else ("done" if p.done else "fetching")
            bar.update(tasks[p.source], description=f"{p.source}: {totals[p.source]} new ({state})")

        yield update


@contextmanager
def watch_status(enabled: bool) -> Iterator[Callable[[WatchResult], None] | None]:
    """One status line on a TTY for ``watch`` (posts a minute, each instance's mode, the
    last store's age); nothing otherwise (systemd, a log file: the mode lines suffice)."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from datetime import UTC, datetime

    from rich.live import Live
    from rich.text import Text

    with Live(Text("watch: starting"), console=err, transient=True, auto_refresh=False) as live:

        def update(r: WatchResult) -> None:
            age = (
                f"{(datetime.now(UTC) - r.last_stored).total_seconds():.0f}s ago"
                if r.last_stored
                else "nothing yet"
            )
            modes = "; ".join(
                f"{key.split('//', 1)[-1]}: {words.split(' (', 1)[0].split(' http', 1)[0]}"
                for key, words in sorted(r.modes.items())
            )
            line = (
                f"watch: {r.new} new, {r.updated} updated, {r.deleted} deleted, "
                f"{r.per_minute:.0f} posts/min, last stored {age} | {modes}"
            )
            live.update(Text(line, overflow="ellipsis", no_wrap=True), refresh=True)

        yield update


def summary(result: RunResult, quiet: bool) -> None:
    for failed in result.failures:
        error_line(failed.error or failed.key)
    if quiet:
        return
    sources = len(result.results)
    line = (
        f"bsarchive: {sources} source{'s' if sources != 1 else ''}: {result.new} new, "
        f"{result.updated} updated, {result.reactions} reactions"
    )
    if result.skipped:
        line += f", {result.skipped} outside the window or opted out"
    if result.failures:
        line += f", {len(result.failures)} failed"
    if result.held:
        line += f", {len(result.held)} left to another run"
    if result.reaction_failures:
        line += f", {result.reaction_failures} linked pages or comment feeds unreadable (see above)"
    print(line, file=sys.stderr)


def stats_tables(s: Stats) -> None:
    t = Table(title="Archive", show_header=False)
    for name, value in (
        ("posts", s.posts),
        ("boosts", s.boosts),
        ("people", s.authors),
        ("reactions", s.reactions),
        ("comments", s.comments),
        ("edited", s.edited),
        ("deleted", s.deleted),
        ("first post", s.first or "-"),
        ("last post", s.last or "-"),
        ("schema version", s.schema_version),
    ):
        t.add_row(name, str(value))
    out.print(t)
    _table("Top authors", ("author", "name", "posts"), s.top_authors)
    _table("Top links", ("link", "posts"), s.top_links)
    _table("Top tags", ("tag", "posts"), s.top_tags)
    _table("Posts per hour (UTC)", ("hour", "posts"), s.per_hour[-48:])
    _table("Instances", ("seen on", "posts", "only there"), s.per_instance)
    _table(
        "Discovered servers",
        ("server", "state"),
        [(host, server_state(ok, sw, why, n)) for host, ok, sw, why, n in s.servers],
    )
    _table(
        "Sources",
        (
            "source", "health", "last success", "last error at", "last error", "items",
            "requests", "waited s",
        ),
        [
            (
                src["key"],
                _health(src),
                src["last_success_at"] or "-",
                src["last_error_at"] or "-",
                (src["last_error"] or "")[:80],
                src["items"],
                src["requests"],
                f"{src['waited']:.1f}",
            )
            for src in s.sources
        ],
    )  # fmt: skip


def _health(src: dict[str, Any]) -> str:
    """``ok``, ``failing`` (the last attempt failed), ``gone`` (410) or ``never ran``."""
    if src["gone"]:
        return "gone"
    error_at, success_at = src["last_error_at"], src["last_success_at"]
    if error_at and (not success_at or error_at >= success_at):
        return "failing"
    # Comment feeds are read inside the reaction pass, which keeps their cursors and
    # request counts but no run result: having answered is being ok.
    return "ok" if success_at or src.get("requests") else "never ran"


def stats_document(s: Stats) -> dict[str, Any]:
    """``stats --json``: a stable document (fixed key order, lists of objects, no
    dataclass internals); adding keys is compatible, renaming them is not."""
    return {
        "schema_version": s.schema_version,
        "counts": {
            "posts": s.posts,
            "boosts": s.boosts,
            "people": s.authors,
            "reactions": s.reactions,
            "comments": s.comments,
            "edited": s.edited,
            "deleted": s.deleted,
        },
        "first_post_at": s.first,
        "last_post_at": s.last,
        "top_authors": [{"author": a, "name": name, "posts": n} for a, name, n in s.top_authors],
        "top_links": [{"url": url, "posts": n} for url, n in s.top_links],
        "top_tags": [{"tag": tag, "posts": n} for tag, n in s.top_tags],
        "per_hour": [{"hour": hour, "posts": n} for hour, n in s.per_hour],
        "per_instance": [
            {"source": source, "posts": n, "only_here": only or 0}
            for source, n, only in s.per_instance
        ],
        "sources": [
            {
                "key": src["key"],
                "health": _health(src),
                "last_success_at": src["last_success_at"],
                "last_error_at": src["last_error_at"],
                "last_error": src["last_error"],
                "items": src["items"],
                "requests": src["requests"],
                "waited_seconds": round(float(src["waited"]), 3),
                "gone": bool(src["gone"]),
                "backfill_done": bool(src["backfill_done"]),
            }
            for src in s.sources
        ],
        "servers": [
            {
                "server": host,
                "state": server_state(usable, software, reason, posts),
                "archived": usable,
                "posts": posts,
                "software": software or None,
                "reason": reason or None,
            }
            for host, usable, software, reason, posts in s.servers
        ],
        "runs": s.runs,
    }


def stats_json(s: Stats) -> str:
    return json.dumps(stats_document(s), indent=2, ensure_ascii=False)


def _table(title: str, columns: tuple[str, ...], rows: Any) -> None:
    rows = list(rows)
    if not rows:
        return
    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for row in rows:
        t.add_row(*(str(v) if v is not None else "" for v in row))
    out.print(t)


def search_table(hits: Sequence[SearchHit]) -> None:
    """``bsarchive search``: the matches as a table, best first (the snippet's text is
    shown as written: its [brackets] are not rich markup)."""
    t = Table("kind", "created_at", "author", "snippet", title=f"{len(hits)} matches")
    for hit in hits:
        t.add_row(hit.kind, hit.created_at or "", hit.author, escape(hit.snippet))
    out.print(t)


def doctor_table(checks: Any) -> None:
    t = Table(title="bsarchive doctor")
    for column in ("check", "", "detail", "what to do"):
        t.add_column(column, overflow="fold")
    for c in checks:
        t.add_row(c.name, "ok" if c.ok else "FAIL", c.detail, c.fix)
    out.print(t)
