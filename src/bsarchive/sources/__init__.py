"""Sources turn HTTP responses into models. They receive the shared client from
:mod:`bsarchive.http` and the cursor stored for them, and yield :class:`~bsarchive.models.Page`
objects; they never touch the database (an import-linter contract keeps it so)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bsarchive.http import Http
from bsarchive.models import Cursor, Page, SourceSpec


@dataclass(frozen=True, slots=True)
class FetchContext:
    """What every source needs to know about the run, passed in (no globals)."""

    tags: tuple[str, ...]
    since: datetime | None = None
    until: datetime | None = None
    max_pages: int = 10_000
    include_opted_out: bool = False
    refetch_gone: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def in_window(self, when: datetime) -> bool:
        if self.since is not None and when < self.since:
            return False
        return not (self.until is not None and when > self.until)


class Source(Protocol):
    def __call__(
        self, client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
    ) -> Iterator[Page]: ...
