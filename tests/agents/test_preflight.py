"""Before the first tick: every base URL answers /v1/models and serves the model."""

from __future__ import annotations

import socket

import pytest

from agents.backends.preflight import check_servers
from agents.errors import BackendCreationError
from agents.fake_server import FakeOpenAIServer
from cli.main import main
from tests.conftest import mini_scenario


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def run_against(urls, tmp_path, write_yaml, capsys, model="fake-model", *extra):
    data = mini_scenario()
    data["agents"][0].update(backend="openai", model=model,
                             backend_options={"base_urls": list(urls), "max_retries": 5})
    out = tmp_path / "run"
    code = main(["run", str(write_yaml(data)), "--out", str(out), *extra])
    return code, capsys.readouterr().err.strip(), out


def test_a_closed_port_fails_before_the_first_tick_naming_the_url(tmp_path, write_yaml,
                                                                  capsys):
    dead = closed_port_url()
    with FakeOpenAIServer() as live:
        code, err, out = run_against([live.base_url, dead], tmp_path, write_yaml, capsys)
        assert live.arrivals == []  # not one decision was asked
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("error: agents.bot.backend (openai): cannot reach the server at "
                          f"{dead} (")
    assert "fix --base-url" in err
    assert not out.exists()


def test_a_cache_points_to_replay(tmp_path, write_yaml, capsys):
    cache = tmp_path / "c.sqlite"
    code, err, _ = run_against([closed_port_url()], tmp_path, write_yaml, capsys,
                               "fake-model", "--cache", str(cache))
    assert code == 2 and err.endswith(f"to answer from --cache {cache} alone, use --backend "
                                      "replay")


def test_a_model_the_server_does_not_serve_lists_the_served_names(tmp_path, write_yaml,
                                                                  capsys):
    with FakeOpenAIServer(models=("qwen-7b", "llama-8b")) as server:
        code, err, _ = run_against([server.base_url], tmp_path, write_yaml, capsys, "qwen7b")
        assert server.arrivals == []
    assert code == 2 and "\n" not in err
    assert (f"the server at {server.base_url} does not serve model 'qwen7b'; it serves: "
            "qwen-7b, llama-8b; did you mean 'qwen-7b'?; pass --model") in err


def test_a_served_model_passes_and_a_url_without_v1_is_named(tmp_path):
    with FakeOpenAIServer(models=("qwen-7b",)) as server:
        check_servers([server.base_url], "qwen-7b")
        bare = server.base_url.removesuffix("/v1")
        with pytest.raises(BackendCreationError, match="not an OpenAI-compatible endpoint "
                           r"\(HTTP 404 for GET .*/models\); base URLs usually end in /v1"):
            check_servers([bare], "qwen-7b")
