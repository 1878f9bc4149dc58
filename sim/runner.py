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
from pydantic import ValidationError

from agents.backends.base import (
    LLM_BACKENDS,
    Backend,
    BackendCreationError,
    FatalBackendError,
    create_backend,
)
from agents.backends.cache import CachedBackend, KeyRecipe, ReplayBackend, ResponseCache
from agents.backends.options import BackendOptions
from agents.backends.wrappers import MeteredBackend, ReaskingBackend
from sim.config import AgentSpec, Scenario
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

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        return [
            f"run {self.status}: {self.ticks} ticks, {self.decisions} decisions "
            f"in {self.wall_s:.1f}s",
            f"override rate {pct(self.override_rate)}, sided with company "
            f"{pct(self.sided_with_company_rate)}, invalid {pct(self.invalid_rate)}",
            f"files: {self.run_dir}/ (manifest.json, decisions.parquet, transcripts.jsonl, "
            "ticks.csv)",
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
                   options: Mapping[str, Any] | None = None, cache: str | Path | None = None,
                   fresh: bool = False) -> dict[str, Backend]:
    """One backend per distinct (name, model, options) among the agents, shared by them.

    `backend` and `model` override every agent's choice (the CLI's --backend / --model);
    `options` overrides fields of every agent's `backend_options` (the CLI's --base-url,
    --max-concurrency, ...). LLM backends are wrapped, innermost first, in the response cache
    (when `cache` is given), the re-ask wrapper and the accounting wrapper; `--backend replay`
    answers from `cache` only.
    """
    if fresh and cache is None:
        raise BackendError("--fresh: it bypasses the response cache, so it needs --cache PATH")
    created: dict[tuple[Any, ...], Backend] = {}
    by_agent: dict[str, Backend] = {}
    try:
        for spec in scenario.agents:
            name = backend or spec.backend
            model_name = model if model is not None else spec.model
            if name not in LLM_BACKENDS:
                key: tuple[Any, ...] = (name, model_name)
                if key not in created:
                    created[key] = MeteredBackend(create_backend(name, model=model_name))
            else:
                opts = effective_options(spec, options)
                key = (name, model_name, opts)
                if key not in created:
                    created[key] = _llm_backend(name, model_name, opts, cache, fresh)
            by_agent[spec.id] = created[key]
    except BaseException as exc:
        for made in created.values():
            made.close()
        if isinstance(exc, BackendCreationError):
            raise BackendError(f"agents.{spec.id}.backend ({name}): {exc}") from exc
        raise
    if cache is not None and not any(k[0] in LLM_BACKENDS for k in created):
        raise BackendError(
            f"--cache {cache}: no agent uses an LLM backend ({', '.join(sorted(LLM_BACKENDS))}), "
            "so there is nothing to cache; drop --cache or pass --backend"
        )
    return by_agent


def effective_options(spec: AgentSpec, overrides: Mapping[str, Any] | None) -> BackendOptions:
    """An agent's backend options with the command line's overrides applied and validated."""
    if not overrides:
        return spec.backend_options
    merged = {**spec.backend_options.model_dump(), **overrides}
    try:
        return BackendOptions.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if field and field.split(".")[0] in overrides:
            flag = "--" + field.split(".")[0].replace("_", "-")
            raise BackendError(f"{flag} {error.get('input')!r}: {message}") from exc
        raise BackendError(
            f"agents.{spec.id}.backend_options with the command-line flags: {message}"
        ) from exc


def _llm_backend(name: str, model: str | None, opts: BackendOptions,
                 cache: str | Path | None, fresh: bool) -> Backend:
    """Create one LLM backend and wrap it: cache, re-ask, accounting."""
    inner: Backend
    if name == "replay":
        if cache is None:
            raise BackendCreationError(
                "--backend replay answers from a response cache; give --cache PATH")
        if fresh:
            raise BackendCreationError("--fresh cannot be combined with --backend replay")
        inner = ReplayBackend(model, cache=ResponseCache(cache, must_exist=True), options=opts)
    else:
        inner = create_backend(name, model=model, options=opts)
        if cache is not None:
            try:
                store = ResponseCache(cache)
            except BackendCreationError:
                inner.close()
                raise
            inner = CachedBackend(inner, store, KeyRecipe.from_options(model, opts),
                                  fresh=fresh)
    if opts.retry_invalid > 0:
        inner = ReaskingBackend(inner, opts.retry_invalid)
    return MeteredBackend(inner, opts)


def describe_backends(backends: Mapping[str, Backend]) -> list[dict[str, Any]]:
    """Manifest entries: each distinct backend, its agents and its settings (never a key)."""
    entries: dict[int, dict[str, Any]] = {}
    for agent_id, b in backends.items():
        entry = entries.get(id(b))
        if entry is None:
            describe = getattr(b, "describe", None)
            entry = {"name": b.name, "model": b.model, "agents": [],
                     "settings": describe() if describe else {}}
            entries[id(b)] = entry
        entry["agents"].append(agent_id)
    return list(entries.values())


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
    try:
        recorder = RunRecorder(out_dir, overwrite=overwrite)
    except BaseException:
        for b in distinct.values():
            b.close()
        raise
    recorder.start({
        "tinmen_run": 1,
        "scenario_name": scenario.name,
        "scenario_file": source,
        "scenario_hash": scenario_hash(scenario),
        "overrides": list(overrides),
        "root_seed": scenario.run.seed,
        "ticks_planned": scenario.run.ticks,
        "backends": describe_backends(backends),
        "backend_flags": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in (backend_options or {}).items()},
        "cache": str(cache) if cache is not None else None,
        "fresh": fresh,
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
    except FatalBackendError as exc:
        raise BackendError(str(exc)) from exc
    finally:
        for b in distinct.values():
            b.close()
        usage = [{"name": b.name, "model": b.model, **b.usage.as_dict()}
                 for b in distinct.values() if isinstance(b, MeteredBackend)]
        manifest = recorder.finish(status, wall_s=round(time.perf_counter() - started, 3),
                                   backends=describe_backends(backends), backend_usage=usage)
    return summarise(Path(out_dir), manifest)


def summarise(run_dir: Path, manifest: Mapping[str, Any]) -> RunSummary:
    """Summarise a finished run from its files."""
    table = pd.read_parquet(run_dir / DECISIONS, columns=["override", "sided_with_company",
                                                          "valid"])
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
    )


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="tick", disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)
