"""Run one scenario end to end: backends, model, recorder, progress bar, summary."""

from __future__ import annotations

import functools
import platform
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from agents.backends.base import Backend
from agents.backends.batch import generate_batched
from agents.backends.pool import build_backends
from agents.backends.wrappers import MeteredBackend
from agents.errors import BackendError, FatalBackendError
from agents.types import DecisionRequest
from sim.engine.model import MarketModel
from sim.engine.reading import deferral_text, reading_lines, reading_mix
from sim.engine.recorder import RunRecorder
from sim.engine.records import DECISIONS
from sim.scenario.loader import scenario_hash
from sim.scenario.schema import Scenario

VERSIONED_PACKAGES = ("tinmen", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "openai")


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
    failed: int = 0
    top_failure: str | None = None
    reading: Mapping[str, int] | None = None  # answers per reading method (sim.engine.reading)

    @property
    def all_failed(self) -> bool:
        """Every decision's request failed (the backend never answered any of them)."""
        return self.decisions > 0 and self.failed == self.decisions

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        rates = (f"override rate {pct(self.override_rate)}, sided with company "
                 f"{pct(self.sided_with_company_rate)}, invalid {pct(self.invalid_rate)}"
                 f"{deferral_text(self.reading or {})}")
        if self.injection_success_rate is not None:
            rates += f", injection success {pct(self.injection_success_rate)}"
        failures = ([f"{self.failed} of {self.decisions} requests failed; most common reason: "
                     f"{self.top_failure}"] if self.failed else [])
        return [
            f"run {self.status}: {self.ticks} ticks, {self.decisions} decisions "
            f"in {self.wall_s:.1f}s",
            rates,
            *failures,
            *reading_lines(self.reading or {}),
            f"files: {self.run_dir}/ (manifest.json, decisions.parquet, transcripts.jsonl, "
            "prompts.jsonl, ticks.csv, market.csv, sanctions.csv)",
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


def describe_backends(backends: Mapping[str, Backend]) -> list[dict[str, Any]]:
    """Manifest entries: each distinct backend, its agents and its settings (never a key)."""
    entries: dict[int, dict[str, Any]] = {}
    for agent_id, b in backends.items():
        entry = entries.get(id(b))
        if entry is None:
            entry = {"name": b.name, "model": b.model, "agents": [],
                     "settings": b.describe()}
            entries[id(b)] = entry
        entry["agents"].append(agent_id)
    return list(entries.values())


def backend_usage(backends: Mapping[str, Backend]) -> list[dict[str, Any]]:
    """Requests, retries, tokens and time per distinct metered backend (for the manifest)."""
    distinct = {id(b): b for b in backends.values()}.values()
    return [{"name": b.name, "model": b.model, **b.usage.as_dict()}
            for b in distinct if isinstance(b, MeteredBackend)]


def run_manifest(scenario: Scenario, backends: Mapping[str, Backend], *, source: str = "",
                 overrides: Sequence[str] = (), backend_flags: Mapping[str, Any] | None = None,
                 cache: str | Path | None = None, fresh: bool = False) -> dict[str, Any]:
    """The manifest fields that describe what a run is (the recorder adds its status)."""
    return {
        "tinmen_run": 1,
        "scenario_name": scenario.name,
        "scenario_file": source,
        "scenario_hash": scenario_hash(scenario),
        "overrides": list(overrides),
        "root_seed": scenario.run.seed,
        "ticks_planned": scenario.run.ticks,
        "backends": describe_backends(backends),
        "backend_flags": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in (backend_flags or {}).items()},
        "cache": str(cache) if cache is not None else None,
        "fresh": fresh,
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
    fields (a sweep adds `sweep`; `run_scenario` adds the backend flags). If the model cannot
    be built, the run is recorded as failed and the error re-raised.
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


def close_run(recorder: RunRecorder, status: str, error: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """End a run opened by `open_run`: write its final manifest with `status`.

    `status` is `completed`, `failed` or `interrupted`; `error` says why a run failed;
    `extra` adds manifest fields (e.g. `backend_usage`).
    """
    fields: dict[str, Any] = {"wall_s": round(recorder.elapsed_s(), 3), **extra}
    if error is not None:
        fields["error"] = error
    return recorder.finish(status, **fields)


def run_scenario(scenario: Scenario, out_dir: str | Path, *, source: str = "",
                 overrides: Sequence[str] = (), backends: Mapping[str, Backend] | None = None,
                 backend: str | None = None, model: str | None = None,
                 backend_options: Mapping[str, Any] | None = None,
                 cache: str | Path | None = None, fresh: bool = False,
                 overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Run `scenario` to completion, streaming records into `out_dir`.

    `backend_options`, `cache` and `fresh` are the command line's backend flags (see
    `build_backends`); they are ignored when ready-made `backends` are given.
    """
    backends = dict(backends) if backends is not None else build_backends(
        scenario, backend=backend, model=model, options=backend_options, cache=cache,
        fresh=fresh)
    distinct = {id(b): b for b in backends.values()}
    flags = {k: list(v) if isinstance(v, tuple) else v
             for k, v in (backend_options or {}).items()}
    try:
        model_, recorder = open_run(
            scenario, out_dir, backends=backends, source=source, overrides=overrides,
            overwrite=overwrite,
            extra={"backend_flags": flags, "cache": str(cache) if cache else None,
                   "fresh": fresh})
    except BaseException:
        for b in distinct.values():
            b.close()
        raise
    status = "failed"
    error: str | None = None
    try:
        bar = _progress_bar(scenario.run.ticks, progress)
        while model_.running:
            step = advance([model_])
            if step.failures:
                raise step.failures[0]
            stats = model_.last_result.stats if model_.last_result else {}
            rate = stats.get("decisions", 0) / max(stats.get("wall_s", 1.0), 1e-9)
            bar.set_postfix(decisions=stats.get("decisions", 0), per_s=f"{rate:.0f}")
            bar.update(1)
        bar.close()
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except FatalBackendError as exc:
        error = str(exc)
        raise BackendError(str(exc)) from exc
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for b in distinct.values():
            b.close()
        manifest = close_run(recorder, status, error, backends=describe_backends(backends),
                             backend_usage=backend_usage(backends))
    return summarise(Path(out_dir), manifest)


@dataclass
class Step:
    """What one `advance` did: the shared batch and the models that failed in it."""

    prepared: int
    """Models whose tick was prepared (and so took part in the batch)."""
    requests: int
    backend_calls: int
    backend_s: float
    batch_sizes: Counter[str]
    """Requests per `backend/model` in the shared batch."""
    failures: dict[int, Exception] = field(default_factory=dict)
    """Index (in the `models` given) -> the exception that stopped that model this step."""


def advance(models: Sequence[MarketModel]) -> Step:
    """Advance every model one tick, answered by ONE batch per backend: the one tick driver.

    Each model prepares its tick (`prepare_next_tick`), all requests go out together through
    `generate_batched`, and each model completes its tick with its own slice (`step(answers)`).
    A single run passes one model; a lockstep sweep passes all its active runs. A model whose
    preparation or completion raises is reported in `failures` and the others go on;
    `FatalBackendError` and interrupts end the step for everyone.
    """
    requests: list[DecisionRequest] = []
    owners: list[Backend] = []
    spans: list[tuple[int, int, int]] = []
    failures: dict[int, Exception] = {}
    for k, model in enumerate(models):
        try:
            batch = model.prepare_next_tick()
            backends = model.pending_backends(model.pending)
        except Exception as exc:  # noqa: BLE001 - fail this model only
            failures[k] = exc
            continue
        spans.append((k, len(requests), len(batch)))
        requests.extend(batch)
        owners.extend(backends)
    started = time.perf_counter()
    completions, calls = generate_batched(requests, owners)
    backend_s = time.perf_counter() - started
    for k, start, n in spans:
        own_calls = len({id(b) for b in owners[start:start + n]})
        try:
            models[k].step(completions[start:start + n], backend_s=backend_s,
                           backend_calls=own_calls)
        except Exception as exc:  # noqa: BLE001 - fail this model only
            failures[k] = exc
    sizes = Counter(f"{b.name}/{b.model}" for b in owners)
    return Step(len(spans), len(requests), calls, backend_s, sizes, failures)


def summarise(run_dir: Path, manifest: Mapping[str, Any]) -> RunSummary:
    """Summarise a finished run from its files."""
    table = pd.read_parquet(run_dir / DECISIONS, columns=[
        "override", "sided_with_company", "valid", "injection_success", "outcome", "failure",
        "parse_method"])
    failed = table.loc[table["outcome"] == "failed", "failure"]
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
        failed=len(failed),
        top_failure=str(failed.value_counts().index[0]) if len(failed) else None,
        reading=reading_mix(table["parse_method"]),
    )


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="tick", disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)
