"""What the run viewer shows, as pure functions over the files of a run or sweep directory.

Nothing here imports a web framework: each function reads files (like the rest of `analysis`)
and returns plain values or DataFrames, so the page and the tests see the same numbers. The
conflict metrics come from `analysis.metrics.summarise` grouped by
`analysis.report.condition_keys`, formatted by `analysis.report.metric_display`: the numbers
of `tinmen report`.

A run in progress is read as far as it is complete: the recorder writes a tick's transcripts,
then its Parquet part (renamed into place), then its `ticks.csv` row, then the manifest, so
the decisions are the complete parts, and a trailing partial line of `ticks.csv`,
`market.csv` or `transcripts.jsonl` is ignored until it is finished. `signature` changes
whenever any of those files does; the page recomputes only then.

The decisions table never loads the whole run: `decision_page` reads only the table's
columns with pyarrow, filters in Arrow and converts one page to pandas; `decision_detail`
finds one transcript through a byte-offset index (`TranscriptIndex`) that reads only what was
appended since it last looked.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from agents.errors import AnalysisError
from analysis.intervals import DEFAULT_BOOTSTRAP
from analysis.load import (
    SWEEP_FILE,
    find_run_dirs,
    load_run,
    load_runs,
    read_manifest,
    upgrade_ticks,
)
from analysis.metrics import summarise
from analysis.transcripts import read_prompts
from sim.engine.records import DECISIONS, MANIFEST, MARKET, PROMPTS, TICKS, TRANSCRIPTS

TABLE_COLUMNS: tuple[str, ...] = (
    "tick", "decision_id", "disclosure", "company", "agent_id", "customer_id",
    "customer_group", "outcome", "override", "parse_method", "choice",
)
"""Columns of the decisions table (one page at a time)."""

FILTER_COLUMNS: tuple[str, ...] = (
    "disclosure", "company", "agent_id", "outcome", "override", "parse_method",
    "customer_group", "tick",
)
"""Columns the decisions table can be filtered on (equality)."""

FILTER_LABELS: dict[str, str] = {
    "disclosure": "condition", "company": "company", "agent_id": "agent",
    "outcome": "outcome", "override": "override", "parse_method": "reading method",
    "customer_group": "customer group", "tick": "tick",
}
"""How the page names each filter column."""

SERIES_COLUMNS: dict[str, str] = {
    "override_rate": "override", "sided_with_company_rate": "sided with company",
    "invalid_rate": "invalid", "mean_agency_loss": "agency loss",
}
"""Per-tick series of `ticks.csv` on the overview, and their labels."""

HEALTH_COLUMNS: dict[str, str] = {
    "requests_per_s": "requests/s", "prompt_tokens_per_s": "prompt tokens/s",
    "completion_tokens_per_s": "completion tokens/s", "retries": "retries",
    "reasks": "re-asks", "failed": "failures", "cache_hits": "cache hits",
    "prefix_share": "prefix share",
}
"""Per-tick backend-health columns of `ticks.csv`, and their labels."""

PROBABILITY_KEYS = ("choice_probabilities", "probabilities", "logprobs")
"""Transcript fields holding the model's choice probabilities, shown when recorded."""

KNOB_METRICS: dict[str, str] = {
    "override_rate": "override", "sided_rate": "sided with company",
    "invalid_rate": "invalid", "refusal_rate": "refusal", "agency_loss": "agency loss",
    "company_gain": "company gain",
}
"""Metrics of `summarise` a sweep's knob curve can show."""


# ------------------------------------------------------------------------------ the source
def source_kind(path: str | Path) -> str:
    """'run' for a run directory (it holds manifest.json), 'sweep' for anything with runs
    below it; a one-line AnalysisError when it is neither."""
    root = Path(path)
    if (root / MANIFEST).is_file():
        return "run"
    find_run_dirs(root)  # raises the one-line error when there are no runs
    return "sweep"


def signature(path: str | Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime_ns) of every file the viewer reads at or below `path`; it changes
    whenever a run writes a tick or a sweep updates sweep.json."""
    root = Path(path)
    names = (MANIFEST, TICKS, MARKET, TRANSCRIPTS, PROMPTS, SWEEP_FILE)
    out = []
    run_dirs = [root] if (root / MANIFEST).is_file() else _safe_run_dirs(root)
    for directory in {root, *run_dirs}:
        candidates = [directory / n for n in names]
        parts = directory / DECISIONS
        if parts.is_dir():
            candidates += [p for p in parts.glob("*.parquet")]
        for file in candidates:
            try:
                stat = file.stat()
            except OSError:
                continue
            out.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(out))


def _safe_run_dirs(root: Path) -> list[Path]:
    try:
        return find_run_dirs(root)
    except AnalysisError:
        return []


# ------------------------------------------------------------------------------ file reads
def read_complete_csv(path: Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV written line by line, up to its last complete line (empty with `columns` when
    the file is missing or holds only a header)."""
    try:
        text = path.read_bytes()
    except OSError:
        return pd.DataFrame(columns=list(columns))
    end = text.rfind(b"\n")
    if end < 0:
        return pd.DataFrame(columns=list(columns))
    frame = pd.read_csv(io.BytesIO(text[:end + 1]))
    return frame


def decision_parts(run_dir: Path) -> list[Path]:
    """The complete per-tick Parquet parts of a run (temporary files are not parts)."""
    target = run_dir / DECISIONS
    if target.is_dir():
        return sorted(p for p in target.glob("*.parquet") if p.is_file())
    return [target] if target.is_file() else []


def decisions_dataset(run_dir: Path) -> ds.Dataset | None:
    """The run's decisions as a pyarrow dataset over its complete parts (None when none)."""
    parts = decision_parts(run_dir)
    if not parts:
        return None
    return ds.dataset([str(p) for p in parts], format="parquet")


# ------------------------------------------------------------------------------ overview
@dataclass(frozen=True)
class Overview:
    """What the overview shows for one run (or, for a sweep, all its runs together)."""

    status: str
    ticks_completed: int
    ticks_planned: int
    decisions: int
    override: str
    """The overall override rate as `tinmen report` prints it, e.g. '72.9% (67.0–78.1)'."""
    override_rate: float
    keys: tuple[str, ...]
    metrics: pd.DataFrame
    """The report's 'by condition' table: display strings, one row per condition."""
    series: pd.DataFrame
    """Per tick: override, sided with company, invalid, agency loss (and, with market
    dynamics, `trust <company>` and `share <company>`)."""
    scenario: str = ""
    backends: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def overview(path: str | Path, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Overview:
    """Status, progress, decisions and the conflict metrics by condition of a run or sweep,
    computed exactly as `tinmen report` computes them, and the per-tick series."""
    from analysis.render import fmt_rate
    from analysis.report_sections import condition_keys, metric_display

    root = Path(path)
    runs = load_run(root) if source_kind(root) == "run" else load_runs(root)
    d = runs.decisions
    table = runs.runs
    completed = int(pd.to_numeric(table["ticks_completed"], errors="coerce").fillna(0).sum())
    planned = int(pd.to_numeric(table["ticks_planned"], errors="coerce").fillna(0).sum())
    statuses = table["status"].astype(str).value_counts()
    status = (statuses.index[0] if len(statuses) == 1
              else ", ".join(f"{s}: {n}" for s, n in statuses.items()))
    notes = []
    if len(runs.incomplete):
        notes.append(f"{len(runs.incomplete)} run(s) not completed; showing what they recorded")
    if d.empty:
        keys: list[str] = []
        metrics = pd.DataFrame()
        override, rate = "–", math.nan
    else:
        keys = condition_keys(runs)
        metrics = metric_display(_sorted_summary(d, keys, n_boot, seed), keys)
        overall = summarise(d, None, n_boot=n_boot, seed=seed).iloc[0]
        rate = float(overall["override_rate"])
        override = fmt_rate(rate, overall["override_lo"], overall["override_hi"])
    series = tick_series(runs.run_dirs[0]) if len(runs.run_dirs) == 1 else _mean_series(runs)
    scenario = ", ".join(sorted({str(s) for s in table["scenario_name"].dropna()}))
    backends = ", ".join(sorted({str(b) for b in table["backends"].dropna() if b}))
    return Overview(status=str(status), ticks_completed=completed, ticks_planned=planned,
                    decisions=len(d), override=override, override_rate=rate, keys=tuple(keys),
                    metrics=metrics, series=series, scenario=scenario, backends=backends,
                    notes=tuple(notes))


def _sorted_summary(d: pd.DataFrame, keys: list[str], n_boot: int, seed: int) -> pd.DataFrame:
    from analysis.report_sections import sorted_by as _sorted

    return _sorted(summarise(d, keys, n_boot=n_boot, seed=seed), keys)


def tick_series(run_dir: str | Path) -> pd.DataFrame:
    """Per-tick override, sided-with-company, invalid and agency loss from ticks.csv, and the
    mean trust and share of each company from market.csv when the run has one."""
    run_dir = Path(run_dir)
    ticks = upgrade_ticks(read_complete_csv(run_dir / TICKS))
    if ticks.empty:
        return pd.DataFrame(columns=["tick", *SERIES_COLUMNS.values()])
    out = ticks[["tick", *SERIES_COLUMNS]].rename(columns=SERIES_COLUMNS).set_index("tick")
    market = read_complete_csv(run_dir / MARKET)
    if not market.empty and market["mean_trust"].notna().any():
        for column, label in (("mean_trust", "trust"), ("share", "share")):
            wide = market.pivot_table(index="tick", columns="company", values=column,
                                      aggfunc="mean")
            wide.columns = [f"{label} {c}" for c in wide.columns]
            out = out.join(wide, how="left")
    return out.reset_index()


def _mean_series(runs: Any) -> pd.DataFrame:
    ticks = runs.ticks
    if ticks.empty or "tick" not in ticks:
        return pd.DataFrame(columns=["tick", *SERIES_COLUMNS.values()])
    grouped = ticks.groupby("tick")[list(SERIES_COLUMNS)].mean().rename(columns=SERIES_COLUMNS)
    return grouped.reset_index()


# ------------------------------------------------------------------------------ health
def health(run_dir: str | Path) -> pd.DataFrame:
    """Backend health per tick: requests and tokens per second, retries, re-asks, failures,
    cache hits and prefix share (ticks.csv), and latency percentiles p50/p90/p99 in ms (from
    the decisions' `latency_ms`, the only column read)."""
    run_dir = Path(run_dir)
    ticks = read_complete_csv(run_dir / TICKS)
    columns = ["tick", *HEALTH_COLUMNS.values(), "latency p50", "latency p90", "latency p99"]
    if ticks.empty:
        return pd.DataFrame(columns=columns)
    out = ticks[["tick", *HEALTH_COLUMNS]].rename(columns=HEALTH_COLUMNS)
    dataset = decisions_dataset(run_dir)
    if dataset is not None:
        lat = dataset.to_table(columns=["tick", "latency_ms"]).to_pandas()
        q = lat.groupby("tick")["latency_ms"].quantile([0.5, 0.9, 0.99]).unstack()
        q.columns = ["latency p50", "latency p90", "latency p99"]
        out = out.merge(q.reset_index(), on="tick", how="left")
    for column in columns:
        if column not in out:
            out[column] = math.nan
    return out[columns]


# ------------------------------------------------------------------------------ decisions
def filter_options(run_dir: str | Path) -> dict[str, list[Any]]:
    """The distinct values of each filter column (reads only those columns)."""
    dataset = decisions_dataset(Path(run_dir))
    if dataset is None:
        return {c: [] for c in FILTER_COLUMNS}
    table = dataset.to_table(columns=list(FILTER_COLUMNS))
    out = {}
    for column in FILTER_COLUMNS:
        values = pc.unique(table[column]).to_pylist()
        out[column] = sorted((v for v in values if v is not None), key=_order)
    return out


def _order(value: Any) -> Any:
    from analysis.effects import condition_order

    if isinstance(value, str):
        return (0, condition_order(value), value)
    return (1, 0, value)


def _filter_expression(filters: Mapping[str, Any]) -> ds.Expression | None:
    expression = None
    for column, value in filters.items():
        if column not in FILTER_COLUMNS:
            raise AnalysisError(f"decision filter {column!r}: not a filter column; use one of "
                                f"{', '.join(FILTER_COLUMNS)}")
        if value is None:
            continue
        term = ds.field(column) == pa.scalar(value).cast(_filter_type(column))
        expression = term if expression is None else expression & term
    return expression


def _filter_type(column: str) -> pa.DataType:
    from sim.engine.records import DECISION_SCHEMA

    return DECISION_SCHEMA.field(column).type


@dataclass(frozen=True)
class Page:
    """One page of the decisions table."""

    rows: pd.DataFrame
    total: int
    """Decisions matching the filters."""
    page: int
    pages: int
    page_size: int


def decision_page(run_dir: str | Path, filters: Mapping[str, Any] | None = None, *,
                  page: int = 0, page_size: int = 25) -> Page:
    """Page `page` (from 0) of the decisions matching `filters` ({column: value}, equality),
    in recorded order; reads only TABLE_COLUMNS and converts only the page to pandas."""
    if page_size < 1:
        raise AnalysisError(f"page size must be at least 1, got {page_size}")
    dataset = decisions_dataset(Path(run_dir))
    if dataset is None:
        return Page(pd.DataFrame(columns=list(TABLE_COLUMNS)), 0, 0, 0, page_size)
    table = dataset.to_table(columns=list(TABLE_COLUMNS),
                             filter=_filter_expression(filters or {}))
    total = table.num_rows
    pages = max(1, math.ceil(total / page_size))
    page = min(max(page, 0), pages - 1)
    rows = table.slice(page * page_size, page_size).to_pandas()
    return Page(rows, total, page, pages, page_size)


class TranscriptIndex:
    """decision_id -> byte offset of its line in transcripts.jsonl, kept up to date by
    reading only what was appended since the last look (complete lines only)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / TRANSCRIPTS
        self.offsets: dict[str, int] = {}
        self._end = 0

    def refresh(self) -> None:
        """Index the complete lines written since the last refresh."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size < self._end:  # the file was replaced: start again
            self.offsets.clear()
            self._end = 0
        if size == self._end:
            return
        with self.path.open("rb") as handle:
            handle.seek(self._end)
            position = self._end
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line still being written
                try:
                    decision_id = json.loads(line).get("decision_id")
                except json.JSONDecodeError:
                    decision_id = None
                if decision_id is not None:
                    self.offsets[str(decision_id)] = position
                position += len(line)
            self._end = position

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The transcript record of one decision (messages as stored), None when absent."""
        self.refresh()
        offset = self.offsets.get(decision_id)
        if offset is None:
            return None
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return json.loads(handle.readline())


@dataclass(frozen=True)
class Detail:
    """Everything recorded about one decision."""

    row: dict[str, Any]
    messages: list[dict[str, str]]
    """The full prompt: every message with shared system prompts resolved."""
    answer: str | None
    earlier_answers: list[Any]
    """Answers of earlier asks that could not be read (re-asks), oldest first."""
    parse_method: str | None
    failure: str | None
    probabilities: Any | None
    """The model's choice probabilities when the backend recorded them, else None."""


def decision_detail(run_dir: str | Path, decision_id: str,
                    index: TranscriptIndex | None = None) -> Detail:
    """The decision's row, its full prompt, raw answer, earlier answers of re-asks, how the
    answer was read and (when recorded) the choice probabilities."""
    run_dir = Path(run_dir)
    dataset = decisions_dataset(run_dir)
    if dataset is None:
        raise AnalysisError(f"{run_dir}: no decisions recorded yet")
    found = dataset.to_table(filter=ds.field("decision_id") == decision_id)
    if found.num_rows == 0:
        raise AnalysisError(f"{run_dir}: no decision {decision_id!r}")
    row = found.slice(0, 1).to_pylist()[0]
    record = (index or TranscriptIndex(run_dir)).get(decision_id) or {}
    prompts = read_prompts(run_dir) if record else {}
    messages = [{"role": m["role"], "content": prompts.get(m["ref"], f"[prompt {m['ref']}]")}
                if "ref" in m else m for m in record.get("messages", [])]
    probabilities = choice_probabilities(row) or next(
        (record[k] for k in PROBABILITY_KEYS if record.get(k) is not None), None)
    return Detail(row=row, messages=messages, answer=record.get("answer"),
                  earlier_answers=list(record.get("earlier_answers") or []),
                  parse_method=row.get("parse_method"),
                  failure=row.get("failure") or record.get("failure"),
                  probabilities=probabilities)


def choice_probabilities(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row's `choice_probs` (listing order, then `none`) keyed by product id, with
    `choice_prob_mass` and `choice_probs_kind` when recorded; None when the row has none."""
    probs = row.get("choice_probs")
    if probs is None:
        return None
    labels = [*(str(row.get("listing") or "").split("|")), "none"]
    if len(labels) != len(probs):
        labels = [f"option {i}" for i in range(1, len(probs) + 1)]
    out: dict[str, Any] = {"probabilities": dict(zip(labels, probs, strict=True))}
    for key in ("choice_prob_mass", "choice_probs_kind"):
        if row.get(key) is not None:
            out[key] = row[key]
    return out


def side_by_side(left: tuple[str | Path, Mapping[str, Any]],
                 right: tuple[str | Path, Mapping[str, Any]], *, match: str = "customer_id",
                 limit: int = 20) -> pd.DataFrame:
    """Two selections' answers next to each other, paired by `match`.

    Each selection is (run directory, filters), e.g. two disclosure conditions of one run or
    the same condition in two runs of a sweep. `match="customer_id"` pairs decisions for the
    same customer (first decision of each); `match="customer_group"` pairs the k-th decision
    of each side within the same customer group (the same case of a designed experiment).
    Columns: the match key, then decision_id, choice, outcome and answer of each side.
    """
    if match not in ("customer_id", "customer_group"):
        raise AnalysisError(f"side by side: match must be 'customer_id' or 'customer_group', "
                            f"got {match!r}")
    sides = []
    for run_dir, filters in (left, right):
        page = decision_page(run_dir, filters, page=0, page_size=10**9).rows
        if match == "customer_id":
            page = page.drop_duplicates("customer_id")
            page["_key"] = page["customer_id"]
        else:
            page["_key"] = (page["customer_group"].astype(str) + " #"
                            + (page.groupby("customer_group").cumcount() + 1).astype(str))
        sides.append(page[["_key", "customer_group", "decision_id", "choice", "outcome"]])
    paired = sides[0].merge(sides[1], on="_key", suffixes=(" A", " B")).head(limit)
    index = [TranscriptIndex(left[0]), TranscriptIndex(right[0])]
    for side, idx in zip(("A", "B"), index, strict=True):
        paired[f"answer {side}"] = [(idx.get(d) or {}).get("answer")
                                    for d in paired[f"decision_id {side}"]]
    paired = paired.rename(columns={"_key": match, "customer_group A": "customer group"})
    return paired.drop(columns=["customer_group B"]).reset_index(drop=True)


# ------------------------------------------------------------------------------ sweeps
def read_sweep(sweep_dir: str | Path) -> dict[str, Any]:
    """The parsed sweep.json (a one-line AnalysisError when missing or unreadable)."""
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read ({exc.strerror}); give a directory written "
                            "by `tinmen sweep`") from exc
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc.msg}); the sweep directory is "
                            "damaged") from exc
    return data


def sweep_cells(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per cell of the plan: its values, runs planned / completed / running / failed,
    ticks done of planned and decisions (from each run's manifest, so runs in progress
    count their completed ticks)."""
    root = Path(sweep_dir)
    sweep = read_sweep(root)
    cells = {c["index"]: c.get("values", {}) for c in sweep.get("cells", [])}
    rows = {i: {"cell": i, **{k: _show(v) for k, v in values.items()}, "runs": 0,
                "completed": 0, "running": 0, "failed": 0, "pending": 0, "ticks": 0,
                "ticks planned": 0, "decisions": 0} for i, values in cells.items()}
    for run in sweep.get("runs", []):
        row = rows.setdefault(run.get("cell_index"), {"cell": run.get("cell_index"),
                                                      "runs": 0, "completed": 0, "running": 0,
                                                      "failed": 0, "pending": 0, "ticks": 0,
                                                      "ticks planned": 0, "decisions": 0})
        row["runs"] += 1
        run_dir = root / str(run.get("run_dir") or f"runs/{run.get('run_id')}")
        manifest = _manifest_or_none(run_dir)
        status = (manifest or {}).get("status") or run.get("status", "pending")
        status = status if status in ("completed", "running", "failed") else (
            "failed" if status == "interrupted" else "pending")
        row[status] += 1
        row["ticks planned"] += int(run.get("ticks") or (manifest or {}).get("ticks_planned")
                                    or 0)
        if manifest:
            row["ticks"] += int(manifest.get("ticks_completed") or 0)
            row["decisions"] += int(manifest.get("decisions") or 0)
    frame = pd.DataFrame([rows[k] for k in sorted(rows, key=lambda k: (k is None, k))])
    if not frame.empty:
        frame["progress"] = frame["ticks"] / frame["ticks planned"].where(
            frame["ticks planned"] > 0)
    return frame


def _show(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def _manifest_or_none(run_dir: Path) -> dict[str, Any] | None:
    if not (run_dir / MANIFEST).is_file():
        return None
    try:
        return read_manifest(run_dir)
    except AnalysisError:
        return None  # being replaced this instant; the next refresh reads it


def sweep_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per run of the sweep: run_id, cell, replicate, status, ticks, decisions and
    its directory (for the drill-down)."""
    root = Path(sweep_dir)
    rows = []
    for run in read_sweep(root).get("runs", []):
        run_dir = root / str(run.get("run_dir") or f"runs/{run.get('run_id')}")
        manifest = _manifest_or_none(run_dir) or {}
        rows.append({
            "run_id": run.get("run_id"), "cell": run.get("cell_index"),
            **{k: _show(v) for k, v in (run.get("cell") or {}).items()},
            "replicate": run.get("replicate"),
            "status": manifest.get("status") or run.get("status"),
            "ticks": f"{manifest.get('ticks_completed', 0)}/{run.get('ticks') or '?'}",
            "decisions": manifest.get("decisions", 0), "run_dir": str(run_dir),
        })
    return pd.DataFrame(rows)


def sweep_knobs(sweep_dir: str | Path) -> list[str]:
    """The sweep's varied keys whose values are all numbers (candidates for a knob curve)."""
    sweep = read_sweep(sweep_dir)
    values: dict[str, list[Any]] = {}
    for cell in sweep.get("cells", []):
        for key, value in (cell.get("values") or {}).items():
            values.setdefault(key, []).append(value)
    return [k for k, v in values.items()
            if len(set(map(str, v))) > 1
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)]


def knob_curve(sweep_dir: str | Path, knob: str, metric: str = "override_rate", *,
               n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """`metric` (a column of `summarise`, see KNOB_METRICS) at each value of `knob` over the
    sweep's recorded decisions, with its 95% interval: columns knob, value, lo, hi, n."""
    if metric not in KNOB_METRICS:
        raise AnalysisError(f"knob curve: unknown metric {metric!r}; use one of "
                            f"{', '.join(KNOB_METRICS)}")
    runs = load_runs(Path(sweep_dir))
    d = runs.decisions
    if knob not in d:
        raise AnalysisError(f"knob curve: {knob!r} is not a swept key of {sweep_dir}; use one "
                            f"of {', '.join(runs.cell_columns) or 'none'}")
    if d.empty:
        return pd.DataFrame(columns=[knob, "value", "lo", "hi", "n"])
    table = summarise(d.assign(**{knob: pd.to_numeric(d[knob])}), knob, n_boot=n_boot,
                      seed=seed)
    base = metric.removesuffix("_rate")
    lo, hi = (f"{base}_lo", f"{base}_hi")
    return pd.DataFrame({knob: table[knob], "value": table[metric], "lo": table[lo],
                         "hi": table[hi], "n": table["n"]})
