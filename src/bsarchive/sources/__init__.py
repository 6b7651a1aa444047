"""Sources turn HTTP responses into models. They receive the shared client from
:mod:`bsarchive.http` and the cursor stored for them, and yield :class:`~bsarchive.models.Page`
objects; they never touch the database (an import-linter contract keeps it so)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ParamSpec, Protocol, TypeVar

from bsarchive.http import Http
from bsarchive.models import Cursor, Page, SourceSpec

P = ParamSpec("P")
R = TypeVar("R")


class Offload(Protocol):
    """Runs a pure, CPU-bound function (a feed parse) and returns what it returns or
    raises what it raises: here by default, in a worker process when the run has one."""

    def __call__(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


def in_process(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return fn(*args, **kwargs)


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
    offload: Offload = in_process

    def in_window(self, when: datetime) -> bool:
        if self.since is not None and when < self.since:
            return False
        return not (self.until is not None and when > self.until)


class Source(Protocol):
    """What reads one kind of configured source: pages of items, each with the cursor
    that becomes true once it is stored (``archive._SOURCES`` maps kinds to them)."""

    def __call__(
        self, client: Http, spec: SourceSpec, cursor: Cursor, ctx: FetchContext
    ) -> Iterator[Page]: ...
