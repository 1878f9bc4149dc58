"""Backend assembly: the shared pool, option resolution and the wrapper order.

Runs that ask for the same (name, model, effective options) share one backend object, so a
lockstep tick sends them ONE batch. LLM backends are wrapped, innermost first, as
`MeteredBackend(ReaskingBackend(CachedBackend(model backend)))`. The command line's backend
flags (a `BackendOverrides`, validated at the command-line edge) are applied over each agent's
`BackendOptions`; the combination is checked here, naming the flag.

Agents are described by the small `AgentBackendSpec` protocol (the scenario schema's agent
entries satisfy it), so this module needs nothing from the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from agents.backends.base import LLM_BACKENDS, Backend, create_backend
from agents.backends.cache import CachedBackend, KeyRecipe, ReplayBackend, ResponseCache
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides, flag_name, validation_message
from agents.backends.preflight import PREFLIGHT_TIMEOUT_S, check_servers
from agents.backends.wrappers import MeteredBackend, ReaskingBackend
from agents.errors import BackendCreationError, BackendError


class AgentBackendSpec(Protocol):
    """What the pool reads of one agent entry: its id, backend, model and options."""

    id: str
    backend: str
    model: str | None
    backend_options: BackendOptions


class AgentsSpec(Protocol):
    """What the pool reads of a scenario: its agent entries."""

    @property
    def agents(self) -> Sequence[AgentBackendSpec]:
        """The agent entries."""
        ...


def options_key(options: Mapping[str, Any] | None) -> str:
    """A hashable, order-independent key for backend options."""
    return json.dumps(dict(options or {}), sort_keys=True, default=repr)


class BackendPool:
    """Backends shared by every run that asks for the same (name, model, options).

    A sweep keeps one pool for all its runs, so runs that use the same server or local model
    share one backend object, and a lockstep tick sends them ONE batch. `overrides` are the
    command line's backend flags: option fields applied over every agent's `backend_options`,
    and `cache` / `fresh`, which put LLM backends behind the response cache. A sweep hands the
    same `BackendOverrides` to every executor (worker processes and Ray tasks included), so
    every share builds the same backends. `preset` registers ready-made backends under
    (name, model) (tests use it to count calls).
    """

    def __init__(self, overrides: BackendOverrides | None = None, *,
                 preset: Mapping[tuple[str, str | None], Backend] | None = None) -> None:
        overrides = overrides if overrides is not None else BackendOverrides()
        self.options = overrides.options()
        self.cache = overrides.cache
        self.fresh = overrides.fresh
        self._backends: dict[tuple[Any, ...], Backend] = {}
        for (name, model), backend in (preset or {}).items():
            self._backends[(name, model)] = backend

    def get(self, name: str, model: str | None, spec: AgentBackendSpec | None = None, *,
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

    def for_scenario(self, scenario: AgentsSpec, *, backend: str | None = None,
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


def build_backends(scenario: AgentsSpec, *, backend: str | None = None, model: str | None = None,
                   overrides: BackendOverrides | None = None) -> dict[str, Backend]:
    """One backend per distinct (name, model, options) among the agents, shared by them.

    `backend` and `model` override every agent's choice (the CLI's --backend / --model);
    `overrides` are the other backend flags (see `BackendPool`).
    """
    pool = BackendPool(overrides)
    try:
        by_agent = pool.for_scenario(scenario, backend=backend, model=model)
        if pool.cache is not None and not pool.uses_llm():
            raise BackendError(
                f"--cache {pool.cache}: no agent uses an LLM backend "
                f"({', '.join(sorted(LLM_BACKENDS))}), so there is nothing to cache; "
                "drop --cache or pass --backend")
    except BaseException:
        pool.close()
        raise
    return by_agent


def effective_options(spec: AgentBackendSpec | None, overrides: Mapping[str, Any] | None
                      ) -> BackendOptions:
    """An agent's backend options with the command line's overrides applied and validated."""
    base = spec.backend_options if spec is not None else BackendOptions()
    if not overrides:
        return base
    merged = {**base.model_dump(), **overrides}
    try:
        return BackendOptions.model_validate(merged)
    except ValidationError as exc:
        field, message, value = validation_message(exc)
        if field and field in overrides:
            raise BackendError(f"{flag_name(field)} {value!r}: {message}") from exc
        where = f"agents.{spec.id}.backend_options" if spec is not None else "backend options"
        raise BackendError(f"{where} with the command-line flags: {message}") from exc


def check_reachable(backend: Backend, model: str | None, opts: BackendOptions,
                   cache: str | Path | None) -> None:
    """The preflight of an `openai` backend: every server answers and serves `model`."""
    try:
        check_servers(opts.urls(), str(model), api_key_env=opts.api_key_env,
                      timeout_s=min(opts.timeout_s, PREFLIGHT_TIMEOUT_S))
    except BackendCreationError as exc:
        backend.close()
        hint = (f"; to answer from --cache {cache} alone, use --backend replay"
                if cache is not None else "")
        raise BackendCreationError(f"{exc}{hint}") from None


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
        if name == "openai":
            check_reachable(inner, model, opts, cache)
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
