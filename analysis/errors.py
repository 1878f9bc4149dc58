"""The one error type of `analysis`: a run or sweep directory that cannot be read.

`analysis` does not import the engine, so it has its own exception; the `tinmen report`
command turns it into the CLI's one-line error (exit code 2).
"""

from __future__ import annotations


class AnalysisError(ValueError):
    """A path, run directory or argument that analysis cannot use; the message says why."""
