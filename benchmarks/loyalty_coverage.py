"""Validity of the revealed-loyalty estimate λ̂: does its 95% interval cover the true λ?

Runs `scenarios/online_shopping.yaml` with the rational backend, every agent given
`company_weight` = λ, both penalties 0 and logit noise > 0 (so the conditional logit of
`analysis.loyalty` is the agent's true model), for many seeds per λ. For each run it fits λ̂
on all decisions and prints, per λ, the mean λ̂, the mean standard error, the spread of λ̂
across seeds and the share of seeds whose interval covers λ, with the model-based and the
customer-clustered covariance. The criterion is coverage ≥ 0.90 for every λ.

    python benchmarks/loyalty_coverage.py                      # 50 seeds, λ in 0.2 0.5 0.8
    python benchmarks/loyalty_coverage.py --seeds 10 --lambdas 0.5 --ticks 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SCENARIO = REPO / "scenarios" / "online_shopping.yaml"


def one_run(lam: float, seed: int, ticks: int, noise: float, out: Path) -> dict[str, dict]:
    """λ̂ (model-based and customer-clustered) of one seeded rational run with weight λ."""
    from analysis import load_run
    from analysis.loyalty import revealed_loyalty
    from sim.engine.run import run_scenario
    from sim.scenario.loader import validate_scenario

    data = yaml.safe_load(SCENARIO.read_text())
    data["run"].update(ticks=ticks, seed=seed)
    for agent in data["agents"]:
        agent["rational"] = {"company_weight": lam, "penalty_customer": 0.0,
                             "penalty_company": 0.0, "noise": noise}
    run_scenario(validate_scenario(data, "benchmark"), out, progress=False)
    decisions = load_run(out).decisions
    return {kind: revealed_loyalty(decisions, cluster=kind).iloc[0].to_dict()
            for kind in ("decision", "customer")}


def main() -> None:
    """Run the coverage study and print one line per λ and covariance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.2, 0.5, 0.8])
    parser.add_argument("--ticks", type=int, default=3, help="100 decisions per tick")
    parser.add_argument("--noise", type=float, default=0.2)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{args.seeds} seeds x {args.ticks} ticks (100 decisions each), noise {args.noise}")
    print("lambda  covariance  mean_hat  sd_hat  mean_se  coverage")
    worst = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        for lam in args.lambdas:
            fits: dict[str, list[dict]] = {"decision": [], "customer": []}
            for seed in range(args.seeds):
                for kind, row in one_run(lam, seed, args.ticks, args.noise,
                                         Path(tmp) / f"{lam}-{seed}").items():
                    fits[kind].append(row)
            for kind, rows in fits.items():
                hat = np.array([r["lambda_hat"] for r in rows], dtype=float)
                se = np.array([r["lambda_se"] for r in rows], dtype=float)
                lo = np.array([r["lambda_lo"] for r in rows], dtype=float)
                hi = np.array([r["lambda_hi"] for r in rows], dtype=float)
                coverage = float(np.mean((lo <= lam) & (lam <= hi)))
                worst = min(worst, coverage)
                print(f"{lam:6.2f}  {kind:10s}  {np.nanmean(hat):8.4f}  {np.nanstd(hat):6.4f}"
                      f"  {np.nanmean(se):7.4f}  {coverage:8.2f}")
    print(f"worst coverage {worst:.2f} (criterion >= 0.90): "
          f"{'PASS' if worst >= 0.90 else 'FAIL'}; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
