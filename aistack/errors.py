"""One exception family, one exit-code table.

Every expected failure is an ``AistackError`` subclass. The CLI turns it into a
message (what happened, what was not changed, what to run next) and the exit
code below; a traceback is shown only with ``--debug``.

Exit codes (documented in the README):

====  =====================================================================
0     success
1     unexpected internal error (a bug: please report it with ``--debug``)
2     usage error: bad flag or argument (Click's own convention)
3     invalid input file: hardware profile, recipe, state file, GGUF file
4     the request cannot be satisfied on this machine (does not fit, no
      backend, no supervisor)
5     fetch failed: download, checksum mismatch, no disk space, offline
6     install failed: backend binary could not be found, built or verified
7     deploy failed: the service did not become healthy (rolled back), or
      ``up`` refused before starting anything (its port is taken by another
      program)
8     another aistack operation holds the lock
9     nothing is deployed (for status/logs/down where that matters)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_INPUT = 3
    UNSATISFIABLE = 4
    FETCH = 5
    INSTALL = 6
    DEPLOY = 7
    LOCKED = 8
    NOT_DEPLOYED = 9
    INTERRUPTED = 130


class AistackError(Exception):
    """An expected failure with a user-facing message.

    ``message`` says what happened; ``hint`` says what to do next; ``details``
    is structured data for ``--json`` output.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict:
        out = {"type": type(self).__name__, "message": self.message, "exit_code": int(self.exit_code)}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class UsageError(AistackError):
    exit_code = ExitCode.USAGE


class InvalidInputError(AistackError):
    """A file the user or a previous run gave us is malformed."""

    exit_code = ExitCode.INVALID_INPUT


class UnsatisfiableError(AistackError):
    """The request does not fit this machine; ``details`` carries the numbers."""

    exit_code = ExitCode.UNSATISFIABLE


class FetchError(AistackError):
    exit_code = ExitCode.FETCH


class InstallError(AistackError):
    exit_code = ExitCode.INSTALL


class DeployError(AistackError):
    exit_code = ExitCode.DEPLOY


class LockedError(AistackError):
    exit_code = ExitCode.LOCKED


class NotDeployedError(AistackError):
    exit_code = ExitCode.NOT_DEPLOYED
