"""Run one scenario end to end: backends, model, recorder, progress bar, summary."""

from __future__ import annotations

import functools
import json
import platform
import sys
from collections.abc import Mapping, Sequence
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

    @property
    def all_failed(self) -> bool:
        """Every decision's request failed (the backend never answered any of them)."""
        return self.decisions > 0 and self.failed == self.decisions

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        rates = (f"override rate {pct(self.override_rate)}, sided with company "
                 f"{pct(self.sided_with_company_rate)}, invalid {pct(self.invalid_rate)}")
        if self.injection_success_rate is not None:
            rates += f", injection success {pct(self.injection_success_rate)}"
        failures = ([f"{self.failed} of {self.decisions} requests failed; most common reason: "
                     f"{self.top_failure}"] if self.failed else [])
        return [
            f"run {self.status}: {self.ticks} ticks, {self.decisions} decisions "
            f"in {self.wall_s:.1f}s",
            rates,
            *failures,
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


def options_key(options: Mapping[str, Any] | None) -> str:
    """A hashable, order-independent key for backend options."""
    return json.dumps(dict(options or {}), sort_keys=True, default=repr)


class BackendPool:
    """Backends shared by every run that asks for the same (name, model, options).

    A sweep keeps one pool for all its runs, so runs that use the same server or local model
    share one backend object, and a lockstep tick sends them ONE batch. `options` are the
    command line's backend flags, applied over every agent's `backend_options`; `cache` and
    `fresh` put LLM backends behind the response cache. `preset` registers ready-made
    backends under (name, model) (tests use it to count calls).
    """

    def __init__(self, options: Mapping[str, Any] | None = None, *,
                 cache: str | Path | None = None, fresh: bool = False,
                 preset: Mapping[tuple[str, str | None], Backend] | None = None) -> None:
        if fresh and cache is None:
            raise BackendError("--fresh: it bypasses the response cache, so it needs "
                               "--cache PATH")
        self.options = dict(options or {})
        self.cache = cache
        self.fresh = fresh
        self._backends: dict[tuple[Any, ...], Backend] = {}
        for (name, model), backend in (preset or {}).items():
            self._backends[(name, model)] = backend

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any] | None) -> BackendPool:
        """A pool from the command line's backend flags: option fields plus `cache`/`fresh`.

        This is the one mapping a sweep hands to its executors (worker processes and Ray
        tasks included), so every share of a sweep builds the same backends.
        """
        options = dict(flags or {})
        cache = options.pop("cache", None)
        fresh = bool(options.pop("fresh", False))
        return cls(options, cache=cache, fresh=fresh)

    def get(self, name: str, model: str | None, spec: AgentSpec | None = None, *,
            where: str = "backend") -> Backend:
        """The shared backend for (name, model, effective options), created on first use."""
        if (name, model) in self._backends:  # preset, or a backend that takes no options
            return self._backends[(name, model)]
        try:
            if name not in LLM_BACKENDS:
                backend = MeteredBackend(create_backend(name, model=model))
                self._backends[(name, model)] = backend
                return backend
            opts = effective_options(spec, self.options)
            key = (name, model, opts)
            if key not in self._backends:
                self._backends[key] = _llm_backend(name, model, opts, self.cache, self.fresh)
            return self._backends[key]
        except BackendCreationError as exc:
            raise BackendError(f"{where} ({name}): {exc}") from exc

    def for_scenario(self, scenario: Scenario, *, backend: str | None = None,
                     model: str | None = None) -> dict[str, Backend]:
        """Map every agent spec id of `scenario` to its (shared) backend.

        `backend` and `model` override every agent's choice (the CLI's --backend / --model).
        """
        return {
            spec.id: self.get(backend or spec.backend,
                              model if model is not None else spec.model, spec,
                              where=f"agents.{spec.id}.backend")
            for spec in scenario.agents
        }

    def backends(self) -> list[Backend]:
        """Every backend created so far, once each."""
        return list({id(b): b for b in self._backends.values()}.values())

    def uses_llm(self) -> bool:
        """Whether any backend created so far calls a language model."""
        return any(isinstance(k[0], str) and k[0] in LLM_BACKENDS for k in self._backends)

    def close(self) -> None:
        """Close every backend in the pool."""
        for backend in self.backends():
            backend.close()
        self._backends.clear()


def build_backends(scenario: Scenario, *, backend: str | None = None, model: str | None = None,
                   options: Mapping[str, Any] | None = None, cache: str | Path | None = None,
                   fresh: bool = False) -> dict[str, Backend]:
    """One backend per distinct (name, model, options) among the agents, shared by them.

    `backend` and `model` override every agent's choice (the CLI's --backend / --model);
    `options` override every agent's `backend_options`; `cache` / `fresh` put LLM backends
    behind the response cache.
    """
    pool = BackendPool(options, cache=cache, fresh=fresh)
    try:
        by_agent = pool.for_scenario(scenario, backend=backend, model=model)
        if cache is not None and not pool.uses_llm():
            raise BackendError(
                f"--cache {cache}: no agent uses an LLM backend "
                f"({', '.join(sorted(LLM_BACKENDS))}), so there is nothing to cache; "
                "drop --cache or pass --backend")
    except BaseException:
        pool.close()
        raise
    return by_agent


FLAG_NAMES = {"timeout_s": "--timeout", "base_urls": "--base-url"}
"""Backend-option fields whose command-line flag is not the field's name."""


def effective_options(spec: AgentSpec | None, overrides: Mapping[str, Any] | None
                      ) -> BackendOptions:
    """An agent's backend options with the command line's overrides applied and validated."""
    base = spec.backend_options if spec is not None else BackendOptions()
    if not overrides:
        return base
    merged = {**base.model_dump(), **overrides}
    try:
        return BackendOptions.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if field and field.split(".")[0] in overrides:
            name = field.split(".")[0]
            flag = FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
            raise BackendError(f"{flag} {error.get('input')!r}: {message}") from exc
        where = f"agents.{spec.id}.backend_options" if spec is not None else "backend options"
        raise BackendError(f"{where} with the command-line flags: {message}") from exc


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
    recorder = RunRecorder(out_dir, overwrite=overwrite,
                           max_answer_chars=scenario.run.max_stored_answer_chars)
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


def summarise(run_dir: Path, manifest: Mapping[str, Any]) -> RunSummary:
    """Summarise a finished run from its files."""
    table = pd.read_parquet(run_dir / DECISIONS, columns=[
        "override", "sided_with_company", "valid", "injection_success", "outcome", "failure"])
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
    )


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="tick", disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)
