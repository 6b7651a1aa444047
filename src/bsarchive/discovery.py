"""Which servers to try next for ``--discover`` (issues 9, 15): pure decisions, no I/O.

A Mastodon server holds only the hashtag posts that federated to it, so the archive's own
contents say where else to look: the home servers of the people who posted, boosted,
replied and were mentioned. A server already configured, already probed this run, or
refused recently (recorded with its reason) is not tried again; the cap bounds the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from bsarchive.errors import FeedsDisabledError, FetchError, SourceError

# How long a refusing server (401, unknown software, unreachable) is left alone.
RETRY_REFUSED_AFTER = timedelta(days=7)


def host_of_handle(handle: str) -> str | None:
    """``@alice@social.example`` -> ``social.example``; None for other handle shapes."""
    parts = handle.lstrip("@").split("@")
    if len(parts) != 2 or not parts[0] or not parts[1] or " " in parts[1]:
        return None
    host = parts[1].lower()
    if "." not in host and ":" not in host:
        return None
    return host


# Default ports are not part of a server's key: https://host:443 is https://host.
_DEFAULT_PORTS = {"http": 80, "https": 443}

# What stats says of a server that refused its tag timeline for good: a token needed
# (401/403), a request it will not take (422), or, for a ``200 []``, an instance document
# saying hashtag feeds are disabled (PROTOCOL.md §1, Mastodon 4.5 ``timelines_access``;
# ``sources.mastodon`` reads it). The words are what the archive records as the reason.
_REFUSED = {
    401: "refused with 401 (needs a token)",
    403: "refused with 403 (forbidden)",
    422: "refused with 422 (not accepted)",
}
_FEEDS_DISABLED = "hashtag feeds disabled"
# Reasons recorded by earlier versions, which kept the error line itself.
_OLD_REASONS = {
    "HTTP 401": _REFUSED[401],
    "HTTP 403": _REFUSED[403],
    "HTTP 422": _REFUSED[422],
    "hashtag feeds turned off": _FEEDS_DISABLED,
}


def refusal(error: SourceError) -> str | None:
    """How a discovered server's tag timeline error reads when it is a refusal to remember
    (the server is left alone a while), or None for a passing failure (tried next run)."""
    if isinstance(error, FeedsDisabledError):
        return _FEEDS_DISABLED
    if isinstance(error, FetchError) and error.status in _REFUSED:
        return _REFUSED[error.status]
    return None


def server_of(handle: str | None, url: str | None) -> tuple[str, str] | None:
    """(key, base URL) of the server an account or post lives on.

    The key is what users see elsewhere (``host`` or ``host:port``, as in ``stats``'s
    per-instance table). A web address names the server itself, with its scheme and port;
    a handle's domain may be a WebFinger alias, so it is used (over https) only without
    one. None for anything else (twitter handles, ``tag:`` uris, a host with no dot).
    """
    if url:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return None
        if parts.scheme in _DEFAULT_PORTS and parts.hostname:
            host = parts.hostname.lower()
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
                host = f"{host}:{port}"
            if "." in host or ":" in host:
                return host, f"{parts.scheme}://{host}"
    domain = host_of_handle(handle) if handle else None
    return (domain, f"https://{domain}") if domain else None


def candidate_servers(
    addresses: Iterable[tuple[str | None, str | None, int]],
    *,
    known: Iterable[str],
    refused: Mapping[str, datetime],
    now: datetime,
    limit: int,
) -> list[tuple[str, str]]:
    """(key, base URL) of the servers to probe, most often pointed at first (ties by key),
    at most ``limit``.

    ``addresses`` are (handle, web address, count) rows: authors and boosters, mentioned
    accounts' profiles, replied-to posts' uris (``Store.discovery_addresses``). Servers in
    ``known`` (configured or probed) and those refused within ``RETRY_REFUSED_AFTER`` are
    left out.
    """
    if limit <= 0:
        return []
    skip = {h.lower() for h in known}
    counts: Counter[str] = Counter()
    bases: dict[str, str] = {}
    for handle, url, n in addresses:
        server = server_of(handle, url)
        if server is None or server[0] in skip:
            continue
        key, base = server
        when = refused.get(key)
        if when is not None and now - when < RETRY_REFUSED_AFTER:
            continue
        counts[key] += n
        bases.setdefault(key, base)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(key, bases[key]) for key, _ in ranked[:limit]]


def server_state(usable: bool, software: str, reason: str, posts: int) -> str:
    """What ``stats`` says about a discovered server, in a person's words."""
    if usable:
        return f"archived ({posts} post{'' if posts == 1 else 's'})"
    if reason in _REFUSED.values() or reason == _FEEDS_DISABLED:
        return reason
    for mark, words in _OLD_REASONS.items():
        if mark in reason:
            return words
    if "requires a token" in reason:
        return f"needs a token ({software})"
    if reason.startswith("unsupported software"):
        return f"not Mastodon-compatible ({software})"
    if "non-public address" in reason:  # sources.nodeinfo.PRIVATE_ADDRESS
        return "not contacted: private address (see --allow-private-networks)"
    return f"not usable: {reason}" if reason else "not usable"
