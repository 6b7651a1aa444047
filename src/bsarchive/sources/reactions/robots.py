"""What the reaction pass may fetch: robots.txt (RFC 9309), fetched once per host per run
through the shared client, and the refusal of URLs that are not http(s) or point into
non-public networks, judged on their text.

Never touches the database; a host that cannot be reached is remembered for the run.
"""

from __future__ import annotations

import logging
import threading
import urllib.robotparser

from bsarchive.errors import BlockedAddressError, FetchError
from bsarchive.http import Http, origin
from bsarchive.urls import (
    canonical_url,
    check_url_allowed,
)

log = logging.getLogger(__name__)
# RFC 9309 §2.5: crawlers must parse at least the first 500 KiB of robots.txt.
MAX_ROBOTS_BYTES = 500 * 1024
# The product token matched against robots.txt User-agent lines (RFC 9309 §2.2.1).
ROBOTS_AGENT = "bsarchive"
FEED_ACCEPT = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.5, */*;q=0.1"
# --------------------------------------------------------------------------------------
# robots.txt (RFC 9309), once per host per run
# --------------------------------------------------------------------------------------


# Per origin: parsed rules, allow/deny all, or why the host could not be reached.
_Rules = urllib.robotparser.RobotFileParser | bool | FetchError


class Robots:
    """robots.txt rules per origin, fetched on first use through the untrusted client.

    RFC 9309 §2.3.1: a 4xx answer means no rules (allowed); a 5xx answer or an unreachable
    host means "assume complete disallow". A refused address is re-raised for the article.
    Thread-safe: one fetch per origin even when several workers ask at once.
    """

    def __init__(self, client: Http, agent: str = ROBOTS_AGENT) -> None:
        self._client = client
        self._agent = agent
        self._rules: dict[tuple[str, str, int], _Rules] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def allowed(self, url: str) -> bool:
        """Say whether robots.txt lets us fetch ``url``.

        Raises:
            BlockedAddressError: the host is a refused address (nothing was fetched).
            FetchError: robots.txt could not be reached (transport failure), so neither
                can the page: RFC 9309 §2.3.1.4 says to assume complete disallow.
        """
        key = origin(url)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            rules = self._rules.get(key)
            if rules is None:
                rules = self._fetch(key)
                self._rules[key] = rules
        if isinstance(rules, FetchError):
            raise rules  # unreachable host: the article is too (RFC 9309: disallowed)
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(self._agent, url)

    def _fetch(self, key: tuple[str, str, int]) -> _Rules:
        scheme, host, port = key
        default = 443 if scheme == "https" else 80
        netloc = f"[{host}]" if ":" in host else host
        if port != default:
            netloc = f"{netloc}:{port}"
        robots_url = f"{scheme}://{netloc}/robots.txt"
        try:
            response = self._client.get(
                robots_url, untrusted=True, max_bytes=MAX_ROBOTS_BYTES, accept="text/plain"
            )
        except BlockedAddressError:
            raise
        except FetchError as e:
            log.info("%s: robots.txt unreadable (%s); not fetching from this host", host, e)
            return e
        finally:
            self.requests += 1
        if response.status >= 500:
            log.info("%s: robots.txt answered HTTP %d; not fetching", host, response.status)
            return False
        if response.status >= 400:
            return True
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(response.body.decode("utf-8", "replace").splitlines())
        return parser


def _refusal(client: Http, url: str) -> str | None:
    """Why ``url`` must not be fetched, judged on its text before any DNS lookup (the
    guard in ``http.py`` checks the address actually connected to as well)."""
    if canonical_url(url) is None:
        return "not an http(s) URL"
    if client.settings.allow_private_networks:
        return None
    return check_url_allowed(url)
