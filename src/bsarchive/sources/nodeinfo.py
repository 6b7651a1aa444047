"""Is this server one whose hashtag timeline we can read? NodeInfo, then ``/api/v2/instance``.

Used by ``--discover`` (issue 9): a candidate host found in the archive is probed with
``/.well-known/nodeinfo`` (PROTOCOL.md §3 NodeInfo) and its ``software.name`` decides; when
NodeInfo is missing, ``/api/v2/instance`` (then ``/api/v1/instance``) answering JSON means a
Mastodon-compatible API. The parse functions are pure; :func:`probe_instance` does the
GETs through the shared client (as untrusted URLs: hosts come from remote data).
No database access.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from bsarchive.errors import BlockedAddressError, FetchError
from bsarchive.http import Http

# Software whose /api/v1/timelines/tag/:tag is Mastodon-compatible and public by default
# (PROTOCOL.md §4). GoToSocial and Pixelfed need a user token; Misskey family is not
# Mastodon API at all.
MASTODON_API_SOFTWARE = frozenset(
    {"mastodon", "hometown", "glitch-soc", "glitchsoc", "pleroma", "akkoma", "rebased",
     "fedibird", "kmyblue", "mitra", "friendica", "iceshrimp", "sharkey"}
)  # fmt: skip
TOKEN_SOFTWARE = frozenset({"gotosocial", "pixelfed"})
NODEINFO_RELS = (
    "http://nodeinfo.diaspora.software/ns/schema/2.1",
    "http://nodeinfo.diaspora.software/ns/schema/2.0",
)


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    host: str
    usable: bool
    software: str = ""
    version: str = ""
    reason: str = ""  # why it is not usable


def nodeinfo_href(body: bytes) -> str | None:
    """The NodeInfo document URL from a ``/.well-known/nodeinfo`` body (2.1 preferred)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    links = data.get("links") if isinstance(data, dict) else None
    if not isinstance(links, list):
        return None
    by_rel = {
        str(link.get("rel")): str(link.get("href"))
        for link in links
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    }
    for rel in NODEINFO_RELS:
        if rel in by_rel:
            return by_rel[rel]
    return None


def parse_nodeinfo(host: str, body: bytes) -> InstanceInfo | None:
    """Decide from a NodeInfo document; None when it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    software = data.get("software") if isinstance(data, dict) else None
    if not isinstance(software, dict) or not isinstance(software.get("name"), str):
        return None
    name = str(software["name"]).lower()
    version = str(software.get("version") or "")
    if name in MASTODON_API_SOFTWARE:
        return InstanceInfo(host, True, name, version)
    if name in TOKEN_SOFTWARE:
        return InstanceInfo(
            host, False, name, version, f"{name} requires a token for tag timelines"
        )
    return InstanceInfo(host, False, name, version, f"unsupported software {name}")


# How a server refused as a private address is recorded (``discovery.server_state``).
PRIVATE_ADDRESS = "non-public address"


def probe_instance(client: Http, base: str) -> InstanceInfo:
    """Probe ``base`` (``https://host``) and say whether its tag timeline is readable."""
    host = urlsplit(base).netloc
    try:
        wellknown = client.get(f"{base}/.well-known/nodeinfo", untrusted=True, max_bytes=65536)
        href = nodeinfo_href(wellknown.body) if wellknown.status == 200 else None
        if href and urlsplit(href).netloc == host:
            doc = client.get(href, untrusted=True, max_bytes=262144)
            if doc.status == 200:
                info = parse_nodeinfo(host, doc.body)
                if info is not None:
                    return info
        for path in ("/api/v2/instance", "/api/v1/instance"):
            response = client.get(f"{base}{path}", untrusted=True, max_bytes=262144)
            if response.status in (401, 403):
                return InstanceInfo(host, False, reason=f"HTTP {response.status} on {path}")
            if response.status == 200 and response.content_type.endswith("json"):
                return InstanceInfo(host, True, "mastodon-compatible")
    except BlockedAddressError as e:
        return InstanceInfo(host, False, reason=f"{PRIVATE_ADDRESS}: {e.message}")
    except FetchError as e:
        return InstanceInfo(host, False, reason=e.message)
    return InstanceInfo(host, False, reason="no NodeInfo and no Mastodon API")
