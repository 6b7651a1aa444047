"""Identity rules across sources: one test per pairing, with literal values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bsarchive.dedupe import (
    RETWEET_TEXT,
    BoostDecision,
    DeletionDecision,
    NewPostDecision,
    PostMerge,
    StoredPost,
    decide_boost,
    decide_deletion,
    decide_new_post,
    identity_candidates,
    mastodon_uri_to_url,
    mastodon_url_to_uri,
    merge_post,
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
        # Already normal but for slashes (the fast path): same answers as the long one.
        ("https://h.example/@alice/1", "https://h.example/@alice/1"),
        ("https://h.example//", "https://h.example"),
        ("https://h.example/a//", "https://h.example/a"),
        (" https://h.example/users/al/statuses/1 ", "https://h.example/users/al/statuses/1"),
        ("https://h.example/a/?b=1", "https://h.example/a?b=1"),
        ("https://h.example/a/#top", "https://h.example/a#top"),
        ("https://al@h.example/a/", "https://h.example/a"),
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


# --- which copy wins: merge_post and decide_deletion (issue 16) ----------------------------
#
# A stored row and an incoming copy in, the changes to apply out: one case per rule.

RSS_URL = "https://mastodon.bsn.example/@alice/104566203345870013"


def stored(**fields: Any) -> StoredPost:
    values: dict[str, Any] = {
        "uri": URI,
        "content_html": "<p>Doors open at 6pm #bsnopen</p>",
        "spoiler_text": "",
        "edited_at": None,
        "deleted_at": None,
        "seen_on": "mastodon.bsn.example",
        "source": "mastodon",
        "boosts": 3,
        "replies": 1,
        "favourites": 5,
        "tags": "bsnopen",
        "links": "",
    }
    values.update(fields)
    return StoredPost(**values)


def test_the_same_copy_again_changes_nothing() -> None:
    merge = merge_post(stored(), post(URI, URL, boosts=2, replies=1, favourites=5))
    assert merge == PostMerge()
    assert merge.is_noop


def test_counts_keep_the_highest_seen_and_unknowns_stay_known() -> None:
    merge = merge_post(stored(boosts=None), post(URI, URL, boosts=1, replies=None, favourites=9))
    assert merge.changes == {"boosts": 1, "favourites": 9}


def test_a_second_instance_and_new_tags_are_added() -> None:
    seen = post(URI, URL, seen_on="social.civic.example", tags=("bsnopen", "opendata"))
    merge = merge_post(stored(), seen)
    assert merge.changes == {
        "seen_on": "mastodon.bsn.example social.civic.example",
        "tags": "bsnopen opendata",
    }
    assert merge.add_tags == ("bsnopen", "opendata")


def test_what_the_first_source_left_unsaid_is_filled_in() -> None:
    merge = merge_post(
        stored(described=("en", None, None, None, None)),
        post(URI, URL, language="de", visibility="public", in_reply_to_local_id="7"),
    )
    assert merge.changes == {"visibility": "public", "in_reply_to_local_id": "7"}


def test_a_newer_edit_replaces_the_text_and_keeps_a_version() -> None:
    edit = post(
        URI,
        URL,
        content_html="<p>Doors open at 7pm #bsnopen</p>",
        text="Doors open at 7pm #bsnopen",
        edited_at=datetime(2010, 6, 29, 18, 0, tzinfo=UTC),
        links=("https://bsn.example/venue",),
        raw="{}",
    )
    merge = merge_post(stored(edited_at="2010-06-29T17:30:00.000Z"), edit)
    assert merge == PostMerge(
        changes={
            "content_html": "<p>Doors open at 7pm #bsnopen</p>",
            "text": "Doors open at 7pm #bsnopen",
            "spoiler_text": "",
            "edited_at": "2010-06-29T18:00:00.000Z",
            "raw": "{}",
            "links": "https://bsn.example/venue",
        },
        new_version=True,
        add_links=("https://bsn.example/venue",),
    )


@pytest.mark.parametrize(
    ("stored_edit", "incoming_edit"),
    [
        # A remote copy gives whole seconds where the origin has milliseconds: same edit.
        ("2010-06-29T18:00:00.250Z", datetime(2010, 6, 29, 18, 0, tzinfo=UTC)),
        # Another instance still has an older version: it must not flip the text back.
        ("2010-06-29T18:00:00.000Z", datetime(2010, 6, 29, 17, 30, tzinfo=UTC)),
    ],
)
def test_an_older_or_same_second_edit_keeps_the_stored_text(
    stored_edit: str, incoming_edit: datetime
) -> None:
    other = post(URI, URL, content_html="<p>Doors open at 5pm</p>", edited_at=incoming_edit)
    assert merge_post(stored(edited_at=stored_edit), other) == PostMerge()


def test_a_first_edit_time_without_new_text_is_recorded() -> None:
    edited = post(URI, URL, edited_at=datetime(2010, 6, 29, 18, 0, tzinfo=UTC))
    merge = merge_post(stored(), edited)
    assert merge == PostMerge(changes={"edited_at": "2010-06-29T18:00:00.000Z"})


def test_an_api_copy_replaces_a_tag_rss_item_and_takes_its_identity() -> None:
    rss = stored(uri=RSS_URL, source="rss", content_html="<p>Doors open</p>", links="")
    api = post(URI, URL, created_at=datetime(2010, 6, 29, 17, 2, 11, 500000, tzinfo=UTC))
    merge = merge_post(rss, api)
    assert merge.uri_moves_to == URI
    assert merge.new_author
    assert not merge.new_version
    assert merge.changes == {
        "uri": URI,
        "content_html": "<p>Doors open at 6pm #bsnopen</p>",
        "text": "Doors open at 6pm #bsnopen",
        "spoiler_text": "",
        "edited_at": None,
        "raw": "",
        "links": "",
        "source": "mastodon",
        "created_at": "2010-06-29T17:02:11.500Z",
        "flags": "",
    }


def test_a_tag_rss_item_does_not_replace_an_api_copy() -> None:
    rss = post(RSS_URL, RSS_URL, source="rss", content_html="<p>Doors open</p>")
    assert merge_post(stored(), rss) == PostMerge()


TWEET = "https://twitter.com/clairewrites/status/17350000050"


def test_a_tweets_own_json_replaces_its_tags_row() -> None:
    row = stored(uri=TWEET, source="twitter", is_tags_row=True, links="http://t.co/x")
    tweet = post(
        TWEET,
        TWEET,
        source="twitter",
        seen_on="twitter",
        links=("https://bsn.example/guide",),
        flags=(),
    )
    merge = merge_post(row, tweet)
    assert merge.uri_moves_to is None  # a tweet's identity is its id: no move
    assert merge.new_author
    assert merge.changes["tags_row"] == 0
    assert merge.changes["links"] == "https://bsn.example/guide"
    assert merge.replace_links  # the row's t.co links are not the post's
    assert merge.add_links == ("https://bsn.example/guide",)


def test_a_tags_row_does_not_replace_the_tweets_own_json() -> None:
    tweet = stored(uri=TWEET, source="twitter", seen_on="twitter")
    row = post(TWEET, TWEET, source="twitter", seen_on="twitter", is_tags_row=True)
    assert merge_post(tweet, row) == PostMerge()


def test_a_tweet_read_without_its_author_gets_the_users_permalink() -> None:
    by_id = "https://twitter.com/i/web/status/17350000050"
    row = stored(uri=by_id, source="twitter", seen_on="twitter")
    merge = merge_post(row, post(TWEET, TWEET, source="twitter", seen_on="twitter"))
    assert merge.changes == {"uri": TWEET, "url": TWEET}
    assert merge.uri_moves_to == TWEET
    assert merge.new_author


def test_a_deleted_post_served_again_by_its_own_server_came_back() -> None:
    gone = stored(deleted_at="2010-07-01T00:00:00.000Z")
    assert merge_post(gone, post(URI, URL)).changes == {"deleted_at": None}


def test_a_deleted_post_kept_by_another_server_stays_deleted() -> None:
    gone = stored(deleted_at="2010-07-01T00:00:00.000Z", seen_on="mastodon.bsn.example")
    other = post(URI, URL, seen_on="social.civic.example")
    assert merge_post(gone, other).changes == {
        "seen_on": "mastodon.bsn.example social.civic.example"
    }


@pytest.mark.parametrize(
    ("seen_by", "seen_on", "deleted"),
    [
        ("mastodon.bsn.example", ["social.civic.example"], True),  # its own server
        ("https://mastodon.bsn.example/users/alice/outbox", [], True),  # its own outbox
        ("social.civic.example", ["social.civic.example", "mastodon.bsn.example"], False),
        ("social.civic.example", ["social.civic.example"], True),  # the best word there is
    ],
)
def test_who_may_say_a_post_is_deleted(seen_by: str, seen_on: list[str], deleted: bool) -> None:
    decision = decide_deletion(URI, seen_by, seen_on)
    assert isinstance(decision, DeletionDecision)
    assert decision.mark_deleted is deleted


# --- retweets kept as text and TAGS guesses (decide_new_post, decide_boost) ----------------

RT = "https://twitter.com/dan_civic/status/17350000051"


@pytest.mark.parametrize(
    ("flags", "source", "boost_stored", "decision"),
    [
        # A retweet known by its text, already said by a structured boost: not again.
        ((RETWEET_TEXT,), "twitter", True, NewPostDecision(False, False)),
        # No boost says it yet: stored as the post it looks like.
        ((RETWEET_TEXT,), "twitter", False, NewPostDecision(True, True)),
        # A tweet of its own replaces a TAGS guess that it was a retweet.
        ((), "twitter", False, NewPostDecision(True, True)),
        # Other sources have no guesses to replace.
        ((), "mastodon", True, NewPostDecision(True, False)),
    ],
)
def test_what_a_new_post_does(
    flags: tuple[str, ...], source: str, boost_stored: bool, decision: NewPostDecision
) -> None:
    new = post(RT, RT, source=source, seen_on="twitter", flags=flags)
    assert decide_new_post(new.flags, new.source, boost_stored=boost_stored) == decision


@pytest.mark.parametrize(
    ("is_tags_row", "structured_post_stored", "guess_stored", "decision"),
    [
        # A TAGS guess gives way to a structured copy stored as a post.
        (True, True, False, BoostDecision(insert=False)),
        # Else it is stored, and a post made of the same retweet's text gives way.
        (True, False, False, BoostDecision(insert=True, drops_retweet_row=True)),
        # A structured boost answers a stored guess with the original it names.
        (False, False, True, BoostDecision(insert=False, answers_guess=True)),
        (False, True, False, BoostDecision(insert=True, drops_retweet_row=True)),
    ],
)
def test_what_a_boost_does(
    is_tags_row: bool, structured_post_stored: bool, guess_stored: bool, decision: BoostDecision
) -> None:
    assert (
        decide_boost(
            is_tags_row,
            structured_post_stored=structured_post_stored,
            guess_stored=guess_stored,
        )
        == decision
    )
