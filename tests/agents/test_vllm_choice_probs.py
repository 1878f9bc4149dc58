"""The in-process vLLM backend's exact choice probabilities, against a stand-in `vllm`.

The stand-in's prompt log-probs come from a fixed rule (token t has log-prob -0.01 * t given
anything), so the expected probabilities can be worked out from the tokenizer alone.
"""

from __future__ import annotations

import math
import types

import pytest

from agents.backends.options import BackendOptions
from agents.backends.vllm_local import VLLMBackend
from agents.errors import BackendCreationError
from tests.agents.test_vllm_backend import vllm  # noqa: F401 - the fixture
from tests.conftest import make_request


def rule(token: int) -> float:
    return -0.01 * token


@pytest.fixture
def scoring_vllm(vllm):  # noqa: F811 - extends the fixture
    plain_generate = vllm.LLM.generate

    def generate(self, prompts, params, use_tqdm=True, tokenization_kwargs=None):
        if not params or "prompt_logprobs" not in params[0].kwargs:
            return plain_generate(self, prompts, params, use_tqdm, tokenization_kwargs)
        self.calls.append((list(prompts), list(params)))
        return [types.SimpleNamespace(
            prompt_token_ids=p["prompt_token_ids"],
            prompt_logprobs=[None] + [{t: types.SimpleNamespace(logprob=rule(t))}
                                      for t in p["prompt_token_ids"][1:]],
            outputs=[]) for p in prompts]

    vllm.LLM.generate = generate
    return vllm


def test_choice_form_scores_every_label_then_the_end_token(scoring_vllm):
    backend = VLLMBackend("org/model", options=BackendOptions(
        structured_output="choice", choice_probs="exact"))
    request = make_request(seed=1, options=12)
    answer = backend.generate([request])[0]
    llm = scoring_vllm.LLM.instances[-1]
    assert len(llm.calls) == 2  # the answers, then ONE call scoring all 13 labels
    prompts, params = llm.calls[1]
    assert len(prompts) == 13 and params[0].kwargs == {
        "max_tokens": 1, "temperature": 1.0, "prompt_logprobs": 0}
    tokenizer = backend.tokenizer
    eos = tokenizer.eos_token_id
    labels = [str(n) for n in range(1, 13)] + ["none"]
    raw = [math.exp(sum(rule(t) for t in tokenizer.encode(f"Choice: {label}",
                                                           add_special_tokens=False) + [eos]))
           for label in labels]
    assert answer.choice_probs == pytest.approx([r / sum(raw) for r in raw])
    assert answer.choice_probs_kind == "direct" and answer.choice_prob_mass == 1.0
    # each scored sequence is the prompt, then the label's answer, then the end token
    first = prompts[0]["prompt_token_ids"]
    assert first[-1] == eos and tokenizer.decode(first[:-1]).endswith("Choice: 1")


def test_free_text_labels_lose_the_listed_labels_that_extend_them(scoring_vllm):
    backend = VLLMBackend("org/model", options=BackendOptions(choice_probs="exact"))
    request = make_request(seed=1, options=12)
    answer = backend.generate([request])[0]  # the stand-in answers "Choice: 1"
    tokenizer = backend.tokenizer
    prompt = scoring_vllm.LLM.instances[-1].calls[1][0]

    def p(label):
        return math.exp(sum(rule(t) for t in tokenizer.encode(" " + label,
                                                               add_special_tokens=False)))
    labels = [str(n) for n in range(1, 13)] + ["none"]
    raw = {label: p(label) for label in labels}
    raw["1"] -= raw["10"] + raw["11"] + raw["12"]
    total = sum(max(v, 0.0) for v in raw.values())
    assert answer.choice_probs_kind == "conditional" and len(prompt) == 13
    assert answer.choice_probs == pytest.approx([max(raw[x], 0.0) / total for x in labels])


def test_top_logprobs_is_refused_in_one_line(scoring_vllm):
    with pytest.raises(BackendCreationError, match="choice_probs: exact"):
        VLLMBackend("org/model", options=BackendOptions(choice_probs="top_logprobs"))
