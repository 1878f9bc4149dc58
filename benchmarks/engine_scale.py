"""Engine scale: the simulator's own cost per tick at 1,000 / 10,000 / 100,000 shoppers.

Runs `scenarios/online_shopping.yaml` with the rational backend (no inference), scaled so that
N customers all shop every tick, each size in a fresh subprocess (so peak memory is that
size's alone). Prints, per N, the time per tick split into building requests, backend,
parsing, settlement and recording (medians over the measured ticks), decisions/s, and peak
resident memory, then the fitted exponent of time per tick against N (1.0 = linear).

    python benchmarks/engine_scale.py                    # 1k, 10k, 100k; 3 ticks each
    python benchmarks/engine_scale.py --sizes 1000 10000 --ticks 2
    python benchmarks/engine_scale.py --profile 100000   # pyinstrument profile of one size

Pin to one core for the "one core" figure: `taskset -c 0 python benchmarks/engine_scale.py`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "online_shopping.yaml"
PHASES = ("build_s", "backend_s", "parse_s", "settle_s", "record_s")


def overrides(n: int, ticks: int) -> list[str]:
    """--set overrides that scale online_shopping to n customers, all shopping every tick."""
    shares = [n // 2, n // 4, n - n // 2 - n // 4]
    sets = [f"customers.{i}.count={c}" for i, c in enumerate(shares)]
    sets += [f"run.shoppers_per_tick={n}", f"run.ticks={ticks}"]
    sets += [f"agents.{i}.customers_per_tick=null" for i in range(3)]
    return sets


def measure_one(n: int, ticks: int) -> dict[str, float]:
    """Run one size in this process and return its figures (called in a subprocess)."""
    import pandas as pd

    from sim.engine.run import run_scenario
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(SCENARIO, overrides(n, ticks + 1))
    with tempfile.TemporaryDirectory() as tmp:
        run_scenario(scenario, Path(tmp) / "run", progress=False)
        ticks_csv = pd.read_csv(Path(tmp) / "run" / "ticks.csv")
    measured = ticks_csv.iloc[1:]  # tick 1 warms caches (system prompts, imports)
    result = {"n": n, "ticks": len(measured)}
    for phase in (*PHASES, "wall_s"):
        result[phase] = float(measured[phase].median())
    result["decisions_per_s"] = n / result["wall_s"]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_sizes(sizes: list[int], ticks: int) -> list[dict[str, float]]:
    """Measure each size in a fresh interpreter."""
    results = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--ticks", str(ticks)],
            check=True, capture_output=True, text=True, cwd=REPO,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(f"  measured N={n}", file=sys.stderr)
    return results


def print_table(results: list[dict[str, float]]) -> None:
    """Markdown table of the figures plus the fitted scaling exponent."""
    print("| N | build ms | backend ms | parse ms | settle ms | record ms | tick ms | "
          "decisions/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [f"{r[p] * 1000:.0f}" for p in (*PHASES, "wall_s")]
        print(f"| {r['n']:,} | " + " | ".join(cells)
              + f" | {r['decisions_per_s']:,.0f} | {r['peak_rss_mb']:.0f} |")
    if len(results) >= 2:
        slope = np.polyfit(np.log([r["n"] for r in results]),
                           np.log([r["wall_s"] for r in results]), 1)[0]
        print(f"\nfitted exponent of tick time vs N: {slope:.2f} (1.00 = linear)")


def profile(n: int, ticks: int) -> None:
    """Profile one size with pyinstrument and print the call tree."""
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    measure_one(n, ticks)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--ticks", type=int, default=3, help="measured ticks per size")
    parser.add_argument("--profile", type=int, metavar="N", help="profile one size")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.child:
        print(json.dumps(measure_one(args.child, args.ticks)))
    elif args.profile:
        profile(args.profile, args.ticks)
    else:
        print_table(run_sizes(args.sizes, args.ticks))


if __name__ == "__main__":
    main()
