"""Where the archive is: a SQLite file's path, or a PostgreSQL connection URL (issue 19).

Pure: no connection is made here. A URL keeps whatever the user gave (libpq reads the
password from the environment or ``~/.pgpass`` when the URL has none); its :attr:`shown`
form, the only one that reaches a message or a log, never carries a password.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")


class DatabaseUrl(str):
    """A ``postgresql://`` URL naming a PostgreSQL database."""

    __slots__ = ()

    @property
    def shown(self) -> str:
        """The URL with any password replaced by ``***`` (for messages and logs)."""
        parts = urlsplit(self)
        if parts.password is None:
            return str(self)
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

    @property
    def stem(self) -> str:
        """The database's name (the last path segment), as a file's stem names a file."""
        return urlsplit(self).path.strip("/") or "bsarchive"

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.shown!r})"


def is_database_url(value: str) -> bool:
    return value.partition("://")[0].lower() in SCHEMES


def parse_db(value: str | Path) -> Path | DatabaseUrl:
    """``--db``, ``BSARCHIVE_DB`` or the config's ``db``: a URL, else a file path."""
    text = str(value)
    if is_database_url(text):
        return DatabaseUrl(text)
    return Path(text).expanduser()


def shown(db: Path | DatabaseUrl) -> str:
    """How an archive is named in messages: its path, or its URL without a password."""
    return db.shown if isinstance(db, DatabaseUrl) else str(db)
