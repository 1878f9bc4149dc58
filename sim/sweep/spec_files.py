"""Reading sweep files and sweep flags: the `SweepSpec` model, its one-line errors, and
`--grid` / `--zip` / `--set` arguments applied over a spec. Pure: nothing runs here; the
expansion into cells and runs is `sim.sweep.spec`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.errors import ScenarioError, did_you_mean
from sim.scenario.loader import read_yaml
from sim.scenario.schema import MAX_SEED

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
RESERVED_KEYS = ("run.seed",)
"""Keys a sweep may not set: each run's seed is derived from the sweep's `seed`."""



def canonical(value: Any) -> str:
    """A stable JSON text of a value (sorted keys), used for hashing and comparison."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


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
        default=None, ge=0, le=MAX_SEED, description="Root seed of the sweep; every run's "
        "`run.seed` derives from it. Omit to use the base scenario's `run.seed`.")
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
