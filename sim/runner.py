"""Run one scenario end to end: backends, model, recorder, progress bar, summary."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from agents.backends.base import Backend, BackendCreationError, create_backend
from sim.config import Scenario
from sim.errors import BackendError
from sim.loader import scenario_hash
from sim.model import MarketModel
from sim.recorder import RunRecorder
from sim.records import DECISIONS

VERSIONED_PACKAGES = ("tinmen", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "openai")

BackendFactory = Callable[[str, "str | None"], Backend]


@dataclass(frozen=True)
class RunSummary:
    """What the CLI prints after a run."""

    run_dir: Path
    status: str
    ticks: int
    decisions: int
    override_rate: float | None
    sided_with_company_rate: float | None
    invalid_rate: float | None
    wall_s: float
    injection_success_rate: float | None = None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        rates = (f"override rate {pct(self.override_rate)}, sided with company "
                 f"{pct(self.sided_with_company_rate)}, invalid {pct(self.invalid_rate)}")
        if self.injection_success_rate is not None:
            rates += f", injection success {pct(self.injection_success_rate)}"
        return [
            f"run {self.status}: {self.ticks} ticks, {self.decisions} decisions "
            f"in {self.wall_s:.1f}s",
            rates,
            f"files: {self.run_dir}/ (manifest.json, decisions.parquet, transcripts.jsonl, "
            "ticks.csv, market.csv, sanctions.csv)",
        ]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run's results."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_backends(scenario: Scenario, *, backend: str | None = None, model: str | None = None,
                   options: Mapping[str, Any] | None = None) -> dict[str, Backend]:
    """One backend per distinct (name, model) among the agents, shared by those agents.

    `backend` and `model` override every agent's choice (the CLI's --backend / --model).
    """
    created: dict[tuple[str, str | None], Backend] = {}
    by_agent: dict[str, Backend] = {}
    for spec in scenario.agents:
        key = (backend or spec.backend, model if model is not None else spec.model)
        if key not in created:
            try:
                created[key] = create_backend(key[0], model=key[1], **dict(options or {}))
            except BackendCreationError as exc:
                raise BackendError(f"agents.{spec.id}.backend: {exc}") from exc
        by_agent[spec.id] = created[key]
    return by_agent


def run_scenario(scenario: Scenario, out_dir: str | Path, *, source: str = "",
                 overrides: Sequence[str] = (), backends: Mapping[str, Backend] | None = None,
                 backend: str | None = None, model: str | None = None,
                 overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Run `scenario` to completion, streaming records into `out_dir`."""
    backends = dict(backends) if backends is not None else build_backends(
        scenario, backend=backend, model=model)
    recorder = RunRecorder(out_dir, overwrite=overwrite)
    distinct = {id(b): b for b in backends.values()}
    recorder.start({
        "tinmen_run": 1,
        "scenario_name": scenario.name,
        "scenario_file": source,
        "scenario_hash": scenario_hash(scenario),
        "overrides": list(overrides),
        "root_seed": scenario.run.seed,
        "ticks_planned": scenario.run.ticks,
        "backends": [{"name": b.name, "model": b.model} for b in distinct.values()],
        "command": sys.argv,
        "versions": package_versions(),
        "config": scenario.model_dump(mode="json"),
    })
    started = time.perf_counter()
    status = "failed"
    try:
        model_ = MarketModel(scenario, backends, recorder)
        bar = _progress_bar(scenario.run.ticks, progress)
        while model_.running:
            model_.step()
            stats = model_.last_result.stats if model_.last_result else {}
            rate = stats.get("decisions", 0) / max(stats.get("wall_s", 1.0), 1e-9)
            bar.set_postfix(decisions=stats.get("decisions", 0), per_s=f"{rate:.0f}")
            bar.update(1)
        bar.close()
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        for b in distinct.values():
            b.close()
        manifest = recorder.finish(status, wall_s=round(time.perf_counter() - started, 3))
    return summarise(Path(out_dir), manifest)


def summarise(run_dir: Path, manifest: Mapping[str, Any]) -> RunSummary:
    """Summarise a finished run from its files."""
    table = pd.read_parquet(run_dir / DECISIONS, columns=["override", "sided_with_company",
                                                          "valid", "injection_success"])
    def mean(column: str) -> float | None:
        values = table[column].dropna()
        return float(values.astype(float).mean()) if len(values) else None

    return RunSummary(
        run_dir=run_dir,
        status=str(manifest.get("status")),
        ticks=int(manifest.get("ticks_completed", 0)),
        decisions=len(table),
        override_rate=mean("override"),
        sided_with_company_rate=mean("sided_with_company"),
        invalid_rate=float(1 - table["valid"].mean()) if len(table) else None,
        wall_s=float(manifest.get("wall_s", 0.0)),
        injection_success_rate=mean("injection_success"),
    )


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="tick", disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)
