"""Several client processes give the records, answers and faults of one process."""

from __future__ import annotations

import sqlite3

import pandas as pd

from agents.backends.openai_server import OpenAIBackend
from agents.backends.options import BackendOptions
from agents.backends.overrides import BackendOverrides
from agents.fake_server import FakeOpenAIServer
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import make_request, mini_scenario


def run_records(tmp_path, processes):
    name = f"p{processes}"
    data = mini_scenario(run={"ticks": 2, "seed": 7})
    with FakeOpenAIServer() as s:
        data["agents"][0].update(
            backend="openai", model="fake-model",
            backend_options={"client_processes": processes, "samples_per_request": 4,
                             "backoff_s": 0.01, "base_urls": [s.base_url]})
        cache = tmp_path / f"{name}.sqlite"
        run_scenario(validate_scenario(data, "t"), tmp_path / name,
                     backend_flags=BackendOverrides.create(cache=cache), progress=False)
        sent = len(s.arrivals)
    d = pd.read_parquet(tmp_path / name / "decisions.parquet")
    rows = d[["tick", "decision_id", "customer_id", "seed", "choice", "prompt_tokens",
              "completion_tokens", "valid", "attempts", "retries"]]
    with sqlite3.connect(cache) as db:
        entries = sorted(db.execute(
            "SELECT key, text, prompt_tokens, completion_tokens FROM responses").fetchall())
    return rows, entries, sent


def test_two_client_processes_record_what_one_records(tmp_path):
    rows, entries, sent = run_records(tmp_path, 1)
    sharded_rows, sharded_entries, sharded_sent = run_records(tmp_path, 2)
    pd.testing.assert_frame_equal(rows, sharded_rows)  # same order, same values
    assert entries and entries == sharded_entries and sent == sharded_sent


def test_a_fault_in_one_process_fails_only_its_request_in_order():
    requests = [make_request(seed=10 * k, user=f"I need car {k}.", request_id=f"r{k}")
                for k in range(9)]
    doomed = requests[4].messages[1]["content"]

    def fault(body, index):
        return "500" if doomed in body["messages"][1]["content"] else None

    tables, streamed = {}, {}
    for processes in (1, 3):
        with FakeOpenAIServer(fault=fault) as s:
            backend = OpenAIBackend("m", options=BackendOptions(
                base_urls=(s.base_url,), backoff_s=0.01, max_retries=1,
                client_processes=processes))
            seen = {}
            answers = backend.generate_streaming(requests,
                                                 lambda i, c, seen=seen: seen.update({i: c}))
            served = backend.describe()["requests_per_replica"]
            backend.close()
        tables[processes] = [(a.text, a.failure, a.attempts) for a in answers]
        streamed[processes] = sorted(seen)
        assert served == [10]  # 8 answered, the faulty one twice
    assert tables[1] == tables[3]
    assert [t[1] for t in tables[3]].count(None) == 8
    assert tables[3][4] == (None, "gave up after 2 attempts: HTTP 500: fault 500", 2)
    assert streamed[3] == list(range(9))


def test_a_client_process_that_dies_ends_the_run_with_one_line():
    import pytest

    from agents.errors import FatalBackendError

    with FakeOpenAIServer() as s:
        backend = OpenAIBackend("m", options=BackendOptions(base_urls=(s.base_url,),
                                                            client_processes=2))
        assert all(a.text for a in backend.generate([make_request(seed=k) for k in range(4)]))
        process, _ = backend._processes._workers[0]
        process.kill()
        process.join(10)
        with pytest.raises(FatalBackendError, match="an HTTP client process stopped"):
            backend.generate([make_request(seed=k) for k in range(4)])
        backend.close()
