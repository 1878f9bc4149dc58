"""A server that goes away during a run stops the run after one failed tick, naming it."""

from __future__ import annotations

import json

from agents.fake_server import FakeOpenAIServer
from cli.main import main
from tests.conftest import mini_scenario


def test_a_tick_whose_every_request_fails_to_connect_stops_the_run(tmp_path, write_yaml,
                                                                    capsys):
    data = mini_scenario(run={"ticks": 20, "seed": 3})
    # 12 customers a tick: tick 1 is answered, then every connection is dropped
    with FakeOpenAIServer(fault=lambda body, index: "drop" if index >= 12 else None) as s:
        data["agents"][0].update(backend="openai", model="fake-model",
                                 backend_options={"base_urls": [s.base_url],
                                                  "max_retries": 1, "backoff_s": 0.01})
        out = tmp_path / "run"
        code = main(["run", str(write_yaml(data)), "--out", str(out)])
        asked = len(s.arrivals)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "Traceback" not in err
    assert err == (f"error: every request of tick 2 failed to connect to {s.base_url}; the run "
                   f"stops here (2 ticks recorded in {out}/, the last one as failed); check "
                   "that the server is running and re-run")
    # tick 2 tried twice per request, tick 3 never asked; the first try went out on a
    # connection kept alive from tick 1, so the client sent it once more on a fresh one
    assert asked == 12 + 12 * 2 + 12
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["ticks_completed"] == 2
    assert "failed to connect" in manifest["error"]


def test_failures_that_are_not_connection_errors_do_not_stop_the_run(tmp_path, write_yaml,
                                                                     capsys):
    data = mini_scenario(run={"ticks": 3, "seed": 3})
    with FakeOpenAIServer(fault=lambda body, index: "500") as s:
        data["agents"][0].update(backend="openai", model="fake-model",
                                 backend_options={"base_urls": [s.base_url],
                                                  "max_retries": 0})
        code = main(["run", str(write_yaml(data)), "--out", str(tmp_path / "run")])
    # every tick ran (no early stop); a run whose every request failed is recorded failed
    assert code == 1 and "run failed: 3 ticks" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["ticks_completed"] == 3
    assert manifest["failed_decisions"] == 36


def test_a_lockstep_sweep_stops_when_its_server_goes_away(tmp_path, capsys):
    import yaml

    data = mini_scenario(run={"ticks": 5, "seed": 3})
    with FakeOpenAIServer(fault=lambda body, index: "drop" if index >= 24 else None) as s:
        data["agents"][0].update(backend="openai", model="fake-model",
                                 backend_options={"base_urls": [s.base_url],
                                                  "max_retries": 0})
        base = tmp_path / "base.yaml"
        base.write_text(yaml.safe_dump(data))
        out = tmp_path / "sweep"
        code = main(["sweep", str(base), "--replicates", "2", "--out", str(out), "--quiet"])
        asked = len(s.arrivals)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"error: every request of lockstep step 2 failed to connect to "
                          f"{s.base_url}; the sweep stops here")
    # two runs x 12 customers x 2 steps, step 3 never asked; step 2's requests went out on
    # connections kept alive from step 1, so each was sent once more on a fresh one
    assert asked == 24 + 24 * 2
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    assert [(r["status"], r["error"]) for r in runs] == [
        ("pending", "interrupted; reruns on resume")] * 2
