"""The random-weight model command: builds a model that transformers loads, offline."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

transformers = pytest.importorskip("transformers")


def test_command_builds_a_loadable_chat_model(tmp_path):
    model = tmp_path / "random-lm"
    built = subprocess.run([sys.executable, "-m", "agents.backends.random_lm", str(model),
                            "--seed", "3"], cwd=REPO, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert f"--backend hf --model {model}" in built.stdout
    tokenizer = transformers.AutoTokenizer.from_pretrained(model)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(model)
    assert loaded.config.hidden_size == 32 and loaded.config.num_hidden_layers == 2
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Choice: 1"}],
                                         tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
