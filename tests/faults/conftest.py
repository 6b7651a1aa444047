"""Fixtures shared by the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon


@pytest.fixture
def good() -> Iterator[FixtureMastodon]:
    """A well-behaved instance next to the misbehaving one: its 5 posts must be stored."""
    statuses = [
        synthetic_status(100 + n, viewer="good.example", local_id=5000 + n) for n in range(5)
    ]
    with FixtureMastodon(statuses) as server:
        yield server
