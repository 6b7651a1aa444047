"""Event TOML file + command-line options -> one validated :class:`Settings`.

Command-line values win over the file; repeatable sources (``--tag``, ``--mastodon``,
``--feed``, ``--outbox``) add to the file's lists. Every problem is a :class:`ConfigError`
naming the key or option, so the CLI exits 2 before anything is fetched.

Example ``event.toml``::

    title = "Big Society Network open night"
    tags = ["bsnopen"]
    since = "2010-06-29"
    until = "2010-07-06"
    db = "event.db"
    feeds = ["https://blog.example/tag/bsnopen/feed/"]

    [[mastodon]]
    instance = "mastodon.social"
    token_env = "MASTODON_SOCIAL_TOKEN"   # or token = "..." (keep the file private)

    [[mastodon]]
    instance = "hachyderm.io"

No network, no database.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bsarchive.dburl import DatabaseUrl, parse_db
from bsarchive.errors import ConfigError
from bsarchive.models import SourceSpec, category_tag, normalise_tag

DEFAULT_DB = "bsarchive.db"
TOKEN_ENV = "BSARCHIVE_MASTODON_TOKEN"
DB_ENV = "BSARCHIVE_DB"

_TAG_RE = re.compile(r"^\w+$")


@dataclass(frozen=True, slots=True)
class Instance:
    url: str  # base URL, no trailing slash
    token: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass(frozen=True, slots=True)
class Settings:
    db: Path | DatabaseUrl = Path(DEFAULT_DB)
    title: str = ""
    tags: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()
    feeds: tuple[str, ...] = ()
    outboxes: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    reactions: bool = True
    max_reactions: int = 200
    allow_private_networks: bool = False
    concurrency: int = 8
    # The default re-check of posts first stored this many hours ago or since (issue 14);
    # 0 turns it off.
    refresh_hours: float = 48.0
    discover: bool = False
    max_instances: int = 20
    include_opted_out: bool = False
    wait: bool = False
    max_wait: float = 300.0
    max_pages: int = 10_000
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 50.0
    retries: int = 3
    backoff: float = 1.0
    refetch_gone: bool = False
    # token_env names whose variable is not set: an error for fetch (require_sources) and
    # doctor, nothing to the commands that never send a token.
    unset_token_envs: tuple[str, ...] = ()

    def sources(self) -> list[SourceSpec]:
        """One spec per (instance, tag), feed and outbox, in a stable order."""
        specs = [
            SourceSpec("mastodon", inst.url, tag=tag, token=inst.token)
            for inst in self.instances
            for tag in self.tags
        ]
        specs += [SourceSpec("feed", url) for url in self.feeds]
        specs += [SourceSpec("outbox", url) for url in self.outboxes]
        return specs

    @property
    def tokens(self) -> dict[str, str]:
        return {inst.url: inst.token for inst in self.instances if inst.token}


normalize_tag = normalise_tag  # the one rule, in models (DESIGN: tags)


def parse_tag(tag: str, where: str = "--tag") -> str:
    name = normalize_tag(tag)
    if not name or not _TAG_RE.match(name):
        raise ConfigError(where, f"{tag!r} is not a hashtag (letters, digits and _ only)")
    return name


def parse_filter_tag(tag: str, where: str = "--tag") -> str:
    """A tag to filter an export or a search by, in its stored form: a hashtag (``#BsnOpen``
    -> ``bsnopen``) or a feed category as stored (``big-society``, ``Big Society``); unlike
    :func:`parse_tag` (what is fetched), not only letters, digits and ``_``."""
    name = category_tag(tag)
    if not name:
        raise ConfigError(where, f"{tag!r} is not a tag")
    return name


def parse_instance(value: str, where: str = "--mastodon") -> str:
    """``mastodon.social`` -> ``https://mastodon.social``; base URLs are kept (no slash)."""
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(where, f"{value!r} is not an instance host or http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError(where, f"{value!r}: give the instance, not a page on it")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"


def parse_url(value: str, where: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(where, f"{value!r} is not an http(s) URL")
    return value.strip()


def parse_when(
    value: str | date | datetime | None, where: str, *, end: bool = False
) -> datetime | None:
    """ISO date or datetime -> aware UTC datetime. A bare ``--until`` date includes that day."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
        if end:
            dt = dt.replace(hour=23, minute=59, second=59, microsecond=999999)
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                d = date.fromisoformat(text)
                return parse_when(d, where, end=end)
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(where, f"{value!r} is not an ISO date or datetime") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _env_tokens(env: Mapping[str, str], instances: Sequence[str]) -> dict[str, str]:
    """``BSARCHIVE_MASTODON_TOKEN``: a bare token for a single instance, or
    ``host=TOKEN,host2=TOKEN2``. A bare token with several instances is refused rather than
    guessed: a token sent to the wrong server is a leak."""
    value = env.get(TOKEN_ENV, "").strip()
    if not value:
        return {}
    if "=" not in value:
        if len(instances) != 1:
            raise ConfigError(
                TOKEN_ENV,
                f"a bare token is ambiguous with {len(instances)} instances",
                hint="use host=TOKEN,host2=TOKEN2 or per-instance tokens in the config file",
            )
        return {instances[0]: value}
    tokens: dict[str, str] = {}
    by_host = {urlsplit(url).netloc: url for url in instances}
    for pair in value.split(","):
        host, _, token = pair.partition("=")
        url = by_host.get(host.strip().lower()) or by_host.get(
            urlsplit(parse_instance(host, TOKEN_ENV)).netloc
        )
        if url and token.strip():
            tokens[url] = token.strip()
    return tokens


_KNOWN_KEYS = {
    "title", "tags", "tag", "mastodon", "feeds", "outboxes", "since", "until", "db",
    "reactions", "max_reactions", "allow_private_networks", "concurrency", "refresh",
    "discover", "max_instances", "include_opted_out", "max_wait", "max_pages",
    "connect_timeout", "read_timeout", "total_timeout", "retries", "backoff", "refetch_gone",
    "timeout", "wait",  # the names of fetch's --timeout (read_timeout) and --wait
}  # fmt: skip


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), f"not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(str(path), f"cannot read: {e.strerror}") from None
    if isinstance(data.get("event"), dict):  # allow an [event] table
        data = {**data.pop("event"), **data}
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(str(path), f"unknown key {unknown[0]!r}")
    return data


def _list(data: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = data.get(key, [])
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {key}", "expected a list")
    return value


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if kind is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(
            f"{path}: {key}", f"expected {'true/false' if kind is bool else 'a number'}"
        )
    return value


def load_settings(
    *,
    config: Path | None = None,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the TOML file, the environment and command-line options into Settings."""
    env = os.environ if env is None else env
    cli = {k: v for k, v in (cli or {}).items() if v is not None and v != () and v != []}
    data = read_config(config) if config else {}
    where = str(config) if config else "config"

    tags = [
        parse_tag(t, f"{where}: tags")
        for t in _list(data, "tags", where) + _list(data, "tag", where)
    ]
    tags += [parse_tag(t) for t in cli.get("tags", ())]

    instances: dict[str, str | None] = {}
    unset_token_envs: list[str] = []
    for entry in _list(data, "mastodon", where):
        if isinstance(entry, str):
            instances[parse_instance(entry, f"{where}: mastodon")] = None
        elif isinstance(entry, dict):
            unknown = set(entry) - {"instance", "url", "token", "token_env"}
            if unknown:
                raise ConfigError(f"{where}: mastodon", f"unknown key {sorted(unknown)[0]!r}")
            raw = entry.get("instance") or entry.get("url")
            if not isinstance(raw, str):
                raise ConfigError(f"{where}: mastodon", 'each [[mastodon]] needs instance = "host"')
            token = entry.get("token")
            if entry.get("token_env"):
                token = env.get(str(entry["token_env"])) or None
                if token is None:
                    unset_token_envs.append(str(entry["token_env"]))
            instances[parse_instance(raw, f"{where}: mastodon")] = token if token else None
        else:
            raise ConfigError(f"{where}: mastodon", "expected a host or a [[mastodon]] table")
    for raw in cli.get("mastodon", ()):
        instances.setdefault(parse_instance(raw), None)
    for url, token in _env_tokens(env, list(instances)).items():
        if instances.get(url) is None:
            instances[url] = token

    feeds = [parse_url(u, f"{where}: feeds") for u in _list(data, "feeds", where)]
    feeds += [parse_url(u, "--feed") for u in cli.get("feeds", ())]
    outboxes = [parse_url(u, f"{where}: outboxes") for u in _list(data, "outboxes", where)]
    outboxes += [parse_url(u, "--outbox") for u in cli.get("outboxes", ())]

    db_value = cli.get("db") or env.get(DB_ENV) or data.get("db") or DEFAULT_DB
    settings = Settings(
        db=parse_db(str(db_value)),
        title=str(cli.get("title") or data.get("title") or ""),
        tags=tuple(dict.fromkeys(tags)),
        instances=tuple(Instance(url, token) for url, token in instances.items()),
        feeds=tuple(dict.fromkeys(feeds)),
        outboxes=tuple(dict.fromkeys(outboxes)),
        since=parse_when(cli.get("since", data.get("since")), "--since"),
        until=parse_when(cli.get("until", data.get("until")), "--until", end=True),
        unset_token_envs=tuple(unset_token_envs),
    )
    numbers: dict[str, Any] = {}
    if "read_timeout" not in data and "timeout" in data:  # fetch --timeout's own name
        data = {**data, "read_timeout": data["timeout"]}
    for key, kind in (
        ("reactions", bool),
        ("max_reactions", int),
        ("allow_private_networks", bool),
        ("concurrency", int),
        ("discover", bool),
        ("max_instances", int),
        ("include_opted_out", bool),
        ("max_wait", (int, float)),
        ("max_pages", int),
        ("connect_timeout", (int, float)),
        ("read_timeout", (int, float)),
        ("total_timeout", (int, float)),
        ("retries", int),
        ("backoff", (int, float)),
        ("refetch_gone", bool),
    ):
        value = cli.get(key, _typed(data, key, kind, where))
        if value is not None:
            numbers[key] = value
    refresh = cli.get("refresh", _typed(data, "refresh", (int, float), where))
    if refresh is not None:
        numbers["refresh_hours"] = float(refresh)
    if _typed(data, "wait", bool, where):
        numbers["wait"] = True
    for flag in ("wait", "refetch_gone"):
        if cli.get(flag):
            numbers[flag] = True
    settings = replace(settings, **numbers)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.concurrency < 1 or s.concurrency > 64:
        raise ConfigError("--concurrency", "must be between 1 and 64")
    if s.since and s.until and s.since >= s.until:
        raise ConfigError("--since", "must be before --until")
    # Each named as the user can set it: fetch's option, else the config file's key.
    for name, where in (
        ("max_wait", "--max-wait"), ("read_timeout", "--timeout"), ("retries", "--retries"),
        ("max_reactions", "--max-reactions"), ("max_instances", "--max-instances"),
        ("connect_timeout", "connect_timeout"), ("total_timeout", "total_timeout"),
        ("backoff", "backoff"),
    ):  # fmt: skip
        if getattr(s, name) < 0:
            raise ConfigError(where, "must not be negative")
    if s.max_pages < 1:
        raise ConfigError("--max-pages", "must be at least 1")
    if not s.refresh_hours >= 0:  # also refuses NaN
        raise ConfigError("--refresh", "must be 0 (off) or a positive number of hours")


def require_sources(s: Settings) -> None:
    """``fetch`` needs at least one source, tags when a Mastodon instance is given, and
    every token the config names (a run without one would fail or read less)."""
    for name in s.unset_token_envs:
        raise ConfigError("mastodon.token_env", f"environment variable {name} is not set")
    if s.instances and not s.tags:
        raise ConfigError("--tag", "give at least one hashtag to archive")
    if not (s.instances or s.feeds or s.outboxes):
        raise ConfigError(
            "fetch", "no sources configured", hint="use --mastodon, --feed or --outbox"
        )


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value: str, where: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` -> seconds (``watch --every``); more than zero."""
    match = _DURATION_RE.match(value)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(where, f"{value!r} is not a duration such as 30s, 2m or 1h")
    return float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "").lower()]


def parse_listen(value: str, where: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (loopback by default) -> (host, port)."""
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host = ""
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ConfigError(where, f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)
