"""Tests for bsarchive.urls: canonical URLs, article keys, link extraction, address guard."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bsarchive.errors import BlockedAddressError, FetchError
from bsarchive.http import system_resolver
from bsarchive.text import html_to_text
from bsarchive.urls import (
    TRACKING_PARAMS,
    ExtractedLinks,
    article_key,
    canonical_url,
    check_url_allowed,
    extract_links,
    is_public_address,
    is_shortener,
    parse_host_address,
    resolve_public,
    should_follow,
)
from tests.support import paths

FIXTURES = paths.FIXTURES / "urls"
STATUSES: list[dict[str, Any]] = json.loads((FIXTURES / "statuses.json").read_text("utf-8"))

# --------------------------------------------------------------------------------------
# canonical_url
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # scheme and host case; the path keeps its case
        ("HTTP://Example.COM/Path/To", "http://example.com/Path/To"),
        ("HtTpS://WWW.Example.Com", "https://www.example.com/"),
        # IDNA
        ("http://BÜCHER.example/", "http://xn--bcher-kva.example/"),
        ("https://Bücher.Example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
        # default ports only
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        # dot segments
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/../../a", "https://example.com/a"),
        ("https://example.com/a/b/..", "https://example.com/a/"),
        ("https://example.com/a/./", "https://example.com/a/"),
        # query sorting (by name, then value)
        ("https://example.com/?b=2&a=1&c=3", "https://example.com/?a=1&b=2&c=3"),
        ("https://example.com/s?q=z&q=a", "https://example.com/s?q=a&q=z"),
        ("https://example.com/?&&a=1&&", "https://example.com/?a=1"),
        ("https://example.com/?", "https://example.com/"),
        # fragment
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/#!/route/1", "https://example.com/"),
        # percent-encoding
        ("https://example.com/%7euser/caf%c3%a9", "https://example.com/~user/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/s?q=a%20b", "https://example.com/s?q=a+b"),
        ("https://example.com/s?q=%41", "https://example.com/s?q=A"),
        # host oddities
        ("https://example.com./a", "https://example.com/a"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433:8080/x", "http://127.0.0.1:8080/x"),
        ("http://[0:0::1]:80/", "http://[::1]/"),
        ("https://user:pw@Example.com/", "https://user:pw@example.com/"),
        # white space around and inside (tab/newline dropped, as browsers do)
        ("  https://example.com/a\n", "https://example.com/a"),
        ("https://exam\tple.com/a\nb", "https://example.com/ab"),
    ],
)
def test_canonical_url_rules(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


BRIEF_TRACKING_PARAMS = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
    "UTM_Source",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_eid",
    "mc_cid",
    "igshid",
    "_hsenc",
    "_hsmi",
    "ref_src",
    "yclid",
    "twclid",
    "si",
]


@pytest.mark.parametrize("param", sorted(set(BRIEF_TRACKING_PARAMS) | TRACKING_PARAMS))
def test_canonical_url_removes_tracking_param(param: str) -> None:
    url = f"https://example.com/post?id=7&{param}=abc123&page=2"
    assert canonical_url(url) == "https://example.com/post?id=7&page=2"
    assert canonical_url(f"https://example.com/post?{param}=x") == "https://example.com/post"


def test_canonical_url_keeps_parameters_that_only_look_like_tracking() -> None:
    assert (
        canonical_url("https://example.com/?utm=1&source=2&sid=3&ref=4")
        == "https://example.com/?ref=4&sid=3&source=2&utm=1"
    )


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("../b?utm_source=x#f", "https://example.com/a/c/d", "https://example.com/a/b"),
        ("/tags/bsnopen", "https://x.social/@gina/1", "https://x.social/tags/bsnopen"),
        ("//cdn.example/x.js", "https://x.social/", "https://cdn.example/x.js"),
        ("?page=2", "https://example.com/list?page=1", "https://example.com/list?page=2"),
        ("", "https://example.com/a#f", "https://example.com/a"),
        ("https://other.example/", "https://example.com/", "https://other.example/"),
        ("post.html", "http://Blog.Example:80/2026/", "http://blog.example/2026/post.html"),
        ("mailto:a@example.com", "https://example.com/", None),
        ("/a", "mailto:a@example.com", None),
    ],
)
def test_canonical_url_resolves_relative(url: str, base: str, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mailto:a@example.com",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
        "file:///etc/passwd",
        "tag:example.com,2026:status-1",
        "/relative/path",
        "//example.com/no-scheme",
        "example.com/no-scheme",
        "",
        "   ",
        "not a url",
        "http://",
        "http:///path",
        "https://exa mple.com/",
        "http://[::1/",
        "https://[v1.fe]/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://0x1g.0.0.1/",
        "https://ex%61mple.com/",
        "http://127.0.0.1\\@example.com/",
        "\x00\x01",
    ],
)
def test_canonical_url_refuses_non_http_and_garbage(url: str) -> None:
    assert canonical_url(url) is None


# --------------------------------------------------------------------------------------
# article_key
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/2026/11/recap",
        "http://example.com/2026/11/recap",
        "https://example.com/2026/11/recap/",
        "http://www.example.com/2026/11/recap/",
        "HTTPS://WWW.Example.com:443/2026/11/recap//?utm_source=mastodon#comments",
        "http://example.com:443/2026/11/recap",
    ],
)
def test_article_key_merges_variants(url: str) -> None:
    assert article_key(url) == "https://example.com/2026/11/recap"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.example.com", "https://example.com/"),
        ("http://www.example.com/", "https://example.com/"),
        ("https://example.com/a/?b=1", "https://example.com/a?b=1"),
        ("http://example.com:8080/a/", "https://example.com:8080/a"),
        ("https://www.com/page/", "https://www.com/page"),
        ("https://www2.example.com/a/", "https://www2.example.com/a"),
        ("https://blog.example/a?x=1/", "https://blog.example/a?x=1%2F"),
        ("  not a url ", "not a url"),
        ("mailto:a@example.com", "mailto:a@example.com"),
    ],
)
def test_article_key_rule(url: str, expected: str) -> None:
    assert article_key(url) == expected


def test_article_key_keeps_different_articles_apart() -> None:
    keys = {
        article_key(u)
        for u in (
            "https://example.com/a",
            "https://example.com/b",
            "https://example.com/a?page=2",
            "https://blog.example.com/a",
            "https://example.com:8443/a",
        )
    }
    assert len(keys) == 5


# --------------------------------------------------------------------------------------
# extract_links and html_to_text
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", STATUSES, ids=[c["name"] for c in STATUSES])
def test_extract_links_on_status_fixtures(case: dict[str, Any]) -> None:
    assert extract_links(case["html"], case.get("base")) == ExtractedLinks(
        links=tuple(case["links"]),
        mentions=tuple(case["mentions"]),
        hashtags=tuple(case["hashtags"]),
    )


@pytest.mark.parametrize("case", STATUSES, ids=[c["name"] for c in STATUSES])
def test_html_to_text_on_status_fixtures(case: dict[str, Any]) -> None:
    assert html_to_text(case["html"]) == case["text"]


def test_extract_links_mastodon_status_from_the_brief() -> None:
    html = (
        '<p><span class="h-card"><a href="https://x.social/@bob" class="u-url mention">'
        "@<span>bob</span></a></span> read "
        '<a href="https://blog.example/post/?utm_source=mastodon" rel="nofollow noopener" '
        'target="_blank"><span class="invisible">https://</span>'
        '<span class="ellipsis">blog.example/post/</span>'
        '<span class="invisible">?utm_source=mastodon</span></a> '
        '<a href="https://x.social/tags/bsnopen" class="mention hashtag" rel="tag">'
        "#<span>bsnopen</span></a></p>"
    )
    assert extract_links(html) == ExtractedLinks(
        links=("https://blog.example/post/",),
        mentions=("https://x.social/@bob",),
        hashtags=("bsnopen",),
    )
    assert html_to_text(html) == (
        "@bob read https://blog.example/post/?utm_source=mastodon #bsnopen"
    )


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ExtractedLinks()),
        ("just text, no links", ExtractedLinks()),
        ("<p>text only</p>", ExtractedLinks()),
        ('<a href="https://a.example/">1</a><A HREF="https://a.example/#x">2</A>',
         ExtractedLinks(links=("https://a.example/",))),
        ('<a href="https://a.example/x?fbclid=1">1</a> <a href="https://a.example/x">2</a>',
         ExtractedLinks(links=("https://a.example/x",))),
        ('<a href="https://b.example/">b</a><a href="https://a.example/">a</a>',
         ExtractedLinks(links=("https://b.example/", "https://a.example/"))),
        ('<a class="hashtag" href="https://x.social/tags/Caf%C3%A9">#</a>',
         ExtractedLinks(hashtags=("Café",))),
        ('<a class="u-url mention hashtag" href="https://x.social/tags/x">#x</a>',
         ExtractedLinks(hashtags=("x",))),
        ('<a href="https://blog.example/tags/x/">our posts on x</a>',
         ExtractedLinks(links=("https://blog.example/tags/x/",))),
        ('<a href="https://blog.example/@home/">@home: the blog</a>',
         ExtractedLinks(links=("https://blog.example/@home/",))),
        ('<a href="https://f.example/profile/jo" class="userinfo mention">jo</a>',
         ExtractedLinks(mentions=("https://f.example/profile/jo",))),
    ],
)  # fmt: skip
def test_extract_links_cases(html: str, expected: ExtractedLinks) -> None:
    assert extract_links(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("plain  text\n  here", "plain text here"),
        ("a<br>b", "a\nb"),
        ("a<br/><br/>b", "a\n\nb"),
        ("a<br><br><br><br>b", "a\n\nb"),
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("<p>one</p>\n\n  <p>two</p>", "one\n\ntwo"),
        ("<p>line<br></p><p>next</p>", "line\n\nnext"),
        ("<ul><li>a</li><li>b</li></ul>after", "a\nb\n\nafter"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("&lt;b&gt; &amp; &#x1F600; &eacute; &nbsp;x", "<b> & \U0001f600 é \xa0x"),
        ("<script>alert('x')</script>ok<style>p{}</style>", "ok"),
        ("<p>x</p><!-- a comment --><p>y</p>", "x\n\ny"),
        ("<pre>  indented\n    more</pre>", "  indented\n    more"),
        ("<b>bold</b> and <i>italic</i>", "bold and italic"),
        ("<div><div><p>deep</p></div></div>", "deep"),
        ("unclosed <p>para <b>bold", "unclosed\n\npara bold"),
        ("a\x00b<br>c", "a\ufffdb\nc"),
    ],
)
def test_html_to_text_cases(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


# --------------------------------------------------------------------------------------
# should_follow and is_shortener
# --------------------------------------------------------------------------------------

SKIP = ("x.social", "http://127.0.0.1:8001", "Bücher.example")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://blog.example/2026/11/recap/", True),
        ("https://blog.example/2026/11/recap.html", True),
        ("https://blog.example/photo.jpg/comments", True),
        ("http://127.0.0.1:9000/post", True),
        ("https://cdn.example/media/photo.jpg", False),
        ("https://cdn.example/media/PHOTO.JPEG?width=400", False),
        ("https://cdn.example/a.png", False),
        ("https://cdn.example/a.gif", False),
        ("https://cdn.example/a.webp", False),
        ("https://cdn.example/v.mp4", False),
        ("https://cdn.example/v.webm", False),
        ("https://cdn.example/p.mp3", False),
        ("https://papers.example/paper.pdf", False),
        ("mailto:a@example.com", False),
        ("ftp://files.example/x", False),
        ("not a url", False),
        ("https://x.social/@bob/115664722695684204", False),
        ("https://WWW.X.social/tags/bsnopen", False),
        ("http://127.0.0.1:8001/@bob/1", False),
        ("https://xn--bcher-kva.example/post", False),
        # The origin, not the host name: another port or scheme is another site (issue 15).
        ("http://127.0.0.1:8002/blog/recap", True),
        ("https://127.0.0.1:8001/blog/recap", True),
        ("https://x.social:8443/blog/recap", True),
        ("http://x.social/blog/recap", True),
        ("https://x.social:443/@bob", False),
    ],
)
def test_should_follow(url: str, expected: bool) -> None:
    assert should_follow(url, SKIP) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("bit.ly", True),
        ("BIT.LY.", True),
        ("www.bit.ly", True),
        ("t.co", True),
        ("ow.ly", True),
        ("tinyurl.com", True),
        ("buff.ly", True),
        ("goo.gl", True),
        ("is.gd", True),
        ("dlvr.it", True),
        ("blog.example", False),
        ("notbit.ly", False),
        ("t.co.example", False),
    ],
)
def test_is_shortener(host: str, expected: bool) -> None:
    assert is_shortener(host) is expected


# --------------------------------------------------------------------------------------
# Address guard
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0000.0000.0001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("4294967295", "255.255.255.255"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
    ],
)
def test_parse_host_address_reads_literal_forms(host: str, expected: str) -> None:
    assert parse_host_address(host) == ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.256",
        "4294967296",
        "08.0.0.1",
        "0x1g",
        "1..1",
        "[127.0.0.1]",
        "[::1",
        "::1]",
        "[example.com]",
        "1e3",
        "١٢٧.0.0.1",
    ],
)
def test_parse_host_address_rejects_names_and_junk(host: str) -> None:
    assert parse_host_address(host) is None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:8.8.8.8",  # IPv4-mapped public
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
    ],
)
def test_is_public_address_allows_public(address: str) -> None:
    assert is_public_address(ip_address(address)) is True


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "192.0.0.8",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12:3456:789a::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:169.254.169.254",  # IPv4-mapped metadata service
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::8.8.8.8",  # IPv4-compatible, refused outright
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_is_public_address_refuses_non_public(address: str) -> None:
    assert is_public_address(ip_address(address)) is False


def test_is_public_address_ignores_zone_id() -> None:
    assert is_public_address(IPv6Address("fe80::1%eth0")) is False
    assert is_public_address(IPv6Address("2606:4700:4700::1111%eth0")) is True


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "targets a loopback address 127.0.0.1"),
        ("http://2130706433/", "targets a loopback address 127.0.0.1"),
        ("http://0x7f000001/", "targets a loopback address 127.0.0.1"),
        ("http://0177.0.0.1/", "targets a loopback address 127.0.0.1"),
        ("http://127.1:8080/admin", "targets a loopback address 127.0.0.1"),
        ("http://0x7f.1/", "targets a loopback address 127.0.0.1"),
        ("http://[::1]:8000/", "targets a loopback address ::1"),
        ("http://[::ffff:127.0.0.1]/", "targets a loopback address ::ffff:127.0.0.1"),
        ("http://[::ffff:7f00:1]/", "targets a loopback address ::ffff:127.0.0.1"),
        ("http://[fe80::1%25eth0]/", "targets a link-local address fe80::1"),
        ("http://[fd00::1]/", "targets a unique-local address fd00::1"),
        ("http://10.0.0.1/", "targets a private address 10.0.0.1"),
        ("http://192.168.1.1/", "targets a private address 192.168.1.1"),
        ("http://172.16.0.1/", "targets a private address 172.16.0.1"),
        ("http://169.254.169.254/latest/", "targets a link-local address 169.254.169.254"),
        ("http://100.64.1.1/", "targets a shared (carrier-grade NAT) address 100.64.1.1"),
        ("http://0.0.0.0:8080/", "targets an unspecified address 0.0.0.0"),
        ("http://224.0.0.1/", "targets a multicast address 224.0.0.1"),
        ("http://192.0.2.10/", "targets a documentation address 192.0.2.10"),
        ("http://example.com@127.0.0.1/", "targets a loopback address 127.0.0.1"),
        ("http://localhost:8000/", "targets localhost"),
        ("http://LOCALHOST./", "targets localhost"),
        ("http://app.localhost/", "targets localhost"),
        ("ftp://example.com/", "scheme 'ftp' is not allowed (only http and https)"),
        ("file:///etc/passwd", "scheme 'file' is not allowed (only http and https)"),
        ("gopher://example.com:70/", "scheme 'gopher' is not allowed (only http and https)"),
        ("/relative", "not an absolute http(s) URL"),
        ("http://[::1/", "not a valid URL"),
        ("http:///path", "not a valid http(s) URL"),
        ("http://127.0.0.1\\@example.com/", "not a valid http(s) URL"),
    ],
)
def test_check_url_allowed_refuses(url: str, reason: str) -> None:
    assert check_url_allowed(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        "https://blog.example/2026/11/recap/",
        "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
        "https://localhost.example/",
        "http://127.0.0.1.example/",
    ],
)
def test_check_url_allowed_allows_public(url: str) -> None:
    assert check_url_allowed(url) is None


class FakeResolver:
    """Answers from a table and records every question; never touches the network."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Iterable[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def test_resolve_public_returns_public_addresses_once_each() -> None:
    resolver = FakeResolver(
        {
            "blog.example": [
                "93.184.215.14",
                "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                "93.184.215.14",
            ]
        }
    )
    assert resolve_public("blog.example", 443, resolver) == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    assert resolver.calls == [("blog.example", 443)]


def test_resolve_public_refuses_a_private_answer_among_public_ones() -> None:
    resolver = FakeResolver({"rebind.example": ["93.184.215.14", "10.0.0.1"]})
    with pytest.raises(BlockedAddressError) as info:
        resolve_public("rebind.example", 80, resolver)
    assert str(info.value) == (
        "rebind.example: resolves to a private address 10.0.0.1 "
        "(use --allow-private-networks to allow)"
    )
    assert info.value.url == "rebind.example"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("127.0.0.1", "resolves to a loopback address 127.0.0.1"),
        ("::1", "resolves to a loopback address ::1"),
        ("fe80::1%eth0", "resolves to a link-local address fe80::1"),
        ("::ffff:192.168.0.5", "resolves to a private address ::ffff:192.168.0.5"),
        ("100.64.0.1", "resolves to a shared (carrier-grade NAT) address 100.64.0.1"),
        ("not-an-ip", "resolves to an unreadable address 'not-an-ip'"),
    ],
)
def test_resolve_public_refuses_non_public_answers(answer: str, message: str) -> None:
    resolver = FakeResolver({"intranet.example": [answer]})
    with pytest.raises(BlockedAddressError) as info:
        resolve_public("intranet.example", 443, resolver, subject="https://intranet.example/x")
    assert info.value.subject == "https://intranet.example/x"
    assert info.value.message == message


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "is a loopback address 127.0.0.1"),
        ("2130706433", "is a loopback address 127.0.0.1"),
        ("[::1]", "is a loopback address ::1"),
        ("[::ffff:10.1.2.3]", "is a private address ::ffff:10.1.2.3"),
    ],
)
def test_resolve_public_checks_literals_without_asking_the_resolver(
    host: str, message: str
) -> None:
    resolver = FakeResolver({})
    with pytest.raises(BlockedAddressError) as info:
        resolve_public(host, 80, resolver)
    assert info.value.message == message
    assert info.value.hint == "use --allow-private-networks to allow"
    assert resolver.calls == []


def test_resolve_public_returns_public_literal_without_resolving() -> None:
    resolver = FakeResolver({})
    assert resolve_public("8.8.8.8", 80, resolver) == ["8.8.8.8"]
    assert resolve_public("[2606:4700:4700::1111]", 80, resolver) == ["2606:4700:4700::1111"]
    assert resolver.calls == []


def test_resolve_public_translates_resolver_failure() -> None:
    with pytest.raises(FetchError) as info:
        resolve_public("nowhere.invalid", 443, FakeResolver({}))
    assert not isinstance(info.value, BlockedAddressError)
    assert (
        str(info.value)
        == "nowhere.invalid: cannot resolve nowhere.invalid: Name or service not known"
    )
    assert isinstance(info.value.__cause__, socket.gaierror)


def test_resolve_public_refuses_empty_answer() -> None:
    with pytest.raises(FetchError) as info:
        resolve_public("empty.example", 443, FakeResolver({"empty.example": []}))
    assert str(info.value) == "empty.example: cannot resolve empty.example: no addresses"


def test_system_resolver_reads_numeric_host_without_dns() -> None:
    # A numeric host is answered by getaddrinfo itself (AI_NUMERICHOST path): no query sent.
    assert system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


# --------------------------------------------------------------------------------------
# Properties (hypothesis)
# --------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789üé", min_size=1, max_size=10)
hosts = st.lists(_label, min_size=1, max_size=3).map(lambda labels: ".".join([*labels, "example"]))
_segment = st.lists(
    st.sampled_from([*"abcXYZ019-._~!$'()*+,;=:@ é€/", "%2F", "%41", "%e2%82%ac", "..", "."]),
    max_size=8,
).map("".join)
paths = st.lists(_segment, max_size=4).map(lambda segments: "/" + "/".join(segments))
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda n: not n.startswith("utm_") and n not in TRACKING_PARAMS
)
_value = st.lists(st.sampled_from([*"abc019-._~+/:@é", "%20", "%2B"]), max_size=8).map("".join)
params = st.lists(st.tuples(_name, _value), max_size=4)


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={value}" for name, value in pairs)


urls = st.builds(
    lambda scheme, host, path, pairs: f"{scheme}://{host}{path}?{_query(pairs)}",
    st.sampled_from(["http", "https"]),
    hosts,
    paths,
    params,
)


@PROPERTY_SETTINGS
@given(st.text(), st.one_of(st.none(), st.text()))
def test_canonical_url_never_raises_on_arbitrary_text(url: str, base: str | None) -> None:
    result = canonical_url(url, base)
    assert result is None or result.startswith(("http://", "https://"))


@PROPERTY_SETTINGS
@given(st.one_of(urls, st.text().map(lambda t: "https://example.com/" + t)))
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert once is not None
    assert canonical_url(once) == once


@PROPERTY_SETTINGS
@given(st.sampled_from(["http", "https"]), hosts, paths, params)
def test_canonical_url_ignores_host_case(
    scheme: str, host: str, path: str, pairs: list[tuple[str, str]]
) -> None:
    rest = f"{path}?{_query(pairs)}"
    assert canonical_url(f"{scheme}://{host.upper()}{rest}") == canonical_url(
        f"{scheme}://{host}{rest}"
    )


@PROPERTY_SETTINGS
@given(st.sampled_from([("http", 80), ("https", 443)]), hosts, paths, params)
def test_canonical_url_ignores_default_port(
    scheme_port: tuple[str, int], host: str, path: str, pairs: list[tuple[str, str]]
) -> None:
    scheme, port = scheme_port
    rest = f"{path}?{_query(pairs)}"
    assert canonical_url(f"{scheme}://{host}:{port}{rest}") == canonical_url(
        f"{scheme}://{host}{rest}"
    )


@PROPERTY_SETTINGS
@given(urls, st.text())
def test_canonical_url_ignores_fragment(url: str, fragment: str) -> None:
    assert canonical_url(f"{url}#{fragment}") == canonical_url(url)


@PROPERTY_SETTINGS
@given(
    st.sampled_from(["http", "https"]),
    hosts,
    paths,
    params,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=8),
    _value,
    st.integers(min_value=0, max_value=4),
)
def test_canonical_url_ignores_utm_params(
    scheme: str,
    host: str,
    path: str,
    pairs: list[tuple[str, str]],
    suffix: str,
    value: str,
    position: int,
) -> None:
    with_utm = [*pairs]
    with_utm.insert(min(position, len(pairs)), (f"utm_{suffix}", value))
    base = f"{scheme}://{host}{path}?"
    assert canonical_url(base + _query(with_utm)) == canonical_url(base + _query(pairs))


@PROPERTY_SETTINGS
@given(urls)
@example("http://0.example//;/?")  # canonicalising the folded form exposed another fold
def test_article_key_is_idempotent(url: str) -> None:
    key = article_key(url)
    assert article_key(key) == key


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_html_functions_never_raise(html: str) -> None:
    assert isinstance(html_to_text(html), str)
    assert isinstance(extract_links(html), ExtractedLinks)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_parse_host_address_decimal_and_hex_match_dotted(value: int) -> None:
    expected = IPv4Address(value)
    assert parse_host_address(str(value)) == expected
    assert parse_host_address(hex(value)) == expected
    assert parse_host_address(str(expected)) == expected


def test_html_to_text_survives_deep_nesting() -> None:
    nested = "<div>" * 1000 + "deep" + "</div>" * 1000 + "<p>after</p>"
    assert html_to_text(nested) == "deep\n\nafter"
