"""Data paths in a sweep (edge lists): resolved against the file that names them, contained.

A value the sweep file sets (`fixed`, `grid`, `zip`, or `--set` / `--grid` / `--zip` on the
command line) that names an edge-list file is read relative to the sweep file's folder; the
base scenario's own edge list relative to the base scenario's folder. Either must lie inside
that folder or inside a folder given with `--allow-path`, exactly as for `tinmen run` (see
`sim.scenario.data_paths`). Everything is resolved to absolute paths before the plan is made,
so every cell's files are checked before any run starts, and the runs, in whatever worker
process, read the same files.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.errors import ScenarioError
from sim.scenario.data_paths import contained_path
from sim.scenario.loader import resolve_relative_paths
from sim.sweep.spec_files import SweepSpec

DATA_KEYS = (("dynamics", "word_of_mouth", "network", "path"),)
"""Dotted keys of a scenario that name a data file."""


def contain_sweep_paths(spec: SweepSpec, base_config: dict[str, Any], *, sweep_dir: Path,
                        base_dir: Path, source: str, base_file: str,
                        allowed: Sequence[str | Path] = ()) -> tuple[SweepSpec, dict[str, Any]]:
    """Resolve and contain every data path of a sweep; return the spec and base config with
    absolute paths.

    Raises `ScenarioError` (one line naming the sweep file, the section and key, and the
    fix) for a path outside its folder and `allowed`, a missing file or a special file.
    """
    base = copy.deepcopy(base_config)
    try:
        resolve_relative_paths(base, Path(base_dir).resolve(), base_file, allowed)
    except ScenarioError as exc:
        if source == base_file:
            raise
        raise ScenarioError(f"{source}: base scenario {exc}") from exc
    folder = Path(sweep_dir).resolve()
    owner = "scenario" if source == base_file else "sweep file"  # a scenario + --grid/--set
    fixed = {key: _resolve(key, value, folder, f"{source}: fixed", allowed, owner)
             for key, value in spec.fixed.items()}
    grid = {key: [_resolve(key, value, folder, f"{source}: grid", allowed, owner)
                  for value in values] for key, values in spec.grid.items()}
    zipped = {key: [_resolve(key, value, folder, f"{source}: zip", allowed, owner)
                    for value in values] for key, values in spec.zip.items()}
    if (fixed, grid, zipped) != (spec.fixed, spec.grid, spec.zip):
        spec = spec.model_copy(update={"fixed": fixed, "grid": grid, "zip": zipped})
    return spec, base


def _resolve(key: str, value: Any, folder: Path, where: str,
             allowed: Sequence[str | Path], owner: str) -> Any:
    """`value` set at dotted `key`, with any data path it names resolved and contained."""
    parts = tuple(key.split("."))
    for data_key in DATA_KEYS:
        if data_key[:len(parts)] != parts:
            continue  # the key sets something that holds no data path
        rest = data_key[len(parts):]
        if not rest:
            return _contain(value, folder, f"{where}.{key}", allowed, owner) if isinstance(
                value, str) else value
        node = value
        for part in rest[:-1]:
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping) or not isinstance(node.get(rest[-1]), str):
            return value
        value = copy.deepcopy(value)
        node = value
        for part in rest[:-1]:
            node = node[part]
        node[rest[-1]] = _contain(node[rest[-1]], folder,
                                  f"{where}.{key}.{'.'.join(rest)}", allowed, owner)
    return value


def _contain(raw: str, folder: Path, where: str, allowed: Sequence[str | Path],
             owner: str) -> str:
    try:
        return str(contained_path(raw, folder, allowed, "edge-list file", owner))
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def data_folders(plan_json: Mapping[str, Any]) -> tuple[str, str]:
    """(sweep folder, base folder) a recorded plan resolved its data paths against."""
    folders = plan_json.get("data_folders")
    if isinstance(folders, list) and len(folders) == 2:
        return str(folders[0]), str(folders[1])
    return (str(Path(str(plan_json.get("source", "."))).resolve().parent),
            str(Path(str(plan_json.get("base_file", "."))).resolve().parent))
