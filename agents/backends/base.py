"""The backend protocol and the registry that creates backends by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from agents.errors import BackendCreationError, did_you_mean
from agents.types import Completion, DecisionRequest

ResultSink = Callable[[int, "Completion"], None]
"""Called with (index in the batch, completion) as soon as one answer is ready."""


@runtime_checkable
class Backend(Protocol):
    """Answers a batch of decision requests.

    `generate` returns exactly one `Completion` per request, in the same order. It must not
    raise for a single bad request: failures are returned as `Completion.failed(reason)`.
    `agents.backends.check_backend` checks these rules on a live backend.
    """

    name: str
    """The registry name (`rational`, `openai`, ...)."""
    model: str | None
    """The model it answers with, as the scenario names it (None where there is none)."""
    cacheable: bool
    """True when answers come from a model and may be kept in the response cache."""

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest: JSON values only, never a secret."""
        ...

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer every request; same length and order as `requests`."""
        ...

    def close(self) -> None:
        """Release connections, processes or GPU memory."""
        ...


@runtime_checkable
class StreamingBackend(Backend, Protocol):
    """A backend that can report each answer as soon as it is ready.

    The response cache uses this to store answers while a long tick is still running, so an
    interrupted run loses no answered request.
    """

    def generate_streaming(self, requests: Sequence[DecisionRequest],
                           on_result: ResultSink) -> list[Completion]:
        """Like `generate`, calling `on_result(index, completion)` as each answer arrives."""
        ...


class BackendWrapper:
    """Base of the wrappers that add behaviour around another backend, keeping its protocol.

    It forwards `name`, `model`, `cacheable`, `describe` and `close` to `inner`, so a wrapper
    only writes what it changes; `unwrapped` is the backend at the bottom of the stack.
    """

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        """The wrapped backend's name."""
        return self.inner.name

    @property
    def model(self) -> str | None:
        """The wrapped backend's model."""
        return self.inner.model

    @property
    def cacheable(self) -> bool:
        """Whether the wrapped backend's answers may be cached."""
        return self.inner.cacheable

    @property
    def unwrapped(self) -> Backend:
        """The innermost backend, under every wrapper."""
        inner = self.inner
        while isinstance(inner, BackendWrapper):
            inner = inner.inner
        return inner

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer through the wrapped backend."""
        return self.inner.generate(requests)

    def describe(self) -> dict[str, Any]:
        """The wrapped backend's settings (a copy, so wrappers can add theirs)."""
        return dict(self.inner.describe())

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()


# name -> (module, class, pip extra or None). Modules are imported only on use.
_REGISTRY: dict[str, tuple[str, str, str | None]] = {
    "rational": ("agents.rational", "RationalBackend", None),
    "scripted": ("agents.backends.scripted", "ScriptedBackend", None),
    "openai": ("agents.backends.openai_server", "OpenAIBackend", None),
    "hf": ("agents.backends.hf_local", "HFBackend", "hf"),
    "vllm": ("agents.backends.vllm_local", "VLLMBackend", "vllm"),
    "replay": ("agents.backends.cache", "ReplayBackend", None),
}

LLM_BACKENDS = frozenset({"openai", "vllm", "hf", "replay"})
"""Backend names that call a language model (and so need `model` and take `options`)."""


def require(package: str, extra: str) -> Any:
    """Import an optional dependency, or raise a one-line error naming the extra to install."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise BackendCreationError(
            f"this backend needs the '{package}' package, which is not installed; "
            f"run: pip install 'tinmen[{extra}]'"
        ) from exc


def register_backend(name: str, module: str, cls: str, extra: str | None = None) -> None:
    """Register a backend class under `name` (imported lazily from `module` when created)."""
    _REGISTRY[name] = (module, cls, extra)


def available_backends() -> list[str]:
    """Names of all registered backends."""
    return sorted(_REGISTRY)


def registry_entries() -> dict[str, tuple[str, str, str | None]]:
    """A copy of the registry, name -> (module, class, extra).

    Worker processes re-register these, so a backend registered at run time in the
    coordinating process (a plugin, a test double) exists in its workers too.
    """
    return dict(_REGISTRY)


def create_backend(name: str, *, model: str | None = None, **options: Any) -> Backend:
    """Create the backend registered under `name`; one-line error if unknown or not installed."""
    if name not in _REGISTRY:
        hint = did_you_mean(name, _REGISTRY)
        raise BackendCreationError(
            f"unknown backend {name!r}; available: {', '.join(available_backends())}{hint}"
        )
    module_name, class_name, extra = _REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        install = f"pip install 'tinmen[{extra}]'" if extra else "pip install tinmen"
        raise BackendCreationError(
            f"backend {name!r} needs the '{missing}' package, which is not installed; "
            f"run: {install}"
        ) from exc
    backend_class = getattr(module, class_name)
    return backend_class(model=model, **options)
