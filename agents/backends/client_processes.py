"""A tick's HTTP requests sharded over several client processes (`client_processes: N`).

The parent plans the tick's requests (`agents.backends.request_groups`) exactly as one process
would, deals them round robin to N worker processes, and reads the answers back as each
request finishes: results land at their decisions' positions, and the parent calls the
result sink itself, so the response cache keeps streaming in the parent. Each worker is an
`OpenAIBackend` with its own event loop, connections and router, and runs every request with
its own retries, so a fault fails only that request's decisions, with the reason, as in one
process. Finished requests travel back in small batches (`FLUSH_JOBS`, `FLUSH_S`). Workers
are spawned at the first tick (each imports tinmen: seconds) and live until
`close`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from agents.backends.request_groups import Job
from agents.errors import FatalBackendError
from agents.types import Completion, DecisionRequest

Sink = Callable[[int, Completion], None]

STOPPED = ("an HTTP client process stopped during a tick (client_processes); re-run with "
           "client_processes: 1 to see its error")


def _serve(connection: Any, backend_class: type, model: str, options: dict[str, Any],
           api_key: str | None) -> None:
    """A worker: answer each (requests, jobs) it is sent, one message per finished batch."""
    import signal

    from agents.backends.options import BackendOptions

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's process handles an interrupt
    backend = backend_class(model, options=BackendOptions(**options), api_key=api_key)
    try:
        while True:
            message = connection.recv()
            if message is None:
                break
            requests, jobs = message
            backend._runner.run(_answer(backend, connection, requests, jobs))
            connection.send(("end", list(backend.router.served)))
    finally:
        backend.close()


FLUSH_JOBS = 64
"""A worker sends finished jobs back in batches of this many (fewer pickles and syscalls),"""
FLUSH_S = 0.005
"""or after this many seconds, whichever comes first, so answers still stream."""


async def _answer(backend: Any, connection: Any, requests: list[DecisionRequest],
                  jobs: list[Job]) -> None:
    """Run `jobs`, sending (job number, completions) pairs back in small batches."""
    import asyncio

    numbers = {id(job): k for k, job in enumerate(jobs)}
    batch: list[tuple[int, list[Completion]]] = []
    timer: list[asyncio.TimerHandle] = []

    def flush() -> None:
        if timer:
            timer.pop().cancel()
        if batch:
            connection.send(list(batch))
            batch.clear()

    def sent(job: Job, answers: list[Completion]) -> None:
        batch.append((numbers[id(job)], answers))
        if len(batch) >= FLUSH_JOBS:
            flush()
        elif not timer:
            timer.append(asyncio.get_running_loop().call_later(FLUSH_S, flush))

    try:
        await backend.run_jobs(requests, jobs, sent)
    finally:
        flush()


class ClientProcesses:
    """N worker processes answering jobs for one backend; see the module docstring."""

    def __init__(self, processes: int, backend_class: type, model: str, options: Any,
                 api_key: str | None) -> None:
        """`backend_class(model, options=..., api_key=...)` is built in every worker, with
        `client_processes: 1`."""
        self.processes = processes
        self._args = (backend_class, model, options.model_dump() | {"client_processes": 1},
                      api_key)
        self._workers: list[tuple[Any, Any]] = []
        self.served: list[int] | None = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # the parent holds threads: never fork
        for _ in range(self.processes):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, *self._args), daemon=True,
                                      name="tinmen-openai-client")
            process.start()
            child.close()
            self._workers.append((process, parent))

    def run(self, requests: Sequence[DecisionRequest], jobs: Sequence[Job],
            results: list[Completion | None], on_result: Sink | None) -> None:
        """Answer `jobs` into `results` (by decision index), calling `on_result` as they come."""
        from multiprocessing.connection import wait

        if not self._workers:
            self._start()
        shards: list[list[Job]] = [list(jobs[w::self.processes]) for w in range(self.processes)]
        for (_, connection), shard in zip(self._workers, shards, strict=True):
            needed = sorted({i for job in shard for i in job.indices})
            position = {i: k for k, i in enumerate(needed)}
            local = [Job(tuple(position[i] for i in job.indices), job.n) for job in shard]
            try:
                connection.send(([requests[i] for i in needed], local))
            except OSError:  # BrokenPipeError: the worker is gone
                raise FatalBackendError(STOPPED) from None
        pending = {connection: shard for (_, connection), shard in zip(self._workers, shards,
                                                                        strict=True)}
        served: list[int] = []
        while pending:
            for connection in wait(list(pending)):
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    raise FatalBackendError(STOPPED) from None
                if message[0] == "end":
                    counts = message[1]
                    served = ([a + b for a, b in zip(served, counts, strict=True)] if served
                              else list(counts))
                    del pending[connection]
                    continue
                for number, answers in message:
                    for i, completion in zip(pending[connection][number].indices, answers,
                                             strict=True):
                        results[i] = completion
                        if on_result is not None:
                            on_result(i, completion)
        self.served = served

    def close(self) -> None:
        """Stop the workers."""
        for process, connection in self._workers:
            try:
                connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
            connection.close()
        self._workers = []
