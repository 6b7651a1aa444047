"""A throwaway PostgreSQL cluster on loopback for the tests that run on both engines.

``.ci/run`` (through ``make postgres``) installs Debian's server package when it is missing;
this module finds ``initdb``/``pg_ctl``, makes a cluster in a temporary directory with
``trust`` authentication on 127.0.0.1 only, starts it on a free port and stops it (fast
shutdown) at the end of the session. PostgreSQL refuses to run as root, which is what CI
runs as: there the cluster belongs to the ``postgres`` system account (or ``nobody``), run
through ``runuser``. When no server can be found or started, :func:`cluster` says why and
the tests that need it skip with that reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    bin_dir: Path
    data: Path
    options: str
    account: str | None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as if it went away)."""
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"], self.account)

    def start(self) -> None:
        _run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", self.options, "-w"]
            + ["-t", str(START_TIMEOUT_S), "-l", str(self.data.parent / "log"), "start"],
            self.account,
        )

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement (CREATE/DROP DATABASE) outside a transaction."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh(self, name: str) -> str:
        """The URL of a new, empty database ``name`` (one left by an earlier run goes)."""
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, name: str) -> None:
        self.admin(f"DROP DATABASE {name} WITH (FORCE)")


class Unavailable(Exception):
    """No PostgreSQL here: the reason the tests skip."""


def _bin_dir() -> Path:
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found and Path(found).resolve().parent.joinpath("initdb").exists():
            return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    raise Unavailable("PostgreSQL server programs (initdb, pg_ctl) not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _account() -> str | None:
    """The system account to run the server as, or None for the current user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise Unavailable("running as root with no unprivileged account to run PostgreSQL")


def _run(argv: list[str], account: str | None) -> None:
    if account is not None:
        argv = ["runuser", "-u", account, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_S * 2)
    if done.returncode != 0:
        raise Unavailable(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-300:]}")


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster for the session and stop it afterwards (raises Unavailable)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        raise Unavailable("psycopg is not installed (pip install 'bsarchive[postgres]')") from e
    bin_dir = _bin_dir()
    account = _account()
    root = Path(tempfile.mkdtemp(prefix="bsarchive-pg-"))
    data = root / "data"
    try:
        if account is not None:
            info = pwd.getpwnam(account)
            os.chown(root, info.pw_uid, info.pw_gid)
        user = "bsarchive"
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8"]
            + ["--no-sync", "--locale=C.UTF-8"],
            account,
        )
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            " -c max_connections=60"
        )
        server = Cluster("127.0.0.1", port, user, bin_dir, data, options, account)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(Unavailable):  # already stopped by the test
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
