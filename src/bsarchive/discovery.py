"""Which servers to try next for ``--discover`` (issue 9): pure decisions, no I/O.

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


def candidate_hosts(
    handles: Iterable[str],
    *,
    known: Iterable[str],
    refused: Mapping[str, datetime],
    now: datetime,
    limit: int,
) -> list[str]:
    """Hosts to probe, most frequent first (ties by name), at most ``limit``."""
    if limit <= 0:
        return []
    skip = {h.lower() for h in known}
    counts: Counter[str] = Counter()
    for handle in handles:
        host = host_of_handle(handle)
        if host is None or host in skip:
            continue
        when = refused.get(host)
        if when is not None and now - when < RETRY_REFUSED_AFTER:
            continue
        counts[host] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [host for host, _ in ranked[:limit]]


def discovery_base(host: str, profile_url: str | None) -> str:
    """The base URL to probe: the scheme of the account's own profile URL when it is on
    that host (a server reached over plain http says so there), else https."""
    if profile_url:
        parts = urlsplit(profile_url)
        if parts.netloc.lower() == host and parts.scheme in ("http", "https"):
            return f"{parts.scheme}://{host}"
    return f"https://{host}"
