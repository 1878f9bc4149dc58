"""Per-tick batching vs one request at a time, against an OpenAI-compatible server.

The server (agents.fake_server on 127.0.0.1) takes a fixed time per request and serves a
fixed number of requests at once, like an inference engine with a fixed batch capacity.
The same scenario runs through the real engine and `openai` backend twice per size:

- batched: every request of a tick in flight together (tinmen's default);
- sequential: `max_concurrency: 1`, one request at a time, as most agent frameworks call
  a model (one agent, one call, wait, next agent).

With latency L, slots S and N requests per tick, the ideal tick takes L * ceil(N / S)
batched and L * N sequential, so the ideal speedup is N / ceil(N / S). The table shows
the measured backend time per tick, the speedup, and the speedup as a share of the ideal.

    python benchmarks/batching.py                      # the table in BENCHMARKS.md
    python benchmarks/batching.py --sizes 16 64 --latency-ms 50 --slots 32
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.engine.run import run_scenario  # noqa: E402
from sim.scenario.loader import validate_scenario  # noqa: E402


def scenario(n: int, ticks: int, base_url: str, concurrency: int) -> dict:
    """A one-company market whose every tick sends `n` requests to `base_url`."""
    return {
        "schema_version": 1,
        "name": f"batching-{n}",
        "run": {"ticks": ticks, "seed": 1},
        "products": [
            {"id": "ev", "name": "Tesla Model 3", "price": 40000,
             "attributes": {"electric": True}, "margins": {"oil": 1000}},
            {"id": "suv", "name": "Ford Explorer", "price": 50000,
             "attributes": {"electric": False}, "margins": {"oil": 3000}},
        ],
        "companies": [{"id": "oil", "name": "Petro Corp",
                       "utility": {"margin_weight": 0.0001,
                                   "attribute_values": {"electric": -1.0}}}],
        "customers": [{"group": "buyers", "count": n,
                       "budget": {"dist": "lognormal", "median": 50000, "sigma": 0.2},
                       "product_values": {"ev": 1.0, "suv": 0.5}}],
        "agents": [{"id": "bot", "company": "oil", "backend": "openai", "model": "bench",
                    "backend_options": {"base_urls": [base_url], "retry_invalid": 0,
                                        "max_concurrency": concurrency}}],
    }


def backend_seconds_per_tick(n: int, ticks: int, base_url: str, concurrency: int,
                             work: Path) -> float:
    """Run the scenario; mean backend seconds per tick, from ticks.csv.

    With several ticks the first is left out: it also opens the HTTP connections.
    """
    out = work / f"n{n}-c{concurrency}"
    run_scenario(validate_scenario(scenario(n, ticks, base_url, concurrency), "bench"), out,
                 progress=False)
    table = pd.read_csv(out / "ticks.csv")
    assert int(table.decisions.sum()) == n * ticks and int(table.failed.sum()) == 0
    steady = table.backend_s.iloc[1:] if len(table) > 1 else table.backend_s
    return float(steady.mean())


@contextlib.contextmanager
def server_process(latency_ms: float, slots: int) -> Iterator[str]:
    """The fake server in its own process (so it does not share this one's GIL)."""
    command = [sys.executable, "-m", "agents.fake_server", "--port", "0",
               "--latency-ms", str(latency_ms), "--slots", str(slots)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        url = line.split(" at ", 1)[1].split()[0] if " at " in line else None
        if url is None:
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128, 512])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--ticks", type=int, default=3, help="ticks per batched run")
    parser.add_argument("--sequential-ticks", type=int, default=1)
    args = parser.parse_args()
    print(f"# server: {args.latency_ms:g} ms per request, {args.slots} slots; machine: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    header = ("| requests per tick | sequential s/tick | batched s/tick | speedup "
              "| ideal speedup | share of ideal | batched decisions/s |")
    print(header)
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with server_process(args.latency_ms, args.slots) as base_url, \
            tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            batched = backend_seconds_per_tick(n, args.ticks, base_url, 256, Path(tmp))
            sequential = backend_seconds_per_tick(n, args.sequential_ticks, base_url, 1,
                                                  Path(tmp))
            speedup = sequential / batched
            ideal = n / math.ceil(n / args.slots)
            print(f"| {n} | {sequential:.3f} | {batched:.3f} | {speedup:.1f}x | {ideal:.0f}x "
                  f"| {speedup / ideal:.0%} | {n / batched:.0f} |", flush=True)


if __name__ == "__main__":
    main()
