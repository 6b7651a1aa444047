"""Golden-file comparison for rendered exports.

Regenerate after an intended change with ``BSARCHIVE_REGEN_GOLDEN=1 pytest tests/...``,
then review the diff of ``fixtures/golden/`` before committing it.
"""

from __future__ import annotations

import os

from tests.support import paths

GOLDEN = paths.FIXTURES / "golden"


def check_golden(name: str, text: str) -> None:
    """Assert ``text`` equals the golden file ``name`` byte for byte (or rewrite it)."""
    path = GOLDEN / name
    data = text.encode("utf-8")
    if os.environ.get("BSARCHIVE_REGEN_GOLDEN") == "1":
        path.write_bytes(data)
    assert path.exists(), f"{path} missing: run with BSARCHIVE_REGEN_GOLDEN=1"
    assert data == path.read_bytes()
