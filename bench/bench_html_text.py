"""HTML -> plain text benchmark (issue 16): the candidate routines side by side.

Runs every ``html_to_text`` candidate still in the tree on the same inputs, on the two paths
that turn HTML into text:

- backfill: the ``content`` (and account ``note``) of synthetic Mastodon statuses
  (``fixtures.synthetic.synthetic_status``), the ``content``/``summary`` strings of the
  ActivityPub and Mastodon fixtures (fixtures/activitypub) and the status HTML of
  fixtures/urls/statuses.json;
- feed/article: the entry titles, summaries and contents of the feed fixtures
  (fixtures/feeds, fixtures/reactions, read with feedparser) and the article
  pages of fixtures/reactions.

Prints, per path and candidate, the mean time per call and how many outputs agree with the
first candidate (the reference), with the first few disagreements; asserts nothing.
Candidates that are no longer in the tree are skipped (issue 16 kept one; the figures of the
run that chose it are in the commit message). Usage: ``python bench/bench_html_text.py
[--statuses 2000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: fixtures/
from fixtures.synthetic import synthetic_status  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# (label, module, attribute): the reference first. Issue 16 measured the four below (the
# lxml tree walk was the reference: it passed every test of every path) and kept
# text.html_to_text; the others were deleted, so only it runs today.
CANDIDATES = (
    ("regex (text.html_to_text)", "bsarchive.text", "html_to_text"),
    ("lxml (urls.html_to_text)", "bsarchive.urls", "html_to_text"),
    ("regex (mastodon_parse.html_to_text)", "bsarchive.sources.mastodon_parse", "html_to_text"),
    ("html.parser (feeds._html_to_text)", "bsarchive.sources.feeds.html", "_html_to_text"),
)


def _strings(data: object, keys: frozenset[str]) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys and isinstance(value, str) and value:
                yield value
            else:
                yield from _strings(value, keys)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item, keys)


def backfill_inputs(statuses: int) -> list[str]:
    out: list[str] = []
    for n in range(statuses):
        status = synthetic_status(n, viewer="x.social", local_id=n)
        out += [status["content"], status["account"]["note"]]
    keys = frozenset({"content", "summary", "note", "spoiler_text"})
    for path in sorted((FIXTURES / "activitypub").glob("*.json")):
        if not path.name.endswith(".expected.json"):
            out += _strings(json.loads(path.read_text()), keys)
    out += [case["html"] for case in json.loads((FIXTURES / "urls" / "statuses.json").read_text())]
    return out


def feed_inputs() -> list[str]:
    out: list[str] = []
    paths = sorted((FIXTURES / "feeds").iterdir()) + sorted((FIXTURES / "reactions").iterdir())
    for path in paths:
        if path.suffix == ".html":
            out.append(path.read_text(errors="replace"))
            continue
        if path.suffix not in (".rss", ".atom", ".rdf", ".xml") or "laughs" in path.name:
            continue
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            out += [entry.get("title", ""), entry.get("summary", "")]
            out += [c.get("value", "") for c in entry.get("content", [])]
    return [s for s in out if s]


def candidates() -> list[tuple[str, Callable[[str], str]]]:
    found: list[tuple[str, Callable[[str], str]]] = []
    for label, module, name in CANDIDATES:
        function = getattr(importlib.import_module(module), name, None)
        if function is not None and all(function is not f for _, f in found):
            found.append((label, function))
    return found


def measure(label: str, inputs: list[str], repeat: int) -> None:
    found = candidates()
    reference = [found[0][1](html) for html in inputs]
    print(f"{label}: {len(inputs)} inputs, {sum(map(len, inputs)) // 1024} KiB")
    for name, function in found:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            outputs = [function(html) for html in inputs]
            best = min(best, time.perf_counter() - start)
        agree = sum(a == b for a, b in zip(outputs, reference, strict=True))
        print(
            f"  {name:<38} {best / len(inputs) * 1e6:8.1f} us/call  "
            f"agrees with reference on {agree}/{len(inputs)}"
        )
        shown = 0
        for html, got, want in zip(inputs, outputs, reference, strict=True):
            if got != want and shown < 2:
                shown += 1
                print(f"    differs on {html[:70]!r}:\n      {got[:70]!r}\n   vs {want[:70]!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    measure("backfill (status HTML)", backfill_inputs(args.statuses), args.repeat)
    measure("feed/article (entry HTML, pages)", feed_inputs(), args.repeat)


if __name__ == "__main__":
    main()
