"""Turning chat messages into one prompt string with a model's own chat template.

Used where tinmen renders prompts itself: `api: completions` of the openai backend, and the
in-process `hf` and `vllm` backends. A tokenizer without a chat template (a base model) gets
a plain transcript instead, and `prompt_format` says which was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.backends.base import require
from agents.errors import BackendCreationError
from agents.types import Message


def load_tokenizer(name: str, revision: str | None = None, *, what: str = "tokenizer") -> Any:
    """Load a Hugging Face tokenizer (local path or hub name); one-line error if impossible."""
    transformers = require("transformers", "hf")
    try:
        return transformers.AutoTokenizer.from_pretrained(name, revision=revision)
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendCreationError(
            f"cannot load the {what} {name!r} ({detail[:200]}); give a local path or a hub "
            "name that is downloaded (backend_options.tokenizer)"
        ) from exc


def prompt_format(tokenizer: Any) -> str:
    """`chat_template` when the tokenizer has one, else `plain`."""
    return "chat_template" if getattr(tokenizer, "chat_template", None) else "plain"


def render_prompt(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt text for `messages`, ending where the assistant's answer begins."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(list(messages), tokenize=False,
                                                 add_generation_prompt=True))
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def count_tokens(tokenizer: Any, text: str) -> int:
    """Number of tokens in `text` without added special tokens."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
