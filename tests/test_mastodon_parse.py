"""parse_status and the shared fediverse helpers, on Status JSON we wrote ourselves.

Golden fixtures: each ``fixtures/activitypub/status_*.json`` has a
``status_*.expected.json`` next to it holding the instance it was read from and the expected
Post/Boost fields (``raw`` is checked separately: it must decode back to the input).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsarchive.errors import ParseError
from bsarchive.models import iso
from bsarchive.sources.mastodon_parse import (
    content_links,
    handle_from_actor_uri,
    hashtags_in_text,
    normalise_tag,
    parse_status,
)
from bsarchive.text import html_to_text
from tests.support import paths
from tests.support.plain import as_plain

FIXTURES = paths.FIXTURES / "activitypub"
FETCHED_AT = datetime(2010, 6, 30, 9, 0, tzinfo=UTC)
STATUS_FIXTURES = sorted(
    p.name.removesuffix(".json")
    for p in FIXTURES.glob("status_*.json")
    if not p.name.endswith(".expected.json")
)


def load(name: str) -> dict[str, object]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_status_fixtures_are_all_covered() -> None:
    assert STATUS_FIXTURES == [
        "status_boost",
        "status_card",
        "status_edited",
        "status_local",
        "status_noindex",
        "status_null_url",
        "status_remote",
        "status_reply",
    ]


@pytest.mark.parametrize("name", STATUS_FIXTURES)
def test_golden_status(name: str) -> None:
    expected = load(f"{name}.expected")
    instance = expected["instance"]
    assert isinstance(instance, str)
    host = instance.split("//")[-1].strip("/")
    post, boost = parse_status(
        load(name),
        instance=instance,
        fetched_at=FETCHED_AT,
        fetched_from=f"https://{host}/api/v1/timelines/tag/bsnopen",
    )
    assert as_plain(post) == expected["post"]
    assert as_plain(boost) == expected["boost"]


@pytest.mark.parametrize("name", ["status_local", "status_null_url"])
def test_raw_is_the_status_reserialised_compactly(name: str) -> None:
    data = load(name)
    post, _ = parse_status(
        data, instance="mastodon.bsn.example", fetched_at=FETCHED_AT, fetched_from="u"
    )
    assert json.loads(post.raw) == data
    assert "\n" not in post.raw and ", " not in post.raw.split('"content"')[0]


def test_boost_wrapper_gives_original_post_and_wrapper_boost() -> None:
    data = load("status_boost")
    post, boost = parse_status(
        data, instance="mastodon.bsn.example", fetched_at=FETCHED_AT, fetched_from="u"
    )
    assert boost is not None
    assert post.uri == "https://mastodon.bsn.example/users/alice/statuses/104566203345870013"
    assert boost.uri == (
        "https://mastodon.bsn.example/users/carol/statuses/104566250000000999/activity"
    )
    assert boost.post_uri == post.uri
    assert boost.booster.handle == "@carol@mastodon.bsn.example"
    assert json.loads(post.raw) == data["reblog"]
    assert json.loads(boost.raw) == data


def test_same_status_on_two_instances_has_one_uri_and_two_local_ids() -> None:
    local, _ = parse_status(
        load("status_local"),
        instance="mastodon.bsn.example",
        fetched_at=FETCHED_AT,
        fetched_from="a",
    )
    remote, _ = parse_status(
        load("status_remote"),
        instance="social.civic.example",
        fetched_at=FETCHED_AT,
        fetched_from="b",
    )
    assert local.uri == remote.uri
    assert (local.sighting.local_id, remote.sighting.local_id) == (
        "104566203345870013",
        "109117425006655321",
    )
    assert local.author.handle == remote.author.handle == "@alice@mastodon.bsn.example"


def _minimal(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "1",
        "uri": "https://mastodon.bsn.example/users/alice/statuses/1",
        "created_at": "2010-06-29T18:00:00.000Z",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": ...}, "https://h/api: status has no string 'id'"),
        ({"uri": ...}, "https://h/api: status has no string 'uri'"),
        ({"created_at": ...}, "https://h/api: status has no string 'created_at'"),
        ({"id": 1}, "https://h/api: status has no string 'id'"),
        ({"uri": None}, "https://h/api: status has no string 'uri'"),
        ({"created_at": "29 June 2010"}, "https://h/api: status 1: bad created_at '29 June 2010'"),
        (
            {"reblog": {"id": "2", "created_at": "2010-06-29T18:00:00Z"}},
            "https://h/api: status has no string 'uri'",
        ),
    ],
)
def test_missing_identity_fields_raise_parse_error(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ParseError) as info:
        parse_status(
            _minimal(**changes), instance="h", fetched_at=FETCHED_AT, fetched_from="https://h/api"
        )
    assert str(info.value) == message


def test_minimal_status_with_everything_else_missing() -> None:
    post, boost = parse_status(
        _minimal(url=None, card=None, account=None, content=None, tags=None),
        instance="mastodon.bsn.example",
        fetched_at=FETCHED_AT,
        fetched_from="u",
    )
    assert boost is None
    assert (post.url, post.text, post.tags, post.links, post.author.handle) == (
        None,
        "",
        (),
        (),
        "@alice@mastodon.bsn.example",
    )
    assert (post.boosts, post.replies, post.favourites, post.edited_at) == (None, None, None, None)


def test_tzless_created_at_is_taken_as_utc_and_flagged() -> None:
    post, _ = parse_status(
        _minimal(created_at="2010-06-29T18:00:00"),
        instance="h",
        fetched_at=FETCHED_AT,
        fetched_from="u",
    )
    assert post.created_at == datetime(2010, 6, 29, 18, 0, tzinfo=UTC)
    assert post.flags == ("tz-less date",)


def test_offset_created_at_is_converted_to_utc() -> None:
    post, _ = parse_status(
        _minimal(created_at="2010-06-29T19:30:00+01:00"),
        instance="h",
        fetched_at=FETCHED_AT,
        fetched_from="u",
    )
    assert iso(post.created_at) == "2010-06-29T18:30:00.000Z"


def test_quote_from_mastodon_4_4_and_from_fedibird_shapes() -> None:
    quoted = "https://social.civic.example/users/bob/statuses/9"
    new_shape = _minimal(quote={"state": "accepted", "quoted_status": {"uri": quoted}})
    old_shape = _minimal(quote={"id": "9", "uri": quoted})
    for data in (new_shape, old_shape):
        post, _ = parse_status(data, instance="h", fetched_at=FETCHED_AT, fetched_from="u")
        assert post.quote_uri == quoted


def test_remote_media_prefers_origin_url_and_local_acct_mentions_get_instance_host() -> None:
    post, _ = parse_status(
        load("status_remote"),
        instance="social.civic.example",
        fetched_at=FETCHED_AT,
        fetched_from="u",
    )
    assert post.media == (
        "https://files.bsn.example/media_attachments/files/104/566/201/original/f00d.jpg",
    )
    assert post.mentions == ("@bob@social.civic.example",)


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("#BsnOpen", "bsnopen"),
        ("bsnopen", "bsnopen"),
        ("＃ＢＳＮｏｐｅｎ", "bsnopen"),
        (" #Straße ", "strasse"),
        ("", ""),
    ],
)
def test_normalise_tag(name: str, expected: str) -> None:
    assert normalise_tag(name) == expected


def test_hashtags_in_text_skip_fragments_entities_and_numbers() -> None:
    text = "At #BsnOpen see https://x.example/#agenda &#39; #2010 #local-gov #bsnopen"
    assert hashtags_in_text(text) == ("bsnopen", "local-gov")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two<br>three</p>", "One\n\nTwo\nthree"),
        ("plain &amp; simple", "plain & simple"),
        ("<p>a  \n b</p><!-- hidden --><script>x()</script>", "a b"),
        ('<a title="x">link</a> &lt;b&gt;', "link <b>"),
        ("<p>unclosed <b", "unclosed <b"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_content_links_exclude_mentions_and_hashtags() -> None:
    html = (
        '<a href="https://h/tags/bsnopen" class="mention hashtag" rel="tag">#<span>bsn</span></a>'
        '<a href="https://mk.example/tags/x">#x</a>'
        '<a href="https://h/@bob" class="u-url mention">@<span>bob</span></a>'
        '<a href="https://pl.example/tag/y" rel="tag ugc">y</a>'
        '<a href="mailto:a@b.example">mail</a>'
        "<a href='https://blog.example/a?x=1&amp;y=2'>post</a>"
        '<a href="https://blog.example/a?x=1&y=2">again</a>'
        '<a data-href="https://no.example" href=https://bare.example/b>bare</a>'
    )
    assert content_links(html) == ("https://blog.example/a?x=1&y=2", "https://bare.example/b")


@pytest.mark.parametrize(
    ("uri", "handle"),
    [
        ("https://mastodon.bsn.example/users/alice", "@alice@mastodon.bsn.example"),
        ("https://Mastodon.BSN.example/@alice", "@alice@mastodon.bsn.example"),
        ("https://friendica.example/profile/frida", "@frida@friendica.example"),
        ("http://127.0.0.1:8001/users/alice", "@alice@127.0.0.1:8001"),
        ("https://mk.example/notes/abc", "https://mk.example/notes/abc"),
        ("tag:gnusocial.example,2010:user:7", "tag:gnusocial.example,2010:user:7"),
    ],
)
def test_handle_from_actor_uri(uri: str, handle: str) -> None:
    assert handle_from_actor_uri(uri) == handle


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_STATUS_KEYS = st.sampled_from(
    [
        "id",
        "uri",
        "url",
        "created_at",
        "edited_at",
        "account",
        "content",
        "tags",
        "mentions",
        "media_attachments",
        "card",
        "reblog",
        "quote",
        "in_reply_to_id",
        "reblogs_count",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_STATUS_KEYS, _JSON | st.just("2010-06-29T18:00:00Z"), max_size=12))
def test_parse_status_raises_only_parse_error(data: dict[str, object]) -> None:
    try:
        post, boost = parse_status(data, instance="h", fetched_at=FETCHED_AT, fetched_from="u")
    except ParseError as e:
        assert e.url == "u"
    else:
        reblog = data.get("reblog")
        origin = reblog if isinstance(reblog, dict) else data
        assert post.uri == origin["uri"]
        assert (boost is None) == (origin is data)


def test_a_url_or_card_that_is_not_a_web_address_is_not_kept() -> None:
    status = load("status_card")
    status["url"] = "javascript:alert('url')"
    card = status["card"]
    assert isinstance(card, dict)
    card["url"] = "javascript:alert('card')"
    post, _ = parse_status(status, instance="a.example", fetched_at=FETCHED_AT, fetched_from="x")
    assert post.url is None
    assert not any("javascript" in link for link in post.links)
    assert post.sighting.url is None
