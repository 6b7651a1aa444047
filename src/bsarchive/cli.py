"""The command line: parse options, build Settings, call one function, render, map errors
to exit codes (DESIGN.md: 0 ok, 1 partial, 2 usage/config, 75 locked).

Thin by design: no SQL, no parsing, no HTTP here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bsarchive import __version__, console
from bsarchive.archive import run_fetch
from bsarchive.config import Settings, load_settings, parse_tag, parse_when, require_sources
from bsarchive.errors import EXIT_OK, BsarchiveError, ConfigError
from bsarchive.export.csv import write_csv
from bsarchive.export.jsonl import write_jsonl
from bsarchive.store import ArchiveLock, ExportFilter, Store

app = typer.Typer(
    help="Archive an event's hashtag conversation (Mastodon, feeds, blog reactions) into SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(help="Export the archive as data: csv, jsonl.", no_args_is_help=True)
app.add_typer(export_app, name="export")

T = TypeVar("T")

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", envvar="BSARCHIVE_DB", help="Archive file [default: ./bsarchive.db]."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Event TOML file.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")]
VerboseOpt = Annotated[int, typer.Option("-v", "--verbose", count=True, help="-v info, -vv debug.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="ISO date/datetime (UTC).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="ISO date/datetime (UTC).")]
TagFilter = Annotated[list[str] | None, typer.Option("--tag", help="Only items with this tag.")]
KindFilter = Annotated[
    list[str] | None, typer.Option("--kind", help="post, reaction or comment (repeatable).")
]
OutOpt = Annotated[str, typer.Option("-o", "--output", help="Output file, - for stdout.")]


def _run(fn: Callable[[], int | None]) -> None:
    """Run a command body; BsarchiveError -> one stderr line and its exit code."""
    try:
        code = fn()
    except BsarchiveError as e:
        console.error_line(e)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        console.error_line("interrupted; everything stored so far is kept")
        raise typer.Exit(130) from None
    raise typer.Exit(code or EXIT_OK)


def _settings(config: Path | None, **cli: Any) -> Settings:
    return load_settings(config=config, cli=cli)


def _filter(
    since: str | None, until: str | None, tags: list[str] | None, kinds: list[str] | None
) -> ExportFilter:
    kinds = kinds or ["post", "reaction", "comment"]
    for kind in kinds:
        if kind not in ("post", "reaction", "comment"):
            raise ConfigError("--kind", f"{kind!r} is not one of post, reaction, comment")
    return ExportFilter(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until", end=True),
        tags=tuple(parse_tag(t) for t in tags or ()),
        kinds=tuple(kinds),
    )


def _version(value: bool) -> None:
    if value:
        print(f"bsarchive {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """bsarchive: keep an event's online conversation."""


@app.command()
def fetch(
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Hashtag, with or without #.")
    ] = None,
    mastodon: Annotated[
        list[str] | None, typer.Option("--mastodon", help="Instance host or base URL.")
    ] = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="RSS/Atom/JSON feed URL.")
    ] = None,
    outbox: Annotated[
        list[str] | None, typer.Option("--outbox", help="ActivityPub actor or outbox URL.")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    reactions: Annotated[
        bool | None, typer.Option("--reactions/--no-reactions", help="Follow links to blog posts.")
    ] = None,
    max_reactions: Annotated[int | None, typer.Option(help="New articles per run.")] = None,
    allow_private_networks: Annotated[
        bool | None,
        typer.Option("--allow-private-networks", help="Let links reach private addresses."),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Total parallel requests.")] = None,
    refresh: Annotated[
        float | None, typer.Option("--refresh", metavar="HOURS", help="Re-read recent posts.")
    ] = None,
    discover: Annotated[
        bool | None, typer.Option("--discover", help="Find more instances.")
    ] = None,
    max_instances: Annotated[int | None, typer.Option(help="Cap for --discover.")] = None,
    include_opted_out: Annotated[
        bool | None, typer.Option("--include-opted-out", help="Store opted-out accounts.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for another run's lock.")] = False,
    max_wait: Annotated[
        float | None, typer.Option(help="Longest rate-limit wait (s) before a source gives up.")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Read timeout per request (s).")] = None,
    max_pages: Annotated[int | None, typer.Option(help="Pages per source per run.")] = None,
    retries: Annotated[int | None, typer.Option(help="Retries on transient errors.")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Also log to this rotating file.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """One archival run: pull every source, follow reactions, store, exit."""
    console.setup_logging(verbose, quiet, log_file)

    def body() -> int:
        s = _settings(
            config, tags=tag, mastodon=mastodon, feeds=feed, outboxes=outbox, since=since,
            until=until, reactions=reactions, max_reactions=max_reactions,
            allow_private_networks=allow_private_networks, concurrency=concurrency,
            refresh=refresh, discover=discover, max_instances=max_instances,
            include_opted_out=include_opted_out, wait=wait, max_wait=max_wait,
            read_timeout=timeout, retries=retries, max_pages=max_pages, db=db,
        )  # fmt: skip
        require_sources(s)
        with ExitStack() as stack:
            stack.enter_context(ArchiveLock(s.db)).acquire(wait=s.wait)
            store = stack.enter_context(Store(s.db))
            progress = stack.enter_context(console.fetch_progress(not quiet))
            result = run_fetch(s, store, progress=progress)
        console.summary(result, quiet)
        return result.exit_code

    _run(body)


@export_app.command("csv")
def export_csv(
    output: OutOpt = "-",
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    unsafe_cells: Annotated[
        bool, typer.Option("--unsafe-cells", help="Do not neutralise formula-like cells.")
    ] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """CSV (RFC 4180, UTF-8), one row per item, oldest first."""

    def body() -> None:
        s = _settings(config, db=db)
        with Store(s.db, readonly=True) as store, _open_text(output) as f:
            write_csv(store, f, _filter(since, until, tag, kind), safe_cells=not unsafe_cells)

    _run(body)


@export_app.command("jsonl")
def export_jsonl(
    output: OutOpt = "-",
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """JSON Lines, one object per item, oldest first."""

    def body() -> None:
        s = _settings(config, db=db)
        with Store(s.db, readonly=True) as store, _open_binary(output) as f:
            write_jsonl(store, f, _filter(since, until, tag, kind))

    _run(body)


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Counts, top authors and links, posts per hour, per-source health."""

    def body() -> None:
        s = _settings(config, db=db)
        with Store(s.db, readonly=True) as store:
            result = store.stats()
        if as_json:
            print(json.dumps(result.__dict__, indent=2, sort_keys=True, default=list))
        else:
            console.stats_tables(result)

    _run(body)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the demo archive and exports.")
    ] = Path("demo-output"),
    quiet: QuietOpt = False,
) -> None:
    """Run the whole pipeline offline on bundled fixtures served on 127.0.0.1."""
    from bsarchive.demo import run_demo

    console.setup_logging(0, quiet)
    _run(lambda: run_demo(out, report=None if quiet else console.err.print))


class _StdoutText:
    def __enter__(self) -> Any:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()


class _StdoutBinary:
    def __enter__(self) -> Any:
        return sys.stdout.buffer

    def __exit__(self, *exc: object) -> None:
        sys.stdout.buffer.flush()


def _open_text(path: str) -> Any:
    if path == "-":
        return _StdoutText()
    return _open(path, "w", newline="", encoding="utf-8")


def _open_binary(path: str) -> Any:
    if path == "-":
        return _StdoutBinary()
    return _open(path, "wb")


def _open(path: str, mode: str, **kwargs: Any) -> Any:
    try:
        return open(path, mode, **kwargs)  # noqa: SIM115 - returned to a with block
    except OSError as e:
        raise ConfigError(path, f"cannot write: {e.strerror}") from None


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `bsarchive export jsonl | head`
        sys.stderr.close()
        sys.exit(0)
