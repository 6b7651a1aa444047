"""The command line: parse options, build Settings, call one function, render, map errors
to exit codes (DESIGN.md: 0 ok, 1 partial, 2 usage/config, 75 locked).

Thin by design: no SQL, no parsing, no HTTP here.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bsarchive import __version__, console
from bsarchive.config import (
    Settings,
    load_settings,
    parse_filter_tag,
    parse_when,
    require_sources,
)
from bsarchive.dburl import parse_db, shown
from bsarchive.errors import EXIT_OK, BsarchiveError, ConfigError
from bsarchive.export.columns import default_kinds, parse_columns
from bsarchive.export.csv import write_csv, write_excel_csv
from bsarchive.export.jsonl import write_jsonl, write_runs
from bsarchive.store import (
    KINDS,
    ExportFilter,
    Slice,
    archive_lock,
    copy_archive,
    data_dictionary,
    datasette_metadata,
    open_for_reading,
    open_store,
)

app = typer.Typer(
    help="Archive an event's hashtag conversation (Mastodon, feeds, blog reactions) into SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(
    help="Export the archive as data: csv, jsonl, atom, parquet, xlsx; its columns (schema) and"
    " runs.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

T = TypeVar("T")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="BSARCHIVE_DB",
        help="Archive file [default: ./bsarchive.db], or a postgresql:// URL.",
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Event TOML file.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Wait for another run's lock.")]
VerboseOpt = Annotated[int, typer.Option("-v", "--verbose", count=True, help="-v info, -vv debug.")]
# The sources of a run and how it reads them, shared by fetch and watch.
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="Hashtag, with or without #.")]
MastodonOpt = Annotated[
    list[str] | None, typer.Option("--mastodon", help="Instance host or base URL.")
]
FeedOpt = Annotated[list[str] | None, typer.Option("--feed", help="RSS/Atom/JSON feed URL.")]
OutboxOpt = Annotated[
    list[str] | None, typer.Option("--outbox", help="ActivityPub actor or outbox URL.")
]
ReactionsOpt = Annotated[
    bool | None, typer.Option("--reactions/--no-reactions", help="Follow links to blog posts.")
]
AllowPrivateOpt = Annotated[
    bool | None,
    typer.Option("--allow-private-networks", help="Let links reach private addresses."),
]
IncludeOptedOutOpt = Annotated[
    bool | None, typer.Option("--include-opted-out", help="Store opted-out accounts.")
]
TimeoutOpt = Annotated[float | None, typer.Option(help="Read timeout per request (s).")]
LogFileOpt = Annotated[Path | None, typer.Option(help="Also log to this rotating file.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="ISO date/datetime (UTC).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="ISO date/datetime (UTC).")]
TagFilter = Annotated[list[str] | None, typer.Option("--tag", help="Only items with this tag.")]
KindFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--kind",
        help="post, reaction, comment, boost or version (repeatable) [default: the first three;"
        " posts only with --columns twarc].",
    ),
]
OutOpt = Annotated[str, typer.Option("-o", "--output", help="Output file, - for stdout.")]
UnsafeOpt = Annotated[
    bool,
    typer.Option("--unsafe-cells", help="Do not neutralise formula-like cells (for programs)."),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="SPEC",
        help="Comma list of columns (bsarchive export schema), each optionally renamed as"
        " name:header, or a preset: default, twarc, provenance, network, all.",
    ),
]
SearchOpt = Annotated[
    str | None,
    typer.Option(
        "--search", help="Only items matching these words (as `bsarchive search` reads them)."
    ),
]


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout`` in a crontab, ``systemctl stop``): stop as Ctrl-C does."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def _run(fn: Callable[[], int | None], *, quiet: bool = False, verbose: int = 0) -> None:
    """Run a command body; BsarchiveError -> one stderr line and its exit code.

    ``quiet``/``verbose``: the common -q/-v of commands that do not set up logging
    themselves (fetch and import do, with a log file too)."""
    if quiet or verbose:
        console.setup_logging(verbose, quiet)
    try:
        code = fn()
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
    except BsarchiveError as e:
        console.error_line(e)
        raise typer.Exit(e.exit_code) from None
    except BrokenPipeError:  # `bsarchive export csv | head`: the reader has all it wants
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None
    except KeyboardInterrupt as e:
        stopped = "terminated" if isinstance(e, _Terminated) else "interrupted"
        console.error_line(f"{stopped}; everything stored so far is kept")
        raise typer.Exit(143 if isinstance(e, _Terminated) else 130) from None
    finally:
        console.end_logging()
    raise typer.Exit(code or EXIT_OK)


def _settings(config: Path | None, **cli: Any) -> Settings:
    return load_settings(config=config, cli=cli)


def _filter(
    since: str | None,
    until: str | None,
    tags: list[str] | None,
    kinds: list[str] | None,
    search: str | None = None,
    columns: str | None = None,
) -> ExportFilter:
    kinds = kinds or list(default_kinds(columns))
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError("--kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    start, end = parse_when(since, "--since"), parse_when(until, "--until", end=True)
    if start is not None and end is not None and start >= end:
        raise ConfigError("--since", "must be before --until")  # as fetch says
    return ExportFilter(
        since=start,
        until=end,
        tags=tuple(dict.fromkeys(parse_filter_tag(t) for t in tags or ())),
        kinds=tuple(kinds),
        search=search,
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


@contextmanager
def _open(path: str, mode: str, **kwargs: Any) -> Iterator[Any]:
    """The file ``path``, written whole or not at all (export.output.replacing)."""
    from bsarchive.export.output import replacing

    with replacing(Path(path)) as tmp:
        try:
            f = open(tmp, mode, **kwargs)  # noqa: SIM115 - closed below, before the rename
        except OSError as e:
            raise ConfigError(path, f"cannot write: {e.strerror}") from None
        with f:
            yield f


# -- archiving: fetch, import --------------------------------------------------------------


@app.command()
def fetch(
    tag: TagOpt = None,
    mastodon: MastodonOpt = None,
    feed: FeedOpt = None,
    outbox: OutboxOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    reactions: ReactionsOpt = None,
    max_reactions: Annotated[int | None, typer.Option(help="New articles per run.")] = None,
    allow_private_networks: AllowPrivateOpt = None,
    concurrency: Annotated[int | None, typer.Option(help="Total parallel requests.")] = None,
    refresh: Annotated[
        float | None,
        typer.Option(
            "--refresh",
            metavar="HOURS",
            help="Re-read posts stored in the last HOURS for edits and deletions "
            "(default 48, within a share of each server's rate budget; 0 = off).",
        ),
    ] = None,
    discover: Annotated[
        bool | None, typer.Option("--discover", help="Find more instances.")
    ] = None,
    max_instances: Annotated[int | None, typer.Option(help="Cap for --discover.")] = None,
    include_opted_out: IncludeOptedOutOpt = None,
    wait: WaitOpt = False,
    refetch_gone: Annotated[
        bool, typer.Option("--refetch-gone", help="Try feeds that answered 410 Gone again.")
    ] = False,
    max_wait: Annotated[
        float | None, typer.Option(help="Longest rate-limit wait (s) before a source gives up.")
    ] = None,
    timeout: TimeoutOpt = None,
    max_pages: Annotated[int | None, typer.Option(help="Pages per source per run.")] = None,
    retries: Annotated[int | None, typer.Option(help="Retries on transient errors.")] = None,
    log_file: LogFileOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """One archival run: pull every source, follow reactions, store, exit."""
    from bsarchive import archive  # imported where used: other commands start faster

    console.setup_logging(verbose, quiet, log_file)

    def body() -> int:
        s = _settings(
            config, tags=tag, mastodon=mastodon, feeds=feed, outboxes=outbox, since=since,
            until=until, reactions=reactions, max_reactions=max_reactions,
            allow_private_networks=allow_private_networks, concurrency=concurrency,
            refresh=refresh, discover=discover, max_instances=max_instances,
            include_opted_out=include_opted_out, wait=wait, refetch_gone=refetch_gone or None,
            max_wait=max_wait,
            read_timeout=timeout, retries=retries, max_pages=max_pages, db=db,
        )  # fmt: skip
        require_sources(s)
        with ExitStack() as stack:
            lock = archive_lock(s.db, shared=True)
            stack.enter_context(lock)
            lock.acquire(wait=s.wait)
            store = stack.enter_context(open_store(s.db))
            progress = stack.enter_context(console.fetch_progress(not quiet))
            result = archive.run_fetch(s, store, progress=progress)
        console.summary(result, quiet)
        return result.exit_code

    _run(body)


@app.command()
def watch(
    tag: TagOpt = None,
    mastodon: MastodonOpt = None,
    feed: FeedOpt = None,
    outbox: OutboxOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    digest: Annotated[
        Path | None, typer.Option("--digest", help="Rewrite this digest (.html or .md) live.")
    ] = None,
    every: Annotated[
        str,
        typer.Option(
            "--every",
            metavar="DURATION",
            help="How often --digest is rewritten and the wall reloads itself.",
        ),
    ] = "2m",
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="HOST:PORT",
            help="Serve a live wall page: newest posts, posts per minute, latest reactions "
            "(loopback unless a host is given).",
        ),
    ] = None,
    poll_every: Annotated[
        str | None,
        typer.Option(
            "--poll-every",
            metavar="DURATION",
            help="Poll interval without a stream (default: 10% of the rate budget, 30s a tag).",
        ),
    ] = None,
    feed_every: Annotated[
        str,
        typer.Option(
            "--feed-every", metavar="DURATION", help="Re-read feeds and outboxes this often."
        ),
    ] = "5m",
    reactions: ReactionsOpt = None,
    reactions_every: Annotated[
        str,
        typer.Option(
            "--reactions-every", metavar="DURATION", help="How often new links are followed."
        ),
    ] = "5m",
    idle_timeout: Annotated[
        float, typer.Option(hidden=True, help="Seconds of silence that end a stream.")
    ] = 40.0,
    allow_private_networks: Annotated[
        bool | None,
        typer.Option("--allow-private-networks", help="Let a streaming host be private."),
    ] = None,
    include_opted_out: IncludeOptedOutOpt = None,
    wait: WaitOpt = False,
    max_wait: Annotated[
        float | None, typer.Option(help="Longest rate-limit wait (s) before a retry.")
    ] = None,
    timeout: TimeoutOpt = None,
    log_file: LogFileOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Live capture until Ctrl-C / SIGTERM: stream (with a token) or poll each instance."""
    from bsarchive import watch as watching  # imported where used: other commands start faster
    from bsarchive.config import parse_duration, parse_listen
    from bsarchive.export.build import digest_format

    console.setup_logging(verbose, quiet, log_file)

    def body() -> int:
        s = _settings(
            config, tags=tag, mastodon=mastodon, feeds=feed, outboxes=outbox, since=since,
            until=until, reactions=reactions, allow_private_networks=allow_private_networks,
            include_opted_out=include_opted_out,
            wait=wait, max_wait=max_wait, read_timeout=timeout, db=db,
        )  # fmt: skip
        require_sources(s)
        options = watching.WatchOptions(
            poll_seconds=parse_duration(poll_every, "--poll-every") if poll_every else None,
            idle_timeout=idle_timeout, digest=digest, digest_every=parse_duration(every, "--every"),
            digest_format=digest_format(None, str(digest or "")) if digest else "html",
            serve=parse_listen(serve, "--serve") if serve else None,
            feed_seconds=parse_duration(feed_every, "--feed-every"),
            reactions_seconds=parse_duration(reactions_every, "--reactions-every"),
        )  # fmt: skip
        with ExitStack() as stack:
            lock = archive_lock(s.db, shared=True)
            stack.enter_context(lock)
            lock.acquire(wait=s.wait)
            store = stack.enter_context(open_store(s.db))
            line = stack.enter_context(console.watch_status(not quiet))
            say = None if quiet else functools.partial(console.err.print, markup=False)
            watching.run_watch(s, store, options, status=say, progress=line)
        return EXIT_OK

    _run(body)


import_app = typer.Typer(
    help="Bring Twitter-era archives into the archive: twarc, tags.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


# Malformed lines reported one by one before the rest are only counted (issue 8).
MAX_LINE_ERRORS = 20
FilesArg = Annotated[list[Path], typer.Argument(help="Files to import (plain or gzip).")]


def _import(
    files: list[Path], db: str | None, config: Path | None, quiet: bool, wait: bool, fmt: str
) -> int:
    """Import each file as ``fmt`` (twarc, tags); report bad lines; 1 if any line was bad."""
    from bsarchive import archive  # imported where used: other commands start faster

    s = _settings(config, db=db)
    for path in files:  # a mistyped name is a usage error, before anything is imported
        if not path.exists():
            raise ConfigError(str(path), "no such file")
    with archive_lock(s.db) as lock, open_store(s.db) as store:
        lock.acquire(wait=wait)
        results = archive.run_import(store, files, "twarc" if fmt == "twarc" else "tags")
    code = EXIT_OK
    for r in results:
        if r.error:
            console.error_line(r.error)
        for line_no, what in r.bad[:MAX_LINE_ERRORS]:
            console.error_line(f"{r.path}:{line_no}: {what}")
        if len(r.bad) > MAX_LINE_ERRORS:
            console.error_line(f"{r.path}: {len(r.bad) - MAX_LINE_ERRORS} more malformed lines")
        if r.error or r.bad:
            code = 1
        if not quiet and not r.error:
            console.err.print(f"bsarchive: imported {r.items} tweets ({r.new} new) from {r.path}")
    return code


@import_app.command("twarc")
def import_twarc(
    files: FilesArg,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    wait: WaitOpt = False,
) -> None:
    """twarc JSONL: twarc2 responses or flattened tweets, or twarc1 (v1.1) tweets."""
    _run(lambda: _import(files, db, config, quiet, wait, "twarc"))


@import_app.command("tags")
def import_tags(
    files: FilesArg,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    wait: WaitOpt = False,
) -> None:
    """A TAGS archive sheet exported as CSV."""
    _run(lambda: _import(files, db, config, quiet, wait, "tags"))


# -- data out: export csv, jsonl, atom, parquet, xlsx --------------------------------------


@export_app.command("csv")
def export_csv(
    output: OutOpt = "-",
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    search_query: SearchOpt = None,
    unsafe_cells: UnsafeOpt = False,
    columns: ColumnsOpt = None,
    excel: Annotated[
        bool, typer.Option("--excel", help="For spreadsheets: BOM, long ids kept whole.")
    ] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """CSV (RFC 4180, UTF-8), one row per item, oldest first."""

    def body() -> None:
        s = _settings(config, db=db)
        flt = _filter(since, until, tag, kind, search_query, columns)
        chosen = parse_columns(columns)
        with open_for_reading(s.db, flt.tags) as store:
            if excel:
                with _open_text(output) as f:
                    write_excel_csv(store, f, flt, columns=chosen)
            else:
                with _open_binary(output) as fb:
                    write_csv(store, fb, flt, safe_cells=not unsafe_cells, columns=chosen)

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("jsonl")
def export_jsonl(
    output: OutOpt = "-",
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    search_query: SearchOpt = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Add the stored source JSON (or XML text) as raw.")
    ] = False,
    columns: ColumnsOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """JSON Lines, one object per item, oldest first."""

    def body() -> None:
        s = _settings(config, db=db)
        flt = _filter(since, until, tag, kind, search_query, columns)
        with open_for_reading(s.db, flt.tags) as store, _open_binary(output) as f:
            write_jsonl(store, f, flt, raw=raw, columns=parse_columns(columns))

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("atom")
def export_atom(
    output: OutOpt = "-",
    title: Annotated[str | None, typer.Option("--title", help="Feed title.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Atom feed (RFC 4287) of posts and reactions, oldest first."""
    from bsarchive.export import build  # imported where used: other commands start faster

    def body() -> None:
        s = _settings(config, db=db, title=title)
        flt = _filter(since, until, tag, kind)
        with open_for_reading(s.db, flt.tags) as store, _open_text(output) as f:
            tags = flt.tags or s.tags or store.archived_tags()
            build.write_atom(store, f, flt, title=build.default_title(s.title, tags))

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("parquet")
def export_parquet(
    output: Annotated[str, typer.Option("-o", "--output", help="Parquet file to write.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    search_query: SearchOpt = None,
    columns: ColumnsOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Apache Parquet with typed columns (needs the parquet extra: pyarrow)."""
    from bsarchive.export import parquet  # imported where used: other commands start faster

    def body() -> None:
        s = _settings(config, db=db)
        flt = _filter(since, until, tag, kind, search_query, columns)
        chosen = parse_columns(columns)
        with open_for_reading(s.db, flt.tags) as store:
            parquet.write_parquet(store, Path(output), flt, columns=chosen)

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("xlsx")
def export_xlsx(
    output: Annotated[str, typer.Option("-o", "--output", help="Workbook to write.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    search_query: SearchOpt = None,
    columns: ColumnsOpt = None,
    unsafe_cells: UnsafeOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Excel workbook with typed columns: ids as text, dates as dates (needs openpyxl)."""
    from bsarchive.export.xlsx import write_xlsx

    def body() -> None:
        s = _settings(config, db=db)
        flt = _filter(since, until, tag, kind, search_query, columns)
        chosen = parse_columns(columns)
        with open_for_reading(s.db, flt.tags) as store:
            write_xlsx(store, Path(output), flt, columns=chosen, safe_cells=not unsafe_cells)

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("runs")
def export_runs(
    output: OutOpt = "-",
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """JSON Lines, one object per fetch or watch run, oldest first: its recipe and counts."""

    def body() -> None:
        s = _settings(config, db=db)
        with open_store(s.db, readonly=True) as store, _open_binary(output) as f:
            write_runs(store.runs(), f)

    _run(body, quiet=quiet, verbose=verbose)


@export_app.command("schema")
def export_schema() -> None:
    """The data dictionary: every export column, its type, kinds and meaning (Markdown)."""
    _run(lambda: print(data_dictionary(), end=""))


# -- reading the archive: digest, stats, search, Datasette ---------------------------------


@app.command()
def digest(
    output: OutOpt = "-",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="markdown or html [default: html if -o ends in .html, else markdown]."
        ),
    ] = None,
    images: Annotated[
        bool, typer.Option("--images", help="Show remote images (default: links to them).")
    ] = False,
    title: Annotated[
        str | None, typer.Option("--title", help="Heading [default: config title or #tags].")
    ] = None,
    generated_at: Annotated[
        bool,
        typer.Option("--generated-at", help="Stamp the current time (output then differs)."),
    ] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: KindFilter = None,
    search_query: SearchOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Readable timeline digest: one offline HTML page, or Markdown."""
    from bsarchive.export import build  # imported where used: other commands start faster

    def body() -> None:
        s = _settings(config, db=db, title=title)
        flt = _filter(since, until, tag, kind, search_query)
        form = build.digest_format(fmt, output)
        stamp = datetime.now(UTC) if generated_at else None
        with open_for_reading(s.db, flt.tags) as store, _open_text(output) as f:
            tags = flt.tags or s.tags or store.archived_tags()
            build.write_digest(
                store, f, flt, fmt=form, title=build.default_title(s.title, tags), tags=tags,
                images=images, generated_at=stamp,
            )  # fmt: skip

    _run(body, quiet=quiet, verbose=verbose)


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Counts, top authors and links, posts per hour, per-source health."""

    def body() -> None:
        s = _settings(config, db=db)
        from bsarchive.export.build import merge_link_variants

        with open_store(s.db, readonly=True) as store:  # plain SQL: on either engine
            result = store.stats()
            result.runs = store.runs()
        result.top_links = merge_link_variants(result.top_links, top=10)  # as the digest
        if as_json:
            print(console.stats_json(result))
        else:
            console.stats_tables(result)

    _run(body, quiet=quiet, verbose=verbose)


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(
            help="Words as you would type them (#tags, hyphenated-words, any script), or FTS5:"
            ' "phrases", AND, OR, NOT, prefix*.'
        ),
    ],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most matches to show.")] = 20,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: TagFilter = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="post, reaction or comment (repeatable) [default: all three]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one match each.")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Full-text search of posts, reactions and comments, best matches first."""

    def body() -> None:
        s = _settings(config, db=db)
        flt = _filter(since, until, tag, kind)
        with open_store(s.db, readonly=True) as store:  # on PostgreSQL: its own text search
            hits = store.search(query, flt, limit=limit)
        if as_json:
            for hit in hits:
                # id as text, as in every export (the data model's `id`)
                print(json.dumps({**hit._asdict(), "id": str(hit.id)}, ensure_ascii=False))
            return
        console.search_table(hits)

    _run(body, quiet=quiet, verbose=verbose)


@app.command("datasette-metadata")
def datasette_metadata_command(
    output: OutOpt = "metadata.json",
    title: Annotated[str | None, typer.Option("--title", help="Title shown by Datasette.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Write metadata.json for `datasette ARCHIVE -m metadata.json` (tables, views, facets)."""
    from bsarchive.export import build  # imported where used: other commands start faster

    def body() -> None:
        s = _settings(config, db=db, title=title)
        document = datasette_metadata(s.db.stem, build.default_title(s.title, s.tags))
        with _open_text(output) as f:
            f.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    _run(body, quiet=quiet, verbose=verbose)


# -- care and upkeep: forget, doctor, demo -------------------------------------------------


@app.command()
def forget(
    author: Annotated[
        str | None, typer.Option("--author", help="Handle, e.g. @alice@example.social.")
    ] = None,
    post: Annotated[str | None, typer.Option("--post", help="Post uri or url.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept with the takedown).")] = "",
    wait: WaitOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Remove an author or a post from the archive and keep them out (takedowns)."""

    def body() -> None:
        if not author and not post:
            raise ConfigError("forget", "give --author or --post")
        s = _settings(config, db=db)
        with archive_lock(s.db) as lock, open_store(s.db) as store:
            lock.acquire(wait=wait)
            removed = store.forget(author=author, post=post, reason=reason, now=datetime.now(UTC))
        if not quiet:
            console.err.print(f"bsarchive: removed {removed} post(s); kept out from now on")

    _run(body)


@app.command()
def copy(
    source: Annotated[str, typer.Argument(help="Archive to copy: a file or a postgresql:// URL.")],
    destination: Annotated[
        str, typer.Argument(help="Archive to copy into (a file or URL; made if new).")
    ],
    tag: TagOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    wait: WaitOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Copy an archive, or a --tag/--since/--until slice, into another (SQLite or
    PostgreSQL, either way); again is harmless: items already there are kept once."""

    def body() -> None:
        flt = _filter(since, until, tag, None)
        src_db, dst_db = parse_db(source), parse_db(destination)
        if shown(src_db) == shown(dst_db):
            raise ConfigError("copy", "the source and the destination are the same archive")
        part = Slice(tags=flt.tags, since=flt.since, until=flt.until)
        lock = archive_lock(dst_db)
        with lock, open_store(src_db, readonly=True) as src, open_store(dst_db) as dst:
            lock.acquire(wait=wait)
            counts = copy_archive(src, dst, part)
        if not quiet:
            added = ", ".join(f"{n} {table}" for table, n in counts.added.items() if n)
            console.err.print(f"bsarchive: copied into {shown(dst_db)}: {added or 'nothing new'}")

    _run(body, quiet=quiet, verbose=verbose)


@app.command()
def doctor(
    probe: Annotated[
        bool, typer.Option("--probe/--no-probe", help="Check that each source answers.")
    ] = True,
    db: DbOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Check the config, the archive (integrity, schema, lock) and the sources."""
    from bsarchive.doctor import run_doctor

    def body() -> int:
        checks = run_doctor(_settings(config, db=db), probe=probe)
        console.doctor_table(checks)
        return int(any(not c.ok for c in checks))

    _run(body, quiet=quiet, verbose=verbose)


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


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as e:  # click's own errors: usage, bad parameter, ...
        _exit_on_click_error(e)
    except typer.Abort:  # Ctrl-C while click itself was running
        sys.exit(130)
    except BrokenPipeError:  # `bsarchive export jsonl | head`
        sys.stderr.close()
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _exit_on_click_error(e: typer.TyperException) -> NoReturn:
    """Show one of click's errors as one line, like every other error (STYLE.md), instead
    of click's framed box. typer 0.27 carries its own click privately (pyproject pins typer
    below 0.28), so its error classes are told apart through typer's public base class by
    what they carry: a usage error has the command's context; ``bsarchive export`` alone
    is click's "no arguments is help" error, whose help typer has already printed."""
    message: str = e.format_message() if hasattr(e, "format_message") else str(e)
    if type(e).__name__ == "NoArgsIsHelpError":
        if message:  # without rich, the help is the message
            sys.stderr.write(message + "\n")
        sys.exit(ConfigError.exit_code)
    if not hasattr(e, "ctx"):  # not about the command line: a file, an abort
        console.error_line(message)
        sys.exit(int(getattr(e, "exit_code", 1)))
    where = e.ctx.command_path if e.ctx is not None else "bsarchive"
    console.error_line(f"{where}: {message} (see {where} --help)")
    sys.exit(ConfigError.exit_code)
