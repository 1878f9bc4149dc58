"""A local model folder that does not exist is named as such, not blamed on the tokenizer."""

from __future__ import annotations

import pytest

from agents.backends.base import BackendCreationError, create_backend
from agents.backends.model_paths import looks_like_path


@pytest.mark.parametrize("name", ["/nonexistent/model", "./tiny-lm", "../models/x",
                                  "~/no/such/model", "a/b/c"])
def test_missing_model_path_says_the_path_does_not_exist(name):
    with pytest.raises(BackendCreationError, match="does not exist") as info:
        create_backend("hf", model=name)
    assert "tokenizer" not in str(info.value) and name in str(info.value)


def test_a_file_is_not_a_model_folder(tmp_path):
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(BackendCreationError, match="is a file, not a model folder"):
        create_backend("hf", model=str(file))


def test_hub_names_are_not_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_path("Qwen/Qwen2.5-0.5B-Instruct")
    assert not looks_like_path("gpt2")
    (tmp_path / "models").mkdir()
    assert looks_like_path("models/tiny")


def test_cli_names_the_missing_model_path(write_yaml, tmp_path, capsys):
    from cli.main import main
    from tests.conftest import mini_scenario

    code = main(["run", str(write_yaml(mini_scenario())), "--backend", "hf", "--model",
                 str(tmp_path / "nope"), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "does not exist" in err
