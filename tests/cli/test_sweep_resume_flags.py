"""`tinmen sweep --resume --out DIR` asks the servers the sweep was started with.

sweep.json records the backend flags given when the sweep started (validated, an API key
only by its variable's name); resuming reuses them, and flags given again replace them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from agents.backends.overrides import BackendOverrides
from agents.errors import BackendError
from tests.conftest import REPO, mini_scenario


def _start(tmp_path, server, monkeypatch):
    """A completed 3-run sweep against `server`, then two of its runs removed."""
    from cli.main import main

    monkeypatch.setenv("TINMEN_RESUME_TEST_KEY", "secret-value-123")
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(mini_scenario(run={"ticks": 1, "seed": 7})))
    out = tmp_path / "sweep"
    assert main(["sweep", str(base), "--replicates", "3", "--backend", "openai",
                 "--model", "toy", "--base-url", server.base_url, "--max-retries", "0",
                 "--api-key-env", "TINMEN_RESUME_TEST_KEY", "--out", str(out),
                 "--quiet"]) == 0
    state = json.loads((out / "sweep.json").read_text())
    for entry in state["runs"][:2]:
        shutil.rmtree(out / entry["run_dir"])
    server.reset()
    return out


def _flags(out):
    return json.loads((out / "sweep.json").read_text())["backend_flags"]


def test_resume_in_process_reuses_the_recorded_base_url(tmp_path, monkeypatch):
    from agents.fake_server import FakeOpenAIServer
    from cli.main import main

    with FakeOpenAIServer() as server:
        assert not server.base_url.startswith("http://127.0.0.1:8000/")
        out = _start(tmp_path, server, monkeypatch)
        recorded = _flags(out)
        assert recorded == {"fields": {"base_urls": [server.base_url], "max_retries": 0,
                                       "api_key_env": "TINMEN_RESUME_TEST_KEY"},
                            "cache": None, "fresh": False}
        assert "secret-value-123" not in (out / "sweep.json").read_text()
        assert main(["sweep", "--resume", "--out", str(out), "--quiet"]) == 0
        assert len(server.arrivals) == 2 * 12  # two runs x 12 customers, asked again
    state = json.loads((out / "sweep.json").read_text())
    assert state["counts"]["completed"] == 3
    assert state["backend_flags"] == recorded


def test_resume_with_worker_processes_reuses_them_and_flags_given_win(tmp_path, monkeypatch):
    from agents.fake_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        out = _start(tmp_path, server, monkeypatch)
        proc = subprocess.run(
            [sys.executable, "-m", "cli", "sweep", "--resume", "--out", str(out),
             "--workers", "2", "--max-concurrency", "3", "--max-retries", "1", "--quiet"],
            cwd=REPO, text=True, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert len(server.arrivals) == 2 * 12
    assert _flags(out)["fields"] == {"base_urls": [server.base_url], "max_retries": 1,
                                     "api_key_env": "TINMEN_RESUME_TEST_KEY",
                                     "max_concurrency": 3}
    state = json.loads((out / "sweep.json").read_text())
    assert state["counts"]["completed"] == 3
    assert state["sessions"][-1]["workers"] == 2


def test_overrides_round_trip_and_lay_over_recorded_ones(tmp_path):
    cache = str(tmp_path / "c.sqlite")
    recorded = BackendOverrides.create({"base_urls": ["http://a:1/v1"], "max_retries": 0},
                                       cache=cache, fresh=True)
    again = BackendOverrides.from_json(json.loads(json.dumps(recorded.to_json())))
    assert again == recorded
    merged = BackendOverrides.create({"max_retries": 2}).over(recorded)
    assert merged.options() == {"base_urls": ("http://a:1/v1",), "max_retries": 2}
    assert merged.cache == cache and merged.fresh
    with pytest.raises(BackendError, match="--max-retries"):
        BackendOverrides.from_json({"fields": {"max_retries": -1}})
