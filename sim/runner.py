"""Run one scenario end to end: backends, model, recorder, progress bar, summary."""

from __future__ import annotations

import functools
import json
import platform
import sys
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


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = [("python", platform.python_version())]
    for name in VERSIONED_PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return tuple(versions)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run's results.

    Read once per process (reading package metadata is slow, and a sweep starts many runs).
    """
    return dict(_installed_versions())


def options_key(options: Mapping[str, Any] | None) -> str:
    """A hashable, order-independent key for backend options."""
    return json.dumps(dict(options or {}), sort_keys=True, default=repr)


class BackendPool:
    """Backends shared by every run that asks for the same (name, model, options).

    A sweep keeps one pool for all its runs, so runs that use the same server or local model
    share one backend object, and a lockstep tick sends them ONE batch. `preset` registers
    ready-made backends under (name, model) (tests use it to count calls).
    """

    def __init__(self, options: Mapping[str, Any] | None = None, *,
                 preset: Mapping[tuple[str, str | None], Backend] | None = None) -> None:
        self.options = dict(options or {})
        self._backends: dict[tuple[str, str | None, str], Backend] = {}
        for (name, model), backend in (preset or {}).items():
            self._backends[(name, model, options_key(self.options))] = backend

    def get(self, name: str, model: str | None, options: Mapping[str, Any] | None = None,
            *, where: str = "backend") -> Backend:
        """The shared backend for (name, model, options), created on first use."""
        merged = {**self.options, **dict(options or {})}
        key = (name, model, options_key(merged))
        if key not in self._backends:
            try:
                self._backends[key] = create_backend(name, model=model, **merged)
            except BackendCreationError as exc:
                raise BackendError(f"{where}: {exc}") from exc
        return self._backends[key]

    def for_scenario(self, scenario: Scenario, *, backend: str | None = None,
                     model: str | None = None) -> dict[str, Backend]:
        """Map every agent spec id of `scenario` to its (shared) backend.

        `backend` and `model` override every agent's choice (the CLI's --backend / --model).
        """
        return {
            spec.id: self.get(backend or spec.backend,
                              model if model is not None else spec.model,
                              where=f"agents.{spec.id}.backend")
            for spec in scenario.agents
        }

    def backends(self) -> list[Backend]:
        """Every backend created so far, once each."""
        return list({id(b): b for b in self._backends.values()}.values())

    def close(self) -> None:
        """Close every backend in the pool."""
        for backend in self.backends():
            backend.close()
        self._backends.clear()


def build_backends(scenario: Scenario, *, backend: str | None = None, model: str | None = None,
                   options: Mapping[str, Any] | None = None) -> dict[str, Backend]:
    """One backend per distinct (name, model) among the agents, shared by those agents.

    `backend` and `model` override every agent's choice (the CLI's --backend / --model).
    """
    return BackendPool(options).for_scenario(scenario, backend=backend, model=model)


def run_manifest(scenario: Scenario, backends: Mapping[str, Backend], *, source: str = "",
                 overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The manifest fields that describe what a run is (the recorder adds its status)."""
    distinct = {id(b): b for b in backends.values()}
    return {
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
    }


def open_run(scenario: Scenario, out_dir: str | Path, *, backends: Mapping[str, Backend],
             source: str = "", overrides: Sequence[str] = (), overwrite: bool = False,
             replicate: int = 0, extra: Mapping[str, Any] | None = None
             ) -> tuple[MarketModel, RunRecorder]:
    """Start a run without running it: write its manifest and build its model.

    The caller advances the model (`model.step()`, or `prepare_next_tick` + `step(answers)`
    in lockstep with other runs) and ends the run with `close_run`. `extra` adds manifest
    fields (a sweep adds `sweep`). If the model cannot be built, the run is recorded as
    failed and the error re-raised.
    """
    recorder = RunRecorder(out_dir, overwrite=overwrite)
    recorder.start({**run_manifest(scenario, backends, source=source, overrides=overrides),
                    **dict(extra or {})})
    try:
        model = MarketModel(scenario, backends, recorder, replicate=replicate)
    except KeyboardInterrupt:
        close_run(recorder, "interrupted")
        raise
    except BaseException as exc:
        close_run(recorder, "failed", f"{type(exc).__name__}: {exc}")
        raise
    return model, recorder


def close_run(recorder: RunRecorder, status: str, error: str | None = None) -> dict[str, Any]:
    """End a run opened by `open_run`: write its final manifest with `status`.

    `status` is `completed`, `failed` or `interrupted`; `error` says why a run failed.
    """
    extra: dict[str, Any] = {"wall_s": round(recorder.elapsed_s(), 3)}
    if error is not None:
        extra["error"] = error
    return recorder.finish(status, **extra)


def run_scenario(scenario: Scenario, out_dir: str | Path, *, source: str = "",
                 overrides: Sequence[str] = (), backends: Mapping[str, Backend] | None = None,
                 backend: str | None = None, model: str | None = None,
                 overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Run `scenario` to completion, streaming records into `out_dir`."""
    backends = dict(backends) if backends is not None else build_backends(
        scenario, backend=backend, model=model)
    distinct = {id(b): b for b in backends.values()}
    try:
        model_, recorder = open_run(scenario, out_dir, backends=backends, source=source,
                                    overrides=overrides, overwrite=overwrite)
    except BaseException:
        for b in distinct.values():
            b.close()
        raise
    status = "failed"
    error: str | None = None
    try:
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
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for b in distinct.values():
            b.close()
        manifest = close_run(recorder, status, error)
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
