"""Watching a CLI run's worker processes from a test (Linux /proc)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def first_child(proc: subprocess.Popen[bytes], *, within: float = 20.0) -> str | None:
    """The pid of ``proc``'s first child process once it has one, else None (it ended,
    or ``within`` seconds passed)."""
    deadline = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < deadline:
        tasks = Path(f"/proc/{proc.pid}/task")
        for task in tasks.iterdir():
            children = (task / "children").read_text().split()
            if children:
                return children[0]
        time.sleep(0.01)
    return None


def stops_within(pid: str, seconds: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``seconds``."""
    proc = Path(f"/proc/{pid}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = (proc / "stat").read_text().split()[2]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return not os.path.exists(proc)
