"""Choice probabilities: how much narrower the override rate's interval gets, and their cost.

Two measurements, side by side in one invocation:

1. Interval width at equal decisions. A scenario runs once; its override rate is estimated
   from the sampled answers (share of overrides, 95% Wilson interval) and from the recorded
   probabilities (mean of `expected_override`, 95% customer-cluster bootstrap). The squared
   width ratio is how many times more sampled decisions the same precision would need.
   Done with the rational backend (`scenarios/tin_men.yaml`, its own noise and a noisier
   agent) and with the `hf` backend on a tiny random-weight model (`choice` form, exact).
2. Cost. The same `hf` scenario runs with `choice_probs: off` and `exact`, alternately,
   `--repeats` times each; the backend seconds per tick (ticks.csv `backend_s`) are compared.
   `--scoring both` also runs `exact` with the earlier per-decision passes
   (`benchmarks/per_decision_scoring.py`) in the same rotation, to compare the two scorers.

    python benchmarks/choice_probs.py                 # about a minute on two busy cores
    python benchmarks/choice_probs.py --customers 10 --repeats 1   # a quicker look
    python benchmarks/choice_probs.py --customers 4 --repeats 2 --scoring both
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from agents.backends import hf_choice_probs  # noqa: E402
from agents.backends.logprob_scoring import score_targets  # noqa: E402
from agents.backends.random_lm import build_random_lm  # noqa: E402
from analysis.metrics import summarise  # noqa: E402
from sim.engine.run import run_scenario  # noqa: E402
from sim.scenario.loader import read_yaml, validate_scenario  # noqa: E402

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "tin_men.yaml"


def scenario(customers: int, noise: float | None = None, *, hf_model: str | None = None,
             choice_probs: str = "exact", ticks: int = 1):
    """tin_men.yaml with `customers` per group, optionally another noise or the hf backend."""
    data = read_yaml(SCENARIO)
    data["run"]["ticks"] = ticks
    for group in data["customers"]:
        group["count"] = customers
    for agent in data["agents"]:
        if noise is not None:
            agent["rational"]["noise"] = noise
        if hf_model is not None:
            agent.pop("rational", None)
            agent.update(backend="hf", model=hf_model, sampling={"temperature": 1.0,
                                                                  "max_tokens": 16},
                         backend_options={"structured_output": "choice",
                                          "choice_probs": choice_probs,
                                          "micro_batch_size": 64})
    return validate_scenario(data, str(SCENARIO))


def widths(decisions: pd.DataFrame, label: str) -> dict[str, object]:
    """Sampled vs expected override rate and 95% interval width, over all decisions."""
    row = summarise(decisions, cluster="customer", n_boot=2000).iloc[0]
    sampled = row["override_hi"] - row["override_lo"]
    expected = row["expected_override_hi"] - row["expected_override_lo"]
    return {"setting": label, "decisions": int(row["n"]),
            "sampled_rate": round(row["override_rate"], 3),
            "sampled_width": round(sampled, 4),
            "expected_rate": round(row["expected_override"], 3),
            "expected_width": round(expected, 4),
            "width_ratio": round(sampled / expected, 2) if expected > 0 else float("inf"),
            "sample_saving": round((sampled / expected) ** 2, 1) if expected > 0
            else float("inf")}


def run(s, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run a scenario; its decisions and ticks tables."""
    run_scenario(s, folder, progress=False)
    return pd.read_parquet(folder / "decisions.parquet"), pd.read_csv(folder / "ticks.csv")


def use_scorer(name: str) -> None:
    """Make the hf backend score with `batched` (the default) or `per-decision` passes."""
    if name == "per-decision":
        from benchmarks.per_decision_scoring import PerDecisionLevels

        hf_choice_probs.score_targets = functools.partial(score_targets,
                                                          runner=PerDecisionLevels)
    else:
        hf_choice_probs.score_targets = score_targets


def main() -> None:
    """Measure and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20, help="customers per group (hf)")
    parser.add_argument("--rational-customers", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2, help="hf runs per setting")
    parser.add_argument("--scoring", choices=("batched", "both"), default="batched",
                        help="both: also time the earlier per-decision scoring passes")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"machine: {platform.platform()}, python {platform.python_version()}, "
          f"torch threads {args.threads or 'default'}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for noise in (None, 0.3):
            d, _ = run(scenario(args.rational_customers, noise), root / f"rational-{noise}")
            rows.append(widths(d, f"rational, noise {noise or 'scenario (0.1)'}"))
        model = build_random_lm(root / "tiny", vocab_size=400, hidden_size=32, layers=2,
                                heads=2, intermediate_size=64, seed=0)
        settings = ["off", "exact"] + (["exact-per-decision"] if args.scoring == "both" else [])
        timings: dict[str, list[float]] = {setting: [] for setting in settings}
        exact_decisions = None
        for repeat in range(args.repeats):
            for setting in settings:
                use_scorer("per-decision" if setting == "exact-per-decision" else "batched")
                started = time.perf_counter()
                d, ticks = run(scenario(args.customers, hf_model=str(model),
                                        choice_probs=setting.split("-")[0]),
                               root / f"hf-{setting}-{repeat}")
                timings[setting].append(float(ticks["backend_s"].sum()))
                print(f"  hf {setting} run {repeat}: backend {timings[setting][-1]:.2f} s, "
                      f"wall {time.perf_counter() - started:.1f} s, {len(d)} decisions")
                if setting == "exact":
                    exact_decisions = d
        use_scorer("batched")
        rows.append(widths(exact_decisions, "hf tiny random model, choice form, exact"))
    print(pd.DataFrame(rows).to_string(index=False))
    off, exact = min(timings["off"]), min(timings["exact"])
    print(f"hf backend seconds per tick (best of {args.repeats}): generation alone "
          f"{off:.2f} s, generation + exact choice probabilities {exact:.2f} s, "
          f"ratio {exact / off:.2f}")
    if "exact-per-decision" in timings:
        per = min(timings["exact-per-decision"])
        print(f"  with the per-decision scoring passes: {per:.2f} s, ratio {per / off:.2f}; "
              f"batched is {per / exact:.2f} times faster")


if __name__ == "__main__":
    main()
