"""The real CLI in-process (typer's CliRunner) and the archive it writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bsarchive.cli import app

# Short limits so failure scenarios end quickly; real defaults are in http.HttpSettings.
FAST_CONFIG = """
connect_timeout = 2
read_timeout = 2
total_timeout = 10
retries = 1
backoff = 0.01
max_wait = 5
"""


class Cli:
    """The CLI, and the archive it writes: ``event.db`` in ``tmp_path``, or the PostgreSQL
    database ``url`` names (``rows`` then runs the same SQL there)."""

    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        self.db: Path | str = url if url is not None else tmp_path / "event.db"
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if isinstance(self.db, str):
            import psycopg

            from bsarchive.store import pg_sql

            with psycopg.connect(self.db) as conn:
                return conn.execute(pg_sql(sql), params or None).fetchall()  # type: ignore[call-overload]
        with sqlite3.connect(self.db) as db:
            return db.execute(sql, params).fetchall()


def fetch(
    cli: Cli,
    config: Path,
    *mastodon: str,
    feeds: tuple[str, ...] = (),
    outboxes: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> Any:
    """``bsarchive fetch --tag bsnopen`` into ``cli.db`` with ``config``: each positional
    URL as ``--mastodon``, then the feeds and outboxes, then ``extra`` options as given."""
    args = ["fetch", "--tag", "bsnopen", "--db", str(cli.db), "--config", str(config)]
    for url in mastodon:
        args += ["--mastodon", url]
    for url in feeds:
        args += ["--feed", url]
    for url in outboxes:
        args += ["--outbox", url]
    return cli(*args, *extra)
