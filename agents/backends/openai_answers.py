"""Reading the answers of an OpenAI-compatible response, one per decision of its request.

A response's choices are matched to decisions by their `index`, never their position: vLLM
numbers them prompt-major (`index` = prompt position * n + sample). Token counts are per
decision: with one prompt and one sample the server's `usage`; otherwise each choice's own
`token_ids` and `prompt_token_ids` (vLLM's `return_token_ids`, 0.10.2+), which vLLM counts
once per prompt in `usage`, or, for completions from a server without them, the prompt and
answer tokenized here without special tokens (as the server counts a prompt sent with
`add_special_tokens: false`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.backends.chat_template import count_tokens
from agents.backends.openai_logprobs import Distribution
from agents.backends.retry import UnreadableResponse


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer as read from a response."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    distribution: Distribution | str | None = None  # str: why it could not be read


def choices_by_index(response: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The response's choices in `index` order; `UnreadableResponse` unless there are
    exactly `count`, numbered 0 to count - 1."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UnreadableResponse("no choices in the response" if count == 1
                                 else f"no choices for {count} answers")
    by_index = {c.get("index", 0 if count == 1 else None): c for c in choices
                if isinstance(c, dict)}
    if len(choices) != count or set(by_index) != set(range(count)):
        raise UnreadableResponse(f"{len(choices)} choices for {count} answers")
    return [by_index[i] for i in range(count)]


def _token_ids(choice: dict[str, Any]) -> int | None:
    ids = choice.get("token_ids")
    return len(ids) if isinstance(ids, list) else None


def read_chat_answers(response: dict[str, Any], n: int = 1) -> list[Answer]:
    """The `n` answers (samples of one prompt) of a chat completion response."""
    answers = []
    usage = response.get("usage") or {}
    for choice in choices_by_index(response, n):
        message = choice.get("message")
        if not isinstance(message, dict):
            raise UnreadableResponse("the response holds no message")
        text = message.get("content")
        if text is None:
            text = message.get("refusal")  # OpenAI's own refusal field
        if not isinstance(text, str):
            raise UnreadableResponse("the response holds no answer text")
        completion = usage.get("completion_tokens") if n == 1 else _token_ids(choice)
        answers.append(Answer(text, usage.get("prompt_tokens"), completion,
                              choice.get("finish_reason")))
    return answers


def read_chat_answer(response: dict[str, Any]) -> Answer:
    """The answer of a one-sample chat completion response."""
    return read_chat_answers(response, 1)[0]


def read_completion_answers(response: dict[str, Any], prompts: Sequence[str],
                            tokenizer: Any, n: int = 1) -> list[Answer]:
    """`n` answers per prompt of a completions response, prompt-major (see module doc)."""
    choices = choices_by_index(response, len(prompts) * n)
    usage = response.get("usage") or {}
    answers = []
    for i, choice in enumerate(choices):
        prompt = prompts[i // n]
        text = choice.get("text")
        if not isinstance(text, str):
            raise UnreadableResponse(f"choice {i} holds no text")
        if len(choices) == 1:  # the server's own count
            tokens = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        elif isinstance(choice.get("prompt_token_ids"), list) and isinstance(
                choice.get("token_ids"), list):
            tokens = (len(choice["prompt_token_ids"]), len(choice["token_ids"]))
        else:
            tokens = (count_tokens(tokenizer, prompt), count_tokens(tokenizer, text))
        answers.append(Answer(text, tokens[0], tokens[1], choice.get("finish_reason")))
    return answers
