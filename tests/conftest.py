"""Shared test helpers: loopback Mastodon-like servers and a CLI runner.

Every server binds 127.0.0.1 and is stopped by its fixture; no test reaches the network.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bsarchive.cli import app
from bsarchive.demo import FixtureMastodon

# Short limits so failure scenarios end quickly; real defaults are in http.HttpSettings.
FAST_CONFIG = """
connect_timeout = 2
read_timeout = 2
total_timeout = 10
retries = 1
backoff = 0.01
max_wait = 5
"""


@pytest.fixture
def servers() -> Iterator[Callable[..., FixtureMastodon]]:
    started: list[FixtureMastodon] = []

    def start(statuses: Sequence[dict[str, Any]], **kwargs: Any) -> FixtureMastodon:
        server = FixtureMastodon(statuses, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "fast.toml"
    path.write_text(FAST_CONFIG)
    return path


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "event.db"
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
