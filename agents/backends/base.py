"""The backend protocol and the registry that creates backends by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from agents.types import Completion, DecisionRequest


class BackendCreationError(Exception):
    """A backend could not be created; the message is one line meant for the user."""


class FatalBackendError(Exception):
    """The run cannot go on (e.g. replay found no cached answer); one line for the user.

    Every other exception a backend raises fails only that batch's decisions; this one ends
    the run, and the CLI prints its message and exits with code 2.
    """


ResultSink = Callable[[int, "Completion"], None]
"""Called with (index in the batch, completion) as soon as one answer is ready."""


@runtime_checkable
class Backend(Protocol):
    """Answers a batch of decision requests.

    `generate` returns exactly one `Completion` per request, in the same order. It must not
    raise for a single bad request: failures are returned as `Completion.failed(reason)`.
    """

    name: str
    model: str | None

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


def unknown_backend_message(name: str) -> str:
    """"unknown backend 'x'; available: ...; did you mean 'y'?" (shared by run and validate)."""
    from difflib import get_close_matches

    close = get_close_matches(name, list(_REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown backend {name!r}; available: {', '.join(available_backends())}{hint}"


def create_backend(name: str, *, model: str | None = None, **options: Any) -> Backend:
    """Create the backend registered under `name`; one-line error if unknown or not installed."""
    if name not in _REGISTRY:
        raise BackendCreationError(unknown_backend_message(name))
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
