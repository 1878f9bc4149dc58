"""Sweep progress: two bars on a terminal, plain periodic lines elsewhere, or nothing.

A redirected stderr (`2> file`, `2>&1 | tail`) must not collect carriage returns and escape
codes, so progress there is one self-contained line at the first step, at most one every
`every_s` seconds after it, and one when the sweep ends:

    progress: 3/36 runs done, 40/720 run-ticks, 480 decisions (1200/s)
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

LINE_EVERY_S = 10.0
"""Least time between two progress lines (the first and the last are always written)."""


def is_terminal(stream: Any) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes and captures)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgressLines:
    """Runs done and run-ticks done as plain lines on `stream` (same calls as the bars)."""

    def __init__(self, *, total_runs: int, done_runs: int, todo_ticks: int,
                 stream: TextIO | None = None, every_s: float = LINE_EVERY_S) -> None:
        self.total_runs = total_runs
        self.done_runs = done_runs
        self.todo_ticks = todo_ticks
        self.ticks = 0
        self.decisions = 0
        self.rate = 0.0
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self._last: float | None = None
        self._unwritten = False

    def run_done(self, entry: dict[str, Any]) -> None:
        """A run finished (completed or failed)."""
        self.done_runs += 1
        self._unwritten = True

    def step(self, event: Any, decisions: int, elapsed: float) -> None:
        """A lockstep step advanced `runs` runs by one tick."""
        runs = event["runs"] if isinstance(event, dict) else event.runs
        self.ticks += int(runs)
        self.decisions = decisions
        self.rate = decisions / elapsed if elapsed > 0 else 0.0
        self._unwritten = True
        now = time.monotonic()
        if self._last is None or now - self._last >= self.every_s:
            self._write(now)

    def close(self) -> None:
        """Write the last line, if anything happened since the previous one."""
        if self._unwritten:
            self._write(time.monotonic())

    def line(self) -> str:
        """The current progress line."""
        return (f"progress: {self.done_runs}/{self.total_runs} runs done, "
                f"{self.ticks}/{self.todo_ticks} run-ticks, {self.decisions} decisions "
                f"({self.rate:.0f}/s)")

    def _write(self, now: float) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last = now
        self._unwritten = False


class Bars:
    """Two progress bars on stderr: runs completed, and run-ticks with decisions/s."""

    def __init__(self, *, total_runs: int, done_runs: int, todo_ticks: int) -> None:
        from tqdm import tqdm

        common = {"file": sys.stderr, "dynamic_ncols": True, "leave": False}
        self.runs = tqdm(total=total_runs, initial=done_runs, unit="run", desc="runs",
                         position=0, **common)
        self.ticks = tqdm(total=todo_ticks, unit="tick", desc="ticks", position=1, **common)

    def run_done(self, entry: dict[str, Any]) -> None:
        """A run finished (completed or failed)."""
        self.runs.update(1)

    def step(self, event: dict[str, Any], decisions: int, elapsed: float) -> None:
        """A lockstep step advanced `runs` runs by one tick."""
        self.ticks.update(int(event["runs"]))
        rate = decisions / elapsed if elapsed > 0 else 0.0
        self.ticks.set_postfix(batch=event["requests"], decisions_per_s=f"{rate:.0f}",
                               refresh=False)

    def close(self) -> None:
        """Close both bars."""
        self.ticks.close()
        self.runs.close()


class NoBars:
    """Progress reporting switched off (--quiet)."""

    def run_done(self, entry: dict[str, Any]) -> None:
        """Nothing to show."""

    def step(self, event: dict[str, Any], decisions: int, elapsed: float) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def progress_reporter(enabled: bool, *, total_runs: int, done_runs: int, todo_ticks: int
                      ) -> Bars | NoBars | ProgressLines:
    """Bars on a terminal, plain periodic lines on a redirected stderr, or nothing."""
    if not enabled:
        return NoBars()
    if is_terminal(sys.stderr):
        return Bars(total_runs=total_runs, done_runs=done_runs, todo_ticks=todo_ticks)
    return ProgressLines(total_runs=total_runs, done_runs=done_runs, todo_ticks=todo_ticks)
