"""A small fixture archive built through the real CLI, for the export and digest tests.

Two loopback Mastodon-like instances: posts 0-5 on instance A, posts 0-2 also on B, a hostile
post 6 (script, onerror, javascript: link, hostile display name) and a reply 7 to post 0 on
B only. Then one blog reaction with one comment is stored through the store's public API
(reaction fetching is another module's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fixtures.synthetic import synthetic_status

from bsarchive.models import Comment, Reaction
from bsarchive.store import Store
from tests.support.cli import Cli, fetch

HOSTILE_TEXT = (
    "Free tickets!<script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)" onclick="steal()">claim here</a>'
)
REACTION_URL = "https://blog.example/2010/06/open-night"
REACTION_RAW = "<item><title>What I learnt at the open night</title></item>"


@dataclass
class Archive:
    statuses: list[dict[str, Any]]  # posts 0..7 as instance B (or A) serves them
    uris: list[str]


def _status(n: int, viewer: str, local_id: int, **extra: Any) -> dict[str, Any]:
    status = synthetic_status(n, viewer=viewer, local_id=local_id, authors=5)
    status.update(extra)
    return status


def build_archive(cli: Cli, servers: Any, config: Path) -> Archive:
    on_a = [_status(n, "a.example", 100 + n) for n in range(6)]
    on_b = [_status(n, "b.example", 500 + n) for n in range(3)]
    hostile = _status(6, "b.example", 506)
    hostile["content"] = f"<p>{HOSTILE_TEXT} #bsnopen</p>"
    hostile["account"] = dict(hostile["account"], display_name="<img src=x onerror=alert(9)>Eve")
    reply = _status(7, "b.example", 507, in_reply_to_id="500")
    reply["content"] = "<p>@user0 Agreed, see you there #bsnopen</p>"
    a, b = servers(on_a), servers([*on_b, hostile, reply])
    result = fetch(cli, config, a.url, b.url, extra=("--no-reactions",))
    assert result.exit_code == 0, result.output
    fetched = datetime(2010, 7, 1, 9, 0, tzinfo=UTC)
    with Store(cli.db) as store:
        store.save_items(
            [
                Reaction(
                    url=REACTION_URL,
                    fetched_at=fetched,
                    fetched_from=REACTION_URL,
                    title="What I learnt at the open night",
                    author="Kate",
                    published_at=datetime(2010, 6, 29, 18, 0, tzinfo=UTC),
                    site_name="Kate's blog",
                    excerpt="A hot room and a lot of energy.",
                    linked_from=(on_a[1]["uri"],),
                    raw=REACTION_RAW,
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
    statuses = [*on_a, hostile, reply]
    return Archive(statuses=statuses, uris=[s["uri"] for s in statuses])
