"""Backend assembly: the shared pool, option resolution and the wrapper order.

Runs that ask for the same (name, model, effective options) share one backend object, so a
lockstep tick sends them ONE batch. LLM backends are wrapped, innermost first, as
`MeteredBackend(ReaskingBackend(CachedBackend(model backend)))`. The command line's backend
flags are applied over each agent's `BackendOptions` and validated here, once, naming the flag.

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
