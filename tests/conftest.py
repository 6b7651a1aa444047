"""Fixtures shared by every test: loopback Mastodon-like servers and a CLI runner.

The helpers themselves live in tests/support/; this file only turns them into pytest
fixtures. Every server binds 127.0.0.1 and is stopped by its fixture; no test reaches the
network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bsarchive.demo import FixtureMastodon
from tests.support import pg
from tests.support.cli import FAST_CONFIG, Cli


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
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name}")
    pg_cluster.admin(f"CREATE DATABASE {name}")
    yield pg_cluster.url(name)
    pg_cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")
