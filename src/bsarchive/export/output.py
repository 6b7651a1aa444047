"""Export files appear whole or not at all: written to a temporary file beside the target
and renamed onto it at the end, so a failed or interrupted export leaves no empty or cut
file behind (and an earlier export of the same name stays as it was). Never touches the
network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder; renamed onto ``path`` when the block ends
    normally, removed when it raises."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
