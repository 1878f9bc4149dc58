"""The in-process vLLM backend, with a stand-in `vllm` module (vLLM is not installed here).

These tests check what tinmen controls: one `LLM.generate` call per tick with the whole list,
prompts rendered with the engine tokenizer's chat template, per-request `SamplingParams`
(seed, structured outputs) and the engine arguments. They do not run vLLM itself.
"""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

from agents.backends.base import create_backend
from agents.backends.options import BackendOptions
from agents.backends.vllm_local import VLLMBackend
from agents.errors import BackendCreationError
from cli.main import main
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import make_request, mini_scenario


class Params:
    """Stands in for vLLM's parameter classes: keeps its keyword arguments."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


def fake_vllm(tokenizer):
    """A module with the parts of vLLM tinmen uses: LLM and the parameter classes."""

    class LLM:
        instances: list = []

        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.calls = []
            self.tokenization = []
            self.model_config = types.SimpleNamespace(
                max_model_len=kwargs.get("max_model_len") or 100000)
            LLM.instances.append(self)

        def get_tokenizer(self):
            return tokenizer

        def generate(self, prompts, params, use_tqdm=True, tokenization_kwargs=None):
            self.calls.append((list(prompts), list(params)))
            self.tokenization.append(tokenization_kwargs)
            if any("POISON" in p for p in prompts):
                raise ValueError("the engine aborted the whole call")
            outputs = []
            for prompt, p in zip(prompts, params, strict=True):
                structured = p.kwargs.get("structured_outputs")
                text = structured.kwargs["choice"][-1] if structured else "Choice: 1"
                outputs.append(types.SimpleNamespace(
                    prompt_token_ids=list(range(len(prompt.split()))),
                    outputs=[types.SimpleNamespace(text=text, token_ids=[1, 2, 3],
                                                   finish_reason="stop")]))
            return outputs

    module = types.ModuleType("vllm")
    module.__version__ = "0.33.0"
    module.LLM = LLM
    module.SamplingParams = type("SamplingParams", (Params,), {})
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = type("StructuredOutputsParams", (Params,), {})
    module.sampling_params = sampling
    return module, sampling


@pytest.fixture
def vllm(monkeypatch, tiny_lm):
    from transformers import AutoTokenizer

    module, sampling = fake_vllm(AutoTokenizer.from_pretrained(str(tiny_lm)))
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return module


def test_one_generate_call_per_tick_with_per_request_sampling(vllm, tmp_path):
    data = mini_scenario(run={"ticks": 2, "seed": 7})
    data["agents"][0].update(backend="vllm", model="org/model",
                             backend_options={"structured_output": "choice",
                                              "revision": "abc123", "max_model_len": 4096})
    run_scenario(validate_scenario(data, "t"), tmp_path / "run", progress=False)
    (llm,) = vllm.LLM.instances
    assert llm.kwargs["enable_prefix_caching"] is True and llm.kwargs["model"] == "org/model"
    assert llm.kwargs["revision"] == "abc123" and llm.kwargs["max_model_len"] == 4096
    assert [len(prompts) for prompts, _ in llm.calls] == [12, 12]
    d = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    prompts, params = llm.calls[0]
    assert all(p.startswith("<|im_start|>system\n") and p.endswith("<|im_start|>assistant\n")
               for p in prompts)
    assert [p.kwargs["seed"] for p in params] == d.seed.tolist()[:12]
    assert {p.kwargs["temperature"] for p in params} == {0.7}
    assert all(p.kwargs["structured_outputs"].kwargs == {
        "choice": ["Choice: 1", "Choice: 2", "Choice: none"]} for p in params)
    assert d.valid.all() and (d.completion_tokens == 3).all() and set(d.backend) == {"vllm"}


def test_sampling_params_without_structured_output(vllm):
    backend = VLLMBackend("m", options=BackendOptions(structured_output="json"))
    params = backend.sampling_params(make_request(seed=42, temperature=0.3, max_tokens=99))
    assert params.kwargs["seed"] == 42 and params.kwargs["max_tokens"] == 99
    schema = params.kwargs["structured_outputs"].kwargs["json"]
    assert schema["properties"]["choice"]["enum"] == ["1", "2", "3", "none"]
    plain = VLLMBackend("m").sampling_params(make_request(seed=1))
    assert "structured_outputs" not in plain.kwargs


def test_a_vllm_without_structured_output_parameters_is_refused(vllm, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", types.ModuleType("old"))
    with pytest.raises(BackendCreationError, match="neither StructuredOutputsParams nor"):
        VLLMBackend("m")


def test_missing_vllm_is_a_one_line_error_naming_the_extra(monkeypatch, tmp_path, write_yaml,
                                                           capsys):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendCreationError, match=r"pip install 'tinmen\[vllm\]'"):
        create_backend("vllm", model="m")
    code = main(["run", str(write_yaml(mini_scenario())), "--backend", "vllm", "--model", "m",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install 'tinmen[vllm]'" in err


def test_both_vllm_paths_send_the_same_explicit_sampling_fields(vllm, tiny_lm):
    from agents.backends.openai_server import NEUTRAL_SAMPLING, OpenAIBackend

    request = make_request(seed=42, temperature=0.3, max_tokens=99)
    in_process = VLLMBackend("m").sampling_params(request).kwargs
    server = OpenAIBackend("m", options=BackendOptions(api="completions",
                                                       tokenizer=str(tiny_lm)))
    body = server.request_body([request])
    server.close()
    fields = ["temperature", "top_p", "seed", "n", *NEUTRAL_SAMPLING]
    assert {k: in_process[k] for k in fields} == {k: body[k] for k in fields}
    assert in_process["max_tokens"] == body["max_tokens"] == 99
    assert {k: in_process[k] for k in NEUTRAL_SAMPLING} == NEUTRAL_SAMPLING
    assert body["add_special_tokens"] is False
    settings = VLLMBackend("m").describe()
    assert settings["sampling_defaults"].startswith("explicit")
    assert settings["tokenization_kwargs"] == {"add_special_tokens": False}


def test_rendered_prompts_are_tokenized_without_added_special_tokens(vllm):
    backend = VLLMBackend("m")
    backend.generate([make_request(seed=i) for i in range(3)])
    (llm,) = vllm.LLM.instances
    assert llm.tokenization == [{"add_special_tokens": False}]


def test_a_prompt_longer_than_the_context_fails_alone_before_generate(vllm):
    backend = VLLMBackend("m", options=BackendOptions(max_model_len=1000))
    long = make_request(seed=2, user="many words " * 600)
    answers = backend.generate([make_request(seed=1), long, make_request(seed=3)])
    (llm,) = vllm.LLM.instances
    ((prompts, _),) = llm.calls
    assert len(prompts) == 2 and all("many words" not in p for p in prompts)
    assert answers[0].text and answers[2].text
    reason = answers[1].failure
    assert reason.startswith("prompt of ") and "max_model_len 1000" in reason


def test_when_generate_raises_only_the_offending_request_fails(vllm):
    backend = VLLMBackend("m")
    requests = [make_request(seed=1), make_request(seed=2, user="POISON"), make_request(seed=3)]
    answers = backend.generate(requests)
    (llm,) = vllm.LLM.instances
    assert [len(prompts) for prompts, _ in llm.calls] == [3, 1, 1, 1]
    assert answers[0].text == answers[2].text == "Choice: 1"
    assert answers[1].failure == ("vLLM refused the request: ValueError: the engine aborted "
                                  "the whole call")


def test_agents_on_one_model_share_one_engine_per_engine_settings(vllm):
    a = VLLMBackend("m", options=BackendOptions(structured_output="choice"))
    b = VLLMBackend("m", options=BackendOptions(structured_output="json", retry_invalid=0))
    c = VLLMBackend("m", options=BackendOptions(gpu_memory_utilization=0.4))
    assert a.llm is b.llm and a.llm is not c.llm and len(vllm.LLM.instances) == 2
    assert "structured_outputs" in b.sampling_params(make_request()).kwargs
