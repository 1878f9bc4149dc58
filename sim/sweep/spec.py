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
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.errors import ScenarioError, did_you_mean
from sim.scenario.loader import read_yaml, set_dotted, validate_scenario
from sim.scenario.reference import section_markdown

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
RESERVED_KEYS = ("run.seed",)
"""Keys a sweep may not set: each run's seed is derived from the sweep's `seed`."""

SWEEP_BEGIN = "<!-- sweep-reference:begin -->"
SWEEP_END = "<!-- sweep-reference:end -->"


class SweepSpec(BaseModel):
    """A sweep file: a base scenario, the dotted keys to vary, and replicates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(
        default=None, description="Sweep name; the default output directory is "
        "`sweeps/<name>-<sweep id>`. Omit to use the sweep file's name (or the base scenario's "
        "for a sweep given on the command line).")
    description: str = Field(default="", description="Free text for humans.")
    base: str = Field(description="The base scenario file, relative to the sweep file.")
    fixed: dict[str, Any] = Field(
        default_factory=dict, description="Dotted keys set to one value in every run, e.g. "
        "`run.ticks: 1` (the command line's `--set`).")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted key -> list of values; every combination "
        "is a cell (cartesian product, the first key varying slowest).")
    zip: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted key -> list of values, all lists the same "
        "length; the i-th values go together. Zipped rows are crossed with the grid.")
    replicates: int = Field(default=1, ge=1, description="Runs per cell, each with its own "
                            "seed and replicate index.")
    seed: int | None = Field(
        default=None, ge=0, description="Root seed of the sweep; every run's `run.seed` "
        "derives from it. Omit to use the base scenario's `run.seed`.")
    seed_scope: Literal["run", "replicate"] = Field(
        default="run", description="`run`: every run gets its own seed, derived from its "
        "cell's values and its replicate index; `replicate`: replicate r uses the same seed in "
        "every cell (common random numbers: the same customers and draws across conditions).")

    @field_validator("fixed", "grid", "zip")
    @classmethod
    def _keys_are_dotted_paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not KEY_PATTERN.match(str(key)):
                raise ValueError(f"{key!r} is not a dotted key; write e.g. "
                                 "information.monitoring or agents.0.sampling.temperature")
            if key in RESERVED_KEYS:
                raise ValueError(f"{key!r} cannot be swept: each run's seed derives from the "
                                 "sweep's `seed` and its replicate; set `seed:` or "
                                 "`replicates:` instead")
        return value

    @field_validator("grid")
    @classmethod
    def _grid_values_are_distinct(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
            seen: set[str] = set()
            for item in values:
                text = canonical(item)
                if text in seen:
                    raise ValueError(f"{key}: value {item!r} is listed twice; list each value "
                                     "once and use `replicates` for repetitions")
                seen.add(text)
        return value

    @field_validator("zip")
    @classmethod
    def _zip_lists_have_one_length(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        lengths = {key: len(values) for key, values in value.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise ValueError(f"zipped lists must have the same length ({shown})")
        if any(n == 0 for n in lengths.values()):
            raise ValueError("zipped lists need at least one value")
        return value

    def swept_keys(self) -> list[str]:
        """Every dotted key the sweep sets, in the order it applies them."""
        return [*self.fixed, *self.grid, *self.zip]


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
        }


# --------------------------------------------------------------------------- pure pieces


def canonical(value: Any) -> str:
    """A stable JSON text of a value (sorted keys), used for hashing and comparison."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


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


# --------------------------------------------------------------------------- reading specs


def describe_spec_error(exc: ValidationError) -> str:
    """One line about the first problem in a sweep file."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        key = str(first["loc"][-1])
        allowed = list(SweepSpec.model_fields)
        line = (f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"
                f"{did_you_mean(key, allowed)}")
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
        value = first.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        line = f"{loc or '(top level)'}: {message}{shown}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return line


def parse_spec(data: Mapping[str, Any], source: str) -> SweepSpec:
    """Validate a raw mapping as a `SweepSpec`; one-line `ScenarioError` if it is not one."""
    try:
        spec = SweepSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {describe_spec_error(exc)}") from exc
    _check_key_overlaps(spec, source)
    return spec


def _check_key_overlaps(spec: SweepSpec, source: str) -> None:
    sections = {"fixed": spec.fixed, "grid": spec.grid, "zip": spec.zip}
    owner: dict[str, str] = {}
    for section, keys in sections.items():
        for key in keys:
            if key in owner:
                raise ScenarioError(f"{source}: {section}.{key}: the key is also in "
                                    f"{owner[key]}; set each key in one place")
            owner[key] = section
    keys = sorted(owner)
    for a, b in itertools.pairwise(keys):
        if b.startswith(a + "."):
            raise ScenarioError(f"{source}: {owner[b]}.{b}: overlaps {owner[a]}.{a}, which "
                                "sets the whole of it; set one or the other")


def is_sweep_file(data: Mapping[str, Any]) -> bool:
    """A sweep file names a `base` scenario; a scenario file has `schema_version`."""
    return "base" in data and "schema_version" not in data


def read_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read a sweep file, or wrap a scenario file as a sweep of itself.

    Returns the spec and the resolved base scenario path.
    """
    path = Path(path)
    data = read_yaml(path)
    if is_sweep_file(data):
        spec = parse_spec(data, str(path))
        if spec.name is None:
            spec = spec.model_copy(update={"name": path.stem})
        base = Path(spec.base)
        return spec, Path(os.path.normpath(base if base.is_absolute() else path.parent / base))
    name = data.get("name") if isinstance(data.get("name"), str) else path.stem
    return SweepSpec(name=name, base=str(path)), path


def parse_values(argument: str, flag: str) -> tuple[str, list[Any]]:
    """`key=v1,v2,...` from --grid/--zip -> (key, [v1, v2, ...]); values parsed as YAML.

    The values are read as a YAML flow list, so `[a, b],[c]` gives two list values.
    """
    key, sep, raw = argument.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ScenarioError(f"{flag} {argument!r}: expected dotted.key=value1,value2,... e.g. "
                            f"{flag} information.monitoring=0,0.5,1")
    try:
        values = yaml.safe_load(f"[{raw}]")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a YAML list"
        raise ScenarioError(f"{flag} {argument!r}: cannot read the values ({problem}); "
                            "separate values with commas and quote text containing them"
                            ) from exc
    return key, list(values)


def parse_setting(argument: str) -> tuple[str, Any]:
    """`key=value` from --set -> (key, value), the value parsed as YAML."""
    key, sep, raw = argument.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {argument!r}: expected dotted.key=value, e.g. "
                            "--set run.ticks=1")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def with_command_line(spec: SweepSpec, source: str, *, grid: Iterable[str] = (),
                      zipped: Iterable[str] = (), settings: Iterable[str] = (),
                      replicates: int | None = None, seed: int | None = None) -> SweepSpec:
    """Apply --grid / --zip / --set / --replicates / --seed on top of a spec.

    --grid and --zip add keys (or replace the same keys); --set adds fixed keys; a key given
    on the command line is removed from the file's other sections.
    """
    grid_values = dict(parse_values(a, "--grid") for a in grid)
    zip_values = dict(parse_values(a, "--zip") for a in zipped)
    fixed_values = dict(parse_setting(a) for a in settings)
    given = set(grid_values) | set(zip_values) | set(fixed_values)

    def keep(section: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in section.items() if k not in given}

    data = spec.model_dump()
    if zip_values:
        data["zip"] = {}  # a zip given on the command line replaces the file's zip
    data["fixed"] = {**keep(spec.fixed), **fixed_values}
    data["grid"] = {**keep(spec.grid), **grid_values}
    data["zip"] = {**keep(data["zip"]), **zip_values}
    if replicates is not None:
        data["replicates"] = replicates
    if seed is not None:
        data["seed"] = seed
    return parse_spec(data, source)


def with_backend(spec: SweepSpec, base_config: Mapping[str, Any], *,
                 backend: str | None = None, model: str | None = None,
                 source: str = "--backend") -> SweepSpec:
    """Set every agent's backend and/or model (--backend / --model) as fixed keys.

    Writing them into the runs' configs (rather than overriding at run time) keeps each
    run's manifest, hash and id true to what answered.
    """
    agents = base_config.get("agents")
    if (backend is None and model is None) or not isinstance(agents, list):
        return spec
    fixed = dict(spec.fixed)
    for i in range(len(agents)):
        if backend is not None:
            fixed[f"agents.{i}.backend"] = backend
        if model is not None:
            fixed[f"agents.{i}.model"] = model
    return parse_spec({**spec.model_dump(), "fixed": fixed}, source)


# --------------------------------------------------------------------------- planning


def plan_sweep(spec: SweepSpec, base_config: Mapping[str, Any], *, source: str,
               base_file: str) -> SweepPlan:
    """Resolve and validate every cell, then derive every run's seed and id.

    Raises `ScenarioError` (one line naming `source`, the cell and the key) before anything
    runs if any cell is not a valid scenario.
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
    cells = expand_cells(spec.grid, spec.zip)
    cell_configs: list[dict[str, Any]] = []
    runs: list[PlannedRun] = []
    seen: dict[str, tuple[int, int]] = {}
    for index, cell in enumerate(cells):
        where = f"{source}: cell {cell_label(cell)}" if cell else source
        data = copy.deepcopy(fixed_data)
        _apply(data, cell, where)
        scenario = validate_scenario(data, where)
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
                     cells=tuple(cells), cell_configs=tuple(cell_configs), runs=tuple(runs))


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
              model: str | None = None) -> SweepPlan:
    """Read a sweep file (or a scenario file), apply command-line options, plan the runs."""
    spec, base_path = read_spec(path)
    spec = with_command_line(spec, str(path), grid=grid, zipped=zipped, settings=settings,
                             replicates=replicates, seed=seed)
    base_config = read_yaml(base_path)
    spec = with_backend(spec, base_config, backend=backend, model=model, source=str(path))
    return plan_sweep(spec, base_config, source=str(path), base_file=str(base_path))


def plan_from_json(payload: Mapping[str, Any]) -> SweepPlan:
    """Rebuild a plan from the `plan` a sweep.json recorded (for --resume without a file)."""
    spec = parse_spec(payload["spec"], str(payload.get("source", "sweep.json")))
    return plan_sweep(spec, payload["base_config"], source=str(payload["source"]),
                      base_file=str(payload["base_file"]))


def sweep_reference() -> str:
    """The sweep-file reference (README section), generated from `SweepSpec`."""

    return section_markdown("sweep file", SweepSpec) + "\n"
