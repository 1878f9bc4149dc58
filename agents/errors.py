"""One error module for the whole project: the error classes, `did_you_mean` and `one_line`.

It lives in `agents`, the lowest floor, and imports only the standard library, so every layer
can import it: `agents` (which never imports `sim`), `sim`, `analysis` (which imports nothing
else from `agents` and only the file contract from `sim`) and the CLI.

The CLI catches `TinmenError`, prints its one-line message and exits with code 2; no traceback
unless `--debug` is given. Messages name the file, the dotted key, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class TinmenError(Exception):
    """Base class of every error meant for a user rather than a developer."""

    exit_code = 2


class ScenarioError(TinmenError):
    """A scenario or sweep file is missing, unreadable or invalid."""


class BackendError(TinmenError):
    """A backend cannot be created (unknown name, missing extra, bad settings)."""


class RunDirectoryError(TinmenError):
    """A run directory is missing, incomplete or would be overwritten."""


class SweepError(TinmenError):
    """A sweep cannot run (its directory, its executor or a worker)."""


class SweepInterrupted(SweepError):
    """The sweep stopped on SIGINT (exit 130) or SIGTERM (exit 143); it can be resumed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BackendCreationError(Exception):
    """A backend could not be created; the message is one line meant for the user.

    Raised inside `agents` (and in worker processes); the run driver turns it into a
    `BackendError` naming the agent.
    """


class FatalBackendError(Exception):
    """The run cannot go on (e.g. replay found no cached answer); one line for the user.

    Every other exception a backend raises fails only that batch's decisions; this one ends
    the run, and the CLI prints its message and exits with code 2.
    """


class ScenarioValueError(ValueError):
    """A cross-reference error found after field validation; carries its dotted key path."""

    def __init__(self, path: str, value: object, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.value = value
        self.message = message


class AnalysisError(ValueError):
    """A path, run directory or argument that analysis cannot use; the message says why.

    The `tinmen report` command turns it into the CLI's one-line error (exit code 2).
    """


REASON_LIMIT = 200
"""Longest failure reason a backend records, in characters (`one_line(text, REASON_LIMIT)`)."""


def did_you_mean(word: str, candidates: Iterable[str], *, prefix: str = "") -> str:
    """Return "; did you mean 'x'?" for the closest candidate, or "" when none is close.

    `prefix` is put before the suggestion (e.g. `script:`) without taking part in matching.
    """
    close = get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {prefix + close[0]!r}?" if close else ""


def one_line(what: BaseException | str, limit: int | None = None) -> str:
    """The first line of a message, at most `limit` characters (an exception as `Type: msg`)."""
    if isinstance(what, BaseException):
        text = f"{type(what).__name__}: {what}".strip()
    else:
        text = what.strip()
    first = text.splitlines()[0] if text else ""
    if limit is not None and len(first) > limit:
        return first[: limit - 3] + "..."
    return first
