"""`tinmen plan SCENARIO --baseline RATE ...`: decisions per cell a study needs (see
`analysis.planning`).

The scenario gives the design: its disclosure conditions are the cells and its shoppers per
tick turn decisions into ticks.
"""

from __future__ import annotations

import argparse
from typing import Any

from agents.errors import TinmenError


def add_plan_parser(commands: Any) -> None:
    """Add the `plan` subcommand to the `tinmen` parser."""
    plan = commands.add_parser("plan", help="decisions per cell for a power of 0.8 (or an "
                               "interval width), with and without recorded probabilities")
    plan.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file (the design)")
    plan.add_argument("--baseline", type=float, required=True, metavar="RATE",
                      help="the outcome's rate in the reference cell, e.g. 0.3")
    plan.add_argument("--effect", type=float, metavar="DIFF",
                      help="difference in rates to detect, e.g. 0.1")
    plan.add_argument("--width", type=float, metavar="W",
                      help="interval half-width wanted for one cell's rate, e.g. 0.05")
    plan.add_argument("--interaction", type=float, metavar="OR",
                      help="customer × company interaction odds ratio to detect, e.g. 2")
    plan.add_argument("--variance-ratio", type=float, metavar="RHO",
                      help="ρ = Var(p_i)/(π(1−π)) when choice probabilities are recorded")
    plan.add_argument("--alpha", type=float, default=0.05)
    plan.add_argument("--power", type=float, default=0.8)
    plan.add_argument("--plot", metavar="PNG", help="write a power curve (needs --effect)")


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan as a table; optionally write the power-curve figure."""
    from analysis.planning import plan, power_curve_plot
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario)
    cells = len(scenario.information.disclosure)
    customers = sum(group.count for group in scenario.customers)
    per_tick = scenario.run.shoppers_per_tick or customers
    if args.variance_ratio is not None and not 0 < args.variance_ratio <= 1:
        raise TinmenError(f"--variance-ratio: {args.variance_ratio} is not in (0, 1]; give "
                          "the share of the outcome's variance between decisions, e.g. 0.5")
    try:
        result = plan(baseline=args.baseline, effect=args.effect, width=args.width,
                      interaction=args.interaction, ratio=args.variance_ratio, cells=cells,
                      decisions_per_tick=per_tick, alpha=args.alpha, power=args.power)
    except ValueError as exc:
        raise TinmenError(f"plan: {exc}; see `tinmen plan --help`") from exc
    print(f"design: {cells} cell(s) ({', '.join(scenario.information.disclosure)}), "
          f"{per_tick} decisions per tick; alpha {args.alpha:g}, power {args.power:g}")
    print(result.table().to_string(index=False))
    if args.plot:
        if args.effect is None:
            raise TinmenError("--plot: the power curve needs --effect")
        figure = power_curve_plot(args.baseline, args.baseline + args.effect,
                                  ratio=args.variance_ratio, alpha=args.alpha)
        figure.savefig(args.plot, dpi=120)
        print(f"plan: {args.plot}")
    return 0
