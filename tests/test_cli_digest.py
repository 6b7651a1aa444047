"""End to end: `bsarchive digest` (HTML and Markdown) through the real CLI, over an archive
fetched from loopback servers that includes a hostile post."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from tests.support.cli import Cli
from tests.support.cli_archive import REACTION_URL, Archive, build_archive

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def archive(cli: Cli, servers: Any, fast_config: Path) -> Archive:
    return build_archive(cli, servers, fast_config)


def _html_digest(cli: Cli, out: Path, *args: str) -> Any:
    result = cli("digest", "--db", str(cli.db), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return lxml.html.fromstring(out.read_bytes())


def test_html_digest_structure(cli: Cli, archive: Archive, tmp_path: Path) -> None:
    # The format follows the file name; the title defaults to the tags.
    page = _html_digest(cli, tmp_path / "digest.html", "--tag", "bsnopen")
    assert page.findtext(".//title") == "#bsnopen \u2013 digest"
    counts = {
        dd.get("id"): dd.text_content() for dd in page.xpath("//dd[starts-with(@id, 'count-')]")
    }
    assert counts == {
        "count-posts": "8",
        "count-people": "8",
        "count-instances": "2",
        "count-reactions": "1",
        "count-comments": "1",
        "count-boosts": "12",  # reblogs_count n % 4 over posts 0..7
    }
    timeline = page.xpath("//section[@id='timeline']//article[contains(@class, 'post')]")
    # Oldest first, the reply (post 7) nested under post 0 on instance B.
    order = [archive.uris[i] for i in (0, 7, 1, 2, 3, 4, 5, 6)]
    assert [a.get("data-uri") for a in timeline] == order
    assert timeline[1] in timeline[0].iterdescendants()
    assert REACTION_URL in [a.get("href") for a in page.iter("a")]


def test_html_digest_neutralises_hostile_content(
    cli: Cli, archive: Archive, tmp_path: Path
) -> None:
    out = tmp_path / "digest.html"
    page = _html_digest(cli, out, "--images")
    assert page.xpath("//script") == []
    for element in page.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, value)
    text = out.read_text("utf-8")
    assert "alert(1)" not in text  # the <script> body is dropped with its tag
    assert "Free tickets!" in text
    # The hostile display name is shown as text, not markup.
    assert "&lt;img src=x onerror=alert(9)&gt;Eve" in text


def test_markdown_digest(cli: Cli, archive: Archive, tmp_path: Path) -> None:
    result = cli("digest", "--db", str(cli.db), "--format", "markdown", "--title", "Open night")
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    assert lines[0] == "# Open night"
    assert "- **8** posts from **8** people on **2** instances" in lines
    assert "<script" not in text
    assert "\\<img src=x onerror=alert(9)\\>Eve" in text
    assert "javascript:" not in text
    timeline = text[text.index("## Timeline") :]
    positions = [timeline.index(f"/{105_000_000_000_000_000 + n})") for n in (0, 7, 1, 2)]
    assert positions == sorted(positions)


def test_untitled_digest_and_atom_are_named_after_the_archived_tags(
    cli: Cli, archive: Archive
) -> None:
    # No --title, --tag or config: the tags of the run that made the archive.
    digest = cli("digest", "--db", str(cli.db), "--format", "markdown")
    assert digest.exit_code == 0, digest.output
    assert digest.stdout.splitlines()[0] == "# \\#bsnopen"
    atom = cli("export", "atom", "--db", str(cli.db))
    assert '<title type="text">#bsnopen</title>' in atom.stdout


def test_digest_window_filter_and_bad_format(cli: Cli, archive: Archive) -> None:
    # Posts are 3 s apart from 17:00:00: since 17:00:12 keeps posts 4..7.
    result = cli(
        "digest", "--db", str(cli.db), "--format", "html", "--since", "2010-06-29T17:00:12Z"
    )
    assert result.exit_code == 0, result.output
    page = lxml.html.fromstring(result.stdout)
    assert page.get_element_by_id("count-posts").text_content() == "4"
    bad = cli("digest", "--db", str(cli.db), "--format", "pdf")
    assert bad.exit_code == 2
    assert bad.stderr == "bsarchive: error: --format: 'pdf' is not one of markdown, html\n"


def test_digest_is_byte_identical_across_runs(cli: Cli, archive: Archive, tmp_path: Path) -> None:
    for fmt in ("html", "markdown"):
        first, second = tmp_path / f"1.{fmt}", tmp_path / f"2.{fmt}"
        for path in (first, second):
            result = cli("digest", "--db", str(cli.db), "--format", fmt, "-o", str(path))
            assert result.exit_code == 0, result.output
        assert first.read_bytes() == second.read_bytes()
    stamped = cli("digest", "--db", str(cli.db), "--generated-at")
    assert stamped.exit_code == 0
    assert stamped.stdout != (tmp_path / "1.markdown").read_text("utf-8")


def test_demo_writes_the_digest(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bsarchive.cli import app

    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"digest: {out / 'demo-digest.html'}" in result.stderr
    page = lxml.html.fromstring((out / "demo-digest.html").read_bytes())
    assert page.findtext(".//h1") == "Big Society Network open night (demo)"
    markdown = (out / "demo-digest.md").read_text("utf-8")
    assert markdown.startswith("# Big Society Network open night (demo)\n")
    # The whole mission: posts from three instances, named as such (not a loopback
    # port), the blog write-ups they link to, and those blogs' comment threads.
    assert "on **3** instances" in markdown
    assert "127.0.0.1" not in markdown
    assert "127.0.0.1" not in (out / "demo.jsonl").read_text("utf-8")
    with sqlite3.connect(out / "demo.db") as db:
        assert db.execute("SELECT DISTINCT source FROM sightings ORDER BY 1").fetchall() == [
            ("civic.example",),
            ("http://social.example/tags/bsnopen.rss",),
            ("social.example",),
            ("town.example",),
        ]
        commented = db.execute(
            "SELECT r.site_name, count(c.id) FROM reactions r JOIN comments c"
            " ON c.reaction_id = r.id GROUP BY r.id ORDER BY r.url"
        ).fetchall()
    assert len(commented) == 3, commented  # two WordPress blogs and a Blogger blog
    assert "Young people in the Big Society](http://timdavies.example/" in markdown
    assert "2 comments" in markdown
    # Each reaction shows its first comments: WordPress and Blogger threads alike.
    assert "**Steve M**, Wed 30 Jun 2010, 11:15 UTC: Procurement came up" in markdown
    assert "**Kathryn C**, Wed 30 Jun 2010, 11:03 UTC: Decentralisation" in markdown


def test_html_digest_renders_in_headless_chromium(
    cli: Cli, archive: Archive, tmp_path: Path
) -> None:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    out = tmp_path / "digest.html"
    _html_digest(cli, out)
    profile, shot = tmp_path / "profile", tmp_path / "digest.png"
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={shot}",
            "--window-size=1200,2000", out.resolve().as_uri(),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank 1200x2000 page compresses to a few kB
