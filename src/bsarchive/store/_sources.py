"""Sources and their cursors, runs, probed instances and the requests sent to each."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bsarchive import __version__
from bsarchive.models import Cursor, SourceResult, iso
from bsarchive.store._base import StoreBase, _errors


class SourcesMixin(StoreBase):
    """Tables ``sources``, ``runs``, ``instances``, ``instance_requests``."""

    # -- cursors and sources --------------------------------------------------------------

    def get_cursor(self, key: str) -> Cursor:
        with _errors("read cursor", self.path):
            row = self.db.execute(
                "SELECT newest, oldest, backfill_done, etag, last_modified, not_before, gone "
                "FROM sources WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return Cursor()
        return Cursor(
            newest=row[0],
            oldest=row[1],
            backfill_done=bool(row[2]),
            etag=row[3],
            last_modified=row[4],
            not_before=datetime.fromisoformat(row[5]) if row[5] else None,
            gone=bool(row[6]),
        )

    def _save_cursor(self, key: str, cursor: Cursor, items: int, requests: int) -> None:
        self.db.execute(
            """
            INSERT INTO sources (key, newest, oldest, backfill_done, etag, last_modified,
                                 not_before, gone, items, requests)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(key) DO UPDATE SET
                newest = excluded.newest, oldest = excluded.oldest,
                backfill_done = excluded.backfill_done, etag = excluded.etag,
                last_modified = excluded.last_modified, not_before = excluded.not_before,
                gone = excluded.gone, items = sources.items + excluded.items,
                requests = sources.requests + excluded.requests
            """,
            (
                key,
                cursor.newest,
                cursor.oldest,
                int(cursor.backfill_done),
                cursor.etag,
                cursor.last_modified,
                cursor.not_before.isoformat() if cursor.not_before else None,
                int(cursor.gone),
                items,
                requests,
            ),
        )

    def record_source_result(self, result: SourceResult, now: datetime) -> None:
        """Remember how a source did (for ``stats`` and ``doctor``)."""
        stamp = iso(now)
        with self.transaction() as db:
            db.execute("INSERT INTO sources(key) VALUES (?) ON CONFLICT DO NOTHING", (result.key,))
            if result.error:
                db.execute(
                    "UPDATE sources SET last_error = ?, last_error_at = ?, waited = waited + ? "
                    "WHERE key = ?",
                    (result.error, stamp, result.waited, result.key),
                )
            else:
                db.execute(
                    "UPDATE sources SET last_success_at = ?, waited = waited + ? WHERE key = ?",
                    (stamp, result.waited, result.key),
                )

    def start_run(self, now: datetime, options: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs(started_at, version, options) VALUES (?, ?, ?) RETURNING id",
                (iso(now), __version__, options),
            )
            return int(cur.fetchone()[0])

    def finish_run(
        self,
        run_id: int,
        now: datetime,
        new: int,
        updated: int,
        failures: int,
        *,
        skipped: int | None = None,
        opted_out: int | None = None,
        reactions: int | None = None,
    ) -> None:
        """Record the run's end and its counts (None: not counted by this kind of run)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, new = ?, updated = ?, failures = ?,"
                " skipped = ?, opted_out = ?, reactions = ? WHERE id = ?",
                (iso(now), new, updated, failures, skipped, opted_out, reactions, run_id),
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first: when, which bsarchive, the recipe it was given
        (``options``, as the run stored it) and its counts (None where not recorded)."""
        with _errors("read runs", self.path):
            rows = self.db.execute(
                "SELECT id, started_at, finished_at, version, options, new, updated, failures,"
                " skipped, opted_out, reactions FROM runs ORDER BY id"
            ).fetchall()
        return [
            {
                "id": run_id,
                "started_at": started,
                "finished_at": finished,
                "version": version,
                "options": json.loads(options or "{}"),
                "counts": {
                    "new": new,
                    "updated": updated,
                    "failures": failures,
                    "skipped": skipped,
                    "opted_out": opted_out,
                    "reactions": reactions,
                },
            }
            for (run_id, started, finished, version, options, new, updated, failures, skipped,
                 opted_out, reactions) in rows
        ]  # fmt: skip

    # -- instances (issue 9 discovery) ------------------------------------------------------

    def record_instance(self, host: str, base_url: str, usable: bool, software: str,
                        version: str, reason: str, now: datetime) -> None:  # fmt: skip
        with self.transaction() as db, _errors("record instance", self.path):
            db.execute(
                "INSERT INTO instances (host, base_url, usable, software, version, reason,"
                " checked_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET"
                " base_url = excluded.base_url, usable = excluded.usable,"
                " software = excluded.software, version = excluded.version,"
                " reason = excluded.reason, checked_at = excluded.checked_at",
                (host, base_url, int(usable), software, version, reason, iso(now)),
            )

    def known_instances(self) -> list[tuple[str, str, bool, str, datetime]]:
        """(host, base url, usable, reason, checked at) for every probed server."""
        with _errors("read instances", self.path):
            rows = self.db.execute(
                "SELECT host, base_url, usable, reason, checked_at FROM instances ORDER BY host"
            ).fetchall()
        return [
            (h, b, bool(u), r, datetime.fromisoformat(c.replace("Z", "+00:00")))
            for h, b, u, r, c in rows
        ]

    def requests_since(self, host: str, since: datetime) -> tuple[int, int]:
        """(all requests, re-check requests) runs recorded for ``host`` since ``since``."""
        with _errors("read instance requests", self.path):
            row = self.db.execute(
                "SELECT coalesce(sum(requests), 0), coalesce(sum(recheck), 0)"
                " FROM instance_requests WHERE host = ? AND at >= ?",
                (host, iso(since)),
            ).fetchone()
        return int(row[0]), int(row[1])

    def record_requests(self, host: str, at: datetime, requests: int, recheck: int) -> None:
        """Record what a run sent to ``host``; rows older than a day are dropped."""
        with self.transaction() as db, _errors("record instance requests", self.path):
            db.execute(
                "DELETE FROM instance_requests WHERE host = ? AND at < ?",
                (host, iso(at - timedelta(days=1))),
            )
            if requests or recheck:
                db.execute(
                    "INSERT INTO instance_requests (host, at, requests, recheck)"
                    " VALUES (?, ?, ?, ?)",
                    (host, iso(at), requests, recheck),
                )

    def archived_tags(self) -> tuple[str, ...]:
        """The event's tags as the archive knows them: those of the latest run that named
        any, else (an archive made by imports) its most used tag; () when it has none."""
        with _errors("read runs", self.path):
            for (options,) in self.db.execute("SELECT options FROM runs ORDER BY id DESC"):
                try:
                    tags = json.loads(options).get("tags")
                except (ValueError, AttributeError):
                    continue
                if isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags):
                    return tuple(tags)
            row = self.db.execute(
                "SELECT tag FROM post_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 1"
            ).fetchone()
        return (row[0],) if row else ()
