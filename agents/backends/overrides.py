"""The command line's backend flags as one typed, frozen, picklable object.

`tinmen run` and `tinmen sweep` build a `BackendOverrides` once, at the command-line edge,
where each flag is checked against the `BackendOptions` field it overrides (so a bad value is
reported naming its flag before anything starts). The same object then travels unchanged
through sweeps, executors, worker processes and Ray tasks to `BackendPool`, which applies it
over every agent's own `backend_options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents.backends.options import BackendOptions
from agents.errors import BackendError

FLAG_NAMES = {"timeout_s": "--timeout", "base_urls": "--base-url"}
"""Backend-option fields whose command-line flag is not the field's name."""


def flag_name(field: str) -> str:
    """The command-line flag that overrides the BackendOptions `field`."""
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def validation_message(exc: ValidationError) -> tuple[str, str, Any]:
    """(top-level field, message, offending input) of a BackendOptions validation error."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error["loc"]).split(".")[0]
    return field, str(error["msg"]).removeprefix("Value error, "), error.get("input")


@dataclass(frozen=True)
class BackendOverrides:
    """Backend-option fields set on the command line, plus the response-cache flags.

    `fields` holds (BackendOptions field, value) pairs in flag order, sequences as tuples;
    `cache` is the response cache (an absolute path for sweeps), `fresh` asks the model
    again and replaces cached answers. Build it with `BackendOverrides.create`, which
    validates.
    """

    fields: tuple[tuple[str, Any], ...] = ()
    cache: str | None = None
    fresh: bool = False

    @classmethod
    def create(cls, fields: Mapping[str, Any] | None = None, *, cache: str | Path | None = None,
               fresh: bool = False) -> BackendOverrides:
        """Validated overrides: each field a known BackendOptions field with a valid value.

        Raises `BackendError` naming the flag. Combinations with an agent's own options are
        checked again where they meet (`agents.backends.pool.effective_options`).
        """
        given = {name: tuple(v) if isinstance(v, list) else v
                 for name, v in (fields or {}).items() if v is not None}
        unknown = sorted(set(given) - set(BackendOptions.model_fields))
        if unknown:
            raise BackendError(f"backend flag {unknown[0]!r}: not a backend option; known: "
                               f"{', '.join(BackendOptions.model_fields)}")
        if fresh and cache is None:
            raise BackendError("--fresh: it bypasses the response cache, so it needs "
                               "--cache PATH")
        try:
            BackendOptions.model_validate(given)
        except ValidationError as exc:
            field, message, value = validation_message(exc)
            if not field:  # a rule between fields (e.g. --server openai --api completions)
                raise BackendError(f"backend flags: {message}") from exc
            raise BackendError(f"{flag_name(field)} {value!r}: {message}") from exc
        return cls(tuple(given.items()), str(cache) if cache is not None else None, fresh)

    def to_json(self) -> dict[str, Any]:
        """The overrides as sweep.json records them (an API key never: only its variable)."""
        return {"fields": self.manifest_flags(), "cache": self.cache, "fresh": self.fresh}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> BackendOverrides:
        """Overrides read back from `to_json`, validated again (raises `BackendError`)."""
        fields = payload.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise BackendError(f"backend flags: expected a mapping of fields, got {fields!r}")
        return cls.create(dict(fields), cache=payload.get("cache"),
                          fresh=bool(payload.get("fresh", False)))

    def over(self, base: BackendOverrides) -> BackendOverrides:
        """These overrides laid over `base`: each field, --cache and --fresh given here win.

        A sweep that is continued reuses the flags it was started with (`base`); the flags
        given when it is continued (`self`) replace those same flags only. The result is
        validated again, as a whole (raises `BackendError`).
        """
        fields = {**dict(base.fields), **dict(self.fields)}
        cache = self.cache if self.cache is not None else base.cache
        return BackendOverrides.create(fields, cache=cache, fresh=self.fresh or base.fresh)

    def options(self) -> dict[str, Any]:
        """The overridden option fields, as a mapping."""
        return dict(self.fields)

    def manifest_flags(self) -> dict[str, Any]:
        """The option fields as the run manifest records them (sequences as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.fields}
