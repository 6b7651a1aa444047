"""Every error bsarchive expects, each mapped to an exit code.

::

    BsarchiveError                  (exit 1)
    ├── ConfigError                 (exit 2)  bad option, config key or value
    ├── LockHeldError               (exit 75) another run holds the archive's lock
    ├── StoreError                  (exit 1)  the SQLite archive failed (locked, corrupt)
    └── SourceError(url)            (exit 1)  one source failed; the run goes on
        ├── FetchError(status)      transport, HTTP status, size or time caps
        │   ├── AuthRequiredError   401/403/422 where a token would help
        │   ├── FeedsDisabledError  the server has its hashtag feeds turned off
        │   ├── RateLimitedError    the server's wait exceeds --max-wait
        │   ├── TooLargeError       body over the size cap after decompression
        │   ├── BlockedAddressError a link resolved to a private address
        │   └── GoneError           404/410 for a whole source
        └── ParseError              the body is not what the source expects

``str(e)`` is one complete line (subject, what happened, hint) and never holds a token.
Foreign exceptions are translated at one boundary each, with ``raise ... from e``.
This module does no I/O.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


class BsarchiveError(Exception):
    """Root of every error bsarchive expects; never shown with a traceback."""

    exit_code = EXIT_PARTIAL

    def __init__(self, subject: str, message: str, hint: str | None = None) -> None:
        self.subject = subject
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def with_subject(self, subject: str) -> BsarchiveError:
        """The same error about ``subject`` (e.g. the instance rather than the request URL)."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.subject = subject
        Exception.__init__(clone, str(clone))
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable with every attribute (a feed parsed in a worker process raises here).
        return (_rebuild, (self.__class__, dict(self.__dict__)))

    def __str__(self) -> str:
        line = f"{self.subject}: {self.message}" if self.subject else self.message
        if self.hint:
            line += f" ({self.hint})"
        return " ".join(line.split())  # always one line


def _rebuild(cls: type[BsarchiveError], state: dict[str, Any]) -> BsarchiveError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class ConfigError(BsarchiveError):
    exit_code = EXIT_USAGE


class LockHeldError(BsarchiveError):
    exit_code = EXIT_LOCKED


class StoreError(BsarchiveError):
    pass


class SourceError(BsarchiveError):
    """A source (instance, feed, outbox, article) failed; ``subject`` is its URL."""

    @property
    def url(self) -> str:
        return self.subject


class FetchError(SourceError):
    """``status``: the HTTP status that made the source fail, where one did."""

    def __init__(
        self, subject: str, message: str, hint: str | None = None, status: int | None = None
    ) -> None:
        self.status = status
        super().__init__(subject, message, hint)


class AuthRequiredError(FetchError):
    pass


class FeedsDisabledError(FetchError):
    pass


class RateLimitedError(FetchError):
    pass


class TooLargeError(FetchError):
    pass


class BlockedAddressError(FetchError):
    pass


class GoneError(FetchError):
    def __init__(
        self, subject: str, message: str, hint: str | None = None, status: int | None = 404
    ) -> None:
        super().__init__(subject, message, hint, status)


class ParseError(SourceError):
    pass
