"""``bsarchive doctor``: check the config, the archive and each source; say what to fix.

Sequencing only, like ``archive.py``: each check is a small function returning a
:class:`Check`; nothing is written to the archive. Sources are probed with one GET each
through the shared client (the instance's ``/api/v2/instance`` or the feed/outbox URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bsarchive.archive import http_settings
from bsarchive.config import Settings
from bsarchive.dburl import DatabaseUrl, shown
from bsarchive.errors import BsarchiveError, ConfigError
from bsarchive.http import Http
from bsarchive.store import (
    NO_ARCHIVE,
    PG_SCHEMA_VERSION,
    SCHEMA_VERSION,
    PgStore,
    Store,
    archive_lock,
    open_store,
)
from bsarchive.watch import HEARTBEAT_KEY


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_archive(db: Path | DatabaseUrl) -> list[Check]:
    if isinstance(db, Path) and not db.exists():
        return [Check("archive", True, f"{shown(db)} does not exist yet", "run `bsarchive fetch`")]
    checks: list[Check] = []
    try:
        with open_store(db, readonly=True) as store:
            result = store.integrity_check()
            fix = "" if result == "ok" else "restore a backup"
            checks.append(Check("integrity", result == "ok", result, fix))
            version = store.schema_version
            if isinstance(store, PgStore):
                checks.append(Check("server", True, f"PostgreSQL {store.server_version()}"))
                held = store.held_sources()
                checks.append(Check("claims", True, f"{held} sources held by running collectors"))
                current = PG_SCHEMA_VERSION
            else:
                current = SCHEMA_VERSION
            checks.append(Check("schema", version == current, f"version {version}"))
            # Found as sqlite-utils and Datasette find them (`sqlite-utils search`, `_search`).
            missing = [table for table, fts in store.fts_tables().items() if fts is None]
            detail = (
                f"no index on {', '.join(missing)}" if missing else "posts, reactions, comments"
            )
            fix = "restore a backup" if missing else ""
            checks.append(Check("search", not missing, detail, fix))
            watch = check_watch(store, archive_lock(db).is_held_elsewhere(), datetime.now(UTC))
            checks += [watch] if watch else []
            failing = [s for s in store.stats().sources if s["last_error"]]
            for source in failing:
                checks.append(Check(f"last run: {source['key']}", False, str(source["last_error"])))
    except BsarchiveError as e:
        if isinstance(e, ConfigError) and e.message == NO_ARCHIVE:  # as a file not made yet
            return [Check("archive", True, f"{e.subject}: {e.message}", "run `bsarchive fetch`")]
        checks.append(Check("archive", False, str(e), "check the path, or restore a backup"))
    try:
        held = archive_lock(db).is_held_elsewhere()
    except BsarchiveError as e:  # a server that does not answer: said above already
        checks.append(Check("lock", False, e.message))
        return checks
    checks.append(
        Check(
            "lock",
            True,
            "held by a running fetch or watch" if held else "free",
        )
    )
    return checks


# A watch stamps its heartbeat every minute (watch.HEARTBEAT_EVERY): three missed is stuck.
STALE_WATCH = timedelta(minutes=3)


def check_watch(store: Store, held: bool, now: datetime) -> Check | None:
    """How the last ``bsarchive watch`` on this archive is: running (its heartbeat fresh),
    stuck (the lock held, the heartbeat stale) or ended without stopping (killed: the
    heartbeat left behind, the lock free). None when no watch left a heartbeat."""
    stamp = store.get_meta(HEARTBEAT_KEY)
    if not stamp:
        return None
    beat = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    age = f"{(now - beat).total_seconds():.0f}s ago"
    if not held:
        return Check(
            "watch", False, f"a watch ended without stopping (last heartbeat {age})",
            "start it again: it catches up from where it stopped",
        )  # fmt: skip
    if now - beat > STALE_WATCH:
        return Check("watch", False, f"running but stuck: last heartbeat {age}", "restart it")
    return Check("watch", True, f"running, last heartbeat {age}")


def check_sources(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    quick = http_settings(settings)
    with Http(quick, tokens=settings.tokens) as client:
        probes = [(inst.url, f"{inst.url}/api/v2/instance") for inst in settings.instances]
        probes += [(url, url) for url in (*settings.feeds, *settings.outboxes)]
        for name, url in probes:
            try:
                response = client.get(url)
            except BsarchiveError as e:
                checks.append(Check(name, False, e.message, e.hint or "check the URL and network"))
                continue
            ok = response.status < 400
            fix = ""
            if response.status in (401, 403):
                fix = "this server needs a token (BSARCHIVE_MASTODON_TOKEN or token_env)"
            elif response.status == 404:
                fix = "not found: check the URL (or the server is not Mastodon-compatible)"
            checks.append(Check(name, ok, f"HTTP {response.status}", fix))
    return checks


def run_doctor(settings: Settings, *, probe: bool = True) -> list[Check]:
    tags = ", ".join(settings.tags) or "-"
    checks = [Check("config", True, f"{len(settings.sources())} source(s), tags {tags}")]
    for name in settings.unset_token_envs:
        checks.append(
            Check("token", False, f"environment variable {name} is not set", f"export {name}=…")
        )
    if not settings.sources():
        fix = "use --mastodon, --feed or --outbox"
        checks.append(Check("sources", True, "none configured", fix))
    checks += check_archive(settings.db)
    if probe:
        checks += check_sources(settings)
    return checks
