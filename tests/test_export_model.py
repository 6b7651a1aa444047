"""One data model in every export format (issue 17): CSV, JSONL, Parquet and xlsx carry the
columns the store defines (bsarchive.store.COLUMNS) with the types it names, and a reply,
mention and boost network can be built from the exports alone.

The archive is fetched through the real CLI from a loopback Mastodon-like server: a post
that mentions an account on another server, a reply to it, a reply to the reply, a reply
to a post we never archived, and a boost; one blog reaction with a comment is stored
through the store's API (reaction fetching is another module's job), and one edit.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures.synthetic import synthetic_status

from bsarchive.models import Comment, Reaction
from bsarchive.sources.mastodon_parse import parse_status
from bsarchive.store import COLUMN, COLUMNS, KINDS, Store, data_dictionary
from tests.support.cli import Cli, fetch

VIEWER = "home0.example"  # the instance we read: posts by user0 are local there
REACTION_URL = "https://blog.example/2010/06/open-night"
NOT_ARCHIVED = "https://elsewhere.example/users/zed/statuses/1"
ALL_KINDS = tuple(arg for kind in KINDS for arg in ("--kind", kind))


def _status(n: int, **extra: Any) -> dict[str, Any]:
    status = synthetic_status(n, viewer=VIEWER, local_id=100 + n, authors=5)
    status.update(extra)
    return status


def _mention(user: str, home: str) -> dict[str, str]:
    # Mastodon's Status.mentions[]: acct is relative to the server that answers.
    acct = user if home == VIEWER else f"{user}@{home}"
    return {"id": "7", "username": user, "url": f"https://{home}/@{user}", "acct": acct}


def _statuses() -> list[dict[str, Any]]:
    root = _status(0, mentions=[_mention("user1", "home1.example")])
    root["account"] = dict(root["account"], indexable=True, discoverable=False)
    reply = _status(
        1,
        in_reply_to_id="100",
        mentions=[_mention("user0", VIEWER)],
        sensitive=True,
        spoiler_text="open night spoilers",
        language="de",
        visibility="unlisted",
    )
    reply_to_reply = _status(
        2,
        in_reply_to_id="101",
        mentions=[_mention("user1", "home1.example"), _mention("user0", VIEWER)],
    )
    orphan = _status(3, in_reply_to_id="999")  # its parent was never archived
    orphan["created_at"] = "2010-06-29T17:00:09.000"  # no zone: taken as UTC, and flagged
    boost = _status(4)
    boost.update(
        id="104",
        uri="https://home4.example/users/user4/statuses/777/activity",
        url=None,
        content="",
        reblog=root,
        created_at="2010-06-29T18:00:00.000Z",
    )
    return [root, reply, reply_to_reply, orphan, boost]


@pytest.fixture
def archive(cli: Cli, servers: Any, fast_config: Path) -> list[dict[str, Any]]:
    statuses = _statuses()
    server = servers(statuses)
    result = fetch(cli, fast_config, server.url, extra=("--no-reactions",))
    assert result.exit_code == 0, result.output
    fetched = datetime(2010, 7, 1, 9, 0, tzinfo=UTC)
    edited = dict(statuses[0], edited_at="2010-06-30T08:00:00.000Z")
    edited["content"] = edited["content"].replace("open night", "open night (edited)")
    post, _ = parse_status(
        edited, instance=server.url, fetched_at=fetched, fetched_from=server.url + "/edit"
    )
    with Store(cli.db) as store:
        store.save_items(
            [
                post,
                Reaction(
                    url=REACTION_URL,
                    fetched_at=fetched,
                    fetched_from=REACTION_URL,
                    title="What I learnt at the open night",
                    author="Kate",
                    published_at=datetime(2010, 6, 29, 18, 0, tzinfo=UTC),
                    site_name="Kate's blog",
                    excerpt="=1+1 and a lot of energy.",
                    linked_from=(statuses[0]["uri"], statuses[1]["uri"]),
                ),
                Comment(
                    uri=REACTION_URL + "#comment-1",
                    reaction_url=REACTION_URL,
                    fetched_at=fetched,
                    fetched_from=REACTION_URL + "/feed/",
                    author="Tim",
                    created_at=datetime(2010, 6, 29, 19, 0, tzinfo=UTC),
                    text="Great write-up.",
                ),
            ],
            fetched,
        )
    # A Mastodon status names its parent by a local id only; an ActivityPub copy of the
    # orphan would name the parent's uri (inReplyTo), as set here.
    orphan = statuses[3]["uri"]
    cli.rows(f"UPDATE posts SET in_reply_to_uri = '{NOT_ARCHIVED}' WHERE uri = ?", orphan)
    return statuses


def _export(cli: Cli, tmp_path: Path, fmt: str, *args: str) -> Path:
    out = tmp_path / f"out.{fmt}"
    result = cli("export", fmt, "--db", str(cli.db), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return out


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))


# pyarrow and openpyxl are imported where used, not at collection: loaded into the pytest
# process early, they count in the peak RSS of every child it forks (tests/faults).
def _parquet(path: Path) -> Any:
    return pytest.importorskip("pyarrow.parquet").read_table(path)


def _xlsx_rows(path: Path) -> list[tuple[Any, ...]]:
    openpyxl: Any = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(book["archive"].iter_rows(values_only=True))
    finally:
        book.close()


def _as_text(name: str, value: Any) -> str:
    """What CSV carries for a JSON value, by the column definition."""
    column = COLUMN[name]
    if value is None:
        return ""
    if column.type == "object":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if column.is_list:
        return " ".join(value)
    if column.type == "boolean":
        return "1" if value else "0"
    return str(value)


def _check_json_type(name: str, value: Any) -> None:
    column = COLUMN[name]
    if value is None:
        assert name != "kind"
        return
    if column.is_list:
        assert isinstance(value, list), name
        item = dict if column.type == "object" else str
        assert all(isinstance(v, item) for v in value), name
    else:
        expected = {"integer": int, "boolean": bool}.get(column.type, str)
        assert type(value) is expected, (name, value)


def test_every_format_follows_the_column_definition(
    cli: Cli, archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    args = ("--columns", "all", *ALL_KINDS)
    jsonl = _export(cli, tmp_path, "jsonl", *args)
    objects = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]
    assert [o["kind"] for o in objects].count("version") == 1
    assert {o["kind"] for o in objects} == set(KINDS)
    for obj in objects:
        assert list(obj) == [c.name for c in COLUMNS]
        for name, value in obj.items():
            _check_json_type(name, value)
            if obj["kind"] not in COLUMN[name].kinds:
                assert value is None, (obj["kind"], name)

    rows = _csv_rows(_export(cli, tmp_path, "csv", *args, "--unsafe-cells"))
    assert len(rows) == len(objects)
    for row, obj in zip(rows, objects, strict=True):
        for name, value in obj.items():
            assert row[name] == _as_text(name, value), (obj["kind"], name)

    table = _parquet(_export(cli, tmp_path, "parquet", *args))
    assert table.schema.field("mentions").type.value_type.equals(table.schema.field("uri").type)
    assert str(table.schema.field("sensitive").type) == "bool"
    for record, obj in zip(table.to_pylist(), objects, strict=True):
        for name, value in obj.items():
            got = record[name]
            if COLUMN[name].type == "timestamp" and value is not None:
                got = got.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            assert got == value, (obj["kind"], name)

    cells = _xlsx_rows(_export(cli, tmp_path, "xlsx", *args, "--unsafe-cells"))
    assert cells[0] == tuple(
        f"{c.name} (UTC)" if c.type == "timestamp" else c.name for c in COLUMNS
    )
    for line, obj in zip(cells[1:], objects, strict=True):
        for name, got in zip(obj, line, strict=True):
            value, column = obj[name], COLUMN[name]
            if value is None or value == "" or value == []:
                assert got in (None, ""), (obj["kind"], name)
            elif column.type == "timestamp":
                assert got == datetime.fromisoformat(value).replace(tzinfo=None)
            elif column.type in ("integer", "boolean"):
                assert got == value, (obj["kind"], name)
            else:
                assert got == _as_text(name, value), (obj["kind"], name)


def test_networks_from_the_csv_alone(
    cli: Cli, archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = _csv_rows(_export(cli, tmp_path, "csv", "--columns", "network", "--unsafe-cells"))
    posts = [r for r in rows if r["kind"] == "post"]
    replies = {(r["author"], r["in_reply_to_author"]) for r in posts if r["in_reply_to_author"]}
    assert replies == {
        ("@user1@home1.example", "@user0@home0.example"),
        ("@user2@home2.example", "@user1@home1.example"),
    }
    mentions = {(r["author"], m) for r in posts for m in r["mentions"].split(" ") if m}
    assert mentions == {
        ("@user0@home0.example", "@user1@home1.example"),
        ("@user1@home1.example", "@user0@home0.example"),
        ("@user2@home2.example", "@user1@home1.example"),
        ("@user2@home2.example", "@user0@home0.example"),
    }
    boosts = {(b, r["author"]) for r in posts for b in r["boosted_by"].split(" ") if b}
    assert boosts == {("@user4@home4.example", "@user0@home0.example")}
    threads: dict[str, set[str]] = {}
    for r in posts:
        threads.setdefault(r["conversation"], set()).add(r["author"])
    root, orphan = archive[0]["uri"], archive[3]["uri"]
    assert threads == {
        root: {"@user0@home0.example", "@user1@home1.example", "@user2@home2.example"},
        NOT_ARCHIVED: {"@user3@home3.example"},  # the first parent not archived is the key
    }
    assert {r["uri"]: r["conversation"] for r in posts}[orphan] == NOT_ARCHIVED


def test_boost_and_version_rows(cli: Cli, archive: list[dict[str, Any]], tmp_path: Path) -> None:
    result = cli("export", "jsonl", "--db", str(cli.db), "--kind", "boost", "--columns", "all")
    assert result.exit_code == 0, result.output
    (boost,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert boost["kind"] == "boost"
    assert boost["uri"] == archive[4]["uri"]
    assert boost["author"] == "@user4@home4.example"
    assert boost["created_at"] == "2010-06-29T18:00:00.000Z"
    assert boost["reaction_to"] == [archive[0]["uri"]]
    # --tag and --search follow the boosted post
    for flt in (("--tag", "nosuchtag"), ("--search", "nosuchword")):
        none = cli("export", "jsonl", "--db", str(cli.db), "--kind", "boost", *flt)
        assert none.exit_code == 0 and none.stdout == "", flt
    one = cli("export", "jsonl", "--db", str(cli.db), "--kind", "boost", "--search", "Post")
    assert len(one.stdout.splitlines()) == 1


def test_every_option_applies_to_every_format(
    cli: Cli, archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    args = ("--kind", "post", "--search", "open", "--since", "2010-06-29T17:00:01Z",
            "--columns", "uri:id,sensitive,mentions")  # fmt: skip
    expected = [s["uri"] for s in archive[1:4]]
    assert [r["id"] for r in _csv_rows(_export(cli, tmp_path, "csv", *args))] == expected
    lines = _export(cli, tmp_path, "jsonl", *args).read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines][0] == {
        "id": expected[0], "sensitive": True, "mentions": ["@user0@home0.example"],
    }  # fmt: skip
    assert _parquet(_export(cli, tmp_path, "parquet", *args)).column("id").to_pylist() == (expected)
    assert [r[0] for r in _xlsx_rows(_export(cli, tmp_path, "xlsx", *args))[1:]] == expected


def test_every_format_is_byte_identical_on_repeat(
    cli: Cli, archive: list[dict[str, Any]], tmp_path: Path
) -> None:
    for fmt in ("csv", "jsonl", "parquet", "xlsx"):
        first = _export(cli, tmp_path, fmt, "--columns", "all", *ALL_KINDS).read_bytes()
        second = _export(cli, tmp_path, fmt, "--columns", "all", *ALL_KINDS).read_bytes()
        assert first == second, fmt


def test_the_readme_data_dictionary_is_the_column_definition(cli: Cli) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    found = re.search(r"<!-- columns:start -->\n(.*?)<!-- columns:end -->", readme, re.S)
    assert found is not None
    assert found.group(1) == data_dictionary()
    result = cli("export", "schema")
    assert result.exit_code == 0
    assert result.stdout == data_dictionary()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "xlsx"])
def test_a_failed_export_leaves_no_file_and_keeps_the_last_one(
    cli: Cli, archive: list[dict[str, Any]], tmp_path: Path, fmt: str
) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    out = tmp_path / f"out.{fmt}"  # where _export writes
    bad = ("--search", "- #")  # no word to search for: refused once the export has begun
    result = cli("export", fmt, "--db", str(cli.db), "-o", str(out), *bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("bsarchive: error: search: ")
    assert list(tmp_path.iterdir()) == []  # no empty file, no temporary file
    good = _export(cli, tmp_path, fmt).read_bytes()
    assert cli("export", fmt, "--db", str(cli.db), "-o", str(out), *bad).exit_code == 2
    assert out.read_bytes() == good
    assert list(tmp_path.iterdir()) == [out]


def test_xlsx_carries_no_save_time(cli: Cli, archive: list[dict[str, Any]], tmp_path: Path) -> None:
    with zipfile.ZipFile(_export(cli, tmp_path, "xlsx")) as book:
        assert {info.date_time for info in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = book.read("docProps/core.xml").decode()
    times = re.findall(r"<dcterms:(created|modified)[^>]*>([^<]*)<", core)
    assert sorted(times) == [
        ("created", "1980-01-01T00:00:00Z"),
        ("modified", "1980-01-01T00:00:00Z"),
    ]


def test_version_rows_keep_earlier_texts_with_their_times(
    cli: Cli, archive: list[dict[str, Any]]
) -> None:
    columns = "kind,uri,created_at,edited_at,fetched_at,text"
    kinds = ("--kind", "version", "--kind", "post", "--tag", "bsnopen")
    result = cli("export", "jsonl", "--db", str(cli.db), *kinds, "--columns", columns)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    post, version = [r for r in rows if r["uri"] == archive[0]["uri"]]
    assert (post["kind"], post["edited_at"]) == ("post", "2010-06-30T08:00:00.000Z")
    assert post["text"] == "Post 0 from the Big Society Network open night (edited) #bsnopen"
    assert version == {
        "kind": "version",
        "uri": archive[0]["uri"],
        "created_at": "2010-06-29T17:00:00.000Z",  # the original text's time
        "edited_at": None,  # the original was not itself an edit
        "fetched_at": "2010-07-01T09:00:00.000Z",  # when the edit replaced it here
        "text": "Post 0 from the Big Society Network open night #bsnopen",
    }


def test_item_flags_are_exported(cli: Cli, archive: list[dict[str, Any]]) -> None:
    result = cli("export", "jsonl", "--db", str(cli.db), "--columns", "uri,created_at,flags")
    assert result.exit_code == 0, result.output
    rows = {r["uri"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows[archive[3]["uri"]] == {
        "uri": archive[3]["uri"],
        "created_at": "2010-06-29T17:00:09.000Z",
        "flags": "tz-less date",
    }
    assert rows[archive[0]["uri"]]["flags"] == ""
    assert rows[REACTION_URL]["flags"] == ""
