"""Identity rules across sources: one test per pairing, with literal values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bsarchive.dedupe import (
    identity_candidates,
    mastodon_uri_to_url,
    mastodon_url_to_uri,
    normalise_identity,
    retweeted_post,
    same_boost,
    same_post,
)
from bsarchive.models import Author, Boost, Post, Sighting

AT = datetime(2010, 6, 29, 17, 2, 11, tzinfo=UTC)
SEEN = datetime(2010, 6, 30, 9, 0, tzinfo=UTC)
URI = "https://mastodon.bsn.example/users/alice/statuses/104566203345870013"
URL = "https://mastodon.bsn.example/@alice/104566203345870013"


def post(uri: str, url: str | None, source: Any = "mastodon", **fields: Any) -> Post:
    local_id = fields.pop("local_id", None)
    seen_on = fields.pop("seen_on", "mastodon.bsn.example")
    return Post(
        uri=uri,
        url=url,
        created_at=fields.pop("created_at", AT),
        author=fields.pop("author", Author("@alice@mastodon.bsn.example", "Alice Jones")),
        content_html=fields.pop("content_html", "<p>Doors open at 6pm #bsnopen</p>"),
        text=fields.pop("text", "Doors open at 6pm #bsnopen"),
        sighting=Sighting(seen_on, local_id, url, SEEN, f"https://{seen_on}/x"),
        source=source,
        **fields,
    )


# --- the Mastodon uri <-> url shapes --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        (URL, URI),
        ("HTTPS://Mastodon.BSN.example/@alice/104566203345870013/", URI),
        ("http://127.0.0.1:8001/@alice/7", "http://127.0.0.1:8001/users/alice/statuses/7"),
        ("https://mastodon.bsn.example/@alice@social.civic.example/109117425006655321", None),
        ("https://gts.bsn.example/@dan/statuses/01HZX4K6W8D3Q9V2M7N5P1R0ST", None),
        ("https://pleroma.example/notice/AbCdEf123", None),
        ("https://mastodon.bsn.example/@alice/1?x=y", None),
        ("tag:gnusocial.example,2010:noticeId=1", None),
    ],
)
def test_mastodon_url_to_uri(url: str, uri: str | None) -> None:
    assert mastodon_url_to_uri(url) == uri


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        (URI, URL),
        (URI + "/activity", None),
        ("https://pleroma.example/objects/1b2c3d4e-0000-4000-8000-000000000001", None),
        ("not a url", None),
    ],
)
def test_mastodon_uri_to_url(uri: str, url: str | None) -> None:
    assert mastodon_uri_to_url(uri) == url


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("HTTPS://Mastodon.BSN.example:443/@Alice/1/", "https://mastodon.bsn.example/@Alice/1"),
        ("http://h.example:80/", "http://h.example"),
        ("http://h.example:8080/a", "http://h.example:8080/a"),
        (" tag:gnusocial.example,2010:noticeId=1 ", "tag:gnusocial.example,2010:noticeId=1"),
        ("https://h:notaport/x", "https://h:notaport/x"),
    ],
)
def test_normalise_identity(value: str, normal: str) -> None:
    assert normalise_identity(value) == normal


def test_identity_candidates_of_a_mastodon_post() -> None:
    assert identity_candidates(post(URI, URL)) == (URI, URL)
    assert identity_candidates(post(URI, None)) == (URI, URL)


# --- pairings -------------------------------------------------------------------------------


def test_api_vs_rss() -> None:
    api = post(URI, URL, local_id="104566203345870013")
    rss = post(URL, URL, source="rss")  # guid and link are both the HTML url
    assert same_post(api, rss)


def test_api_vs_outbox() -> None:
    api = post(URI, URL, local_id="104566203345870013")
    outbox = post(URI, URL, source="activitypub", seen_on="https://mastodon.bsn.example/outbox")
    assert same_post(api, outbox)


def test_rss_vs_outbox_by_derived_forms() -> None:
    rss = post("https://Mastodon.BSN.example/@alice/104566203345870013/", None, source="rss")
    outbox = post(URI, None, source="activitypub")
    assert same_post(rss, outbox)
    assert same_post(outbox, rss)


def test_outbox_create_activity_id_names_its_note() -> None:
    assert same_post(post(URI + "/activity", None, source="activitypub"), post(URI, URL))


def test_same_status_on_three_instances_is_one_post() -> None:
    seen = [
        post(URI, URL, local_id="104566203345870013", seen_on="mastodon.bsn.example"),
        post(URI, URL, local_id="109117425006655321", seen_on="social.civic.example"),
        post(URI, URL, local_id="110000000000004242", seen_on="toot.localgov.example"),
    ]
    assert all(same_post(seen[0], other) for other in seen[1:])


def test_same_local_id_on_two_instances_is_not_the_same_post() -> None:
    a = post(URI, URL, local_id="109117425006655321", seen_on="social.civic.example")
    b = post(
        "https://social.civic.example/users/bob/statuses/109117425006655321",
        "https://social.civic.example/@bob/109117425006655321",
        local_id="109117425006655321",
        seen_on="social.civic.example",
    )
    assert not same_post(a, b)


def test_boost_wrapper_is_not_the_original_but_matches_its_announce() -> None:
    wrapper = "https://mastodon.bsn.example/users/carol/statuses/104566250000000999/activity"
    assert wrapper not in identity_candidates(post(URI, URL))
    carol = Author("@carol@mastodon.bsn.example", uri="https://mastodon.bsn.example/users/carol")
    from_api = Boost(
        wrapper, URI, carol, AT, Sighting("mastodon.bsn.example", "1", None, SEEN, "a")
    )
    from_outbox = Boost(wrapper, URI, carol, AT, Sighting("outbox", None, None, SEEN, "b"))
    assert same_boost(from_api, from_outbox)
    # Pleroma's Announce id differs from nothing else we know: same booster and post match.
    pleroma = Boost("https://pl.example/activities/9", URI, carol, AT, from_outbox.sighting)
    assert same_boost(from_api, pleroma)
    other = Boost("https://pl.example/activities/9", URL + "0", carol, AT, from_outbox.sighting)
    assert not same_boost(from_api, other)


def test_friendica_uri_equals_url() -> None:
    objects = "https://friendica.example/objects/0a1b2c3d-1e2f-4a5b-8c9d-0e1f2a3b4c5d"
    api = post(objects, objects, seen_on="mastodon.bsn.example")
    rss = post(objects, objects, source="rss")
    outbox = post(objects, None, source="activitypub")
    assert same_post(api, rss) and same_post(rss, outbox) and same_post(api, outbox)
    assert identity_candidates(api) == (objects,)


def test_pleroma_objects_uri_and_notice_url() -> None:
    objects = "https://pleroma.example/objects/1b2c3d4e-0000-4000-8000-000000000001"
    notice = "https://pleroma.example/notice/AbCdEf123"
    api = post(objects, notice)
    rss = post(notice, notice, source="rss")
    outbox = post(objects, None, source="activitypub")
    assert same_post(api, rss)
    assert same_post(api, outbox)
    # Nothing derives the notice url from the objects uri: only the API record links them.
    assert not same_post(rss, outbox)


def test_gotosocial_uri_and_url() -> None:
    uri = "https://gts.bsn.example/users/dan/statuses/01HZX4K6W8D3Q9V2M7N5P1R0ST"
    url = "https://gts.bsn.example/@dan/statuses/01HZX4K6W8D3Q9V2M7N5P1R0ST"
    assert same_post(post(uri, None, source="activitypub"), post(url, url, source="rss"))


def test_retweeted_post_is_found_by_the_text_it_repeats() -> None:
    ada = [
        ("https://twitter.com/ada/status/1", "Doors open at 7 #bsnopen"),
        ("https://twitter.com/ada/status/2",
         "Slides & notes from the open night: https://blog.example.org/slides #bsnopen"),
    ]  # fmt: skip
    # TAGS text: entities escaped, the link shortened, the end cut with an ellipsis.
    rt = "RT @ada: Slides &amp; notes from the open night: http://t.co/x1 #bsn…"
    assert retweeted_post(rt, ada) == "https://twitter.com/ada/status/2"
    assert retweeted_post("RT @ada: Doors open at 7 #bsnopen", ada) == (
        "https://twitter.com/ada/status/1"
    )
    assert retweeted_post("RT @ada: Something else entirely", ada) is None
    twice = [*ada, ("https://twitter.com/ada/status/3", "Doors open at 7 #bsnopen again")]
    assert retweeted_post("RT @ada: Doors open at 7 #bsnopen", twice) is None  # ambiguous
    assert retweeted_post("RT @ada: …", ada) is None
