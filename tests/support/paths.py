"""Where the fixture data lives: the top-level fixtures/ directory (the design card's layout)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
