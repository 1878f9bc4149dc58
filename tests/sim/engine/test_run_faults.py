"""Faults while recording: a full disk, every request failing, huge answers, early kills."""

from __future__ import annotations

import errno
import json
from collections.abc import Sequence

import pandas as pd
import pytest

from agents.backends.scripted import ScriptedBackend
from agents.errors import RunDirectoryError
from agents.rational import RationalBackend
from agents.types import Completion, DecisionRequest
from sim.engine.recorder import RunRecorder
from sim.engine.records import TICK_COLUMNS
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


class FailingBackend(RationalBackend):
    """Every request fails, as a server answering errors would (not a connection failure,
    which stops a run at its first tick)."""

    name = "failing"

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Fail every request."""
        reason = "backend: gave up after 6 attempts: HTTP 500: overloaded"
        return [Completion.failed(reason) for _ in requests]


def test_ticks_csv_has_its_header_before_the_first_tick(tmp_path):
    recorder = RunRecorder(tmp_path / "run")
    recorder.start({"name": "x"})
    # nothing closed: a kill -9 here must still leave readable CSV files
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert list(ticks.columns) == list(TICK_COLUMNS) and ticks.empty
    recorder.finish("interrupted")


def test_a_run_whose_every_request_fails_is_recorded_failed(tmp_path, capsys):
    scenario = validate_scenario(mini_scenario(), "t")
    summary = run_scenario(scenario, tmp_path / "run", backends={"bot": FailingBackend()},
                           progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and summary.all_failed
    assert manifest["failed_decisions"] == manifest["decisions"] == 36
    assert "every request failed" in manifest["error"]


def test_partial_failures_are_counted_in_a_completed_manifest(tmp_path):
    scenario = validate_scenario(mini_scenario(), "t")
    run_scenario(scenario, tmp_path / "run", backends={"bot": RationalBackend()},
                 progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["failed_decisions"] == 0


def full_disk_at(monkeypatch, tick_to_fail: int):
    """Make the Parquet writer run out of space at one tick, after writing half a file."""
    import sim.engine.recorder as recorder

    real = recorder.pq.write_table
    calls = {"n": 0}

    def write_table(table, where, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == tick_to_fail:
            with open(where, "wb") as handle:
                handle.write(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(recorder.pq, "write_table", write_table)


def test_full_disk_is_one_line_marks_the_run_failed_and_leaves_no_temp_files(
        tmp_path, monkeypatch, capsys, write_yaml):
    from cli.main import main

    full_disk_at(monkeypatch, 2)
    out = tmp_path / "run"
    code = main(["run", str(write_yaml(mini_scenario())), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "part-000002.parquet: cannot write (No space left on device)" in err
    assert f"{out}: it holds ticks 1-1, complete; free some space and re-run" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["ticks_completed"] == 1
    assert "No space left" in manifest["error"]
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")
                 or p.name == ".disk-reserve"]
    assert leftovers == []
    assert len(pd.read_csv(out / "ticks.csv")) == 1
    assert len(pd.read_parquet(out / "decisions.parquet")) == 12


@pytest.mark.parametrize("unlink_open", [True, False], ids=["open-unlinked", "named-file"])
def test_full_disk_even_for_the_manifest_uses_the_reserve(tmp_path, monkeypatch, unlink_open):
    """While the reserve is held the manifest cannot be written; releasing it helps.

    On POSIX the reserve is an open, unlinked file (nothing named in the run directory);
    where open files cannot be unlinked it is a named file, deleted when released.
    """
    import os

    import sim.engine.recorder as recorder

    monkeypatch.setattr(recorder, "UNLINK_OPEN_FILES", unlink_open)
    real = recorder.write_json_atomic
    runs: list[RunRecorder] = []

    def write_json(path, payload):
        if runs and runs[0]._reserve.held:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, payload)

    monkeypatch.setattr(recorder, "write_json_atomic", write_json)
    run = RunRecorder(tmp_path / "run")
    run.start({"name": "x"})
    runs.append(run)
    named = tmp_path / "run" / recorder.RESERVE_NAME
    assert run._reserve.held
    if unlink_open:
        assert not named.exists()
        assert os.fstat(run._reserve._fd).st_size == recorder.RESERVE_BYTES
    else:
        assert named.stat().st_size == recorder.RESERVE_BYTES
    with pytest.raises(RunDirectoryError, match=r"manifest.json: cannot write"):
        run.write_tick(1, _empty_decisions(), [], {})
    manifest = run.finish("failed", error="disk full")
    assert not run._reserve.held and not named.exists()
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert on_disk["status"] == manifest["status"] == "failed"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_a_started_run_removes_a_stale_named_reserve(tmp_path):
    import sim.engine.recorder as recorder

    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / recorder.RESERVE_NAME
    stale.write_bytes(b"\0" * 10)
    run = RunRecorder(tmp_path / "run", overwrite=True)
    assert not stale.exists()
    stale.write_bytes(b"\0" * 10)  # left by a run killed while it held a named reserve
    run.start({"name": "x"})
    assert not stale.exists() or not recorder.UNLINK_OPEN_FILES
    run.finish("completed")
    assert not stale.exists()


def test_sigkill_of_a_run_leaves_no_reserve_and_the_run_can_be_redone(tmp_path, write_yaml):
    import signal
    import subprocess
    import sys

    from agents.fake_server import FakeOpenAIServer
    from cli.main import main
    from tests.conftest import REPO, endless_openai_scenario, wait_for_ticks

    scenario = endless_openai_scenario(write_yaml)
    out = tmp_path / "run"
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer(latency_s=0.01) as server:
        command = ["run", str(scenario), "--out", str(out), "--cache", str(cache),
                   "--base-url", server.base_url, "--quiet"]
        proc = subprocess.Popen([sys.executable, "-m", "cli", *command], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            manifest = out / "manifest.json"
            wait_for_ticks(proc, out)
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert json.loads(manifest.read_text())["status"] == "running"  # killed mid-run
        assert not (out / ".disk-reserve").exists()
        (out / ".disk-reserve").write_bytes(b"\0" * 10)  # as a named reserve would be left
        assert main([*command, "--overwrite", "--set", "run.ticks=2"]) == 0
    again = json.loads(manifest.read_text())
    assert again["status"] == "completed" and again["ticks_completed"] == 2
    assert not (out / ".disk-reserve").exists()


def _empty_decisions():
    import pyarrow as pa

    from sim.engine.records import DECISION_SCHEMA

    return pa.Table.from_pylist([], schema=DECISION_SCHEMA)


def test_long_answers_are_parsed_whole_and_stored_cut(tmp_path):
    answer = "Explanation: " + "blah " * 5000 + "\nChoice: 2"
    data = mini_scenario(run={"ticks": 1, "seed": 1, "max_stored_answer_chars": 1000})
    run_scenario(validate_scenario(data, "t"), tmp_path / "run",
                 backends={"bot": ScriptedBackend(answers=[answer])}, progress=False)
    decisions = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert (decisions.choice == "suv").all()  # "Choice: 2" sits past the cut
    lines = [json.loads(x) for x in (tmp_path / "run" / "transcripts.jsonl").open()]
    assert all(len(x["answer"]) == 1000 and x["answer_chars"] == len(answer) for x in lines)
