"""Every shipped backend, and every wrapper, passes `agents.backends.check_backend`."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from agents.backends import check_backend, create_backend, probe_requests
from agents.backends.cache import CachedBackend, KeyRecipe, ReplayBackend, ResponseCache
from agents.backends.options import BackendOptions
from agents.backends.scripted import ScriptedBackend
from agents.backends.wrappers import MeteredBackend, ReaskingBackend
from agents.fake_server import FakeOpenAIServer
from agents.types import Completion
from tests.agents.test_vllm_backend import fake_vllm

HF_MISSING = any(importlib.util.find_spec(m) is None
                 for m in ("torch", "transformers", "xgrammar"))


@pytest.mark.parametrize("name", ["rational", "scripted"])
def test_baselines_conform(name):
    check_backend(create_backend(name))


def test_wrappers_conform_and_forward_the_protocol():
    inner = ScriptedBackend("script:first_option")
    stacked = MeteredBackend(ReaskingBackend(inner, max_reasks=2),
                             options=BackendOptions())
    check_backend(stacked)
    assert (stacked.name, stacked.model, stacked.cacheable) == ("scripted",
                                                                "script:first_option", False)
    assert stacked.unwrapped is inner
    assert stacked.describe()["retry_invalid"] == 2


def test_cache_and_replay_conform(tmp_path):
    recipe = KeyRecipe("m")
    cached = CachedBackend(ScriptedBackend("m"), ResponseCache(tmp_path / "c.sqlite"), recipe)
    check_backend(cached)
    cached.close()
    replay = ReplayBackend("m", cache=tmp_path / "c.sqlite")
    check_backend(replay)
    replay.close()


def test_openai_backend_conforms_against_a_loopback_server():
    with FakeOpenAIServer() as server:
        backend = create_backend("openai", model="fake-model",
                                 options=BackendOptions(base_urls=(server.base_url,)))
        try:
            check_backend(backend)
        finally:
            backend.close()


@pytest.mark.skipif(HF_MISSING, reason="the hf extra is not installed")
def test_hf_backend_conforms_on_the_tiny_model(tiny_lm):
    backend = create_backend("hf", model=str(tiny_lm),
                             options=BackendOptions(micro_batch_size=3))
    try:
        check_backend(backend, probe_requests(5, max_tokens=8))
    finally:
        backend.close()


@pytest.mark.skipif(HF_MISSING, reason="the stand-in vllm module needs a tokenizer")
def test_vllm_backend_conforms_with_the_stand_in_module(monkeypatch, tiny_lm):
    from transformers import AutoTokenizer

    module, sampling = fake_vllm(AutoTokenizer.from_pretrained(str(tiny_lm)))
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    backend = create_backend("vllm", model=str(tiny_lm), options=BackendOptions())
    check_backend(backend)
    backend.close()


# ---------------------------------------------------------------- the check can fail


class Reversing(ScriptedBackend):
    def generate(self, requests):
        return [Completion(text=f"Choice: {len(r.context.option_names)}") for r in requests][::-1]


class Raising(ScriptedBackend):
    def generate(self, requests):
        if requests:
            raise ConnectionError("server went away")
        return []


class Dropping(ScriptedBackend):
    def generate(self, requests):
        return super().generate(requests)[1:]


class TextAndFailure(ScriptedBackend):
    def generate(self, requests):
        return [Completion(text="Choice: 1", failure="both") for _ in requests]


@pytest.mark.parametrize(("backend", "rule"), [
    (Reversing(), "in one order"), (Raising(), "generate raised"),
    (Dropping(), "completions for"), (TextAndFailure(), "exactly when failure"),
])
def test_broken_backends_fail_the_check(backend, rule):
    with pytest.raises(AssertionError, match=rule):
        check_backend(backend)
