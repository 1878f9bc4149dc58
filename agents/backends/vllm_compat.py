"""Which vLLM the in-process backend runs on, and the few names that differ between releases.

Read against the sources of vLLM 0.8.5, 0.11.0, 0.20.0 and 0.33.0 (see the README's vLLM
section for the table). Releases before 0.8.5 are refused at backend start in one line;
between those read, the differences are bridged here:

- structured output: `SamplingParams(structured_outputs=StructuredOutputsParams(...))` from
  0.11 on; `SamplingParams(guided_decoding=GuidedDecodingParams(...))` before (same
  `choice` / `regex` / `json` fields);
- `top_k` off: 0 from 0.11 on (-1 still accepted); before 0.11 only -1 (0 is refused);
- prompt tokenization: `LLM.generate(..., tokenization_kwargs={"add_special_tokens": False})`
  where `generate` takes it (0.20.0, 0.33.0; not 0.11.0 or 0.8.5); otherwise the prompt is
  tokenized here with the engine's own tokenizer, without added special tokens, and sent as a
  token prompt (`{"prompt_token_ids": [...]}`): the same tokens.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from agents.errors import BackendCreationError

MINIMUM = (0, 8, 5)
"""The oldest vLLM whose source the in-process backend was checked against."""

CHECKED = "0.8.5, 0.11.0, 0.20.0, 0.33.0"
"""The vLLM releases whose source was read (README: vLLM compatibility)."""


def version_tuple(text: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of a vLLM version string (`0.11.0+cu128` -> (0, 11, 0))."""
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


def check_version(vllm: Any) -> str:
    """`vllm.__version__`; one-line BackendCreationError when it predates `MINIMUM`.

    A version that cannot be read (a source build reporting `dev`) is let through: the
    features below are then detected by name.
    """
    version = str(getattr(vllm, "__version__", "unknown"))
    parsed = version_tuple(version)
    if parsed is not None and parsed < MINIMUM:
        low = ".".join(map(str, MINIMUM))
        raise BackendCreationError(
            f"backend 'vllm' supports vLLM {low} or later (checked against {CHECKED}); "
            f"vLLM {version} is installed: run pip install 'tinmen[vllm]' to upgrade")
    return version


@dataclass(frozen=True)
class Dialect:
    """The names one vLLM release uses for what the backend asks of it."""

    version: str
    structured_field: str
    structured_class: Any
    top_k_off: int
    tokenization_kwargs: bool

    def sampling_kwargs(self, neutral: dict[str, Any]) -> dict[str, Any]:
        """The neutral sampling fields, `top_k` spelled as this release disables it."""
        return {**neutral, "top_k": self.top_k_off} if "top_k" in neutral else dict(neutral)


def dialect_of(vllm: Any, sampling_module: Any) -> Dialect:
    """The installed vLLM's dialect; one-line error for a release that cannot be served."""
    version = check_version(vllm)
    if hasattr(sampling_module, "StructuredOutputsParams"):
        field, cls = "structured_outputs", sampling_module.StructuredOutputsParams
    elif hasattr(sampling_module, "GuidedDecodingParams"):
        field, cls = "guided_decoding", sampling_module.GuidedDecodingParams
    else:
        raise BackendCreationError(
            f"the installed vLLM ({version}) has neither StructuredOutputsParams nor "
            "GuidedDecodingParams; run: pip install 'tinmen[vllm]' to upgrade")
    parsed = version_tuple(version)
    old = field == "guided_decoding" or (parsed is not None and parsed < (0, 11, 0))
    top_k_off = -1 if old else 0
    try:
        takes_kwargs = "tokenization_kwargs" in inspect.signature(vllm.LLM.generate).parameters
    except (TypeError, ValueError):
        takes_kwargs = False
    return Dialect(version, field, cls, top_k_off, takes_kwargs)
