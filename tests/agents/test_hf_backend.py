"""The transformers backend on a tiny random-weight chat model built in the test session."""

from __future__ import annotations

import importlib.util
import sys
import types

import pandas as pd
import pytest

from agents.backends.base import create_backend
from agents.backends.hf_local import HFBackend, SeededSampler, pick_device, pick_dtype
from agents.backends.options import BackendOptions
from agents.errors import BackendCreationError
from agents.parsing import parse_choice
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import make_request, mini_scenario

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "xgrammar")),
    reason="the hf extra is not installed")


def requests(n=8, **kwargs):
    """Requests of different prompt lengths, so micro-batches need padding."""
    return [make_request(seed=i, user="I need a car. " * (1 + i % 4), **kwargs)
            for i in range(n)]


@pytest.fixture(scope="module")
def backends(tiny_lm):
    """One loaded backend per structured-output mode (loading is the slow part)."""
    made = {mode: HFBackend(str(tiny_lm), options=BackendOptions(
        structured_output=mode, micro_batch_size=3, explanation_max_chars=24))
        for mode in ("none", "choice", "regex", "json")}
    yield made
    for b in made.values():
        b.close()


def test_loads_the_saved_model_and_generates_in_sorted_micro_batches(backends):
    b = backends["none"]
    assert b.device == "cpu" and str(b.dtype) == "torch.float32"
    assert b.prompt_format == "chat_template" and b.tokenizer.padding_side == "left"
    batch = requests(8, max_tokens=12)
    b.batches.clear()
    answers = b.generate(batch)
    assert b.batches == [3, 3, 2] and len(answers) == 8
    assert all(a.text is not None and a.failure is None for a in answers)
    assert all(1 <= a.completion_tokens <= 13 for a in answers)
    lengths = [a.prompt_tokens for a in answers]
    assert lengths[0] < lengths[3]  # answers come back in request order, not length order


def test_an_answer_depends_on_its_request_not_on_its_batch(backends, tiny_lm):
    batch = requests(6, max_tokens=12)
    together = [a.text for a in backends["none"].generate(batch)]
    alone = HFBackend(str(tiny_lm), options=BackendOptions(micro_batch_size=1))
    separately = [a.text for a in alone.generate(batch)]
    assert together == separately  # left padding and attention masks are right
    other_seed = alone.generate([make_request(seed=99, user=batch[0].messages[1]["content"],
                                              max_tokens=12)])[0].text
    assert other_seed != together[0]  # and the seed matters
    alone.close()


@pytest.mark.parametrize("mode", ["choice", "regex", "json"])
def test_constrained_decoding_gives_only_valid_answers(backends, mode):
    batch = requests(6, max_tokens=120, temperature=1.0)
    answers = backends[mode].generate(batch)
    for request, answer in zip(batch, answers, strict=True):
        parsed = parse_choice(answer.text, request.context.options)
        assert parsed.choice is not None or parsed.refused, (mode, answer.text)
        assert answer.finish_reason == "stop"
    if mode == "choice":
        assert {a.text for a in answers} <= {"Choice: 1", "Choice: 2", "Choice: 3",
                                             "Choice: none"}


def test_a_row_stops_at_its_own_max_tokens(backends):
    short, long = make_request(seed=1, max_tokens=3), make_request(seed=2, max_tokens=9)
    answers = backends["none"].generate([short, long])
    assert answers[0].completion_tokens <= 3 and answers[1].completion_tokens <= 10
    assert answers[0].finish_reason == "length"


def hf_scenario(model, structured_output):
    data = mini_scenario(run={"ticks": 1, "seed": 7})
    data["agents"][0].update(
        backend="hf", model=str(model), sampling={"max_tokens": 40, "temperature": 1.0},
        backend_options={"structured_output": structured_output, "micro_batch_size": 8,
                         "retry_invalid": 0, "explanation_max_chars": 24})
    return validate_scenario(data, "t")


def test_engine_records_gibberish_as_invalid_and_constrained_answers_as_valid(tmp_path,
                                                                             tiny_lm):
    run_scenario(hf_scenario(tiny_lm, "none"), tmp_path / "free", progress=False)
    free = pd.read_parquet(tmp_path / "free" / "decisions.parquet")
    assert len(free) == 12
    invalid = free[~free.valid]
    assert len(invalid) >= 6  # random weights write gibberish
    assert invalid.failure.str.startswith("unparsed: ").all()
    assert (invalid.outcome == "invalid").all() and invalid.choice.isna().all()

    run_scenario(hf_scenario(tiny_lm, "regex"), tmp_path / "constrained", progress=False)
    constrained = pd.read_parquet(tmp_path / "constrained" / "decisions.parquet")
    assert len(constrained) == 12 and constrained.valid.all()
    assert set(constrained.backend) == {"hf"}


def test_missing_extra_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendCreationError, match=r"pip install 'tinmen\[hf\]'"):
        create_backend("hf", model="anything")


def test_device_and_dtype_are_chosen_automatically():
    cuda = types.SimpleNamespace(is_available=lambda: True, is_bf16_supported=lambda: False)
    fake = types.SimpleNamespace(cuda=cuda, bfloat16="bf16", float16="fp16", float32="fp32")
    assert pick_device("auto", fake) == "cuda"
    assert pick_dtype("auto", "cuda", fake) == "fp16"
    assert pick_dtype("auto", "cpu", fake) == "fp32"
    assert pick_dtype("bfloat16", "cpu", fake) == "bf16"
    fake.cuda = types.SimpleNamespace(is_available=lambda: False)
    assert pick_device("auto", fake) == "cpu" and pick_device("cuda:1", fake) == "cuda:1"


def test_an_unloadable_model_is_a_one_line_error(tmp_path):
    with pytest.raises(BackendCreationError, match="cannot load the tokenizer"):
        HFBackend(str(tmp_path / "no-such-model"))


def sampler(torch, n, *, temperature=1.0, top_p=1.0, max_tokens=5):
    return SeededSampler(torch=torch, seeds=list(range(n)), temperatures=[temperature] * n,
                         top_ps=[top_p] * n, max_tokens=[max_tokens] * n, eos_ids=[0],
                         matchers=[None] * n, vocab_size=4, device="cpu")


def test_sampler_draws_from_the_softmax_and_honours_top_p_and_greedy():
    import math

    import torch

    logits = torch.tensor([[-1e9, 0.0, math.log(3.0), -1e9]]).repeat(4000, 1)
    draws = sampler(torch, 4000)
    draws(None, logits)
    share = draws.last.count(2) / 4000
    assert abs(share - 0.75) < 0.03 and set(draws.last) == {1, 2}  # softmax: 1/4 vs 3/4
    nucleus = sampler(torch, 200, top_p=0.5)
    nucleus(None, logits[:200])
    assert set(nucleus.last) == {2}  # the top token alone holds half the mass
    greedy = sampler(torch, 50, temperature=0.0)
    greedy(None, logits[:50])
    assert set(greedy.last) == {2}
    limited = sampler(torch, 3, max_tokens=0)
    limited(None, logits[:3])
    assert limited.last == [0, 0, 0] and all(limited.done)
