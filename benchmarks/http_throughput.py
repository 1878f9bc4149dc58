"""Client throughput of the `openai` backend against a zero-latency server, per client core.

A lean fake server (`agents.lean_fake_server`, pinned to the last CPU) answers instantly;
each client runs in its own process pinned to CPU 0 and sends one tick of N decisions
(after a small warm-up tick that opens the connections). For each client path and N the
table shows decisions/s (wall) and the client's CPU time per decision (every thread of its
process), so 1e6 / (CPU us per decision) is what one client core can sustain.

Paths, measured side by side in one run (every tick: prompts in groups of 32 identical ones,
as when 32 customers of one segment see one listing; per-decision seeds consecutive within a
group, as `sim.engine.seeds` assigns them, unless the path shares one seed):

- `baseline`: the backend as of commit BASELINE_COMMIT (the official `openai` client's raw
  `post`, typed responses), chat API, one request per decision (not measured by default: it
  takes minutes per tick on a shared machine);
- `chat, aiohttp`: the backend as it was before `samples_per_request` and the protocol client
  (aiohttp + orjson + uvloop), chat API, one request per decision;
- `chat, protocol`: the same through the protocol client (`http_client: protocol`);
- `chat, protocol, 2 processes`: the same sharded over two client processes
  (`client_processes: 2`), all pinned to the one client CPU: the CPU column sums every
  process, so it shows what sharding costs per decision, not the wall-clock gain it gives on
  spare cores;
- `chat, n, ...`: `samples_per_request: 32`: each group of 32 identical prompts is one
  request with `n: 32`, per-decision seeds kept (vLLM seeds sample i with seed + i);
- `completions, n, protocol`: the same with `api: completions` (prompts rendered locally);
- `lists of 32, shared seed, ...`: completions, 32 distinct prompts per request sharing one
  seed (`sampling.seed` fixed; answers differ from per-decision seeds);
- `raw ...`: lower bounds, no tinmen: prebuilt bodies posted and the JSON answers parsed, with
  aiohttp or with a bare asyncio protocol and `httptools`' parser, all on uvloop.

    python benchmarks/http_throughput.py                  # the table in BENCHMARKS.md
    python benchmarks/http_throughput.py --sizes 1000 --paths "chat, aiohttp" "chat, n, protocol"
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_COMMIT = "7bf20f9"
"""The commit whose openai backend is the `baseline` path."""

BACKEND_PATHS: dict[str, dict] = {
    "baseline": {},
    "chat, aiohttp": {"http_client": "aiohttp"},
    "chat, protocol": {"http_client": "protocol"},
    "chat, protocol, 2 processes": {"http_client": "protocol", "client_processes": 2},
    "chat, n, aiohttp": {"http_client": "aiohttp", "samples_per_request": 32},
    "chat, n, protocol": {"http_client": "protocol", "samples_per_request": 32},
    "completions, n, protocol": {"http_client": "protocol", "samples_per_request": 32,
                                 "api": "completions"},
    "lists of 32, shared seed, aiohttp": {"http_client": "aiohttp", "api": "completions"},
    "lists of 32, shared seed, protocol": {"http_client": "protocol", "api": "completions"},
}
"""Backend paths and the backend options each sets."""
RAW_PATHS = ["raw chat, aiohttp", "raw chat, protocol", "raw chat, n, aiohttp",
             "raw chat, n, protocol"]
PATHS = [*BACKEND_PATHS, *RAW_PATHS]
DEFAULT_PATHS = PATHS[1:]
FAST = {"chat, n, aiohttp", "chat, n, protocol", "completions, n, protocol",
        "lists of 32, shared seed, protocol", "raw chat, n, aiohttp", "raw chat, n, protocol"}
"""Paths also measured at the largest size (the others take minutes there)."""
GROUP = 32
"""Identical prompts per group, and samples or prompts per request."""

PRODUCTS = [("Tesla Model 3", 40000), ("Ford Explorer", 50000), ("Toyota Prius", 28000),
            ("Honda Civic", 24000), ("BMW i4", 56000), ("Kia EV6", 43000),
            ("Hyundai Ioniq 5", 42000), ("Mazda CX-5", 30000)]


def make_requests(n: int, shared_seed: int | None, same: int = GROUP) -> list:
    """N decisions like a shopping tick's: one listing, customers in groups of `same` with an
    identical request; seeds consecutive within a group (or all `shared_seed`)."""
    import numpy as np

    from agents.types import DecisionContext, DecisionRequest, SamplingParams

    rng = random.Random(1)
    listing = "\n".join(f"{i + 1}: {name} (price {price}, rated 4.{i} by 1{i}3 buyers; "
                        "free delivery; 30-day returns)" for i, (name, price) in
                        enumerate(PRODUCTS))
    system = ("You are a shopping assistant acting for a customer of Petro Corp. Read the "
              "customer's request and the products on offer, then recommend exactly one "
              "product, or none if nothing fits. Explain briefly, then end with a line "
              "'Choice: <number>' or 'Choice: none'.\n\nProducts on offer:\n" + listing)
    names = tuple(name for name, _ in PRODUCTS)
    context = DecisionContext(
        option_numbers=tuple(range(1, 9)), option_names=names,
        customer_utility=np.zeros(8), company_utility=np.zeros(8),
        affordable=np.ones(8, dtype=bool), company_name="Petro Corp", disclosure="none")
    sampling = SamplingParams()
    out = []
    for i in range(n):
        if i % same == 0:
            budget, base = rng.randint(20000, 60000), rng.randrange(2**31 - same)
        user = (f"I am a customer of segment {i // same}. My budget is {budget} dollars. I "
                "care about running costs and reliability, and I would like something "
                "electric if it fits.")
        seed = shared_seed if shared_seed is not None else base + i % same
        out.append(DecisionRequest(f"t1-{i}", ({"role": "system", "content": system},
                                               {"role": "user", "content": user}),
                                   sampling, seed=seed, context=context))
    return out


def baseline_backend_class() -> type:
    """`OpenAIBackend` as it was at BASELINE_COMMIT, loaded from git."""
    source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:agents/backends/openai_server.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_openai_server.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_openai_server", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.OpenAIBackend


class Stopwatch:
    """Wall time, this process's CPU time and the server's CPU time over one tick."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def start(self) -> None:
        """Start measuring."""
        self.server = process_cpu_s(self.server_pid)
        self.wall, self.cpu = time.perf_counter(), self._client_cpu()

    def _client_cpu(self) -> float:
        """This process's CPU time, plus its child processes' (client workers), if any."""
        if multiprocessing.active_children():
            return process_cpu_s(os.getpid())
        return time.process_time()

    def stop(self) -> dict:
        """The measurements since `start`."""
        wall, cpu = time.perf_counter() - self.wall, self._client_cpu() - self.cpu
        return {"wall_s": wall, "cpu_s": cpu,
                "server_cpu_s": process_cpu_s(self.server_pid) - self.server}


def run_backend(path: str, n: int, url: str, tokenizer: str, watch: Stopwatch) -> dict:
    """Measurements and failures for one tick of n decisions through the backend."""
    from agents.backends.options import BackendOptions

    if path == "baseline":
        backend_class = baseline_backend_class()
    else:
        from agents.backends.openai_server import OpenAIBackend as backend_class
    options: dict = {"base_urls": (url,), "retry_invalid": 0, **BACKEND_PATHS[path]}
    if options.get("api") == "completions":
        options.update(tokenizer=tokenizer, prompts_per_request=GROUP)
    backend = backend_class("bench", options=BackendOptions(**options))
    shared = 11 if path.startswith("lists of 32") else None
    same = 1 if shared is not None else GROUP  # a list of identical prompts would be a waste
    backend.generate(make_requests(320, shared, same))  # warm-up: opens the connections
    requests = make_requests(n, shared, same)
    watch.start()
    answers = backend.generate(requests)
    result = watch.stop()
    backend.close()
    return {**result, "failed": sum(a.failure is not None for a in answers)}


def raw_bodies(path: str, n: int) -> tuple[str, list[bytes]]:
    """The endpoint and prebuilt bodies of a raw path's tick."""
    import orjson

    requests = make_requests(n, None)
    if path.startswith("raw chat, n"):
        return "/chat/completions", [orjson.dumps({
            "model": "bench", "messages": list(r.messages), "seed": r.seed, "n": GROUP,
            "max_completion_tokens": 256, "return_token_ids": True})
            for r in requests[::GROUP]]
    return "/chat/completions", [orjson.dumps({
        "model": "bench", "messages": list(r.messages), "seed": r.seed,
        "max_completion_tokens": 256}) for r in requests]


class _RawConnection:
    """A bare keep-alive HTTP/1.1 connection: one request at a time, `httptools` parsing."""

    def __init__(self, loop, host: str, port: int, path: str) -> None:
        import asyncio

        import httptools

        self.loop, self.host, self.port = loop, host, port
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
                     "application/json\r\nContent-Length: ").encode()
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.done: asyncio.Future | None = None
        connection = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport) -> None:
                connection.transport = transport

            def data_received(self, data: bytes) -> None:
                connection.parser.feed_data(data)

        self.protocol = Protocol

    async def open(self) -> None:
        """Connect."""
        await self.loop.create_connection(self.protocol, self.host, self.port)

    def on_body(self, data: bytes) -> None:
        """httptools: a piece of the body."""
        self.body.append(data)

    def on_message_complete(self) -> None:
        """httptools: the response is complete."""
        self.done.set_result(b"".join(self.body))  # type: ignore[union-attr]
        self.body = []

    async def post(self, body: bytes) -> bytes:
        """One request; the response body."""
        self.done = self.loop.create_future()
        self.transport.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        return await self.done


def run_raw(path: str, n: int, url: str, tokenizer: str, watch: Stopwatch) -> dict:
    """A lower bound: prebuilt bodies, parsed answers, nothing else."""
    import asyncio
    from urllib.parse import urlsplit

    import aiohttp
    import orjson
    import uvloop

    endpoint, bodies = raw_bodies(path, n)
    warm = raw_bodies(path, 320)[1]
    workers = 256

    async def main() -> dict:
        failed = 0
        if path.endswith("protocol"):
            where = urlsplit(url)
            loop = asyncio.get_running_loop()
            connections = [_RawConnection(loop, where.hostname, where.port,
                                          where.path + endpoint) for _ in range(workers)]
            await asyncio.gather(*(c.open() for c in connections))

            async def send(worker: int, body: bytes) -> dict:
                return orjson.loads(await connections[worker].post(body))
        else:
            connector = aiohttp.TCPConnector(limit=workers, limit_per_host=0)
            session = aiohttp.ClientSession(connector=connector)

            async def send(worker: int, body: bytes) -> dict:
                async with session.post(url + endpoint, data=body, headers={
                        "Content-Type": "application/json"}) as response:
                    return orjson.loads(await response.read())

        async def tick(queue: list[bytes]) -> None:
            nonlocal failed
            jobs = iter(queue)

            async def worker(number: int) -> None:
                nonlocal failed
                for body in jobs:
                    failed += not (await send(number, body)).get("choices")

            await asyncio.gather(*(worker(i) for i in range(min(workers, len(queue)))))

        await tick(warm)
        failed = 0
        watch.start()
        await tick(bodies)
        result = watch.stop()
        if not path.endswith("protocol"):
            await session.close()
        return {**result, "failed": failed}

    return uvloop.run(main())


def client(path: str, n: int, url: str, tokenizer: str, server_pid: int) -> None:
    """Measure one path in this process; prints one JSON line."""
    runner = run_raw if path.startswith("raw") else run_backend
    print(json.dumps(runner(path, n, url, tokenizer, Stopwatch(server_pid))), flush=True)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (from /proc)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.contextmanager
def lean_server(cpu: int, processes: int) -> Iterator[tuple[str, int]]:
    """The lean fake server pinned to `cpu`; yields (base URL, pid)."""
    command = ["taskset", "-c", str(cpu), sys.executable, "-m", "agents.lean_fake_server",
               "--port", "0", "--processes", str(processes)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if " at " not in line:
            raise RuntimeError(f"lean fake server did not start: {line!r}")
        yield line.split(" at ", 1)[1].split()[0], process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--paths", nargs="+", default=DEFAULT_PATHS, choices=PATHS)
    parser.add_argument("--server-processes", type=int, default=1)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        path, n, url, tokenizer, pid = args.client
        client(path, int(n), url, tokenizer, int(pid))
        return
    cpus = os.cpu_count() or 1
    print(f"# machine: {platform.processor() or platform.machine()}, {cpus} CPUs, Python "
          f"{platform.python_version()}; client on CPU 0, lean server on CPU {cpus - 1} "
          f"({args.server_processes} process(es)); baseline = commit {BASELINE_COMMIT}")
    print("| path | decisions per tick | decisions/s | client CPU us per decision "
          "| decisions/s per client core | server CPU share |")
    print("|---|---:|---:|---:|---:|---:|")
    from tests.tiny_lm import build_tiny_lm

    with tempfile.TemporaryDirectory() as tmp, \
            lean_server(cpus - 1, args.server_processes) as (url, pid):
        tokenizer = str(build_tiny_lm(Path(tmp) / "lm"))
        for n in args.sizes:
            for path in args.paths:
                if n >= 100000 and path not in FAST:
                    continue
                result = subprocess.run(
                    ["taskset", "-c", "0", sys.executable, __file__, "--client", path, str(n),
                     url, tokenizer, str(pid)], cwd=ROOT, capture_output=True, text=True,
                    check=False)
                if result.returncode != 0:
                    print(f"| {path} | {n} | failed: {result.stderr.strip()[-300:]} |")
                    continue
                r = json.loads(result.stdout.strip().splitlines()[-1])
                us = r["cpu_s"] / n * 1e6
                print(f"| {path} | {n} | {n / r['wall_s']:,.0f} | {us:,.0f} | {1e6 / us:,.0f} "
                      f"| {r['server_cpu_s'] / r['wall_s']:.0%} |"
                      + (f" {r['failed']} failed" if r["failed"] else ""), flush=True)


if __name__ == "__main__":
    main()
