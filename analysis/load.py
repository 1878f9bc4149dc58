"""Read run directories (and sweeps of them) into tidy pandas DataFrames.

Reads files only: `manifest.json`, the per-tick parts of `decisions.parquet/` and `ticks.csv`
(layout in the README, column contract in `sim/engine/records.py`). A run that stopped early
(manifest status `running`, `failed` or `interrupted`) loads whatever it recorded, and its
status is a column, so nothing is hidden.

A sweep directory is any directory with run directories below it (a run directory is one that
holds `manifest.json`); the sweep runner writes `SWEEP/sweep.json` and `SWEEP/runs/<run_id>/`.
A run's manifest may carry `"sweep": {"sweep_id", "cell": {dotted.key: value}, "replicate"}`;
each cell key becomes a column named by its dotted key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from agents.errors import AnalysisError
from sim.engine.records import DECISION_SCHEMA, DECISIONS, MANIFEST, TICK_COLUMNS, TICKS

SWEEP_FILE = "sweep.json"

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "run_dir", "scenario_name", "status", "ticks_completed", "ticks_planned",
    "root_seed", "scenario_hash", "started_at", "finished_at", "sweep_id", "replicate",
    "explanation_reveals",
)
"""Manifest fields copied onto every decision and tick row (plus the sweep's cell columns)."""

CUSTOMER_READERS = frozenset({"customer", "both"})
COMPANY_READERS = frozenset({"company", "both"})
"""Disclosure conditions in which the customer / the company reads the agent's explanation."""

NULLABLE_BOOL_COLUMNS = ("override", "sided_with_company")
BOOL_COLUMNS = ("valid", "refused", "purchased", "cached")


@dataclass(frozen=True)
class Runs:
    """One or more loaded runs.

    `decisions` (one row per decision) and `ticks` (one row per tick and run) carry the
    manifest fields of RUN_COLUMNS, the sweep cell columns, and derived columns
    `customer_reads` / `company_reads` (decisions only); `runs` has one row per run;
    `manifests` maps run_id to its parsed manifest.
    """

    decisions: pd.DataFrame
    ticks: pd.DataFrame
    runs: pd.DataFrame
    manifests: dict[str, dict[str, Any]]
    cell_columns: tuple[str, ...] = ()
    sweep: dict[str, Any] | None = None
    root: Path | None = None
    run_dirs: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def incomplete(self) -> pd.DataFrame:
        """The runs whose status is not `completed` (crashed, interrupted or still running)."""
        return self.runs[self.runs["status"] != "completed"]

    def products(self) -> pd.DataFrame:
        """Product catalogue per run from the manifests: run_id, product_id, name, price and
        one column per attribute (booleans as 0/1, missing as 0)."""
        rows = []
        for run_id, manifest in self.manifests.items():
            for product in _config(manifest).get("products", []):
                row = {"run_id": run_id, "product_id": product["id"],
                       "name": product.get("name", product["id"]),
                       "price": float(product["price"])}
                for name, value in (product.get("attributes") or {}).items():
                    row[f"attr_{name}"] = float(value)
                rows.append(row)
        frame = pd.DataFrame(rows, columns=None if rows else ["run_id", "product_id", "name",
                                                              "price"])
        attr = [c for c in frame.columns if c.startswith("attr_")]
        frame[attr] = frame[attr].fillna(0.0)
        return frame

    def margins(self) -> pd.DataFrame:
        """Margins per run, product and company (long form: run_id, product_id, company, margin)."""
        rows = [{"run_id": run_id, "product_id": product["id"], "company": company,
                 "margin": float(margin)}
                for run_id, manifest in self.manifests.items()
                for product in _config(manifest).get("products", [])
                for company, margin in (product.get("margins") or {}).items()]
        return pd.DataFrame(rows, columns=["run_id", "product_id", "company", "margin"])


def find_run_dirs(path: str | Path) -> list[Path]:
    """Run directories at or below `path` (directories holding manifest.json), sorted."""
    root = Path(path)
    if not root.exists():
        raise AnalysisError(f"{root}: no such directory; give a run directory (with "
                            f"{MANIFEST}) or a sweep directory")
    if not root.is_dir():
        raise AnalysisError(f"{root}: not a directory; give a run directory (with {MANIFEST}) "
                            "or a sweep directory")
    if (root / MANIFEST).is_file():
        return [root]
    found = []
    for current, dirs, files in os.walk(root):
        if MANIFEST in files:
            found.append(Path(current))
            dirs[:] = []  # a run directory holds no nested runs
        else:
            dirs.sort()
    if not found:
        raise AnalysisError(f"{root}: no run directories found (no {MANIFEST} in it or below "
                            "it); give a directory written by `tinmen run` or `tinmen sweep`")
    return sorted(found)


def load_run(path: str | Path) -> Runs:
    """Load one run directory."""
    run_dirs = find_run_dirs(path)
    if len(run_dirs) != 1 or run_dirs[0] != Path(path):
        raise AnalysisError(f"{path}: not a run directory (no {MANIFEST}); for a sweep or a "
                            "folder of runs use load_runs")
    return _combine(run_dirs, root=Path(path))


def load_runs(paths: str | Path | Iterable[str | Path]) -> Runs:
    """Load every run at or below one path (a sweep directory) or below each of several paths."""
    if isinstance(paths, str | Path):
        roots = [Path(paths)]
    else:
        roots = [Path(p) for p in paths]
        if not roots:
            raise AnalysisError("load_runs: no directories given")
    run_dirs: list[Path] = []
    for root in roots:
        for run_dir in find_run_dirs(root):
            if run_dir not in run_dirs:
                run_dirs.append(run_dir)
    sweep = _read_sweep(roots[0]) if len(roots) == 1 else None
    return _combine(run_dirs, root=roots[0] if len(roots) == 1 else None, sweep=sweep)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The parsed manifest of a run directory (one-line AnalysisError when unreadable)."""
    path = run_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the "
                            "run directory is damaged") from exc
    if not isinstance(manifest, dict):
        raise AnalysisError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    return manifest


def read_decisions(run_dir: Path) -> pd.DataFrame:
    """All complete per-tick parts of `decisions.parquet` (temporary files are ignored)."""
    target = run_dir / DECISIONS
    if target.is_dir():
        parts = sorted(p for p in target.glob("*.parquet") if p.is_file())
    elif target.is_file():
        parts = [target]
    else:
        parts = []
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except (OSError, pa.ArrowException) as exc:
            raise AnalysisError(f"{part}: unreadable Parquet file ({exc}); the run directory "
                                "is damaged") from exc
    if not tables:
        return DECISION_SCHEMA.empty_table().to_pandas()
    table = pa.concat_tables(tables, promote_options="default")
    frame = table.to_pandas()
    for column in NULLABLE_BOOL_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("boolean")
    for column in BOOL_COLUMNS:
        if column in frame:
            frame[column] = frame[column].fillna(False).astype(bool)
    return frame


def read_ticks(run_dir: Path) -> pd.DataFrame:
    """`ticks.csv` as a DataFrame (empty with the contract's columns when missing)."""
    path = run_dir / TICKS
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(TICK_COLUMNS))
    try:
        return upgrade_ticks(pd.read_csv(path))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"{path}: unreadable CSV ({exc}); the run directory is "
                            "damaged") from exc


UNREAD_LOSS = "mean_agency_loss_unread_as_outside"


def upgrade_ticks(ticks: pd.DataFrame) -> pd.DataFrame:
    """Ticks of runs recorded before `mean_agency_loss` was over valid decisions only: their
    `mean_agency_loss` counted unreadable answers as full loss, which is now
    `mean_agency_loss_unread_as_outside`; it moves there and `mean_agency_loss` is unknown
    (NaN) rather than shown with the other meaning. Current files pass unchanged."""
    if "mean_agency_loss" not in ticks or UNREAD_LOSS in ticks:
        return ticks
    ticks = ticks.copy()
    at = ticks.columns.get_loc("mean_agency_loss") + 1
    ticks.insert(at, UNREAD_LOSS, ticks["mean_agency_loss"])
    ticks["mean_agency_loss"] = np.nan
    return ticks


def _read_sweep(root: Path) -> dict[str, Any] | None:
    path = root / SWEEP_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AnalysisError(f"{path}: not readable JSON ({exc})") from exc
    return data if isinstance(data, dict) else None


def _config(manifest: Mapping[str, Any]) -> dict[str, Any]:
    config = manifest.get("config")
    return config if isinstance(config, dict) else {}


def _scalar(value: Any) -> Any:
    """Cell values become hashable column values: lists and dicts as compact JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value


def _run_fields(run_id: str, run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    sweep = manifest.get("sweep") if isinstance(manifest.get("sweep"), dict) else {}
    information = _config(manifest).get("information") or {}
    fields = {
        "run_id": run_id,
        "run_dir": str(run_dir),
        "scenario_name": manifest.get("scenario_name"),
        "status": manifest.get("status", "unknown"),
        "ticks_completed": manifest.get("ticks_completed"),
        "ticks_planned": manifest.get("ticks_planned"),
        "root_seed": manifest.get("root_seed"),
        "scenario_hash": manifest.get("scenario_hash"),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "sweep_id": sweep.get("sweep_id"),
        "replicate": sweep.get("replicate"),
        "explanation_reveals": information.get("explanation_reveals"),
    }
    cell = sweep.get("cell") if isinstance(sweep.get("cell"), dict) else {}
    for key, value in cell.items():
        fields[str(key)] = _scalar(value)
    return fields


def _run_ids(run_dirs: list[Path], manifests: list[dict[str, Any]]) -> list[str]:
    """The manifest's run_id (sweeps set one) or else the directory name; the full paths
    when two runs would share an id."""
    ids = []
    for run_dir, manifest in zip(run_dirs, manifests, strict=True):
        sweep = manifest.get("sweep") if isinstance(manifest.get("sweep"), dict) else {}
        ids.append(str(manifest.get("run_id") or sweep.get("run_id") or run_dir.name))
    if len(set(ids)) < len(ids):
        ids = [str(d) for d in run_dirs]
    return ids


def _persona_columns(decisions: pd.DataFrame, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """agent_spec, agent_persona and company_persona for each decision, from the config."""
    config = _config(manifest)
    company_persona = {c["id"]: c.get("persona", "") for c in config.get("companies", [])}
    spec_of: dict[str, tuple[str, str]] = {}
    for spec in config.get("agents", []):
        count = int(spec.get("count", 1))
        width = len(str(count))
        names = [spec["id"]] if count == 1 else [f"{spec['id']}-{i:0{width}d}"
                                                 for i in range(1, count + 1)]
        for name in names:
            spec_of[name] = (spec["id"], spec.get("persona", ""))
    agent = decisions["agent_id"].astype(object)
    return pd.DataFrame({
        "agent_spec": agent.map(lambda a: spec_of.get(a, (a, ""))[0]),
        "agent_persona": agent.map(lambda a: spec_of.get(a, (a, ""))[1]),
        "company_persona": decisions["company"].astype(object).map(company_persona),
    }, index=decisions.index)


def _combine(run_dirs: list[Path], *, root: Path | None,
             sweep: dict[str, Any] | None = None) -> Runs:
    manifests = [read_manifest(d) for d in run_dirs]
    run_ids = _run_ids(run_dirs, manifests)
    decision_frames, tick_frames, run_rows = [], [], []
    cell_columns: list[str] = []
    for run_dir, run_id, manifest in zip(run_dirs, run_ids, manifests, strict=True):
        fields = _run_fields(run_id, run_dir, manifest)
        for key in fields:
            if key not in RUN_COLUMNS and key not in cell_columns:
                cell_columns.append(key)
        decisions = read_decisions(run_dir)
        ticks = read_ticks(run_dir)
        run_rows.append({**fields, "decisions": len(decisions),
                         "backends": ", ".join(f"{b.get('name')}:{b.get('model')}"
                                               for b in manifest.get("backends", []))})
        decisions = pd.concat([decisions, _persona_columns(decisions, manifest)], axis=1)
        decision_frames.append((decisions, fields))
        tick_frames.append((ticks, fields))
    decisions = _stack(decision_frames, cell_columns)
    ticks = _stack(tick_frames, cell_columns)
    if len(decisions):
        disclosure = decisions["disclosure"].astype(object)
        decisions["customer_reads"] = disclosure.isin(CUSTOMER_READERS)
        decisions["company_reads"] = disclosure.isin(COMPANY_READERS)
    else:
        decisions["customer_reads"] = pd.Series(dtype=bool)
        decisions["company_reads"] = pd.Series(dtype=bool)
    runs = pd.DataFrame(run_rows)
    for column in (*RUN_COLUMNS, *cell_columns):
        if column not in runs:
            runs[column] = None
    return Runs(decisions=decisions, ticks=ticks, runs=runs,
                manifests=dict(zip(run_ids, manifests, strict=True)),
                cell_columns=tuple(cell_columns), sweep=sweep, root=root,
                run_dirs=tuple(run_dirs))


def _stack(frames: list[tuple[pd.DataFrame, dict[str, Any]]], cell_columns: list[str]
           ) -> pd.DataFrame:
    """Concatenate per-run frames, each with its run fields and every cell column."""
    out = []
    for frame, fields in frames:
        frame = frame.copy()
        for column in (*RUN_COLUMNS, *cell_columns):
            value = fields.get(column)
            if value is None and column in frame:
                continue  # a recorded column of the same name is kept, never blanked
            frame[column] = value
        out.append(frame)
    non_empty = [f for f in out if len(f)]
    if not non_empty:
        return out[0].iloc[0:0] if out else pd.DataFrame()
    return pd.concat(non_empty, ignore_index=True)
