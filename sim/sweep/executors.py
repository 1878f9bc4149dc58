"""Where a sweep's runs execute: in this process, in local worker processes, or on Ray.

Every executor runs `run_lockstep` over its share of the runs and passes each event to
`handle` in this (the coordinating) process, which alone writes sweep.json. Workers write run
directories and dataset partitions themselves, so with Ray the sweep directory must be on
storage every node can reach.

On SIGINT/SIGTERM an executor stops its workers (they record their active runs as
interrupted), forwards their last events, and re-raises the interrupt.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.backends.base import register_backend, registry_entries
from agents.backends.pool import BackendPool
from agents.errors import SweepError, TinmenError
from sim.sweep.lockstep import RunJob, install_stop_signals, run_lockstep, split_shares

Handle = Callable[[dict[str, Any]], None]

EXECUTORS = ("local", "ray")
STOP_GRACE_S = 60.0
"""How long interrupted workers get to record their runs before they are killed."""


def execute_in_process(jobs: Sequence[RunJob], root: Path, handle: Handle, *,
                       pool: BackendPool | None = None, max_active: int | None = None,
                       session: int = 0,
                       backend_options: Mapping[str, Any] | None = None) -> None:
    """Run every job here, in lockstep (the default executor)."""
    run_lockstep(jobs, root, handle, pool=pool, backend_options=backend_options,
                 max_active=max_active, worker=0, session=session)


# --------------------------------------------------------------------------- processes


def worker_environment(worker_env: Mapping[str, Sequence[str]] | None, worker: int
                       ) -> dict[str, str]:
    """The environment variables of worker i: each variable's values dealt round-robin."""
    return {key: values[worker % len(values)]
            for key, values in (worker_env or {}).items() if values}


def execute_processes(jobs: Sequence[RunJob], root: Path, handle: Handle, *, workers: int,
                      max_active: int | None = None, session: int = 0,
                      backend_options: Mapping[str, Any] | None = None,
                      worker_env: Mapping[str, Sequence[str]] | None = None) -> None:
    """Run the jobs in `workers` local processes, each in lockstep over its share.

    `worker_env` gives each worker its own environment variables (values dealt round-robin),
    e.g. a different inference server per worker.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    shares = [share for share in split_shares(jobs, workers) if share]
    processes = [
        context.Process(target=process_worker, name=f"tinmen-sweep-worker-{i}",
                        args=(share, str(root), events, i, max_active, session,
                              dict(backend_options or {}), registry_entries(),
                              worker_environment(worker_env, i)))
        for i, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    fatal: list[str] = []
    try:
        while any(p.is_alive() for p in processes):
            try:
                event = events.get(timeout=0.2)
            except queue_module.Empty:
                continue
            _forward(event, handle, fatal)
            if fatal:
                _stop_processes(processes, events, handle, fatal)
                break
    except KeyboardInterrupt:
        _stop_processes(processes, events, handle, fatal)
        raise
    _drain(events, handle, fatal)
    for process in processes:
        process.join()
    if fatal:
        raise SweepError(fatal[0])
    crashed = [p for p in processes if p.exitcode not in (0, None)]
    if crashed:
        handle({"type": "worker_lost", "workers": [p.name for p in crashed],
                "exitcodes": [p.exitcode for p in crashed]})


def _forward(event: dict[str, Any], handle: Handle, fatal: list[str]) -> None:
    if event.get("type") == "fatal":
        fatal.append(str(event.get("error")))
    else:
        handle(event)


def _drain(events: Any, handle: Handle, fatal: list[str]) -> None:
    while True:
        try:
            _forward(events.get(timeout=0.05), handle, fatal)
        except queue_module.Empty:
            return
        except (EOFError, OSError):
            return


def _stop_processes(processes: Sequence[Any], events: Any, handle: Handle,
                    fatal: list[str]) -> None:
    """SIGTERM every live worker, keep forwarding events until they exit, then kill."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        try:
            _forward(events.get(timeout=0.2), handle, fatal)
        except queue_module.Empty:
            continue
    for process in processes:
        if process.is_alive():
            process.kill()
    _drain(events, handle, fatal)


def process_worker(jobs: list[RunJob], root: str, events: Any, worker: int,
                   max_active: int | None, session: int, backend_options: dict[str, Any],
                   backends: Mapping[str, tuple[str, str, str | None]],
                   env: Mapping[str, str]) -> None:
    """Entry point of a worker process: lockstep over its share, events on the queue.

    The first SIGINT/SIGTERM stops the lockstep loop (its runs are recorded as interrupted);
    later ones are ignored so that the last events still reach the coordinator.
    """
    try:
        os.environ.update(env)
        _register(backends)
        _exit_with_parent()
        install_stop_signals()
        try:
            run_lockstep(jobs, root, events.put, backend_options=backend_options,
                         max_active=max_active, worker=worker, session=session)
        except KeyboardInterrupt:
            pass
        except Exception as exc:  # noqa: BLE001 - report to the coordinator in one line
            message = str(exc) if isinstance(exc, TinmenError) else (
                f"worker {worker}: {type(exc).__name__}: {exc}")
            events.put({"type": "fatal", "error": message})
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
            events.close()
            events.join_thread()
    except KeyboardInterrupt:  # a signal between the steps above: nothing left to record
        return


def _register(backends: Mapping[str, tuple[str, str, str | None]]) -> None:
    for name, (module, cls, extra) in backends.items():
        register_backend(name, module, cls, extra)


def _exit_with_parent() -> None:
    """Stop this worker (as if by SIGTERM) when its coordinating process dies.

    Without this, a coordinator killed by SIGKILL would leave workers writing into a sweep
    directory that a resumed sweep is also writing into.
    """
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tinmen-parent-watch", daemon=True).start()


# --------------------------------------------------------------------------- ray


def require_ray() -> None:
    """Raise a one-line `SweepError` naming the extra when ray is not installed."""
    try:
        import ray  # noqa: F401
        import ray.util.queue  # noqa: F401
    except ImportError as exc:
        raise SweepError("--executor ray needs the 'ray' package, which is not installed; "
                         "run: pip install 'tinmen[ray]'") from exc


def execute_ray(jobs: Sequence[RunJob], root: Path, handle: Handle, *, workers: int,
                address: str | None = None, max_active: int | None = None, session: int = 0,
                backend_options: Mapping[str, Any] | None = None,
                worker_env: Mapping[str, Sequence[str]] | None = None) -> None:
    """Run the jobs as `workers` Ray tasks, each in lockstep over its share.

    Connects to the cluster at `address` (or starts a local Ray when None and none is
    running). Tasks write to `root`, which must be shared storage on a cluster; their events
    reach this process through a Ray queue.
    """
    require_ray()
    import ray
    from ray.util.queue import Queue

    if not ray.is_initialized():
        try:
            ray.init(address=address)
        except Exception as exc:  # noqa: BLE001 - ray raises many kinds; report one line
            where = address or "a local Ray instance"
            raise SweepError(f"--address {address}: cannot connect to {where} "
                             f"({type(exc).__name__}: {exc}); check the address, e.g. "
                             "ray://head-node:10001 or auto") from exc
    events = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(num_cpus=1, max_retries=0)(ray_worker)
    shares = [share for share in split_shares(jobs, workers) if share]
    pending = [task.remote(share, str(Path(root).resolve()), events, i, max_active, session,
                           dict(backend_options or {}), registry_entries(),
                           worker_environment(worker_env, i))
               for i, share in enumerate(shares)]
    fatal: list[str] = []

    def drain() -> None:
        size = events.size()
        if size:
            for event in events.get_nowait_batch(size):
                _forward(event, handle, fatal)

    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            drain()
            for ref in done:
                try:
                    ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task's crash ends the sweep
                    fatal.append(f"a Ray task failed: {type(exc).__name__}: {exc}")
            if fatal:
                for ref in pending:
                    ray.cancel(ref)
                break
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        with contextlib.suppress(Exception):
            ray.wait(pending, num_returns=len(pending), timeout=STOP_GRACE_S)
        drain()
        raise
    drain()
    if fatal:
        raise SweepError(fatal[0].splitlines()[0])


def ray_worker(jobs: list[RunJob], root: str, events: Any, worker: int,
               max_active: int | None, session: int, backend_options: dict[str, Any],
               backends: Mapping[str, tuple[str, str, str | None]],
               env: Mapping[str, str]) -> None:
    """Body of a Ray task: lockstep over its share, events on the Ray queue."""
    os.environ.update(env)
    _register(backends)
    try:
        run_lockstep(jobs, root, events.put, backend_options=backend_options,
                     max_active=max_active, worker=worker, session=session)
    except TinmenError as exc:
        events.put({"type": "fatal", "error": str(exc)})
