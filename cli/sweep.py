"""`tinmen sweep`: its arguments and command (kept apart from cli/main.py, which only wires it).

    tinmen sweep SWEEP_OR_SCENARIO [--grid KEY=V1,V2 ...] [--zip KEY=V1,V2 ...]
                 [--set KEY=VALUE ...] [--replicates N] [--seed N] [--out DIR]
                 [--backend NAME] [--model NAME] [--executor local|ray] [--workers N]
                 [--address ADDR] [--worker-env KEY=V1,V2 ...] [--max-active N]
                 [--allow-path DIR ...] [--resume] [--overwrite] [--dry-run]
                 [--quiet]
    tinmen sweep --resume --out DIR [executor flags] [backend flags]

Resuming reuses the backend flags recorded in DIR/sweep.json; flags given again replace them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agents.backends.overrides import BackendOverrides
from agents.errors import ScenarioError, SweepInterrupted
from agents.wording import plural
from cli.backend_flags import add_backend_flags, backend_overrides
from cli.path_flags import add_allow_path_flag
from sim.sweep.spec import load_plan, plan_from_json, sweep_reference

# `sim.sweep.session` (and through it the engine: Mesa, pandas, executors) and
# `sim.sweep.store` (pyarrow) are imported inside the functions that need them: they cost
# seconds of start-up that every other command, --help and a bad argument do not need.


def add_sweep_parser(commands: Any) -> None:
    """Add the `sweep` subcommand to the CLI's subparsers."""
    sweep = commands.add_parser(
        "sweep", help="run a grid of scenarios with replicates, in lockstep",
        description="Run every cell x replicate of a sweep file (or of a scenario file with "
        "--grid/--zip), advancing all runs together so each tick sends one batch per "
        "backend. Re-running the same command resumes: completed runs are skipped.")
    sweep.add_argument("file", nargs="?", metavar="SWEEP_OR_SCENARIO",
                       help="a sweep file (scenarios/sweeps/*.yaml) or a scenario file")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="vary a dotted key over values; keys are crossed (repeatable)")
    sweep.add_argument("--zip", dest="zipped", action="append", default=[],
                       metavar="KEY=V1,V2", help="vary dotted keys together, value i with "
                       "value i; replaces the file's zip (repeatable)")
    sweep.add_argument("--set", dest="settings", action="append", default=[],
                       metavar="KEY=VALUE", help="set a dotted key in every run (repeatable)")
    sweep.add_argument("--replicates", type=int, metavar="N", help="runs per cell")
    sweep.add_argument("--seed", type=int, metavar="N", help="root seed of the sweep")
    sweep.add_argument("--out", metavar="DIR", help="sweep directory (default: "
                       "sweeps/<name>-<sweep id>, so the same command finds the same sweep)")
    sweep.add_argument("--backend", metavar="NAME", help="answer for every agent with this "
                       "backend (written into each run's config)")
    sweep.add_argument("--model", metavar="NAME", help="model name or path for every agent")
    sweep.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local (this machine; default) or ray (a Ray cluster)")
    sweep.add_argument("--workers", type=int, default=1, metavar="N",
                       help="local: worker processes; ray: tasks. Each runs its share of the "
                       "runs in lockstep (default 1)")
    sweep.add_argument("--address", metavar="ADDR", help="Ray cluster address (e.g. auto or "
                       "ray://head:10001); default: start a local Ray")
    sweep.add_argument("--worker-env", action="append", default=[], metavar="KEY=V1,V2",
                       help="give worker i the i-th value of an environment variable "
                       "(round-robin), e.g. one inference server per worker (repeatable)")
    sweep.add_argument("--max-active", type=int, metavar="N", help="advance at most N runs "
                       "together per worker, to bound memory (default: all)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep in --out "
                       "(reads the plan from its sweep.json when no file is given)")
    sweep.add_argument("--overwrite", action="store_true",
                       help="delete --out and start the sweep again")
    sweep.add_argument("--dry-run", action="store_true",
                       help="validate and print the plan (cells, runs) without running")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    add_allow_path_flag(sweep)
    add_backend_flags(sweep)
    sweep.add_argument("--reference", action="store_true",
                       help="print the sweep-file reference (markdown) and exit")


def sweep_backend_flags(args: argparse.Namespace) -> BackendOverrides:
    """The LLM-backend flags given to `tinmen sweep`, with --cache made absolute."""
    return backend_overrides(args, absolute_cache=True)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan, then run or resume a sweep; print a summary."""

    if args.reference:
        print(sweep_reference(), end="")
        return 0
    if args.file is None:
        if not args.resume or not args.out:
            raise ScenarioError("sweep: give a sweep or scenario file, or --resume --out DIR "
                                "to continue a sweep")
        plan = _plan_from_directory(args)
    else:
        plan = load_plan(args.file, grid=args.grid, zipped=args.zipped,
                         settings=args.settings, replicates=args.replicates, seed=args.seed,
                         backend=args.backend, model=args.model,
                         allowed_paths=args.allow_paths)
    if args.dry_run:
        _print_plan(plan, args.out)
        return 0
    from sim.sweep.session import run_sweep  # lazy: see the note under the imports

    try:
        result = run_sweep(plan, args.out, resume=args.resume, overwrite=args.overwrite,
                           backend_flags=sweep_backend_flags(args),
                           executor=args.executor, workers=args.workers,
                           address=args.address, max_active=args.max_active,
                           worker_env=_worker_env(args.worker_env),
                           progress=not args.quiet, command=sys.argv)
    except SweepInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    if not args.quiet:
        for line in result.lines():
            print(line)
    return 1 if result.failed else 0


def _worker_env(arguments: list[str]) -> dict[str, list[str]]:
    """--worker-env KEY=V1,V2 -> {KEY: [V1, V2]} (values are plain text, split on commas)."""

    env: dict[str, list[str]] = {}
    for argument in arguments:
        key, sep, raw = argument.partition("=")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not key.strip() or not values:
            raise ScenarioError(f"--worker-env {argument!r}: expected NAME=value1,value2,... "
                                "e.g. --worker-env OPENAI_BASE_URL=http://gpu1:8000/v1,"
                                "http://gpu2:8000/v1")
        env[key.strip()] = values
    return env


def _plan_from_directory(args: argparse.Namespace) -> Any:
    """The plan recorded in DIR/sweep.json (for `--resume --out DIR`)."""


    extra = [flag for flag, given in (("--grid", args.grid), ("--zip", args.zipped),
                                      ("--set", args.settings), ("--seed", args.seed),
                                      ("--replicates", args.replicates),
                                      ("--backend", args.backend), ("--model", args.model))
             if given]
    if extra:
        raise ScenarioError(f"sweep --resume: {extra[0]} changes the sweep; give the sweep "
                            "file too, or resume without it")
    from sim.sweep.store import SweepLayout  # lazy (pyarrow): see the note under the imports

    state = SweepLayout(Path(args.out)).read_state()
    if state is None:
        raise ScenarioError(f"{args.out}: no sweep.json there; check --out, or give the sweep "
                            "file to start the sweep")
    return plan_from_json(state, args.allow_paths)


def _print_plan(plan: Any, out: str | None) -> None:
    from sim.sweep.session import default_sweep_dir  # lazy: see the note under the imports

    print(f"sweep {plan.name} ({plan.sweep_id}): {plural(len(plan.cells), 'cell')} x "
          f"{plural(plan.spec.replicates, 'replicate')} = {plural(len(plan.runs), 'run')}, "
          "root seed "
          f"{plan.root_seed}, base {plan.base_file}")
    print(f"out: {out or default_sweep_dir(plan)}")
    for index, cell in enumerate(plan.cells):
        print(f"cell {index}: {json.dumps(cell)}")
