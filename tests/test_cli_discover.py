"""--discover: a loopback federation where the configured server knows only some authors'
servers; discovery reaches the rest, records refusals and stops at the cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixtures.synthetic import synthetic_status

from bsarchive.demo import FixtureMastodon
from tests.support.cli import Cli, fetch


def _status(n: int, local_id: int, home: FixtureMastodon | None, user: str) -> dict[str, Any]:
    status = synthetic_status(n, viewer="viewer.example", local_id=local_id)
    if home is not None:
        host = home.url.removeprefix("http://")
        status["account"] = dict(
            status["account"], username=user, acct=f"{user}@{host}", url=f"{home.url}/@{user}"
        )
        status["uri"] = f"{home.url}/users/{user}/statuses/{n}"
    return status


def test_discovery_reaches_other_servers_and_records_refusals(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    refusing = servers([], software="gotosocial")
    far = servers([])
    near = servers([])
    far.set_statuses([_status(30, 3000, far, "fay")])
    # `near` knows a post by someone on `far`, which the configured server never saw.
    near.set_statuses([_status(20, 2000, near, "nia"), _status(21, 2001, far, "fay")])
    configured = servers(
        [
            _status(10, 1000, near, "nia"),
            _status(11, 1001, refusing, "rex"),
            _status(12, 1002, None, "x"),
        ]
    )
    options = ("--allow-private-networks", "--discover")
    result = fetch(cli, fast_config, configured.url, extra=options)
    assert result.exit_code == 0, result.output
    uris = {row[0] for row in cli.rows("SELECT uri FROM posts")}
    assert f"{far.url}/users/fay/statuses/30" in uris  # two hops away
    assert f"{near.url}/users/nia/statuses/20" in uris
    host = refusing.url.removeprefix("http://")
    assert cli.rows("SELECT usable, reason FROM instances WHERE host = ?", host) == [
        (0, "gotosocial requires a token for tag timelines")
    ]
    assert not any("/api/v1/timelines" in r for r in refusing.requests)
    # per-server coverage: the post only `far` had is counted for it
    stats = json.loads(cli("stats", "--json", "--db", str(cli.db)).stdout)
    coverage = {row["source"]: row for row in stats["per_instance"]}
    assert coverage[far.url.removeprefix("http://")]["only_here"] == 1

    # A later run does not probe the refusing server again (it was refused recently).
    probes = len(refusing.requests)
    assert fetch(cli, fast_config, configured.url, extra=options).exit_code == 0
    assert len(refusing.requests) == probes


def test_discovery_stops_at_the_cap(cli: Cli, servers: Any, fast_config: Path) -> None:
    homes = [servers([]) for _ in range(3)]
    for i, home in enumerate(homes):
        home.set_statuses([_status(40 + i, 4000 + i, home, f"u{i}")])
    configured = servers([_status(50 + i, 5000 + i, home, f"u{i}") for i, home in enumerate(homes)])
    result = fetch(
        cli,
        fast_config,
        configured.url,
        extra=("--allow-private-networks", "--discover", "--max-instances", "2"),
    )
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT count(*) FROM instances") == [(2,)]
    read = [h for h in homes if any("/api/v1/timelines" in r for r in h.requests)]
    assert len(read) == 2


def test_discovered_servers_are_untrusted_without_the_flag(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    home = servers([])
    home.set_statuses([_status(60, 6000, home, "pat")])
    configured = servers([_status(61, 6001, home, "pat")])
    result = fetch(cli, fast_config, configured.url, extra=("--discover",))
    assert result.exit_code == 0, result.output
    assert home.requests == []  # loopback refused by the address guard
    assert cli.rows("SELECT usable FROM instances") == [(0,)]


def test_refresh_reaches_discovered_servers(cli: Cli, servers: Any, fast_config: Path) -> None:
    home = servers([])
    theirs = _status(60, 6000, home, "hal")
    home.set_statuses([theirs])
    configured = servers([_status(61, 6100, home, "hal")])
    options = ("--allow-private-networks", "--discover")
    assert fetch(cli, fast_config, configured.url, extra=options).exit_code == 0
    assert cli.rows("SELECT text FROM posts WHERE uri = ?", theirs["uri"]) == [
        ("Post 60 from the Big Society Network open night #bsnopen",)
    ]
    edited = dict(theirs, content="<p>Corrected: it was Tuesday #bsnopen</p>")
    edited["edited_at"] = "2010-06-30T08:00:00.000Z"
    home.set_statuses([edited])
    home.requests.clear()
    result = fetch(
        cli, fast_config, configured.url, extra=options
    )  # the default re-check: posts stored in the last 48 hours
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT text, edited_at FROM posts WHERE uri = ?", theirs["uri"]) == [
        ("Corrected: it was Tuesday #bsnopen", "2010-06-30T08:00:00.000Z")
    ]
    # Read by walking the discovered server's tag timeline, as on configured ones.
    assert "/api/v1/timelines/tag/bsnopen?limit=40&max_id=6001" in home.requests


def _mentioning(status: dict[str, Any], *people: tuple[FixtureMastodon, str]) -> dict[str, Any]:
    """``status`` mentioning ``people`` as Mastodon lists them: a server-relative ``acct``
    and the profile ``url``, which is what names their server."""
    mentions = [
        {"id": str(900 + i), "username": user, "url": f"{home.url}/@{user}",
         "acct": f"{user}@{home.url.removeprefix('http://')}"}
        for i, (home, user) in enumerate(people)
    ]  # fmt: skip
    return dict(status, mentions=mentions)


DISABLED_INSTANCE = {
    "domain": "disabled.example",
    "version": "4.5.0",
    "configuration": {
        "timelines_access": {
            "live_feeds": {"local": "disabled", "remote": "disabled"},
            "hashtag_feeds": {"local": "disabled", "remote": "disabled"},
            "trending_link_feeds": {"local": "public", "remote": "public"},
        }
    },
}


def _feeds_disabled(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
    if path == "/api/v2/instance":
        handler.send(200, json.dumps(DISABLED_INSTANCE).encode())
        return True
    return False  # its tag timeline answers 200 [] like any empty one


def _needs_a_token(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
    if path.startswith("/api/v1/timelines/"):
        handler.send(401, b'{"error":"The access token is invalid"}')
        return True
    return False


def _loopback_fediverse(servers: Any) -> dict[str, FixtureMastodon]:
    """Six servers around one configured one; each reachable only the way its name says."""
    s = {
        "mentioned": servers([]),  # only ever mentioned
        "author": servers([]),  # home of an author the configured server saw
        "depth2": servers([]),  # known only from a post on `author`
        "misskey": servers([], software="misskey"),
        "disabled": servers([], hook=_feeds_disabled),
        "token": servers([], hook=_needs_a_token),  # mentioned on `depth2`: depth three
    }
    s["mentioned"].set_statuses([_status(70, 7000, s["mentioned"], "mo")])
    s["author"].set_statuses(
        [_status(71, 7100, s["author"], "al"), _status(72, 7101, s["depth2"], "di")]
    )
    s["depth2"].set_statuses([
        _mentioning(_status(72, 7200, s["depth2"], "di"), (s["token"], "tok")),
        _status(73, 7201, s["depth2"], "di"),
    ])  # fmt: skip
    s["token"].set_statuses([_status(74, 7300, s["token"], "tok")])
    s["configured"] = servers([
        _mentioning(_status(75, 7500, s["author"], "al"),
                    (s["mentioned"], "mo"), (s["misskey"], "kim")),
        _status(76, 7501, s["disabled"], "dot"),
    ])  # fmt: skip
    return s


def test_discovery_reaches_every_server_the_conversation_touches(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    s = _loopback_fediverse(servers)
    result = fetch(
        cli, fast_config, s["configured"].url, extra=("--allow-private-networks", "--discover")
    )
    assert result.exit_code == 0, result.output
    key = {name: server.url.removeprefix("http://") for name, server in s.items()}
    contacted = {name for name, server in s.items() if server.requests}
    assert contacted == set(s)
    read = {name for name, srv in s.items() if any("/timelines/tag/" in r for r in srv.requests)}
    assert read == set(s) - {"misskey"}
    assert any(r == "/api/v2/instance" for r in s["disabled"].requests)
    uris = {uri for (uri,) in cli.rows("SELECT uri FROM posts")}
    for name, user, n in (("mentioned", "mo", 70), ("author", "al", 71), ("depth2", "di", 73)):
        assert f"{s[name].url}/users/{user}/statuses/{n}" in uris
    assert f"{s['token'].url}/users/tok/statuses/74" not in uris  # it wants a token

    stats = json.loads(cli("stats", "--json", "--db", str(cli.db)).stdout)
    states = {row["server"]: row["state"] for row in stats["servers"]}
    assert states == {
        key["mentioned"]: "archived (1 post)",
        key["author"]: "archived (2 posts)",
        key["depth2"]: "archived (2 posts)",
        key["misskey"]: "not Mastodon-compatible (misskey)",
        key["disabled"]: "hashtag feeds disabled",
        key["token"]: "refused with 401 (needs a token)",
    }
    text = cli("stats", "--db", str(cli.db)).stdout
    lines = [" ".join(line.replace("│", " ").split()) for line in text.splitlines()]
    for server, state in states.items():
        assert f"{server} {state}" in lines


def test_the_cap_counts_every_server_contacted(cli: Cli, servers: Any, fast_config: Path) -> None:
    s = _loopback_fediverse(servers)
    result = fetch(
        cli,
        fast_config,
        s["configured"].url,
        extra=("--allow-private-networks", "--discover", "--max-instances", "3"),
    )
    assert result.exit_code == 0, result.output
    contacted = [name for name, server in s.items() if server.requests and name != "configured"]
    assert len(contacted) == 3
    assert cli.rows("SELECT count(*) FROM instances") == [(3,)]


def test_nodeinfo_and_link_headers_pointing_elsewhere_are_not_followed(
    cli: Cli, servers: Any, fast_config: Path
) -> None:
    # Another loopback address stands for a private one a hostile server points at.
    elsewhere = servers([])
    home = servers([])
    theirs = _status(80, 8000, home, "hil")

    def hostile(handler: Any, path: str, query: dict[str, list[str]]) -> bool:
        if path == "/.well-known/nodeinfo":
            rel = "http://nodeinfo.diaspora.software/ns/schema/2.0"
            links = {"links": [{"rel": rel, "href": f"{elsewhere.url}/nodeinfo/2.0"}]}
            handler.send(200, json.dumps(links).encode())
        elif path == "/api/v2/instance":
            handler.send(200, json.dumps({"domain": "home.example", "version": "4.3.2"}).encode())
        elif path.startswith("/api/v1/timelines/tag/"):
            link = f'<{elsewhere.url}{path}?max_id=1>; rel="next"'
            handler.send(200, json.dumps([theirs]).encode(), {"Link": link})
        else:
            return False
        return True

    home.hook = hostile
    configured = servers([_status(81, 8100, home, "hil")])
    result = fetch(
        cli, fast_config, configured.url, extra=("--allow-private-networks", "--discover")
    )
    assert result.exit_code == 0, result.output
    assert elsewhere.requests == []
    assert "/api/v2/instance" in home.requests  # NodeInfo elsewhere: asked here instead
    assert any(r.startswith("/api/v1/timelines/tag/") for r in home.requests)
