"""What `run` and `sweep` print at the end: counts in words, cache hits, nothing to do."""

from __future__ import annotations

import yaml

from cli.main import main
from tests.conftest import mini_scenario


def test_one_tick_is_not_plural(tmp_path, write_yaml, capsys):
    data = mini_scenario(run={"ticks": 1, "seed": 2})
    assert main(["run", str(write_yaml(data)), "--out", str(tmp_path / "run")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("run completed: 1 tick, 12 decisions in ")
    assert main(["validate", str(write_yaml(data))]) == 0
    assert "1 company, 12 customers, 1 agent, 1 tick)" in capsys.readouterr().out


def test_a_cached_rerun_says_its_answers_came_from_the_cache(tmp_path, write_yaml, capsys):
    from agents.fake_server import FakeOpenAIServer

    data = mini_scenario(run={"ticks": 2, "seed": 2})
    data["agents"][0].update(backend="openai", model="fake-model")
    scenario = str(write_yaml(data))
    cache = str(tmp_path / "cache.sqlite")
    with FakeOpenAIServer() as server:
        args = ["run", scenario, "--cache", cache, "--base-url", server.base_url]
        assert main([*args, "--out", str(tmp_path / "first")]) == 0
        first = capsys.readouterr().out
        asked = len(server.arrivals)
        assert main([*args, "--out", str(tmp_path / "second")]) == 0
        second = capsys.readouterr().out
        assert len(server.arrivals) == asked == 24
    assert "response cache" not in first
    assert "all 24 answers came from the response cache (the model was asked nothing)" in second


def test_rerunning_a_finished_sweep_says_nothing_to_do(tmp_path, capsys):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(mini_scenario(run={"ticks": 1, "seed": 2})))
    args = ["sweep", str(base), "--replicates", "3", "--out", str(tmp_path / "sweep")]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("sweep completed: 3/3 runs completed")
    assert main(args) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[0] == "nothing to do: all 3 runs are complete"
    assert not any("decisions in" in line for line in again)
