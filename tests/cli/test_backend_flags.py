"""Backend options in scenario files and on the command line: validation and plumbing."""

from __future__ import annotations

import json

import pytest

from agents.errors import ScenarioError
from agents.fake_server import FakeOpenAIServer
from cli.main import main
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


def with_options(**options):
    data = mini_scenario()
    data["agents"][0].update(backend="openai", model="m", backend_options=options)
    return data


def test_backend_options_are_typed_and_have_defaults():
    s = validate_scenario(with_options(base_urls=["http://a:8000/v1"], max_concurrency=64), "t")
    opts = s.agents[0].backend_options
    assert opts.base_urls == ("http://a:8000/v1",) and opts.max_concurrency == 64
    assert opts.timeout_s == 120.0 and opts.retry_invalid == 1 and opts.api == "chat"
    plain = validate_scenario(mini_scenario(), "t").agents[0].backend_options
    assert plain.urls() == ("http://127.0.0.1:8000/v1",)


@pytest.mark.parametrize(("options", "expected"), [
    ({"max_concurency": 3}, "agents.0.backend_options.max_concurency: unknown key"),
    ({"max_concurrency": 0}, "agents.0.backend_options.max_concurrency: Input should be"),
    ({"structured_output": "regex", "server": "openai"},
     "structured_output 'regex' needs a vLLM server"),
    ({"base_urls": ["gpu1:8000"]}, "must start with http:// or https://"),
    ({"api_key_env": "sk-abc123"}, "agents.0.backend_options.api_key_env"),
])
def test_bad_backend_options_are_one_line_errors(options, expected):
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(with_options(**options), "scenario.yaml")
    message = str(caught.value)
    assert expected in message and "\n" not in message


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ScenarioError, match="did you mean 'max_concurrency'"):
        validate_scenario(with_options(max_concurency=3), "t")


def test_command_line_flags_override_every_agents_options(tmp_path, write_yaml, capsys):
    data = mini_scenario(run={"ticks": 1, "seed": 7})
    data["agents"] = [{"id": "a", "company": "oil"}, {"id": "b", "company": "oil"}]
    with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        code = main(["run", str(write_yaml(data)), "--out", str(tmp_path / "run"), "--quiet",
                     "--backend", "openai", "--model", "served-name",
                     "--base-url", one.base_url, "--base-url", two.base_url,
                     "--max-concurrency", "4", "--timeout", "9", "--retry-invalid", "0",
                     "--structured-output", "json"])
        assert code == 0, capsys.readouterr().err
        assert len(one.arrivals) + len(two.arrivals) == 12
        assert all("json" in a.body["structured_outputs"] for a in one.arrivals)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (entry,) = manifest["backends"]  # both agents share one backend
    assert entry["agents"] == ["a", "b"] and entry["model"] == "served-name"
    settings = entry["settings"]
    assert settings["base_urls"] == [one.base_url, two.base_url]
    assert settings["max_concurrency"] == 4 and settings["timeout_s"] == 9.0
    assert settings["options"]["retry_invalid"] == 0 and "retry_invalid" not in settings
    assert settings["options"]["structured_output"] == "json"
    assert manifest["backend_flags"]["base_urls"] == [one.base_url, two.base_url]
    assert manifest["backend_usage"][0]["requests"] == 12


def test_request_shaping_flags_reach_every_agents_backend(tmp_path, write_yaml, capsys):
    data = mini_scenario(run={"ticks": 1, "seed": 7})
    data["agents"] = [{"id": "a", "company": "oil"}, {"id": "b", "company": "oil"}]
    with FakeOpenAIServer() as server:
        code = main(["run", str(write_yaml(data)), "--out", str(tmp_path / "run"), "--quiet",
                     "--backend", "openai", "--model", "m", "--base-url", server.base_url,
                     "--samples-per-request", "4", "--http-client", "protocol",
                     "--client-processes", "2", "--prompts-per-request", "3"])
        assert code == 0, capsys.readouterr().err
        assert max(a.body["n"] for a in server.arrivals) > 1  # samples shared a request
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (entry,) = manifest["backends"]
    assert entry["agents"] == ["a", "b"]
    settings = entry["settings"]
    assert settings["samples_per_request"] == 4 and settings["http_client"] == "protocol"
    assert settings["client_processes"] == 2
    assert settings["options"]["prompts_per_request"] == 3


def test_bad_flag_values_are_one_line_errors(tmp_path, write_yaml, capsys):
    path = str(write_yaml(mini_scenario()))
    out = ["--out", str(tmp_path / "o"), "--backend", "openai", "--model", "m"]
    assert main(["run", path, *out, "--max-concurrency", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --max-concurrency 0: ") and err.count("\n") == 1
    assert main(["run", path, *out, "--server", "openai", "--structured-output", "regex"]) == 2
    err = capsys.readouterr().err
    assert "needs a vLLM server" in err and err.count("\n") == 1


def test_backend_flags_are_one_frozen_object_validated_at_the_edge():
    import dataclasses
    import pickle

    from agents.backends.overrides import BackendOverrides
    from agents.errors import BackendError

    flags = BackendOverrides.create({"base_urls": ["http://a:1/v1"], "timeout_s": 3.0,
                                     "device": None}, cache="c.sqlite", fresh=True)
    assert flags.options() == {"base_urls": ("http://a:1/v1",), "timeout_s": 3.0}
    assert flags.manifest_flags() == {"base_urls": ["http://a:1/v1"], "timeout_s": 3.0}
    assert pickle.loads(pickle.dumps(flags)) == flags  # travels to workers and Ray tasks
    with pytest.raises(dataclasses.FrozenInstanceError):
        flags.fresh = False  # type: ignore[misc]
    with pytest.raises(BackendError, match=r"^--timeout -1\.0: "):
        BackendOverrides.create({"timeout_s": -1.0})
    with pytest.raises(BackendError, match="^backend flags: base URL 'gpu1:8000' must start"):
        BackendOverrides.create({"base_urls": ["gpu1:8000"]})
    with pytest.raises(BackendError, match="--fresh: .* needs --cache PATH"):
        BackendOverrides.create(fresh=True)
