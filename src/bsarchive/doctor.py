"""``bsarchive doctor``: check the config, the archive and each source; say what to fix.

Sequencing only, like ``archive.py``: each check is a small function returning a
:class:`Check`; nothing is written to the archive. Sources are probed with one GET each
through the shared client (the instance's ``/api/v2/instance`` or the feed/outbox URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bsarchive.archive import http_settings
from bsarchive.config import Settings
from bsarchive.errors import BsarchiveError
from bsarchive.http import Http
from bsarchive.store import SCHEMA_VERSION, ArchiveLock, Store


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_archive(db: Path) -> list[Check]:
    if not db.exists():
        return [Check("archive", True, f"{db} does not exist yet", "run `bsarchive fetch`")]
    checks: list[Check] = []
    try:
        with Store(db, readonly=True) as store:
            result = store.integrity_check()
            fix = "" if result == "ok" else "restore a backup"
            checks.append(Check("integrity", result == "ok", result, fix))
            version = store.schema_version
            checks.append(Check("schema", version == SCHEMA_VERSION, f"version {version}"))
            # Found as sqlite-utils and Datasette find them (`sqlite-utils search`, `_search`).
            missing = [table for table, fts in store.fts_tables().items() if fts is None]
            detail = (
                f"no index on {', '.join(missing)}" if missing else "posts, reactions, comments"
            )
            fix = "restore a backup" if missing else ""
            checks.append(Check("search", not missing, detail, fix))
            failing = [s for s in store.stats().sources if s["last_error"]]
            for source in failing:
                checks.append(Check(f"last run: {source['key']}", False, str(source["last_error"])))
    except BsarchiveError as e:
        checks.append(Check("archive", False, str(e), "check the path, or restore a backup"))
    held = ArchiveLock(db).is_held_elsewhere()
    checks.append(
        Check(
            "lock",
            True,
            "held by a running fetch" if held else "free",
        )
    )
    return checks


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
