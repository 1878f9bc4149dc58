"""`ticks.csv` counts HTTP generation requests and a scoring pass's requests and seconds."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from agents.backends.scripted import ScriptedBackend
from agents.types import Completion, DecisionRequest
from sim.engine.run import run_scenario
from sim.engine.tick import throughput
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


class SharedRequestBackend(ScriptedBackend):
    """Answers as the scripted agent, reporting one shared HTTP request per tick (as a request
    with `n` samples does) and a scoring pass of 3 requests and 0.25 s on the first answer."""

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        out = super().generate(requests)
        for k, completion in enumerate(out):
            completion.requests = 1 if k == 0 else 0
        out[0].scoring_requests, out[0].scoring_s = 3, 0.25
        return out


def test_ticks_count_shared_requests_once_and_the_scoring_pass_apart(tmp_path):
    scenario = validate_scenario(mini_scenario(run={"ticks": 2, "seed": 3}), "t")
    backend = SharedRequestBackend()
    run_scenario(scenario, tmp_path / "run", backends={"bot": backend}, progress=False)
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert (ticks.decisions > 1).all()
    assert ticks.requests.tolist() == [1, 1]
    assert ticks.scoring_requests.tolist() == [3, 3]
    assert ticks.scoring_s.tolist() == [0.25, 0.25]


def test_without_scoring_the_columns_are_zero_and_empty(tmp_path):
    scenario = validate_scenario(mini_scenario(run={"ticks": 1, "seed": 3}), "t")
    run_scenario(scenario, tmp_path / "run", backends={"bot": ScriptedBackend()},
                 progress=False)
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert ticks.scoring_requests.tolist() == [0] and ticks.scoring_s.isna().all()
    assert ticks.requests.tolist() == ticks.decisions.tolist()  # one request per decision


def test_requests_per_second_leave_the_scoring_seconds_out():
    rates = throughput({"requests": 10, "scoring_s": 3.0}, [], 5.0)
    assert rates["requests_per_s"] == 5.0
