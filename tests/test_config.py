"""Settings from TOML + CLI + environment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bsarchive.config import (
    Instance,
    load_settings,
    normalize_tag,
    parse_filter_tag,
    parse_instance,
    require_sources,
)
from bsarchive.errors import ConfigError


def test_tags_are_normalised() -> None:
    assert normalize_tag("#BsnOpen") == "bsnopen"
    assert normalize_tag("＃ＢＳＮｏｐｅｎ") == "bsnopen"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("https://Hachyderm.IO/", "https://hachyderm.io"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ],
)
def test_instances(value: str, expected: str) -> None:
    assert parse_instance(value) == expected


def test_toml_and_cli_merge(tmp_path: Path) -> None:
    config = tmp_path / "event.toml"
    config.write_text(
        """
title = "Big Society Network open night"
tags = ["#bsnopen"]
since = "2010-06-29"
until = "2010-07-06"
concurrency = 4

[[mastodon]]
instance = "mastodon.social"
token_env = "MS_TOKEN"

[[mastodon]]
instance = "hachyderm.io"
"""
    )
    s = load_settings(
        config=config,
        cli={"tags": ["BigSociety"], "mastodon": ["fosstodon.org"]},
        env={"MS_TOKEN": "t1"},
    )
    assert s.tags == ("bsnopen", "bigsociety")
    assert s.instances == (
        Instance("https://mastodon.social", "t1"),
        Instance("https://hachyderm.io"),
        Instance("https://fosstodon.org"),
    )
    assert s.since == datetime(2010, 6, 29, tzinfo=UTC)
    assert s.until == datetime(2010, 7, 6, 23, 59, 59, 999999, tzinfo=UTC)
    assert s.concurrency == 4
    assert s.tokens == {"https://mastodon.social": "t1"}
    assert "t1" not in repr(s)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tags = 3", "expected a list"),
        ('concurrency = "lots"', "expected a number"),
        ("reactions = 1", "expected true/false"),
        ("[[mastodon]]\ntoken = 'x'", "needs instance"),
        ("tags = [", "not valid TOML"),
        ('since = "yesterday"', "not an ISO date"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config=config, env={})


def test_missing_token_env_is_an_error_for_fetch_only(tmp_path: Path) -> None:
    config = tmp_path / "e.toml"
    config.write_text('[[mastodon]]\ninstance = "a.example"\ntoken_env = "NOPE"\n')
    # export, digest, stats never send a token: the file still loads for them.
    settings = load_settings(config=config, env={})
    assert (settings.unset_token_envs, settings.tokens) == (("NOPE",), {})
    with pytest.raises(ConfigError, match="NOPE is not set"):
        require_sources(load_settings(config=config, cli={"tags": ["bsnopen"]}, env={}))
    assert load_settings(config=config, env={"NOPE": "t"}).unset_token_envs == ()


def test_fetch_option_names_work_as_config_keys_and_bad_numbers_name_their_option(
    tmp_path: Path,
) -> None:
    config = tmp_path / "e.toml"
    config.write_text("timeout = 5\nwait = true\n")
    settings = load_settings(config=config, env={})
    assert (settings.read_timeout, settings.wait) == (5, True)
    for cli, message in (
        ({"read_timeout": -1}, "--timeout: must not be negative"),
        ({"retries": -1}, "--retries: must not be negative"),
        ({"max_pages": 0}, "--max-pages: must be at least 1"),
        ({"max_reactions": -5}, "--max-reactions: must not be negative"),
    ):
        with pytest.raises(ConfigError) as raised:
            load_settings(cli=cli, env={})
        assert str(raised.value) == message


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("#BsnOpen", "bsnopen"),
        ("big-society", "big-society"),
        ("Big Society", "big-society"),
        ("＃ＢＳＮｏｐｅｎ", "bsnopen"),
        ("大きな社会", "大きな社会"),
    ],
)
def test_a_filter_tag_is_a_tag_as_stored(typed: str, stored: str) -> None:
    assert parse_filter_tag(typed) == stored


def test_a_filter_tag_with_nothing_in_it_is_refused() -> None:
    with pytest.raises(ConfigError, match="--tag"):
        parse_filter_tag(" # ")
