"""Research-grade ids: every digit of long ids survives CSV --excel and xlsx."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli

TWEET = {
    "id": "17350000020123456",
    "text": "Big Society Network open night, live from CLG #bsnopen",
    "created_at": "2010-06-29T18:20:00.000Z",
    "author_id": "81234567",
    "author": {"id": "81234567", "username": "ada_l", "name": "Ada"},
    "entities": {"hashtags": [{"start": 46, "end": 54, "tag": "bsnopen"}]},
    "public_metrics": {"retweet_count": 2, "reply_count": 0, "like_count": 5, "quote_count": 0},
}


def _archive(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "tweets.jsonl"
    path.write_text(json.dumps(TWEET) + "\n")
    assert cli("import", "twarc", str(path), "--db", str(cli.db)).exit_code == 0


def test_excel_csv_keeps_long_ids_and_has_a_bom(cli: Cli, tmp_path: Path) -> None:
    _archive(cli, tmp_path)
    out = tmp_path / "excel.csv"
    result = cli(
        "export", "csv", "--excel", "--columns", "local_id,uri,author,created_at",
        "--db", str(cli.db), "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["local_id", "uri", "author", "created_at"]
    assert rows[1] == [
        '="17350000020123456"',
        "https://twitter.com/ada_l/status/17350000020123456",
        "'@ada_l",
        "2010-06-29T18:20:00.000Z",
    ]


def test_xlsx_typed_columns(cli: Cli, tmp_path: Path) -> None:
    openpyxl: Any = pytest.importorskip("openpyxl")
    _archive(cli, tmp_path)
    out = tmp_path / "event.xlsx"
    result = cli(
        "export", "xlsx", "--columns", "local_id,id,created_at,boosts,text", "--db", str(cli.db),
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    header, row = [c.value for c in sheet[1]], [c.value for c in sheet[2]]
    assert header == ["local_id", "id", "created_at (UTC)", "boosts", "text"]
    assert row[0] == "17350000020123456"  # text: every digit
    assert row[1] == "1"
    assert str(row[2]) == "2010-06-29 18:20:00"  # a real date-time
    assert row[3] == 2
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        return
    frame = pd.read_excel(out, dtype={"local_id": str})
    assert frame["local_id"][0] == "17350000020123456"


def test_xlsx_to_an_unwritable_place_is_one_line_and_nothing_more(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    db = tmp_path / "a.db"
    cli_bin = str(Path(sys.executable).parent / "bsarchive")
    subprocess.run([cli_bin, "forget", "--author", "@nobody", "--db", str(db)], check=True)
    out = tmp_path / "no" / "such" / "dir" / "x.xlsx"
    done = subprocess.run(
        [cli_bin, "export", "xlsx", "--db", str(db), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == f"bsarchive: error: {out}: cannot write: No such file or directory\n"
