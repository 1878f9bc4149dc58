"""Client throughput of the `openai` backend against a zero-latency server, per client core.

A lean fake server (`agents.lean_fake_server`, pinned to the last CPU) answers instantly;
each client runs in its own process pinned to CPU 0 and sends one tick of N decisions
(after a small warm-up tick that opens the connections). For each client path and N the
table shows decisions/s (wall) and the client's CPU time per decision (every thread of its
process), so 1e6 / (CPU us per decision) is what one client core can sustain.

Paths, measured side by side in one run:

- `baseline`: the backend as of commit BASELINE_COMMIT (the official `openai` client's raw
  `post`, typed responses), chat API, one request per decision;
- `lean chat`: today's backend (aiohttp + orjson + uvloop), chat API, one request per
  decision; `lean chat, asyncio`: the same without uvloop;
- `lean completions`: prompts rendered locally, one prompt per request (distinct seeds);
- `lean lists of 32`: completions with a shared seed (`sampling.seed`), 32 prompts per request;
- `raw ...`: the lower bound: aiohttp + orjson + uvloop posting prebuilt bodies and only
  parsing the JSON answers, no tinmen.

    python benchmarks/http_throughput.py                  # the table in BENCHMARKS.md
    python benchmarks/http_throughput.py --sizes 1000 --paths "lean chat" "raw chat"
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
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

PATHS = ["baseline", "lean chat", "lean chat, asyncio", "lean completions",
         "lean lists of 32", "raw chat", "raw lists of 32"]
BIG = {"lean chat", "lean lists of 32", "raw chat", "raw lists of 32"}
"""Paths also measured at the largest size (the others take minutes there)."""

PRODUCTS = [("Tesla Model 3", 40000), ("Ford Explorer", 50000), ("Toyota Prius", 28000),
            ("Honda Civic", 24000), ("BMW i4", 56000), ("Kia EV6", 43000),
            ("Hyundai Ioniq 5", 42000), ("Mazda CX-5", 30000)]


def make_requests(n: int, shared_seed: int | None) -> list:
    """N decisions like a shopping tick's: one listing, a distinct customer per decision."""
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
        budget = rng.randint(20000, 60000)
        user = (f"I am customer {i}. My budget is {budget} dollars. I care about running "
                "costs and reliability, and I would like something electric if it fits.")
        seed = shared_seed if shared_seed is not None else rng.randrange(2**31)
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
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> dict:
        """The measurements since `start`."""
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return {"wall_s": wall, "cpu_s": cpu,
                "server_cpu_s": process_cpu_s(self.server_pid) - self.server}


def run_backend(path: str, n: int, url: str, tokenizer: str, watch: Stopwatch) -> dict:
    """Measurements and failures for one tick of n decisions through the backend."""
    from agents.backends.options import BackendOptions

    if path == "lean chat, asyncio":
        sys.modules["uvloop"] = None  # type: ignore[assignment]  # import fails: plain asyncio
    if path == "baseline":
        backend_class = baseline_backend_class()
    else:
        from agents.backends.openai_server import OpenAIBackend as backend_class
    options: dict = {"base_urls": (url,), "retry_invalid": 0}
    if path in ("lean completions", "lean lists of 32"):
        options.update(api="completions", tokenizer=tokenizer, prompts_per_request=32)
    backend = backend_class("bench", options=BackendOptions(**options))
    shared = 11 if path == "lean lists of 32" else None
    backend.generate(make_requests(300, shared))  # warm-up: opens the connections
    requests = make_requests(n, shared)
    watch.start()
    answers = backend.generate(requests)
    result = watch.stop()
    backend.close()
    return {**result, "failed": sum(a.failure is not None for a in answers)}


def run_raw(path: str, n: int, url: str, tokenizer: str, watch: Stopwatch) -> dict:
    """The lower bound: prebuilt bodies, parsed answers, nothing else."""
    import asyncio

    import aiohttp
    import orjson
    import uvloop

    from agents.backends.chat_template import load_tokenizer, render_prompt

    shared = 11 if path == "raw lists of 32" else None
    requests = make_requests(n, shared)
    if shared is None:
        endpoint = url + "/chat/completions"
        bodies = [orjson.dumps({"model": "bench", "messages": list(r.messages), "seed": r.seed,
                                "max_completion_tokens": 256}) for r in requests]
    else:
        endpoint = url + "/completions"
        tok = load_tokenizer(tokenizer)
        prompts = [render_prompt(tok, r.messages) for r in requests]
        bodies = [orjson.dumps({"model": "bench", "prompt": prompts[i:i + 32], "seed": shared,
                                "max_tokens": 256, "return_token_ids": True})
                  for i in range(0, n, 32)]

    async def main() -> dict:
        connector = aiohttp.TCPConnector(limit=256, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            queue = iter(bodies)
            failed = 0

            async def worker() -> None:
                nonlocal failed
                for body in queue:
                    async with session.post(endpoint, data=body, headers={
                            "Content-Type": "application/json"}) as response:
                        answer = orjson.loads(await response.read())
                        failed += not answer.get("choices")

            async def tick() -> None:
                await asyncio.gather(*(worker() for _ in range(min(256, len(bodies)))))

            saved, warm = bodies[:], bodies[:300]
            queue = iter(warm)
            await tick()
            queue = iter(saved)
            watch.start()
            await tick()
            return {**watch.stop(), "failed": failed}

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
    parser.add_argument("--paths", nargs="+", default=PATHS, choices=PATHS)
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
                if n >= 100000 and path not in BIG:
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
