"""Run a sweep: plan -> sweep directory -> executor -> state, progress and resume.

`run_sweep(plan, out)` creates (or resumes) the sweep directory, works out which runs are
already complete (their manifest says so and their decisions are published), runs the rest
with an executor, and keeps `sweep.json` up to date from the executor's events. Re-running
the same sweep (or `--resume`) skips completed runs and reruns every other run from scratch.

Run states in sweep.json: `pending` (not started, or interrupted and due to rerun),
`running`, `completed`, `failed` (the run raised; it is rerun on resume).
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.backends.base import available_backends
from agents.backends.overrides import BackendOverrides
from agents.backends.pool import BackendPool
from agents.errors import BackendError, SweepError, SweepInterrupted, did_you_mean
from agents.wording import plural
from sim.engine.recorder import now_iso, write_json_atomic
from sim.sweep.events import (
    RunFinished,
    RunInterrupted,
    RunStarted,
    StepDone,
    SweepEvent,
    WorkersLost,
)
from sim.sweep.executors import execute_in_process, execute_processes, execute_ray, require_ray
from sim.sweep.lockstep import RunJob, TerminateRequested, stop_signals
from sim.sweep.progress import progress_reporter
from sim.sweep.spec import SweepPlan
from sim.sweep.store import BatchLog, DirectoryLock, SweepLayout

STATES = ("pending", "running", "completed", "failed")
INTERRUPTED = "interrupted; reruns on resume"
"""The `error` of a run that was stopped part-way (it starts again from tick 1 on resume)."""
SAVE_EVERY_S = 0.5
"""Least time between two writes of sweep.json while a sweep runs (it is always written when
the sweep ends); the run directories, not sweep.json, are the record a resume trusts."""


@dataclass(frozen=True)
class SweepResult:
    """What the CLI prints after a sweep."""

    root: Path
    sweep_id: str
    status: str
    runs: int
    completed: int
    failed: int
    skipped: int
    decisions: int
    wall_s: float
    steps: int
    backend_calls: int
    max_batch: int

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        rate = self.decisions / self.wall_s if self.wall_s > 0 else 0.0
        if self.skipped == self.runs and self.steps == 0 and self.status == "completed":
            return [f"nothing to do: all {plural(self.runs, 'run')} are complete"
                    if self.runs != 1 else "nothing to do: the 1 run is complete",
                    f"files: {self.root}/ (sweep.json, runs/, decisions/, batches.csv)"]
        lines = [
            f"sweep {self.status}: {self.completed}/{plural(self.runs, 'run')} completed "
            f"({self.skipped} already done, {self.failed} failed), "
            f"{plural(self.decisions, 'decision')} in {self.wall_s:.1f}s ({rate:.0f}/s)",
            f"lockstep: {plural(self.steps, 'step')}, "
            f"{plural(self.backend_calls, 'backend call')}, largest batch {self.max_batch}",
            f"files: {self.root}/ (sweep.json, runs/, decisions/, batches.csv)",
        ]
        if self.failed:
            lines.append(f"{plural(self.failed, 'run')} failed: see 'error' in sweep.json; "
                         "re-run the same command to retry them")
        return lines


def default_sweep_dir(plan: SweepPlan) -> Path:
    """sweeps/<name>-<first 8 characters of the sweep id>: the same sweep, the same place."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.name).strip("._") or "sweep"
    return Path("sweeps") / f"{name}-{plan.sweep_id[:8]}"


def prepare_directory(plan: SweepPlan, root: Path, *, resume: bool, overwrite: bool
                      ) -> dict[str, Any] | None:
    """Check `root` can hold this sweep; return the state it already records, if any.

    `overwrite` deletes a previous sweep's files there (and only those); a directory that is
    not a sweep directory is never deleted.
    """
    layout = SweepLayout(root)
    existing = layout.read_state()
    if existing is None and root.exists() and not layout.only_sweep_files():
        raise SweepError(f"{root}: exists and is not a sweep directory (no sweep.json); "
                         "choose another --out")
    if existing is not None and existing.get("sweep_id") != plan.sweep_id and not overwrite:
        raise SweepError(
            f"{root}: holds a different sweep ({existing.get('name')}, id "
            f"{existing.get('sweep_id')}; this one is {plan.sweep_id}); choose another "
            "--out, or pass --overwrite to replace it")
    if resume and (existing is None or overwrite):
        raise SweepError(f"{root}: there is no sweep to resume there; run without --resume "
                         "to start it")
    if overwrite and existing is not None:
        layout.remove()
        return None
    return existing


class SweepSession:
    """One invocation of a sweep: keeps sweep.json, batches.csv and the progress bars."""

    def __init__(self, plan: SweepPlan, layout: SweepLayout, previous: dict[str, Any] | None,
                 *, executor: Mapping[str, Any], progress: bool,
                 backend_flags: BackendOverrides | None = None) -> None:
        self.plan = plan
        self.backend_flags = backend_flags or BackendOverrides()
        self.layout = layout
        self.started = time.perf_counter()
        self._last_save = 0.0
        self._save_every = SAVE_EVERY_S
        old_runs = {r["run_id"]: r for r in (previous or {}).get("runs", [])}
        sessions = list((previous or {}).get("sessions", []))
        self.session = len(sessions) + 1
        self.runs: dict[str, dict[str, Any]] = {}
        self.skipped = 0
        self.lost_workers: str | None = None  # exit codes of workers that died, if any
        for run in plan.runs:
            old = old_runs.get(run.run_id, {})
            entry = {
                "run_id": run.run_id, "cell_index": run.cell_index,
                "cell": plan.cells[run.cell_index], "replicate": run.replicate,
                "seed": run.seed, "ticks": run.ticks, "run_dir": f"runs/{run.run_id}",
                "status": "pending", "attempts": int(old.get("attempts", 0)),
                "decisions": None, "error": None, "worker": None,
                "started_at": old.get("started_at"), "finished_at": old.get("finished_at"),
            }
            decisions = layout.completed_decisions(run.run_id)
            if decisions is not None:
                entry.update(status="completed", decisions=decisions)
                self.skipped += 1
            self.runs[run.run_id] = entry
        self.totals = {"steps": 0, "requests": 0, "backend_calls": 0, "max_batch": 0,
                       "decisions": 0}
        self.session_info = {"session": self.session, "started_at": now_iso(),
                             "finished_at": None, "status": "running", **executor}
        self.sessions = [*sessions, self.session_info]
        self.created_at = (previous or {}).get("created_at") or now_iso()
        self.status = "running"
        self.batches = BatchLog(layout.batches_csv)
        self.bars = progress_reporter(
            progress, total_runs=len(self.runs), done_runs=self.skipped,
            todo_ticks=sum(e["ticks"] for e in self.runs.values()
                           if e["status"] != "completed"))

    # ------------------------------------------------------------------ state
    def jobs(self, command: Sequence[str]) -> list[RunJob]:
        """The runs still to do, as jobs for an executor."""
        plan = self.plan
        return [
            RunJob(run_id=run.run_id, config=plan.scenario_data(run), replicate=run.replicate,
                   ticks=run.ticks, source=plan.base_file,
                   overrides=tuple(plan.overrides(run)),
                   data_folders=plan.allowed_folders(),
                   manifest_extra={
                       "run_id": run.run_id,
                       "sweep": {"sweep_id": plan.sweep_id,
                                 "cell": plan.cells[run.cell_index],
                                 "replicate": run.replicate},
                       "command": list(command),
                   })
            for run in plan.runs if self.runs[run.run_id]["status"] != "completed"
        ]

    def counts(self) -> dict[str, int]:
        """How many runs are in each state."""
        counts = dict.fromkeys(STATES, 0)
        for entry in self.runs.values():
            counts[entry["status"]] += 1
        return counts

    def payload(self) -> dict[str, Any]:
        """The whole sweep.json."""
        return {
            "tinmen_sweep": 1,
            "sweep_id": self.plan.sweep_id,
            "name": self.plan.name,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": now_iso(),
            "counts": self.counts(),
            **self.plan.to_json(),
            "backend_flags": self.backend_flags.to_json(),
            "runs_planned": len(self.runs),
            "batches": {**self.totals, "file": "batches.csv"},
            "sessions": self.sessions,
            "runs": list(self.runs.values()),
        }

    def save(self, force: bool = False) -> None:
        """Write sweep.json (atomically), at most every SAVE_EVERY_S unless forced."""
        now = time.monotonic()
        if force or now - self._last_save >= self._save_every:
            write_json_atomic(self.layout.sweep_json, self.payload())
            self._last_save = time.monotonic()
            # a large sweep.json is written less often: at most ~5% of the time goes to it
            self._save_every = max(SAVE_EVERY_S, 20 * (self._last_save - now))

    # ------------------------------------------------------------------ events
    def handle(self, event: SweepEvent) -> None:
        """Apply one executor event to the state, the batch log and the bars."""
        entry = self.runs.get(str(getattr(event, "run_id", None)))
        if isinstance(event, RunStarted) and entry is not None:
            entry.update(status="running", attempts=entry["attempts"] + 1, error=None,
                         decisions=None, started_at=now_iso(), finished_at=None,
                         worker=event.worker)
        elif isinstance(event, RunFinished) and entry is not None:
            entry.update(status=event.status, decisions=event.decisions, error=event.error,
                         finished_at=now_iso())
            self.bars.run_done(entry)
        elif isinstance(event, RunInterrupted) and entry is not None:
            entry.update(status="pending", error=INTERRUPTED, finished_at=now_iso())
        elif isinstance(event, StepDone):
            self._step(event)
        elif isinstance(event, WorkersLost):
            self.lost_workers = f"exit codes {event.exitcodes}"
            self.reconcile("a worker process stopped before the run finished "
                           f"({self.lost_workers})")
        self.save()

    def _step(self, event: StepDone) -> None:
        row = event.as_row()
        self.batches.write(row)
        self.totals["steps"] += 1
        self.totals["requests"] += event.requests
        self.totals["decisions"] = self.totals["requests"]  # one decision per request
        self.totals["backend_calls"] += event.backend_calls
        self.totals["max_batch"] = max(self.totals["max_batch"], event.max_batch)
        self.bars.step(row, self.totals["decisions"], time.perf_counter() - self.started)

    def reconcile(self, reason: str, *, interrupted: bool = False) -> None:
        """Runs still 'running' whose worker is gone: completed if on disk, else failed.

        After an interrupt (`interrupted`), a run not complete on disk goes back to 'pending'
        instead, to rerun on resume.
        """
        for run_id, entry in self.runs.items():
            if entry["status"] != "running":
                continue
            decisions = self.layout.completed_decisions(run_id)
            if decisions is not None:
                entry.update(status="completed", decisions=decisions, error=None)
            elif interrupted:
                entry.update(status="pending", error=INTERRUPTED)
            else:
                entry.update(status="failed", error=reason, finished_at=now_iso())

    def fail_never_started(self) -> None:
        """Runs still 'pending' when the executor is done never ran: record them as failed.

        This happens when worker processes die before running their share; without it such
        a sweep would look finished. Failed runs run again on --resume.
        """
        lost = self.lost_workers
        why = (f"a worker process exited before running it ({lost})" if lost
               else "the executor finished without running it")
        for entry in self.runs.values():
            if entry["status"] == "pending" and entry["error"] != INTERRUPTED:
                entry.update(status="failed", error=f"never ran: {why}; re-run with --resume",
                             finished_at=now_iso())

    def close(self, status: str) -> None:
        """End the session: settle leftover states, write sweep.json, close files and bars."""
        if status == "interrupted":
            self.reconcile("interrupted", interrupted=True)
        else:
            self.reconcile("the run was left unfinished by its worker")
            self.fail_never_started()
        counts = self.counts()
        if status == "completed" and counts["failed"]:
            status = "completed_with_failures"
        self.status = status
        self.session_info.update(status=status, finished_at=now_iso(),
                                 wall_s=round(time.perf_counter() - self.started, 3),
                                 **{k: v for k, v in self.totals.items()})
        self.save(force=True)
        self.batches.close()
        self.bars.close()

    def result(self) -> SweepResult:
        """The summary of this session."""
        counts = self.counts()
        return SweepResult(root=self.layout.root, sweep_id=self.plan.sweep_id,
                           status=self.status, runs=len(self.runs),
                           completed=counts["completed"], failed=counts["failed"],
                           skipped=self.skipped, decisions=self.totals["decisions"],
                           wall_s=time.perf_counter() - self.started,
                           steps=self.totals["steps"],
                           backend_calls=self.totals["backend_calls"],
                           max_batch=self.totals["max_batch"])


def check_backends(plan: SweepPlan) -> None:
    """Every backend the runs name is registered (before anything runs)."""

    known = set(available_backends())
    for config, cell in zip(plan.cell_configs, plan.cells, strict=True):
        for i, agent in enumerate(config.get("agents", [])):
            name = agent.get("backend")
            if name not in known:

                where = f"{plan.source}: cell {cell}" if cell else plan.source
                raise SweepError(f"{where}: agents.{i}.backend: unknown backend {name!r}; "
                                 f"available: {', '.join(sorted(known))}"
                                 f"{did_you_mean(str(name), known)}")


def run_sweep(plan: SweepPlan, out: str | Path | None = None, *, resume: bool = False,
              overwrite: bool = False, executor: str = "local", workers: int = 1,
              address: str | None = None, max_active: int | None = None,
              pool: BackendPool | None = None,
              backend_flags: BackendOverrides | None = None,
              worker_env: Mapping[str, Sequence[str]] | None = None, progress: bool = True,
              command: Sequence[str] | None = None) -> SweepResult:
    """Run (or resume) `plan` into `out`; return the summary.

    `executor` is `local` (in this process when `workers` is 1, else `workers` processes)
    or `ray` (`workers` Ray tasks, at `address`). `max_active` bounds how many runs each
    worker advances together (default: all of its share). `worker_env` deals environment
    variables to workers round-robin (worker processes or Ray tasks only). `pool` lets tests
    hand in backends (in-process only). Raises `SweepInterrupted` on SIGINT/SIGTERM after recording
    everything, and `SweepError` for a directory, executor or worker problem.
    """
    if executor not in ("local", "ray"):
        raise SweepError(f"--executor {executor!r}: use local or ray")
    if workers < 1:
        raise SweepError(f"--workers {workers}: needs at least 1")
    if max_active is not None and max_active < 1:
        raise SweepError(f"--max-active {max_active}: needs at least 1")
    if worker_env and executor == "local" and workers == 1:
        raise SweepError("--worker-env: needs --workers 2 or more, or --executor ray; with one "
                         "worker, set the variable in your shell instead")
    if executor == "ray":
        require_ray()
    check_backends(plan)
    root = Path(out) if out is not None else default_sweep_dir(plan)
    previous = prepare_directory(plan, root, resume=resume, overwrite=overwrite)
    layout = SweepLayout(root)
    layout.create()
    lock = DirectoryLock(layout.lock_file)
    if not lock.acquire():
        raise SweepError(f"{root}: another tinmen process is running this sweep; wait for it "
                         "to finish or stop it first")
    try:
        info = {"executor": executor, "workers": workers, "address": address,
                "max_active": max_active}
        backend_flags = continued_flags(previous, backend_flags, root)
        session = SweepSession(plan, layout, previous, executor=info, progress=progress,
                               backend_flags=backend_flags)
        session.save(force=True)
        jobs = session.jobs(command if command is not None else sys.argv)
        status = "failed"
        try:
            with stop_signals():
                _execute(jobs, layout.root, session, executor=executor, workers=workers,
                         address=address, max_active=max_active, pool=pool,
                         backend_flags=backend_flags, worker_env=worker_env)
            status = "completed"
        except KeyboardInterrupt as exc:
            status = "interrupted"
            session.close(status)
            raise _interrupted(exc, session, root) from None
        finally:
            if status != "interrupted":
                session.close(status)
        return session.result()
    finally:
        lock.release()


def continued_flags(previous: Mapping[str, Any] | None, given: BackendOverrides | None,
                    root: Path) -> BackendOverrides:
    """The backend flags of a sweep: those it recorded (when continued), `given` over them.

    sweep.json records the flags a sweep was started with, so `--resume --out DIR` asks the
    same servers with the same options; a flag given again replaces its recorded value.
    """
    given = given or BackendOverrides()
    recorded = (previous or {}).get("backend_flags")
    if not recorded:
        return given
    try:
        return given.over(BackendOverrides.from_json(recorded))
    except BackendError as exc:
        raise SweepError(f"{root}/sweep.json: its recorded backend_flags with the flags given "
                         f"now: {exc}") from None


def _execute(jobs: list[RunJob], root: Path, session: SweepSession, *, executor: str,
             workers: int, address: str | None, max_active: int | None,
             pool: BackendPool | None, backend_flags: BackendOverrides | None,
             worker_env: Mapping[str, Sequence[str]] | None) -> None:
    common = {"max_active": max_active, "session": session.session,
              "backend_flags": backend_flags}
    if not jobs:
        return
    if executor == "ray":
        execute_ray(jobs, root, session.handle, workers=workers, address=address,
                    worker_env=worker_env, **common)
    elif workers > 1:
        execute_processes(jobs, root, session.handle, workers=workers, worker_env=worker_env,
                          **common)
    else:
        execute_in_process(jobs, root, session.handle, pool=pool, **common)


def _interrupted(exc: KeyboardInterrupt, session: SweepSession, root: Path) -> SweepInterrupted:
    signum = exc.signum if isinstance(exc, TerminateRequested) else signal.SIGINT
    counts = session.counts()
    name = signal.Signals(signum).name
    return SweepInterrupted(
        f"sweep interrupted by {name}: {counts['completed']} of {len(session.runs)} runs "
        f"completed and kept; resume with: tinmen sweep --resume --out {root}"
        f"{checkpoint_hint(session)}", 128 + int(signum))


def checkpoint_hint(session: SweepSession) -> str:
    """How many runs in progress were lost, and how `--max-active` keeps runs as they finish.

    Lockstep advances every run together, so none completes before the last tick; a run
    stopped part-way restarts from tick 1 on resume.
    """
    lost = sum(1 for e in session.runs.values()
               if e["status"] == "pending" and e["error"] == INTERRUPTED)
    if not lost:
        return ""
    hint = (f"; {plural(lost, 'run')} in progress will restart from tick 1")
    if session.session_info.get("max_active") is None and len(session.runs) > 1:
        waves = max(1, -(-len(session.runs) // 4))
        hint += (f"; to keep runs as they finish, add --max-active N (e.g. --max-active "
                 f"{waves}: N runs advance together and the sweep completes them in waves)")
    return hint
