"""What a sweep's workers report to the coordinating process: small frozen event types.

`run_lockstep` emits them, executors carry them across process and Ray queues (they pickle),
and `SweepSession.handle` applies them to the sweep's state by type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    """A worker opened a run (from scratch)."""

    run_id: str
    worker: int


@dataclass(frozen=True)
class RunFinished:
    """A run ended: `status` is `completed` or `failed` (with `error`)."""

    run_id: str
    status: str
    decisions: int | None = None
    error: str | None = None
    ticks: int | None = None


@dataclass(frozen=True)
class RunInterrupted:
    """A run stopped on SIGINT/SIGTERM; it reruns on resume."""

    run_id: str


@dataclass(frozen=True)
class StepDone:
    """One lockstep step of one worker: its batch sizes and timings (a batches.csv row)."""

    session: int
    worker: int
    step: int
    runs: int
    requests: int
    backend_calls: int
    batch_sizes: str
    """`backend/model=size` per backend, ';'-joined."""
    max_batch: int
    backend_s: float
    wall_s: float
    decisions_per_s: float | None

    def as_row(self) -> dict[str, Any]:
        """The step as a mapping (the batches.csv row and the progress bars read it)."""
        return asdict(self)


@dataclass(frozen=True)
class WorkersLost:
    """Worker processes exited with an error code before reporting their runs."""

    workers: list[str]
    exitcodes: list[int | None]


@dataclass(frozen=True)
class WorkerFailed:
    """A worker stopped on an error every run would hit; the executor ends the sweep."""

    error: str


SweepEvent = RunStarted | RunFinished | RunInterrupted | StepDone | WorkersLost | WorkerFailed
"""Every event a sweep worker or executor reports."""
