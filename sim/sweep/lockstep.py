"""Lockstep execution: many runs advance tick by tick together, one batch per backend per tick.

Each step hands every active run's model to `sim.engine.run.advance`, the one tick driver
(the single-run path uses it too): the requests of all runs are answered by ONE
`generate_batched` call, which sends one batch to each distinct backend (runs share backends
through a `BackendPool`), and each run settles and records its tick. Runs
that finish are closed and published to the sweep's combined dataset, and waiting runs take
their place (at most `max_active` at a time). This is what keeps a shared inference server
busy: a sweep of 240 one-tick runs makes one backend call.

Everything a run does is reported through `emit(event)` with the frozen event types of
`sim.sweep.events` (they pickle, so they cross a process or a Ray queue): `RunStarted`,
`RunFinished` (completed or failed), `RunInterrupted`, and one `StepDone` per lockstep step
with its batch sizes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.backends.overrides import BackendOverrides
from agents.backends.pool import BackendPool
from agents.errors import SweepError, TinmenError, one_line
from sim.engine.model import MarketModel
from sim.engine.recorder import RunRecorder
from sim.engine.run import advance, close_run, open_run
from sim.scenario.data_paths import recheck_data_paths
from sim.scenario.loader import validate_scenario
from sim.sweep.events import RunFinished, RunInterrupted, RunStarted, StepDone, SweepEvent
from sim.sweep.store import SweepLayout

Emit = Callable[[SweepEvent], None]
"""Receives the events of a lockstep executor."""


class TerminateRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: stop cleanly, as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Deferral:
    """State shared by the stop-signal handler and `finishing_section`."""

    depth = 0
    pending: int | None = None


def on_stop_signal(signum: int, frame: Any) -> None:
    """Handler for SIGINT/SIGTERM: ignore later ones, then raise `TerminateRequested`.

    Inside `finishing_section` the raise waits until the section ends, so a run that is
    being completed is completed (manifest and published decisions) before the sweep stops.
    """
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    if _Deferral.depth:
        _Deferral.pending = signum
        return
    raise TerminateRequested(signum)


@contextmanager
def finishing_section() -> Iterator[None]:
    """Defer a stop signal that arrives inside this block to its end."""
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        if not _Deferral.depth and _Deferral.pending is not None:
            signum, _Deferral.pending = _Deferral.pending, None
            raise TerminateRequested(signum)


def install_stop_signals() -> None:
    """Route SIGINT and SIGTERM to `on_stop_signal` (main thread only)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_stop_signal)


@contextmanager
def stop_signals() -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into `TerminateRequested`; ignore later ones.

    Ignoring the second signal lets the cleanup (marking runs interrupted, writing state)
    finish. Previous handlers come back on exit. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in watched}
    install_stop_signals()
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclass(frozen=True)
class RunJob:
    """One run of a sweep, as a worker needs it (picklable: plain data only)."""

    run_id: str
    config: dict[str, Any]
    replicate: int
    ticks: int
    source: str = ""
    overrides: tuple[str, ...] = ()
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    data_folders: tuple[str, ...] = ()
    """Folders the run's data files may lie in: the sweep's and the base scenario's, and
    those given with --allow-path (checked again where the run starts)."""

    @property
    def cost(self) -> int:
        """A rough size of the run (ticks x customers), to balance workers' shares."""
        customers = sum(int(g.get("count", 1)) for g in self.config.get("customers", []))
        return self.ticks * max(customers, 1)


@dataclass
class ActiveRun:
    """A run in progress: its model and recorder."""

    job: RunJob
    model: MarketModel
    recorder: RunRecorder
    closed: bool = False


def split_shares(jobs: Iterable[RunJob], n: int) -> list[list[RunJob]]:
    """Deal jobs into `n` shares of similar total cost (largest first to the lightest)."""
    jobs = list(jobs)
    n = max(1, min(n, len(jobs))) if jobs else 1
    shares: list[list[RunJob]] = [[] for _ in range(n)]
    loads = [0] * n
    order = {job.run_id: i for i, job in enumerate(jobs)}
    for job in sorted(jobs, key=lambda j: -j.cost):
        k = loads.index(min(loads))
        shares[k].append(job)
        loads[k] += job.cost
    return [sorted(share, key=lambda j: order[j.run_id]) for share in shares]


def run_lockstep(jobs: Iterable[RunJob], root: str | Path, emit: Emit, *,
                 pool: BackendPool | None = None,
                 backend_flags: BackendOverrides | None = None,
                 max_active: int | None = None, worker: int = 0, session: int = 0) -> None:
    """Run `jobs` in lockstep, writing into the sweep directory `root`.

    `backend_flags` are the command line's backend flags (see `BackendPool`).

    A run that fails (its model raises) is recorded as failed and the others go on. On
    KeyboardInterrupt (SIGINT/SIGTERM via `stop_signals`) or any error that is not a single
    run's, every active run is recorded as interrupted and the exception re-raised.
    """
    layout = SweepLayout(root)
    own_pool = pool is None
    pool = pool if pool is not None else BackendPool(backend_flags)
    waiting = deque(jobs)
    active: list[ActiveRun] = []
    step = 0
    try:
        while waiting or active:
            while waiting and (max_active is None or len(active) < max_active):
                run = _start(waiting.popleft(), layout, pool, emit, worker)
                if run is not None:
                    active.append(run)
            if active:
                step += 1
                _advance(active, layout, emit, step=step, worker=worker, session=session)
                active = [run for run in active if not run.closed]
    except BaseException:
        for run in active:
            try:
                _stop(run, "interrupted", None, emit)
            except Exception:  # noqa: BLE001, S112 - stop the others even if a report fails
                continue
        raise
    finally:
        if own_pool:
            pool.close()


def _start(job: RunJob, layout: SweepLayout, pool: BackendPool, emit: Emit,
           worker: int) -> ActiveRun | None:
    """Open a run (from scratch: its old partition and files are replaced)."""
    emit(RunStarted(job.run_id, worker))
    layout.forget(job.run_id)
    try:
        recheck_data_paths(job.config, job.data_folders)
        scenario = validate_scenario(job.config, f"run {job.run_id}")
        backends = pool.for_scenario(scenario)
        model, recorder = open_run(scenario, layout.run_dir(job.run_id), backends=backends,
                                   source=job.source, overrides=job.overrides,
                                   overwrite=True, replicate=job.replicate,
                                   extra=job.manifest_extra)
    except KeyboardInterrupt:
        emit(RunInterrupted(job.run_id))
        raise
    except Exception as exc:  # noqa: BLE001 - one run's problem must not end the sweep
        emit(RunFinished(job.run_id, "failed", decisions=0, error=one_line(exc)))
        if _is_user_error(exc):
            raise
        return None
    return ActiveRun(job, model, recorder)


def _is_user_error(exc: Exception) -> bool:
    """Errors every run would hit (a bad backend, a bad directory) end the sweep."""

    return isinstance(exc, TinmenError)


def _advance(active: list[ActiveRun], layout: SweepLayout, emit: Emit, *, step: int,
             worker: int, session: int) -> None:
    """One lockstep step: every active run does one tick, answered by one shared batch."""
    started = time.perf_counter()
    done = advance([run.model for run in active])
    if done.unreachable:  # the server is gone: every run would fail the same way
        raise SweepError(f"every request of lockstep step {step} failed to connect to "
                         f"{', '.join(done.unreachable)}; the sweep stops here (runs in "
                         "progress restart on resume); check that the server is running, "
                         "then resume")
    for k, run in enumerate(active):
        if k in done.failures:
            _stop(run, "failed", done.failures[k], emit)
        elif not run.model.running:
            _finish(run, layout, emit)
    wall_s = time.perf_counter() - started
    sizes = done.batch_sizes
    emit(StepDone(
        session=session, worker=worker, step=step, runs=done.prepared, requests=done.requests,
        backend_calls=done.backend_calls,
        batch_sizes=";".join(f"{k}={v}" for k, v in sizes.items()),
        max_batch=max(sizes.values(), default=0), backend_s=round(done.backend_s, 6),
        wall_s=round(wall_s, 6),
        decisions_per_s=round(done.requests / wall_s, 1) if wall_s > 0 else None))


def _finish(run: ActiveRun, layout: SweepLayout, emit: Emit) -> None:
    """Close a completed run and publish its decisions to the combined dataset."""
    with finishing_section():
        run.closed = True
        manifest = close_run(run.recorder, "completed")
        try:
            rows = layout.publish(run.job.run_id)
        except Exception as exc:  # noqa: BLE001 - the run is on disk; it reruns on resume
            emit(RunFinished(run.job.run_id, "failed", decisions=0,
                             error=f"publishing its decisions failed: {one_line(exc)}"))
            return
        emit(RunFinished(run.job.run_id, "completed", decisions=rows,
                         ticks=manifest.get("ticks_completed")))


def _stop(run: ActiveRun, status: str, exc: BaseException | None, emit: Emit) -> None:
    """Close a run that did not complete (failed or interrupted), recording why."""
    if run.closed:
        return
    run.closed = True
    error = one_line(exc) if exc is not None else None
    try:
        close_run(run.recorder, status, error)
    except Exception:  # noqa: BLE001, S110 - the manifest stays 'running': it reruns anyway
        pass
    if status == "interrupted":
        emit(RunInterrupted(run.job.run_id))
    else:
        emit(RunFinished(run.job.run_id, status, decisions=0, error=error))
