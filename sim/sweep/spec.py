"""Sweep files and sweep plans: which runs a sweep makes. Pure: nothing runs here.

A sweep varies dotted keys of a base scenario (the same keys as `--set`):

    name: asymmetry_grid
    base: ../online_shopping.yaml            # relative to the sweep file
    fixed: {run.ticks: 5}                    # set in every run
    grid:                                    # cartesian product, first key slowest
      information.outcome_observability: [0.0, 0.5, 1.0]
      information.monitoring: [0.0, 0.5, 1.0]
    zip:                                     # equal-length lists varied together,
      agents.0.model: [small, large]         # crossed with the grid
      agents.0.sampling.temperature: [0.2, 0.7]
    replicates: 4
    seed: 42

cells = grid combinations x zip rows; runs = cells x replicates. Every cell is resolved and
validated as a scenario before anything runs, so a bad key or value is one line naming the
sweep file, the cell and the key. Each run's seed derives from the sweep's root seed through
`numpy.random.SeedSequence` keyed by (cell, replicate) — or by the replicate alone with
`seed_scope: replicate` (common random numbers across cells) — and its id is a hash of its
resolved config, so adding grid values or replicates keeps the seeds and ids of existing runs.
Data files the cells name (edge lists) are read relative to the file that names them and must
stay in its folder or in an `--allow-path` folder (`sim.sweep.sweep_paths`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.errors import ScenarioError
from sim.scenario.edge_list import customer_ids
from sim.scenario.loader import (
    check_referenced_files,
    read_yaml,
    set_dotted,
    validate_scenario,
)
from sim.scenario.reference import section_markdown
from sim.sweep.spec_files import (
    SweepSpec,
    canonical,
    parse_spec,
    read_spec,
    with_backend,
    with_command_line,
)
from sim.sweep.sweep_paths import contain_sweep_paths, data_folders

SWEEP_BEGIN = "<!-- sweep-reference:begin -->"
SWEEP_END = "<!-- sweep-reference:end -->"



@dataclass(frozen=True)
class PlannedRun:
    """One cell x replicate of a sweep."""

    run_id: str
    cell_index: int
    replicate: int
    seed: int
    ticks: int


@dataclass(frozen=True)
class SweepPlan:
    """A sweep resolved into runs: every cell validated as a scenario."""

    name: str
    sweep_id: str
    source: str
    base_file: str
    spec: SweepSpec
    base_config: dict[str, Any]
    root_seed: int
    cells: tuple[dict[str, Any], ...]
    cell_configs: tuple[dict[str, Any], ...]
    runs: tuple[PlannedRun, ...]
    data_folders: tuple[str, ...] = ()
    """The sweep file's and the base scenario's folders, which data paths were read from."""
    allowed_paths: tuple[str, ...] = ()
    """Further folders data files may be read from (`--allow-path`)."""

    def allowed_folders(self) -> tuple[str, ...]:
        """Every folder a run's data files may lie in (for the check where a run starts)."""
        return (*self.data_folders, *(str(Path(a).expanduser().resolve())
                                      for a in self.allowed_paths))

    def scenario_data(self, run: PlannedRun) -> dict[str, Any]:
        """The resolved scenario of a run (a raw mapping, ready for `validate_scenario`)."""
        config = self.cell_configs[run.cell_index]
        return {**config, "run": {**config["run"], "seed": run.seed}}

    def overrides(self, run: PlannedRun) -> list[str]:
        """The `--set` overrides that turn the base scenario into this run."""
        values = {**self.spec.fixed, **self.cells[run.cell_index], "run.seed": run.seed}
        return [f"{key}={json.dumps(value)}" for key, value in values.items()]

    def to_json(self) -> dict[str, Any]:
        """The plan as sweep.json records it (enough to rebuild it with `plan_from_json`)."""
        return {
            "name": self.name,
            "source": self.source,
            "base_file": self.base_file,
            "spec": self.spec.model_dump(mode="json"),
            "base_config": self.base_config,
            "root_seed": self.root_seed,
            "cells": [{"index": i, "values": cell} for i, cell in enumerate(self.cells)],
            "data_folders": list(self.data_folders),
        }


# --------------------------------------------------------------------------- pure pieces


def expand_cells(grid: Mapping[str, Sequence[Any]], zipped: Mapping[str, Sequence[Any]]
                 ) -> list[dict[str, Any]]:
    """The cells of a sweep: grid combinations (first key slowest) crossed with zip rows.

    With neither grid nor zip there is one empty cell (the base scenario itself).
    """
    combos = [dict(zip(grid, values, strict=True))
              for values in itertools.product(*grid.values())]
    length = len(next(iter(zipped.values()))) if zipped else 1
    rows = [{key: values[i] for key, values in zipped.items()} for i in range(length)]
    return [{**combo, **row} for combo in combos for row in rows]


def cell_key(cell: Mapping[str, Any]) -> int:
    """A 32-bit key of a cell's values, stable across runs, processes and grid edits."""
    return int(hashlib.sha256(canonical(dict(cell)).encode()).hexdigest()[:8], 16)


def derive_seed(root_seed: int, cell: Mapping[str, Any], replicate: int,
                scope: str = "run") -> int:
    """A run's seed: SeedSequence(root) keyed by (cell, replicate), or by replicate alone."""
    key = (replicate,) if scope == "replicate" else (cell_key(cell), replicate)
    words = np.random.SeedSequence(entropy=root_seed, spawn_key=key).generate_state(
        2, dtype=np.uint32)
    return int((int(words[0]) << 32 | int(words[1])) & (2**53 - 1))  # exact in any JSON


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of a resolved scenario mapping, ignoring `run.seed` (each run sets its own)."""
    unseeded = {**config, "run": {k: v for k, v in config["run"].items() if k != "seed"}}
    return hashlib.sha256(canonical(unseeded).encode()).hexdigest()


def make_run_id(digest: str, seed: int, replicate: int) -> str:
    """A run id from its resolved config (digest + seed) and replicate: 'r' + 15 hex digits.

    The 'r' keeps ids from looking like numbers when read back as a Parquet partition.
    """
    text = f"{digest}:{seed}:{replicate}"
    return "r" + hashlib.sha256(text.encode()).hexdigest()[:15]


def cell_label(cell: Mapping[str, Any]) -> str:
    """A short, one-line label of a cell for messages."""
    if not cell:
        return "(base)"
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in cell.items())
    return text if len(text) <= 120 else text[:117] + "..."



# --------------------------------------------------------------------------- planning


def plan_sweep(spec: SweepSpec, base_config: Mapping[str, Any], *, source: str,
               base_file: str, data_folders: Sequence[str] = (),
               allowed_paths: Sequence[str | Path] = ()) -> SweepPlan:
    """Resolve and validate every cell, then derive every run's seed and id.

    Data paths must already be absolute (`sim.sweep.sweep_paths`); every cell's edge list is
    read against its customers here. Raises `ScenarioError` (one line naming `source`, the
    cell and the key) before anything runs if any cell is not a valid scenario.
    """
    base = dict(base_config)
    fixed_data = copy.deepcopy(base)
    _apply(fixed_data, spec.fixed, f"{source}: fixed")
    base_seed = fixed_data.get("run", {}).get("seed", 0) if isinstance(
        fixed_data.get("run"), dict) else 0
    root_seed = spec.seed if spec.seed is not None else base_seed
    if not isinstance(root_seed, int) or root_seed < 0:
        raise ScenarioError(f"{source}: seed: the root seed must be a whole number >= 0 "
                            f"(got {root_seed!r}); set `seed:` in the sweep")
    check_plan_size(spec, source)
    cells = expand_cells(spec.grid, spec.zip)
    cell_configs: list[dict[str, Any]] = []
    runs: list[PlannedRun] = []
    seen: dict[str, tuple[int, int]] = {}
    checked: set[str] = set()
    for index, cell in enumerate(cells):
        where = f"{source}: cell {cell_label(cell)}" if cell else source
        data = copy.deepcopy(fixed_data)
        _apply(data, cell, where)
        scenario = validate_scenario(data, where)
        _check_files(scenario, where, checked)
        config = scenario.model_dump(mode="json")
        cell_configs.append(config)
        digest = config_digest(config)
        for replicate in range(spec.replicates):
            seed = derive_seed(root_seed, cell, replicate, spec.seed_scope)
            run_id = make_run_id(digest, seed, replicate)
            if run_id in seen:
                other = cells[seen[run_id][0]]
                raise ScenarioError(
                    f"{source}: cells {cell_label(other)} and {cell_label(cell)} resolve to "
                    "the same scenario; remove one of the values")
            seen[run_id] = (index, replicate)
            runs.append(PlannedRun(run_id, index, replicate, seed, scenario.run.ticks))
    sweep_id = hashlib.sha256("\n".join(r.run_id for r in runs).encode()).hexdigest()[:16]
    return SweepPlan(name=spec.name or "sweep", sweep_id=sweep_id, source=source,
                     base_file=base_file, spec=spec, base_config=base, root_seed=root_seed,
                     cells=tuple(cells), cell_configs=tuple(cell_configs), runs=tuple(runs),
                     data_folders=tuple(data_folders),
                     allowed_paths=tuple(str(a) for a in allowed_paths))


def _check_files(scenario: Any, where: str, checked: set[str]) -> None:
    """Read a cell's edge list against its customers, once per (file, customers)."""
    dynamics = scenario.dynamics
    network = dynamics.word_of_mouth.network if dynamics and dynamics.word_of_mouth else None
    path = getattr(network, "path", None)
    if path is None:
        return
    key = canonical([path, customer_ids(scenario)])
    if key not in checked:
        check_referenced_files(scenario, where)
        checked.add(key)


MAX_RUNS = 100_000
"""Most runs one sweep may plan; larger plans are refused before they are expanded."""


def planned_size(spec: SweepSpec) -> tuple[int, int]:
    """(cells, runs) of a spec, computed from the list lengths without expanding anything."""
    cells = math.prod(len(values) for values in spec.grid.values())
    if spec.zip:
        cells *= len(next(iter(spec.zip.values())))
    return cells, cells * spec.replicates


def check_plan_size(spec: SweepSpec, source: str, limit: int = MAX_RUNS) -> None:
    """Raise `ScenarioError` (one line) when the sweep would plan more than `limit` runs."""
    cells, runs = planned_size(spec)
    if runs > limit:
        raise ScenarioError(
            f"{source}: grid/zip/replicates: the sweep would plan {runs} runs ({cells} cells x "
            f"{spec.replicates} replicates), more than the {limit} one sweep may hold; fewer "
            "values or replicates, or split it into several sweeps")


def _apply(data: dict[str, Any], values: Mapping[str, Any], where: str) -> None:
    """Set dotted keys in place, rewording the loader's --set errors for sweep files."""
    for key, value in values.items():
        try:
            set_dotted(data, key, copy.deepcopy(value), where)
        except ScenarioError as exc:
            raise ScenarioError(str(exc).replace(f"--set {key}: ", f"{key}: ")) from exc


def load_plan(path: str | Path, *, grid: Iterable[str] = (), zipped: Iterable[str] = (),
              settings: Iterable[str] = (), replicates: int | None = None,
              seed: int | None = None, backend: str | None = None,
              model: str | None = None, allowed_paths: Sequence[str | Path] = ()
              ) -> SweepPlan:
    """Read a sweep file (or a scenario file), apply command-line options, plan the runs.

    Data paths are read relative to the file that names them (the sweep file, or the base
    scenario) and must lie in its folder or in one of `allowed_paths` (`--allow-path`).
    """
    spec, base_path = read_spec(path)
    spec = with_command_line(spec, str(path), grid=grid, zipped=zipped, settings=settings,
                             replicates=replicates, seed=seed)
    base_config = read_yaml(base_path)
    spec = with_backend(spec, base_config, backend=backend, model=model, source=str(path))
    folders = (str(Path(path).resolve().parent), str(Path(base_path).resolve().parent))
    return _contained_plan(spec, base_config, str(path), str(base_path), folders,
                           allowed_paths)


def plan_from_json(payload: Mapping[str, Any],
                   allowed_paths: Sequence[str | Path] = ()) -> SweepPlan:
    """Rebuild a plan from the `plan` a sweep.json recorded (for --resume without a file).

    Its data paths are checked again against the folders it recorded and `allowed_paths`.
    """
    spec = parse_spec(payload["spec"], str(payload.get("source", "sweep.json")))
    return _contained_plan(spec, payload["base_config"], str(payload["source"]),
                           str(payload["base_file"]), data_folders(payload), allowed_paths)


def _contained_plan(spec: SweepSpec, base_config: Mapping[str, Any], source: str,
                    base_file: str, folders: Sequence[str],
                    allowed_paths: Sequence[str | Path]) -> SweepPlan:
    spec, base = contain_sweep_paths(spec, dict(base_config), sweep_dir=Path(folders[0]),
                                     base_dir=Path(folders[1]), source=source,
                                     base_file=base_file, allowed=allowed_paths)
    return plan_sweep(spec, base, source=source, base_file=base_file,
                      data_folders=folders, allowed_paths=allowed_paths)


def sweep_reference() -> str:
    """The sweep-file reference (README section), generated from `SweepSpec`."""

    return section_markdown("sweep file", SweepSpec) + "\n"
