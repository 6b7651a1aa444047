"""sources/streaming: events parsed (pure), and one watcher thread against a loopback
server that streams (tests/support/streaming.py), without the CLI or the store."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bsarchive.http import Event, Http, HttpSettings
from bsarchive.models import Boost, Cursor, Page, Post, SourceSpec
from bsarchive.sources import FetchContext
from bsarchive.sources.streaming import (
    StreamDeletion,
    parse_event,
    stream_base,
    watch_tag,
)
from tests.support.streaming import TOKEN, StreamingMastodon, status

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SPEC = SourceSpec("mastodon", "https://a.example", tag="bsnopen")
URL = "https://a.example/api/v1/streaming/hashtag?tag=bsnopen"


def _ctx(**kw: object) -> FetchContext:
    return FetchContext(tags=("bsnopen",), now=lambda: NOW, **kw)  # type: ignore[arg-type]


def test_an_update_is_a_post_seen_on_the_instance() -> None:
    item = parse_event(Event("update", json.dumps(status(1, 101))), SPEC, URL, _ctx())
    assert isinstance(item, tuple)
    post, boost = item
    assert isinstance(post, Post) and boost is None
    assert post.sighting.source == "a.example" and post.sighting.local_id == "101"
    assert post.sighting.fetched_from == URL and post.tags == ("bsnopen",)


def test_a_boost_on_the_stream_gives_the_post_and_the_boost() -> None:
    wrapper = {**status(9, 109), "reblog": status(1, 101)}
    wrapper["uri"] = wrapper["uri"] + "/activity"
    item = parse_event(Event("update", json.dumps(wrapper)), SPEC, URL, _ctx())
    assert isinstance(item, tuple)
    post, boost = item
    assert isinstance(boost, Boost) and boost.post_uri == post.uri


def test_a_delete_names_the_status_id_bare_or_quoted() -> None:
    for data in ("104", '"104"', " 104\n"):
        item = parse_event(Event("delete", data), SPEC, URL, _ctx())
        assert item == StreamDeletion(SPEC.key, "a.example", "104", NOW, URL)


@pytest.mark.parametrize(
    "event",
    [
        Event("update", "{not json"),
        Event("update", "[1, 2]"),
        Event("update", json.dumps({"id": "1"})),  # no uri, no created_at
        Event("update", json.dumps(status(1, 101, tag="other"))),
        Event("notification", "{}"),
        Event("delete", ""),
    ],
    ids=["malformed", "not-object", "no-uri", "other-tag", "unknown-event", "empty-delete"],
)
def test_events_to_skip(event: Event, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    assert parse_event(event, SPEC, URL, _ctx()) is None
    assert caplog.records, "every skipped event is logged"


def test_a_post_outside_the_window_is_not_kept() -> None:
    ctx = _ctx(since=datetime(2011, 1, 1, tzinfo=UTC))
    assert parse_event(Event("update", json.dumps(status(1, 101))), SPEC, URL, ctx) is None


def test_the_streaming_host_comes_from_the_instance_document() -> None:
    with StreamingMastodon([]) as server, Http() as http:
        # ws://127.0.0.1:PORT in configuration.urls.streaming, read as http://
        assert stream_base(http, server.url) == server.url
    with Http(HttpSettings(connect_timeout=0.5, retries=0)) as http:
        # Nothing answers: the API host itself.
        assert stream_base(http, "http://127.0.0.1:9") == "http://127.0.0.1:9"


class _Collector:
    def __init__(self) -> None:
        self.items: queue.Queue[Page | StreamDeletion] = queue.Queue(maxsize=100)
        self.modes: queue.Queue[str] = queue.Queue()

    def emit(self, item: Page | StreamDeletion) -> bool:
        self.items.put(item, timeout=5)
        return True

    def report(self, key: str, words: str) -> None:
        self.modes.put(words)

    def mode(self, starting: str) -> str:
        """The next reported mode starting with ``starting`` (bounded wait)."""
        for _ in range(20):
            words = self.modes.get(timeout=10)
            if words.startswith(starting):
                return words
        raise AssertionError(f"no {starting!r} mode reported")


@pytest.fixture
def watcher() -> Iterator[tuple[_Collector, threading.Event, list[threading.Thread]]]:
    got, stop, threads = _Collector(), threading.Event(), []
    yield got, stop, threads
    stop.set()
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()


def test_a_failing_stream_gives_way_to_polling_and_is_tried_again(
    watcher: tuple[_Collector, threading.Event, list[threading.Thread]],
) -> None:
    got, stop, threads = watcher
    with StreamingMastodon([status(1, 101)]) as server:
        server.stream_status = 503
        spec = SourceSpec("mastodon", server.url, tag="bsnopen")
        http = Http(HttpSettings(retries=0), tokens={server.url: TOKEN})
        t = threading.Thread(
            target=watch_tag,
            args=(http, spec, Cursor(), FetchContext(tags=("bsnopen",), stop=stop)),
            kwargs={"emit": got.emit, "report": got.report, "poll_seconds": 0.1,
                    "backoff": 0.01, "stream_retry": 0.5},
        )  # fmt: skip
        threads.append(t)
        t.start()
        assert got.mode("streaming")
        assert "stream failing: HTTP 503" in got.mode("polling every 0.1s")
        server.stream_status = 200
        assert got.mode("streaming")  # tried again after stream_retry, and said so
        assert server.wait_connections(1)
        server.post(status(2, 102))
        for _ in range(50):
            item = got.items.get(timeout=10)
            if isinstance(item, Page) and any(
                isinstance(i, Post) and i.sighting.local_id == "102" for i in item.items
            ):
                break
        else:
            raise AssertionError("the streamed post never came")
        stop.set()
        http.close()  # ends the stream's read, as the watch does when it stops
        t.join(timeout=10)
        assert not t.is_alive()
