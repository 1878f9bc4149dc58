"""The vLLM backend on older releases' names (0.8.5, 0.11), with stand-ins shaped like them.

The stand-ins copy what vLLM 0.8.5 and 0.11.0's sources show: 0.8.5 has `GuidedDecodingParams`
and `SamplingParams(guided_decoding=...)`, refuses `top_k=0`; neither `LLM.generate` takes
`tokenization_kwargs`. vLLM 0.20 / 0.33 (`FlatLogprobs`) may hand prompt log-probs as a
sequence whose positions are built on access.
"""

from __future__ import annotations

import math
import sys
import types

import pytest

from agents.backends.base import create_backend
from agents.backends.options import BackendOptions
from agents.backends.vllm_compat import version_tuple
from agents.backends.vllm_local import VLLMBackend
from agents.errors import BackendCreationError
from tests.agents.test_vllm_backend import fake_vllm
from tests.conftest import make_request


class Params:
    """Keeps its keyword arguments."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


class OldSamplingParams(Params):
    """vLLM before 0.11: top_k=0 is refused."""

    def __init__(self, **kwargs):
        if kwargs.get("top_k") == 0:
            raise ValueError("top_k must be -1 (disable), or at least 1, got 0.")
        super().__init__(**kwargs)


class FlatLogprobs:
    """Like vLLM's `FlatLogprobs`: flat lists, a position's dict built when indexed."""

    def __init__(self, positions):
        self.start, self.end, self.tokens, self.values = [], [], [], []
        for position in positions:
            self.start.append(len(self.values))
            for token, value in (position or {}).items():
                self.tokens.append(token)
                self.values.append(value)
            self.end.append(len(self.values))

    def __len__(self):
        return len(self.start)

    def __getitem__(self, index):
        return {self.tokens[i]: types.SimpleNamespace(logprob=self.values[i])
                for i in range(self.start[index], self.end[index])}


def install(monkeypatch, tiny_lm, version, structured_class, flat=False):
    """A stand-in vLLM of `version`: its LLM.generate takes token prompts and no
    tokenization_kwargs; prompt log-probs are -0.01 * token."""
    from transformers import AutoTokenizer

    module, sampling = fake_vllm(AutoTokenizer.from_pretrained(str(tiny_lm)))
    module.__version__ = version
    base = module.LLM

    class LLM(base):
        def generate(self, prompts, params, /, *, use_tqdm=True):
            self.calls.append((list(prompts), list(params)))
            outputs = []
            for prompt, p in zip(prompts, params, strict=True):
                ids = prompt["prompt_token_ids"]
                if "prompt_logprobs" in p.kwargs:
                    positions = [None] + [{t: -0.01 * t} for t in ids[1:]]
                    logprobs = FlatLogprobs(positions) if flat else [
                        None if x is None else {t: types.SimpleNamespace(logprob=v)
                                                for t, v in x.items()} for x in positions]
                    outputs.append(types.SimpleNamespace(prompt_token_ids=ids, outputs=[],
                                                         prompt_logprobs=logprobs))
                    continue
                structured = p.kwargs.get("structured_outputs") or p.kwargs.get(
                    "guided_decoding")
                text = (structured.kwargs.get("choice") or ["Choice: 1"])[0] if structured \
                    else "Choice: 1"
                outputs.append(types.SimpleNamespace(
                    prompt_token_ids=ids, outputs=[types.SimpleNamespace(
                        text=text, token_ids=self.get_tokenizer().encode(
                            text, add_special_tokens=False), finish_reason="stop")]))
            return outputs

    module.LLM = LLM
    old = (version_tuple(version) or (0, 0, 0)) < (0, 11, 0)
    module.SamplingParams = type("SamplingParams", (OldSamplingParams if old else Params,), {})
    sampling = types.ModuleType("vllm.sampling_params")
    setattr(sampling, structured_class, type(structured_class, (Params,), {}))
    module.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return module


def test_version_strings_parse_to_numbers():
    assert version_tuple("0.11.0+cu128") == (0, 11, 0)
    assert version_tuple("0.20.1.dev3+g1234") == (0, 20, 1)
    assert version_tuple("0.9") == (0, 9, 0)
    assert version_tuple("dev") is None


def test_vllm_0_8_5_gets_guided_decoding_top_k_minus_one_and_token_prompts(monkeypatch,
                                                                          tiny_lm):
    vllm = install(monkeypatch, tiny_lm, "0.8.5", "GuidedDecodingParams")
    backend = VLLMBackend("m", options=BackendOptions(structured_output="choice"))
    request = make_request(seed=3)
    answer = backend.generate([request])[0]
    ((prompts, params),) = vllm.LLM.instances[-1].calls
    assert params[0].kwargs["top_k"] == -1 and "structured_outputs" not in params[0].kwargs
    assert params[0].kwargs["guided_decoding"].kwargs == {
        "choice": ["Choice: 1", "Choice: 2", "Choice: 3", "Choice: none"]}
    from agents.backends.chat_template import render_prompt

    rendered = render_prompt(backend.tokenizer, request.messages)
    assert prompts == [{"prompt_token_ids": backend.tokenizer(
        rendered, add_special_tokens=False)["input_ids"]}]
    assert answer.text == "Choice: 1" and answer.failure is None
    described = backend.describe()
    assert described["vllm_version"] == "0.8.5" and described["prompts_sent_as"] == "token ids"


def test_vllm_0_11_gets_structured_outputs_and_token_prompts(monkeypatch, tiny_lm):
    vllm = install(monkeypatch, tiny_lm, "0.11.0", "StructuredOutputsParams")
    backend = VLLMBackend("m", options=BackendOptions(structured_output="regex"))
    backend.generate([make_request(seed=1)])
    ((prompts, params),) = vllm.LLM.instances[-1].calls
    assert params[0].kwargs["top_k"] == 0 and "regex" in params[0].kwargs[
        "structured_outputs"].kwargs
    assert list(prompts[0]) == ["prompt_token_ids"]


@pytest.mark.parametrize("flat", [False, True])
def test_choice_probs_on_vllm_0_11_with_either_log_prob_container(monkeypatch, tiny_lm, flat):
    install(monkeypatch, tiny_lm, "0.11.0", "StructuredOutputsParams", flat=flat)
    backend = VLLMBackend("m", options=BackendOptions(structured_output="choice",
                                                      choice_probs="exact"))
    answer = backend.generate([make_request(seed=1, options=2)])[0]
    tokenizer = backend.tokenizer
    raw = [math.exp(sum(-0.01 * t for t in tokenizer.encode(
        f"Choice: {label}", add_special_tokens=False) + [tokenizer.eos_token_id]))
        for label in ("1", "2", "none")]
    assert answer.choice_probs == pytest.approx([r / sum(raw) for r in raw])


@pytest.mark.parametrize("version", ["0.8.4", "0.6.3.post1"])
def test_a_vllm_before_0_8_5_is_refused_in_one_line(monkeypatch, tiny_lm, version):
    install(monkeypatch, tiny_lm, version, "GuidedDecodingParams")
    with pytest.raises(BackendCreationError) as caught:
        create_backend("vllm", model="m")
    message = str(caught.value)
    assert "\n" not in message and f"vLLM {version} is installed" in message
    assert "0.8.5 or later" in message and "0.33.0" in message
