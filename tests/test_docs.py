"""Every command has help text and appears in the README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from bsarchive.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands() -> list[tuple[str, Any]]:
    root: Any = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return sorted(found, key=lambda item: item[0])


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[n for n, _ in _commands()])
def test_command_is_documented(name: str, command: Any) -> None:
    assert (command.help or "").strip(), f"{name} has no help text"
    assert f"bsarchive {name}" in README, f"README does not mention `bsarchive {name}`"
