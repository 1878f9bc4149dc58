"""The sweep directory: where every file of a sweep lives, and how a run is published.

    SWEEP/sweep.json                      the plan and the state of every run
    SWEEP/runs/<run_id>/                  one run directory per run (the run format)
    SWEEP/decisions/run_id=<run_id>/      the combined decisions dataset, one partition per
                          part-0.parquet  completed run; `pandas.read_parquet("SWEEP/decisions")`
    SWEEP/batches.csv                     one row per lockstep step: runs, requests, batch sizes

Crash safety. A run's partition is written under `decisions/.staging/` (hidden from readers:
Parquet readers skip names starting with '.' or '_') and renamed into place only after the
run's manifest says `completed`; a run that starts again first deletes its old partition. So
the dataset holds each completed run exactly once, whatever moment a process is killed at, and
a run is complete exactly when its manifest says so and its partition holds its rows.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sim.engine.records import DECISIONS, MANIFEST

SWEEP_JSON = "sweep.json"
RUNS = "runs"
COMBINED = "decisions"
STAGING = ".staging"
BATCHES = "batches.csv"
LOCK = ".lock"

BATCH_COLUMNS: tuple[str, ...] = (
    "session", "worker", "step", "runs", "requests", "backend_calls", "batch_sizes",
    "backend_s", "wall_s", "decisions_per_s",
)
"""Columns of batches.csv. `batch_sizes` is `backend/model=size` per backend, ';'-joined."""


class SweepLayout:
    """Paths inside one sweep directory, and the publishing of completed runs."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.sweep_json = self.root / SWEEP_JSON
        self.runs_dir = self.root / RUNS
        self.combined_dir = self.root / COMBINED
        self.staging_dir = self.combined_dir / STAGING
        self.batches_csv = self.root / BATCHES
        self.lock_file = self.root / LOCK

    def run_dir(self, run_id: str) -> Path:
        """The run directory of `run_id`."""
        return self.runs_dir / run_id

    def partition_dir(self, run_id: str) -> Path:
        """The combined dataset's partition of `run_id`."""
        return self.combined_dir / f"run_id={run_id}"

    def create(self) -> None:
        """Make the directories and clear leftovers of a killed process's staging."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.combined_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def only_sweep_files(self) -> bool:
        """True when the directory holds nothing but a sweep's own files (or nothing)."""
        names = {self.runs_dir.name, self.combined_dir.name, self.batches_csv.name,
                 self.sweep_json.name, self.sweep_json.name + ".tmp", self.lock_file.name}
        return all(entry.name in names for entry in self.root.iterdir())

    def remove(self) -> None:
        """Delete this sweep's files (and only those) from the directory."""
        for directory in (self.runs_dir, self.combined_dir):
            shutil.rmtree(directory, ignore_errors=True)
        for file in (self.batches_csv, self.sweep_json):
            file.unlink(missing_ok=True)

    def forget(self, run_id: str) -> None:
        """Remove a run's partition (before the run starts again)."""
        shutil.rmtree(self.partition_dir(run_id), ignore_errors=True)

    def publish(self, run_id: str) -> int:
        """Copy a completed run's decisions into the combined dataset, atomically.

        Returns the number of rows published.
        """
        table = pq.read_table(self.run_dir(run_id) / DECISIONS)
        stage = self.staging_dir / run_id
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        pq.write_table(table, stage / "part-0.parquet")
        self.forget(run_id)
        os.replace(stage, self.partition_dir(run_id))
        return table.num_rows

    def manifest(self, run_id: str) -> dict[str, Any] | None:
        """A run's manifest, or None when it is missing or unreadable."""
        try:
            return json.loads((self.run_dir(run_id) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def completed_decisions(self, run_id: str) -> int | None:
        """The run's decision count if it completed and was published, else None."""
        manifest = self.manifest(run_id)
        if not manifest or manifest.get("status") != "completed":
            return None
        part = self.partition_dir(run_id) / "part-0.parquet"
        try:
            rows = pq.read_metadata(part).num_rows
        except (OSError, ValueError):
            return None
        return rows if rows == manifest.get("decisions") else None

    def read_state(self) -> dict[str, Any] | None:
        """The recorded sweep.json, or None when there is none."""
        try:
            return json.loads(self.sweep_json.read_text())
        except (OSError, ValueError):
            return None


class BatchLog:
    """Appends one row per lockstep step to batches.csv."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self._file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.DictWriter(self._file, fieldnames=BATCH_COLUMNS)
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        """Append a row and flush it."""
        self._writer.writerow({k: row.get(k) for k in BATCH_COLUMNS})
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class DirectoryLock:
    """An exclusive lock on a sweep directory, so two processes never run one sweep.

    The operating system drops the lock when its process dies (even by SIGKILL). Where file
    locks are not available the lock is a no-op.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return True
        self._file = open(self.path, "a")  # noqa: SIM115
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            return False
        except OSError:  # the file system has no locks (some network mounts): go without
            return True
        return True

    def release(self) -> None:
        """Drop the lock."""
        if self._file is not None:
            self._file.close()
            self._file = None
