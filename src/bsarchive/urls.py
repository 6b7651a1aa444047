"""URLs and the links in post HTML: canonical form, article identity, extraction, address guard.

Everything here is a pure function of its arguments: :func:`resolve_public` is handed the
resolver it asks (``http.py`` passes the operating system's; tests pass a fake). Nothing
here resolves a name, opens a connection, sends a request, reads a file or touches the
database.

- :func:`canonical_url` is the stored form of every URL (Scrapy's ``w3lib``
  ``canonicalize_url`` plus our own rules: default port and tracking parameters removed,
  WHATWG IPv4 forms spelled out). It never raises: ``None`` means "not an http(s) URL we
  can use".
- :func:`article_key` folds the variants of one article (http/https, ``www.``, trailing
  slash) into one identity for reactions.
- :func:`extract_links` reads the links, mentions and hashtags of Mastodon status HTML
  (lxml); its plain text is :func:`bsarchive.text.html_to_text`.
- :func:`should_follow` and :func:`is_shortener` decide which links become reactions.
- :func:`is_public_address`, :func:`parse_host_address`, :func:`check_url_allowed` and
  :func:`resolve_public` refuse URLs from posts that point into loopback, private or
  otherwise non-public networks (server-side request forgery): one rule set, which the
  HTTP client's connect-time guard applies to every connection of an untrusted request.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit

from lxml import etree
from w3lib.url import canonicalize_url

from bsarchive.errors import BlockedAddressError, FetchError

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Iterable[str]]

# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

# Query parameters that identify a click or a campaign, not a resource. Removed by
# canonical_url so the same article shared from two newsletters is one reaction.
# Sources: Google Analytics campaign parameters (utm_*, _ga, _gl, gclid, gclsrc, dclid,
# gbraid, wbraid), Meta (fbclid, igshid, igsh), Microsoft Ads (msclkid), Mailchimp
# (mc_cid, mc_eid), HubSpot (_hsenc, _hsmi, __hstc, __hssc, __hsfp), Marketo (mkt_tok),
# Yandex (yclid), X/Twitter (twclid, ref_src, ref_url), TikTok (ttclid), LinkedIn
# (li_fat_id), YouTube/Spotify share links (si). Compared case-insensitively.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "igsh",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "mkt_tok",
        "_ga",
        "_gl",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "ref_src",
        "ref_url",
        "si",
    }
)
# Every parameter starting with one of these is tracking too (utm_source, utm_medium, ...).
TRACKING_PARAM_PREFIXES: tuple[str, ...] = ("utm_",)

# Hosts whose only job is to redirect to another URL; a reaction behind one is keyed by
# where it redirects (resolved in sources/reactions.py). Collected from the shorteners
# seen in Mastodon and Twitter-era posts.
SHORTENER_HOSTS: frozenset[str] = frozenset(
    {
        "amzn.to",
        "apple.co",
        "bit.ly",
        "bitly.com",
        "bl.ink",
        "buff.ly",
        "cutt.ly",
        "dlvr.it",
        "fb.me",
        "flip.it",
        "goo.gl",
        "ift.tt",
        "is.gd",
        "lnkd.in",
        "ow.ly",
        "rb.gy",
        "rebrand.ly",
        "s.id",
        "shorturl.at",
        "snip.ly",
        "spoti.fi",
        "t.co",
        "t.ly",
        "tiny.cc",
        "tinyurl.com",
        "trib.al",
        "v.gd",
        "wp.me",
    }
)

# File extensions that are never a reaction (an article with a title, an author and
# maybe a comments feed). PDF is included on purpose: a reaction is read as an HTML page
# (title, author, excerpt, comments feed) and a PDF has none of these, is often larger
# than the size cap and would need another parser; a PDF stays in the post's `links`.
SKIPPED_EXTENSIONS: frozenset[str] = frozenset(
    {
        # images
        ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".bmp",
        ".svg", ".ico", ".tif", ".tiff",
        # video
        ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".ogv", ".mpg", ".mpeg",
        # audio
        ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".wav", ".flac", ".aac",
        # documents and downloads
        ".pdf", ".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".exe", ".dmg", ".iso",
        ".apk",
    }
)  # fmt: skip

# Address ranges refused before connecting to a URL found in a post, whatever Python's
# `ipaddress.is_global` table says in the running version (it changed in 3.11.10/3.12.4).
# IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890 and updates).
BLOCKED_IPV4_NETWORKS: tuple[IPv4Network, ...] = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local; cloud metadata services live at 169.254.169.254
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890)
        "192.0.2.0/24",  # documentation TEST-NET-1 (RFC 5737)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private (RFC 1918)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2 (RFC 5737)
        "203.0.113.0/24",  # documentation TEST-NET-3 (RFC 5737)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255 broadcast
    )
)
BLOCKED_IPV6_NETWORKS: tuple[IPv6Network, ...] = tuple(
    IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback and deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "2001::/32",  # Teredo tunnels: refused outright, a tunnel is no publishing host
        "2001:10::/28",  # deprecated ORCHID
        "2001:db8::/32",  # documentation (RFC 3849)
        "3fff::/20",  # documentation (RFC 9637)
        "fc00::/7",  # unique-local (RFC 4193)
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
# NAT64 well-known prefix (RFC 6052): the last 32 bits are the IPv4 destination.
NAT64_PREFIX = IPv6Network("64:ff9b::/96")
# Named in messages (describe_address); all of them are also in the blocked lists above.
_TEREDO = IPv6Network("2001::/32")
_SHARED_CGNAT = IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_DOCUMENTATION = (
    IPv4Network("192.0.2.0/24"),
    IPv4Network("198.51.100.0/24"),
    IPv4Network("203.0.113.0/24"),
    IPv6Network("2001:db8::/32"),
    IPv6Network("3fff::/20"),
)

ALLOW_PRIVATE_HINT = "use --allow-private-networks to allow"

_HTTP_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# WHATWG URL: leading/trailing C0 controls and space are stripped; tab/newline removed.
_C0_AND_SPACE = "".join(chr(i) for i in range(0x21))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
# A DNS name after IDNA: LDH labels (plus "_", seen in real hosts), 1-63 chars each.
_HOSTNAME_RE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
# WHATWG "ends in a number": the last label is decimal digits or 0x-prefixed hex.
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_IPV4_PART_RE = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]*)|0(?P<oct>[0-7]*)|(?P<dec>[1-9][0-9]*)")
_TAG_PATH_RE = re.compile(r"/tags/([^/?#]+)/?(?:[?#]|$)")
# The text of a mention link: "@name" or "@name@host".
_HANDLE_RE = re.compile(r"@[\w.-]+(?:@[\w.-]+)?")
_PROFILE_PATH_RE = re.compile(r"/(?:@[^/]+|users/[^/]+|u/[^/]+|profile/[^/]+)/?$")


# --------------------------------------------------------------------------------------
# Canonical URLs
# --------------------------------------------------------------------------------------


def canonical_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical form of an http(s) URL, or None if it is not one.

    Rules, in order: strip surrounding whitespace and control characters; resolve
    against ``base``; refuse anything but absolute ``http``/``https`` URLs with a host.
    Then ``w3lib.url.canonicalize_url`` lower-cases scheme and host, IDNA-encodes the
    host (punycode), resolves ``.``/``..`` segments, normalises percent-encoding
    (UTF-8, upper-case ``%XX``; in the query, form encoding: space is ``+``), sorts the
    query by name then value and drops the fragment. On top of that: the default port
    (80 for http, 443 for https) and a trailing dot on the host are removed, tracking
    parameters (:data:`TRACKING_PARAMS`, ``utm_*``, any case) and empty ``&&`` pieces are
    removed, numeric IPv4 hosts are written as dotted quads (``http://0x7f.1/`` ->
    ``http://127.0.0.1/``), and hosts that are no DNS name or IP literal are refused.

    The result is a fixed point: ``canonical_url(canonical_url(u)) == canonical_url(u)``.
    Never raises. Results are cached: the same article is linked from many posts.
    """
    try:
        return _canonical_url(url, base)
    except (ValueError, UnicodeError):  # urlsplit/urljoin/idna on malformed input
        return None


@functools.lru_cache(maxsize=16384)
def _canonical_url(url: str, base: str | None) -> str | None:
    url = url.strip(_C0_AND_SPACE).translate(_TAB_NEWLINE)
    if base is not None:
        url = urljoin(base.strip(_C0_AND_SPACE).translate(_TAB_NEWLINE), url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.netloc:
        return None
    if "\\" in parts.netloc:
        # Browsers read "\" as "/", Python as part of the userinfo: the host is ambiguous.
        return None
    # Judged on the input: w3lib turns an IPvFuture "[v1.x]" into a plain name "v1.x".
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    parts = urlsplit(canonicalize_url(url))
    scheme = parts.scheme
    if scheme not in _HTTP_SCHEMES:
        return None
    userinfo, at, _ = parts.netloc.rpartition("@")
    host = _canonical_host(parts.hostname or "", bracketed=bracketed)
    if host is None:
        return None
    port = parts.port  # ValueError for a non-numeric or out-of-range port
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    if at:
        netloc = f"{userinfo}@{netloc}"
    query = _canonical_query(parts.query)
    return f"{scheme}://{netloc}{parts.path or '/'}{'?' + query if query else ''}"


def _canonical_host(hostname: str, bracketed: bool) -> str | None:
    """The host part of a canonical URL, or None when it is not a usable host."""
    if bracketed:
        address, _, zone = hostname.partition("%")
        try:
            ip6 = IPv6Address(address)
        except ValueError:
            return None
        return f"[{ip6.compressed}%{zone}]" if zone else f"[{ip6.compressed}]"
    hostname = hostname.removesuffix(".")  # "example.com." is the same host
    if len(hostname) > 253 or not _HOSTNAME_RE.fullmatch(hostname):
        return None
    if _ends_in_number(hostname):
        ip4 = _parse_ipv4(hostname)
        return None if ip4 is None else str(ip4)
    return hostname


def _canonical_query(query: str) -> str:
    kept: list[str] = []
    for param in query.split("&"):
        if not param:
            continue
        name = param.partition("=")[0]
        if _is_tracking_param(unquote_plus(name)):
            continue
        kept.append(param)
    return "&".join(kept)


def _is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PARAM_PREFIXES)


def article_key(url: str) -> str:
    """Return the identity that merges the variants of one article into one reaction.

    The rule: take :func:`canonical_url`, then fold the scheme to ``https``, ignore a
    leading ``www.`` on the host (when something with a dot remains), and remove trailing
    slashes from the path (the root path ``/`` stays). So ``http://www.Example.com/post/``
    and ``https://example.com/post?utm_source=x`` have the same key. Query and port are
    kept. Input that is not an http(s) URL is returned stripped, unchanged otherwise, so
    the key is still deterministic. Idempotent.
    """
    canonical = canonical_url(url)
    if canonical is None:
        return url.strip()
    key = _fold_article(canonical)
    # Canonicalising the folded form can expose more to fold (`//;/` loses its `;/`, then
    # its slash): fold until nothing changes, a bounded few times (found by hypothesis).
    for _ in range(3):
        again = _fold_article(key)
        if again == key:
            break
        key = again
    return key


def _fold_article(canonical: str) -> str:
    parts = urlsplit(canonical)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("www.") and "." in hostport[4:].partition(":")[0]:
        hostport = hostport[4:]
    if parts.scheme == "http" and hostport.endswith(":443"):
        hostport = hostport[:-4]  # http on 443 folds to https on its default port
    path = parts.path.rstrip("/") or "/"
    netloc = f"{userinfo}{at}{hostport}"
    folded = f"https://{netloc}{path}{'?' + parts.query if parts.query else ''}"
    return canonical_url(folded) or folded


# --------------------------------------------------------------------------------------
# Which links to follow
# --------------------------------------------------------------------------------------


def should_follow(url: str, skip_hosts: Collection[str]) -> bool:
    """Say whether a link found in a post should be fetched as a possible reaction.

    False for anything that is not an http(s) URL, for media and downloads (by path
    extension, :data:`SKIPPED_EXTENSIONS`; PDF included), and for links to an origin in
    ``skip_hosts`` (the archived instances themselves: their links are posts, profiles
    and tags, not reactions). ``skip_hosts`` entries may be base URLs
    (``http://127.0.0.1:8001``), or hosts (``mastodon.social``) and ``host:port``, taken
    as https. The origin (scheme, host, port) is compared, not the host name: a blog on
    another port or scheme of an instance's host is followed (issue 15). Matching ignores
    case and a leading ``www.``.
    """
    canonical = canonical_url(url)
    if canonical is None:
        return False
    parts = urlsplit(canonical)
    last_segment = parts.path.rsplit("/", 1)[-1].lower()
    dot = last_segment.rfind(".")
    if dot >= 0 and last_segment[dot:] in SKIPPED_EXTENSIONS:
        return False
    skipped = {_origin_of(entry) for entry in skip_hosts}
    return _origin_of(canonical) not in skipped


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(entry: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL or a skip_hosts entry (host or host:port: https);
    the host lower-case without a leading ``www.``, the port made explicit."""
    entry = entry.strip()
    canonical = canonical_url(entry if "://" in entry else f"https://{entry}")
    if canonical is None:
        return ("", entry.lower(), None)
    parts = urlsplit(canonical)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (
        parts.scheme,
        _strip_www(parts.hostname or ""),
        port if port is not None else _DEFAULT_PORTS.get(parts.scheme),
    )


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def is_shortener(host: str) -> bool:
    """Say whether ``host`` is a known link shortener (:data:`SHORTENER_HOSTS`)."""
    host = host.strip().lower().rstrip(".")
    return _strip_www(host) in SHORTENER_HOSTS


# --------------------------------------------------------------------------------------
# Links and text from status HTML
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtractedLinks:
    """What :func:`extract_links` found in one post's HTML, each in document order.

    ``links`` are canonical URLs of ordinary links; ``mentions`` canonical URLs of the
    mentioned accounts' profiles; ``hashtags`` the tag names as written, without ``#``
    (case kept: normalising for matching is the caller's rule).
    """

    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()


_PARSERS = threading.local()  # lxml parser objects are not shared between threads


def _parse_html(html: str) -> etree._Element | None:
    parser: etree.HTMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            # libxml2 gives up on the whole document past 256 levels of nesting without
            # it (2048 with it); bodies are already size-capped by http.py.
            huge_tree=True,
        )
        _PARSERS.parser = parser
    # Bytes, not str: lxml refuses str with NUL/control characters or an XML declaration.
    root: etree._Element | None = etree.fromstring(html.encode("utf-8", "replace"), parser)
    return root


def extract_links(html: str, base: str | None = None) -> ExtractedLinks:
    """Split the ``<a href>`` links of Mastodon status HTML into links, mentions, hashtags.

    - hashtag: ``class`` has ``hashtag``, or ``rel`` has ``tag``, or the path is
      ``/tags/NAME`` and the text starts with ``#`` (servers that send no class, such as
      Misskey; without the ``#`` a ``/tags/`` link is a blog's tag page, an ordinary
      link); the name is the link text without ``#`` (else ``NAME`` from the path);
    - mention: ``class`` has ``mention`` (Mastodon ``u-url mention``; Pleroma, Akkoma and
      Misskey use the same microformat), or the text is a handle (``@name``,
      ``@name@host``) and the path looks like a profile (``/@name``, ``/users/name``,
      ``/u/name``, ``/profile/name``);
    - everything else with an http(s) href is a link.

    Relative hrefs are resolved against ``base``. Each list is deduplicated (links and
    mentions by canonical URL, hashtags ignoring case) and keeps document order.
    """
    links: dict[str, None] = {}
    mentions: dict[str, None] = {}
    hashtags: dict[str, str] = {}
    if "<a" not in html and "<A" not in html:
        return ExtractedLinks()
    root = _parse_html(html)
    if root is None:
        return ExtractedLinks()
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if not href:
            continue
        classes = (anchor.get("class") or "").split()
        if "hashtag" in classes or "tag" in (anchor.get("rel") or "").lower().split():
            # No canonical URL needed: a hashtag is kept by name only.
            _add_hashtag(hashtags, _anchor_text(anchor), _TAG_PATH_RE.search(href))
            continue
        url = canonical_url(href, base)
        if url is None:
            continue
        path = urlsplit(url).path
        tag_path = _TAG_PATH_RE.search(path)
        if tag_path and (text := _anchor_text(anchor)).startswith("#"):
            _add_hashtag(hashtags, text, tag_path)
        elif "mention" in classes or (
            _PROFILE_PATH_RE.search(path) and _HANDLE_RE.fullmatch(_anchor_text(anchor))
        ):
            mentions[url] = None
        else:
            links[url] = None
    return ExtractedLinks(tuple(links), tuple(mentions), tuple(hashtags.values()))


def _add_hashtag(hashtags: dict[str, str], text: str, tag_path: re.Match[str] | None) -> None:
    """Record a hashtag named by its link text (``#name``), else by its ``/tags/NAME``."""
    name = text.removeprefix("#").strip()
    if not name and tag_path:
        name = unquote(tag_path.group(1))
    if name:
        hashtags.setdefault(name.casefold(), name)


def _anchor_text(anchor: etree._Element) -> str:
    return "".join(t for t in anchor.itertext() if isinstance(t, str)).strip()


# --------------------------------------------------------------------------------------
# Address guard
# --------------------------------------------------------------------------------------


def is_public_address(ip: IPAddress) -> bool:
    """Say whether ``ip`` is a globally reachable unicast address we may connect to.

    Refused: loopback, private (RFC 1918), link-local, unique-local (``fc00::/7``),
    site-local, multicast, reserved, unspecified, shared CGNAT (``100.64.0.0/10``),
    benchmarking and documentation ranges (:data:`BLOCKED_IPV4_NETWORKS`,
    :data:`BLOCKED_IPV6_NETWORKS`). IPv6 forms that carry an IPv4 address are judged by
    that address: IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::/96``) and 6to4
    (``2002::/16``); IPv4-compatible (``::a.b.c.d``, deprecated) and Teredo are refused.
    """
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.scope_id is not None:
            ip = IPv6Address(ip.compressed.partition("%")[0])
        if any(ip in net for net in BLOCKED_IPV6_NETWORKS):
            return False
    elif any(ip in net for net in BLOCKED_IPV4_NETWORKS):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64_PREFIX:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def describe_address(ip: IPAddress) -> str:
    """A short name for the kind of a non-public address, for messages: ``private`` etc."""
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return describe_address(embedded)
        if ip in _TEREDO:
            return "Teredo"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _SHARED_CGNAT:
        return "shared (carrier-grade NAT)"
    if any(ip in net for net in _DOCUMENTATION):
        return "documentation"
    if ip in _UNIQUE_LOCAL:
        return "unique-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    return "non-public"


def address_phrase(ip: IPAddress) -> str:
    """``a private address 10.0.0.1``, ``an unspecified address 0.0.0.0``."""
    kind = describe_address(ip)
    article = "an" if kind == "unspecified" else "a"
    return f"{article} {kind} address {format_address(ip)}"


def format_address(ip: IPAddress) -> str:
    """``str(ip)``, but IPv4-mapped IPv6 always as ``::ffff:a.b.c.d`` (Python 3.13 does this
    itself; 3.11 writes ``::ffff:7f00:1``), so messages read the same everywhere."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def parse_host_address(host: str) -> IPAddress | None:
    """Read ``host`` as an IP address literal, the way a URL parser or libc would.

    Accepts what attackers use to hide loopback or private targets: decimal
    (``2130706433``), hex (``0x7f000001``), octal (``0177.0.0.1``), short forms
    (``127.1``, ``0x7f.1``), a trailing dot, and IPv6 with or without brackets, with an
    embedded IPv4 (``[::ffff:127.0.0.1]``) or a zone id (``[fe80::1%25eth0]``, the zone is
    ignored). IPv4 follows the WHATWG URL Standard's IPv4 parser. Returns None for a
    host name or anything that is not an address.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            return None  # brackets hold IPv6 only: "[127.0.0.1]" is no address
    elif host.startswith("[") or host.endswith("]"):
        return None
    if ":" in host:
        try:
            return IPv6Address(host.partition("%")[0])
        except ValueError:
            return None
    return _parse_ipv4(host)


def _ends_in_number(host: str) -> bool:
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    return bool(_NUMERIC_LABEL_RE.fullmatch(labels[-1]))


def _parse_ipv4(host: str) -> IPv4Address | None:
    """WHATWG URL Standard "IPv4 parser": 1-4 dot-separated decimal/octal/hex parts."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        match = _IPV4_PART_RE.fullmatch(part)
        if match is None:
            return None
        if match.group("hex") is not None:
            numbers.append(int(match.group("hex") or "0", 16))
        elif match.group("oct") is not None:
            numbers.append(int(match.group("oct") or "0", 8))
        else:
            numbers.append(int(match.group("dec")))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return IPv4Address(value)


def check_url_allowed(url: str) -> str | None:
    """Say why a URL from a post must not be fetched, or None when it may be.

    Checks only what the URL says literally: the scheme (http/https only), that it parses,
    and that a literal address host (in any of the forms :func:`parse_host_address` reads)
    or ``localhost`` is not a non-public target. Host names are checked after DNS, by
    :func:`resolve_public`.
    """
    try:
        scheme = urlsplit(url.strip(_C0_AND_SPACE)).scheme.lower()
    except ValueError:
        return "not a valid URL"
    if scheme not in _HTTP_SCHEMES:
        if not scheme:
            return "not an absolute http(s) URL"
        return f"scheme {scheme!r} is not allowed (only http and https)"
    canonical = canonical_url(url)
    if canonical is None:
        return "not a valid http(s) URL"
    host = urlsplit(canonical).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return "targets localhost"
    ip = parse_host_address(host)
    if ip is not None and not is_public_address(ip):
        return f"targets {address_phrase(ip)}"
    return None


def resolve_public(
    host: str,
    port: int,
    resolver: Resolver,
    *,
    subject: str | None = None,
    is_public: Callable[[IPAddress], bool] = is_public_address,
) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing any non-public one.

    A literal address is checked without asking the resolver. Otherwise every address
    the resolver returns must be public: one private answer among public ones still
    refuses the host (DNS answers can be mixed to slip a private target past a check
    that looks at the first only). The caller connects to the returned addresses only,
    so a second lookup cannot rebind the name.

    Args:
        host: host name or address literal (brackets allowed for IPv6).
        port: port passed to the resolver.
        resolver: ``(host, port) -> addresses`` (``http.py``: the operating system's).
        subject: what the error names (the URL being fetched); defaults to ``host``.
        is_public: the rule set; :func:`is_public_address` (tests of the client's guard
            pass one that takes a loopback address for a public host).

    Returns:
        The distinct addresses, in the resolver's order, as strings.

    Raises:
        BlockedAddressError: the host is or resolves to a non-public address.
        FetchError: the host cannot be resolved.
    """
    subject = subject or host
    literal = parse_host_address(host)
    if literal is not None:
        if not is_public(literal):
            raise BlockedAddressError(
                subject,
                f"is {address_phrase(literal)}",
                hint=ALLOW_PRIVATE_HINT,
            )
        return [str(literal)]
    try:
        answers = list(dict.fromkeys(resolver(host, port)))
    except OSError as e:  # socket.gaierror and friends
        raise FetchError(subject, f"cannot resolve {host}: {e.strerror or e}") from e
    if not answers:
        raise FetchError(subject, f"cannot resolve {host}: no addresses")
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer.partition("%")[0])
        except ValueError:
            raise BlockedAddressError(
                subject, f"resolves to an unreadable address {answer!r}"
            ) from None
        if not is_public(ip):
            raise BlockedAddressError(
                subject,
                f"resolves to {address_phrase(ip)}",
                hint=ALLOW_PRIVATE_HINT,
            )
    return answers


# Actor URI and profile URL shapes that carry the username: Mastodon/Pleroma/GoToSocial
# `/users/NAME`, Mastodon `/@NAME`, Friendica `/profile/NAME`, Pleroma `/u/NAME`.
_ACTOR_PATH = re.compile(r"^/(?:users/|@|profile/|u/)([A-Za-z0-9_][A-Za-z0-9_.\-]*)/?$")


@functools.lru_cache(maxsize=4096)
def handle_from_actor_uri(uri: str) -> str:
    """Derive ``@user@host`` from an actor URI or profile URL.

    ``https://host/users/alice`` and ``https://host/@alice`` give ``@alice@host``; a URI of
    any other shape is returned unchanged (it is still a stable identity).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    host = (parts.hostname or "").lower()
    if not host or parts.query:
        return uri
    match = _ACTOR_PATH.match(parts.path)
    if match is None:
        return uri
    if parts.port is not None and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    return f"@{match.group(1)}@{host}"
