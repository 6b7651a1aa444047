"""Fixtures shared by every test: loopback Mastodon-like servers and a CLI runner.

The helpers themselves live in tests/support/; this file only turns them into pytest
fixtures. Every server binds 127.0.0.1 and is stopped by its fixture; no test reaches the
network.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bsarchive.dburl import DatabaseUrl
from bsarchive.demo import FixtureMastodon
from bsarchive.store import PgStore, Store
from tests.support import pg
from tests.support.cli import FAST_CONFIG, Cli

# pytest-httpserver's werkzeug logs each request from its own thread, to whatever stderr
# was current when it first logged: a CLI run's captured stream, closed by the next one.
logging.getLogger("werkzeug").disabled = True


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


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI writing a SQLite file, then (a second run of the test) a PostgreSQL database."""
    if request.param == "sqlite":
        return Cli(tmp_path)
    return Cli(tmp_path, request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.Cluster | str]:
    """One throwaway PostgreSQL server for the session, or why there is none."""
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(pg.cluster())
        except pg.Unavailable as e:
            yield str(e)
            return
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: pg.Cluster | str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the session's server (the test skips where there is none)."""
    if isinstance(pg_cluster, str):
        pytest.skip(f"PostgreSQL unavailable: {pg_cluster}")
    name = f"t{abs(hash(request.node.nodeid)) % 10**12}"
    yield pg_cluster.fresh(name)
    pg_cluster.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_cluster: pg.Cluster | str
) -> Iterator[Callable[[str], Store]]:
    """Open a new, empty archive by name, on each engine in turn (the store's behaviour is
    the same on both); PostgreSQL's turn skips, saying why, where there is no server."""
    opened: list[Store] = []
    databases: list[str] = []

    def make(name: str = "a") -> Store:
        if request.param == "sqlite":
            store = Store(tmp_path / f"{name}.db")
        else:
            if isinstance(pg_cluster, str):
                pytest.skip(f"PostgreSQL unavailable: {pg_cluster}")
            database = f"s{abs(hash((request.node.nodeid, name))) % 10**12}"
            store = PgStore(DatabaseUrl(pg_cluster.fresh(database)))
            databases.append(database)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if not isinstance(pg_cluster, str):
        for database in databases:
            pg_cluster.drop(database)
