"""The `tinmen` command line: validate | run | sweep | report | view | plan | schema.

Exit codes: 0 success; 2 bad input (one line on stderr, no traceback unless --debug);
1 an unexpected internal error; 130 interrupted (SIGINT); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
import typing
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agents.errors import AnalysisError, RunDirectoryError, TinmenError
from agents.wording import plural
from cli.backend_flags import add_backend_flags, backend_overrides
from cli.interrupted import run_interrupted_message
from cli.path_flags import add_allow_path_flag
from cli.plan import add_plan_parser, cmd_plan
from cli.sweep import add_sweep_parser, cmd_sweep
from sim.scenario.loader import (
    check_backend_names,
    load_scenario,
    prompt_warnings,
    read_yaml,
    validate_scenario,
)
from sim.scenario.reference import scenario_reference
from sim.sweep.spec import load_plan

# The engine (`sim.engine.run`: Mesa, pandas, pyarrow) is imported inside `_run` only: it
# costs seconds of start-up that --help, bad arguments, `validate` and `schema` do not need.


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and a pointer to --help (exit 2).

    argparse's own error prints the whole usage block before the message; subcommand parsers
    inherit this class, so `tinmen run --seed abc` says only what is wrong and where to look.
    """

    def error(self, message: str) -> typing.NoReturn:
        """Print `error: <message>; see '<prog> --help'` on stderr and exit with code 2."""
        import re

        from agents.errors import did_you_mean

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        self.exit(2, f"error: {self.prog}: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = OneLineErrorParser(
        prog="tinmen",
        description="Simulate LLM shopping agents serving two principals: the customer and "
        "the company that deploys them.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check scenario and sweep files and exit",
        description="Check scenario and sweep files without running anything: each file "
        "gets one line, `ok: ...` with what it describes, or `error: ...` naming the key "
        "and the fix. Exits 2 if any file is invalid.")
    validate.add_argument("files", nargs="+", metavar="FILE",
                          help="scenario or sweep YAML files (a sweep file has a `base:` key)")
    validate.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE", help="override a dotted key (repeatable)")
    add_allow_path_flag(validate)

    run = commands.add_parser(
        "run", help="run a scenario and write a run directory",
        description="Run one scenario tick by tick and write a run directory (manifest, "
        "decisions, transcripts, per-tick tables), with a progress bar on a terminal and a "
        "summary at the end. Ctrl-C stops it, keeping every recorded tick (exit 130; "
        "SIGTERM: 143).")
    run.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    run.add_argument("--out", metavar="DIR",
                     help="run directory (default: runs/<scenario name>-<timestamp>)")
    run.add_argument("--seed", type=int, metavar="N", help="root seed (overrides run.seed)")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override a dotted key, e.g. "
                     "--set information.disclosure=customer (repeatable)")
    run.add_argument("--backend", metavar="NAME",
                     help="answer for every agent with this backend: rational, scripted, "
                     "openai, hf, vllm or replay")
    run.add_argument("--model", metavar="NAME", help="model name or path for every agent")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the contents of an existing --out directory")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_allow_path_flag(run)
    add_backend_flags(run)

    add_sweep_parser(commands)

    report = commands.add_parser("report", help="write report.md and report.html (tables and "
                                 "figures) for a run or sweep directory")
    report.add_argument("path", metavar="RUN_OR_SWEEP_DIR", help="a run or sweep directory")
    report.add_argument("--out", metavar="DIR",
                        help="where to write the report (default: RUN_OR_SWEEP_DIR)")
    report.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                        help="bootstrap resamples for intervals of means (default 2000)")
    report.add_argument("--seed", type=int, default=0, metavar="N",
                        help="bootstrap seed (default 0)")

    view = commands.add_parser("view", help="serve a web page to watch and read a run or "
                               "sweep directory, live while it runs")
    view.add_argument("path", metavar="RUN_OR_SWEEP_DIR", help="a run or sweep directory")
    view.add_argument("--port", type=int, metavar="N", help="port (default: a free one)")
    view.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                      help="address to listen on (default 127.0.0.1; 0.0.0.0 on a lab server)")
    view.add_argument("--no-browser", action="store_true", help="do not open a browser")
    view.add_argument("--refresh", type=float, default=2.0, metavar="S",
                      help="seconds between looks for new ticks (default 2)")
    view.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                      help="bootstrap resamples for intervals of means (default 2000)")

    add_plan_parser(commands)

    commands.add_parser("schema", help="print the scenario-file reference (markdown)")
    return parser


def is_sweep_file(file: str) -> bool:
    """A YAML mapping with a `base:` key and no `schema_version` is a sweep file."""

    try:
        data = read_yaml(file)
    except TinmenError:
        return False  # let the scenario loader report the problem
    return "base" in data and "schema_version" not in data


def refuse_sweep_file(file: str) -> None:
    """`tinmen run` on a sweep file: say what it is and which command runs it."""
    if is_sweep_file(file):
        raise TinmenError(f"{file}: this is a sweep file (it has `base:` and no "
                          f"schema_version); run it with: tinmen sweep {file}")


def validate_sweep(file: str, settings: Sequence[str],
                   allowed_paths: Sequence[str] = ()) -> str:
    """Plan a sweep file (every cell validated, its data paths contained) and describe it in
    one line."""
    plan = load_plan(file, settings=settings, allowed_paths=allowed_paths)
    from sim.sweep.session import check_backends  # lazy: see the note under the imports

    check_backends(plan)
    for run in plan.runs[:: plan.spec.replicates]:  # one run per cell: render its templates
        prompt_warnings(validate_scenario(plan.scenario_data(run), file), file)
    return (f"ok: {file} (sweep {plan.name}: {plural(len(plan.cells), 'cell')} x "
            f"{plural(plan.spec.replicates, 'replicate')} = {plural(len(plan.runs), 'run')}, "
            f"base {plan.base_file})")


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate each file; print one line per file; exit 2 if any is invalid."""
    status = 0
    for file in args.files:
        try:
            if is_sweep_file(file):
                print(validate_sweep(file, args.overrides, args.allow_paths))
                continue
            scenario = load_scenario(file, args.overrides, args.allow_paths)
            check_backend_names(scenario, file)
        except TinmenError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        for warning in prompt_warnings(scenario, file):
            print(f"warning: {warning}", file=sys.stderr)
        customers = sum(g.count for g in scenario.customers)
        agents = sum(a.count for a in scenario.agents)
        print(f"ok: {file} ({scenario.name}: {plural(len(scenario.products), 'product')}, "
              f"{plural(len(scenario.companies), 'company', 'companies')}, "
              f"{plural(customers, 'customer')}, {plural(agents, 'agent')}, "
              f"{plural(scenario.run.ticks, 'tick')})")
    return status


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (the run is recorded as interrupted) but exiting 143."""

    exit_code = 143


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and print a summary (SIGTERM stops it like Ctrl-C)."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from sim.engine.run import run_scenario  # lazy: see the note under the imports

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    refuse_sweep_file(args.scenario)
    scenario = load_scenario(args.scenario, overrides, args.allow_paths)
    out = args.out or default_run_dir(scenario.name)
    try:
        summary = run_scenario(scenario, out, source=str(args.scenario), overrides=overrides,
                               backend=args.backend, model=args.model,
                               backend_flags=backend_overrides(args), overwrite=args.overwrite,
                               progress=not args.quiet)
    except KeyboardInterrupt as exc:
        code = getattr(exc, "exit_code", 130)
        print(run_interrupted_message(out, signal_name="SIGTERM" if code == 143 else "SIGINT",
                                      cache=args.cache, out_given=args.out is not None),
              file=sys.stderr)
        return code
    if not args.quiet:
        for line in summary.lines():
            print(line)
    if summary.all_failed:
        print(f"error: every request failed ({summary.top_failure}); check the backend "
              "settings (e.g. --base-url) and re-run", file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.md and report.html for a run or sweep; print where they are."""
    # Lazy: analysis pulls in scipy.stats, statsmodels and matplotlib (seconds of start-up)
    # that no other command needs.
    from analysis.report import write_report

    if args.bootstrap < 1:
        raise TinmenError(f"--bootstrap: {args.bootstrap} is not a number of resamples; give "
                          "a positive integer, e.g. --bootstrap 2000")
    try:
        files = write_report(args.path, args.out, n_boot=args.bootstrap, seed=args.seed)
    except AnalysisError as exc:
        raise RunDirectoryError(f"report: {exc}") from exc
    print(f"report: {files.markdown}")
    print(f"report: {files.html} ({plural(len(files.figures), 'figure')} in "
          f"{files.markdown.parent / 'figures'})")
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the run viewer (analysis.viewer) until interrupted."""
    # Lazy, as for `report`: the viewer pulls in the analysis stack (and Streamlit when served).
    from analysis.viewer.serve import serve

    try:
        return serve(args.path, host=args.host, port=args.port,
                     open_browser=not args.no_browser, refresh_s=args.refresh,
                     n_boot=args.bootstrap)
    except AnalysisError as exc:
        raise RunDirectoryError(f"view: {exc}") from exc


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the scenario-file reference generated from the schema."""

    print(scenario_reference(), end="")
    return 0


def default_run_dir(name: str) -> Path:
    """runs/<name>-<YYYYmmdd-HHMMSS>, made unique if it already exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{name}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path("runs") / f"{name}-{stamp}-{suffix}"
    return path


COMMANDS = {"validate": cmd_validate, "run": cmd_run, "schema": cmd_schema,
            "report": cmd_report, "view": cmd_view}
COMMANDS["sweep"] = cmd_sweep
COMMANDS["plan"] = cmd_plan


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tinmen` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TinmenError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        code = getattr(exc, "exit_code", 130)
        print("terminated" if code == 143 else "interrupted", file=sys.stderr)
        return code
    except Exception as exc:  # noqa: BLE001 - report, never dump a traceback on users
        if args.debug:
            traceback.print_exc()
        else:
            print(f"internal error: {type(exc).__name__}: {exc} "
                  "(re-run with --debug for the traceback and please report it)",
                  file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
