"""One error hierarchy for everything a user can get wrong.

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


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    close = get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def missing_extra(package: str, extra: str) -> BackendError:
    """Build the one-line error for a backend whose optional dependency is not installed."""
    return BackendError(
        f"this backend needs the '{package}' package, which is not installed; "
        f"run: pip install 'tinmen[{extra}]'"
    )
