"""The digest shows a cross-posted text once, "also posted by" the others; the archive and
the data exports keep every copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.synthetic import synthetic_status

from tests.support.cli import Cli, fetch

TEXT = "Big Society needs a definition quickly, or the opposition will define it for us"


def test_cross_posts_shown_once_in_digest(cli: Cli, servers: Any, fast_config: Path) -> None:
    statuses = [
        synthetic_status(1, viewer="v.example", local_id=101, text=TEXT),
        synthetic_status(2, viewer="v.example", local_id=102, text=TEXT + " https://x.example/a"),
        synthetic_status(3, viewer="v.example", local_id=103, text="Something else entirely, tea"),
    ]
    server = servers(statuses)
    fetched = fetch(cli, fast_config, server.url, extra=("--no-reactions",))
    assert fetched.exit_code == 0, fetched.output
    digest = cli("digest", "--format", "markdown", "--db", str(cli.db), "-o", "-")
    assert digest.exit_code == 0, digest.output
    timeline = digest.stdout.split("## Timeline", 1)[1]
    assert "(2 posts)" in timeline  # the copy is folded into the first post
    assert timeline.count("the opposition will define it") == 1
    assert "Also posted by @user2@home2.example" in timeline.replace("\\", "")
    exported = cli("export", "jsonl", "--db", str(cli.db))
    assert len(exported.stdout.splitlines()) == 3


def test_link_variants_count_as_one_link() -> None:
    from bsarchive.export.build import merge_link_variants

    links = [
        ("https://regen.example/2010/06/the-network-spreads/", 2),
        ("https://regen.example/2010/06/the-network-spreads/?utm_source=mastodon", 1),
        ("http://regen.example/2010/06/the-network-spreads", 1),
        ("https://other.example/post", 3),
    ]
    assert merge_link_variants(links, top=10) == [
        ("https://regen.example/2010/06/the-network-spreads/", 4),
        ("https://other.example/post", 3),
    ]
