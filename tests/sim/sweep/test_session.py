"""Running sweeps: lockstep batching, the sweep directory, failures, resume after kills, workers."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from agents.backends import base as backend_registry
from agents.backends.pool import BackendPool
from agents.backends.scripted import ScriptedBackend
from agents.errors import SweepError, TinmenError
from cli.main import main
from sim.sweep.session import run_sweep
from sim.sweep.spec import load_plan
from tests.conftest import REPO, mini_scenario

TIMING_COLUMNS = ["latency_ms"]


def write_sweep(tmp_path: Path, spec: dict, scenario: dict | None = None) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(scenario or mini_scenario()))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **spec}, sort_keys=False))
    return path


def one_customer(backend: str = "scripted", ticks: int = 1) -> dict:
    data = mini_scenario(run={"ticks": ticks, "seed": 1})
    data["customers"][0]["count"] = 1
    data["agents"][0]["backend"] = backend
    return data


def rows(sweep_dir: Path) -> pd.DataFrame:
    """The combined dataset, in a canonical order, without timing columns."""
    frame = pd.read_parquet(sweep_dir / "decisions")
    frame["run_id"] = frame["run_id"].astype(str)
    frame = frame.drop(columns=TIMING_COLUMNS)
    return frame.sort_values(["run_id", "tick", "decision_id"]).reset_index(drop=True)


def state(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


# --------------------------------------------------------------------------- lockstep


def test_240_one_tick_runs_make_one_backend_call(tmp_path):
    backend = ScriptedBackend()
    path = write_sweep(tmp_path, {"grid": {"information.disclosure":
                                           ["none", "customer", "company", "both"]},
                                  "replicates": 60}, one_customer())
    result = run_sweep(load_plan(path), tmp_path / "out", progress=False,
                       pool=BackendPool(preset={("scripted", None): backend}))
    assert backend.calls == [240]
    assert result.completed == 240 and result.backend_calls == 1 and result.max_batch == 240
    batches = pd.read_csv(tmp_path / "out" / "batches.csv")
    assert batches[["step", "runs", "requests", "backend_calls"]].values.tolist() == [
        [1, 240, 240, 1]]
    assert batches.batch_sizes.tolist() == ["scripted/None=240"]


def test_runs_of_different_lengths_drop_out_of_the_batch(tmp_path):
    backend = ScriptedBackend()
    path = write_sweep(tmp_path, {"grid": {"run.ticks": [1, 2, 3]}, "replicates": 10},
                       one_customer())
    run_sweep(load_plan(path), tmp_path / "out", progress=False,
              pool=BackendPool(preset={("scripted", None): backend}))
    assert backend.calls == [30, 20, 10]
    ticks = {r["run_id"]: r["ticks"] for r in state(tmp_path / "out")["runs"]}
    counts = rows(tmp_path / "out").groupby("run_id").size().to_dict()
    assert counts == ticks  # one decision per tick per run


def test_max_active_bounds_the_runs_advanced_together(tmp_path):
    backend = ScriptedBackend()
    path = write_sweep(tmp_path, {"replicates": 12}, one_customer())
    run_sweep(load_plan(path), tmp_path / "out", progress=False, max_active=5,
              pool=BackendPool(preset={("scripted", None): backend}))
    assert backend.calls == [5, 5, 2]


def test_runs_share_backends_by_name_model_and_options(tmp_path):
    calls: list[tuple[str | None, int]] = []

    class Counting(ScriptedBackend):
        def generate(self, requests):
            calls.append((self.model, len(requests)))
            return super().generate(requests)

    pool = BackendPool(preset={("scripted", "a"): Counting("a"), ("scripted", "b"): Counting("b")})
    path = write_sweep(tmp_path, {"grid": {"agents.0.model": ["a", "b"]}, "replicates": 3},
                       one_customer())
    run_sweep(load_plan(path), tmp_path / "out", progress=False, pool=pool)
    assert sorted(calls) == [("a", 3), ("b", 3)]


def test_every_request_carries_its_replicate_index(tmp_path):
    seen: list[int] = []

    def script(request):
        seen.append(request.replicate)
        return "Choice: 1"

    path = write_sweep(tmp_path, {"replicates": 4}, one_customer())
    run_sweep(load_plan(path), tmp_path / "out", progress=False,
              pool=BackendPool(preset={("scripted", None): ScriptedBackend(script=script)}))
    assert sorted(seen) == [0, 1, 2, 3]


def test_lockstep_rows_equal_separate_runs(tmp_path):
    from sim.engine.run import run_scenario
    from sim.scenario.loader import validate_scenario

    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]},
                                  "replicates": 2}, mini_scenario(run={"ticks": 2, "seed": 3}))
    plan = load_plan(path)
    run_sweep(plan, tmp_path / "out", progress=False)
    together = rows(tmp_path / "out")
    for run in plan.runs:
        run_scenario(validate_scenario(plan.scenario_data(run), "t"), tmp_path / run.run_id,
                     progress=False)
        alone = pd.read_parquet(tmp_path / run.run_id / "decisions.parquet")
        mine = together[together.run_id == run.run_id].drop(columns="run_id")
        alone = alone.drop(columns=TIMING_COLUMNS).sort_values(["tick", "decision_id"])
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), alone.reset_index(drop=True),
                                      check_dtype=False)


# --------------------------------------------------------------------------- outputs


def test_sweep_directory_layout(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"information.disclosure": ["none", "both"]},
                                  "replicates": 3})
    plan = load_plan(path)
    out = tmp_path / "out"
    result = run_sweep(plan, out, progress=False)
    assert result.status == "completed" and result.completed == 6 and result.decisions == 216
    recorded = state(out)
    assert recorded["sweep_id"] == plan.sweep_id and recorded["status"] == "completed"
    assert recorded["counts"] == {"pending": 0, "running": 0, "completed": 6, "failed": 0}
    assert recorded["spec"]["grid"] == {"information.disclosure": ["none", "both"]}
    assert [c["values"] for c in recorded["cells"]] == [{"information.disclosure": "none"},
                                                        {"information.disclosure": "both"}]
    for entry in recorded["runs"]:
        manifest = json.loads((out / "runs" / entry["run_id"] / "manifest.json").read_text())
        assert manifest["status"] == "completed" and manifest["run_id"] == entry["run_id"]
        assert manifest["sweep"] == {"sweep_id": plan.sweep_id, "cell": entry["cell"],
                                     "replicate": entry["replicate"]}
        assert manifest["root_seed"] == entry["seed"]
        for name in ("decisions.parquet", "transcripts.jsonl", "ticks.csv"):
            assert (out / "runs" / entry["run_id"] / name).exists()
    combined = pd.read_parquet(out / "decisions")  # one call loads the whole sweep
    assert len(combined) == 216 and "run_id" in combined.columns
    assert combined.groupby("run_id", observed=True).size().to_dict() == {
        e["run_id"]: e["decisions"] for e in recorded["runs"]}
    by_run = {e["run_id"]: e["cell"]["information.disclosure"] for e in recorded["runs"]}
    assert (combined.disclosure == combined.run_id.astype(str).map(by_run)).all()


def test_rerunning_skips_completed_runs(tmp_path):
    path = write_sweep(tmp_path, {"replicates": 3})
    out = tmp_path / "out"
    run_sweep(load_plan(path), out, progress=False)
    before = rows(out)
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("manifest.json")}
    again = run_sweep(load_plan(path), out, progress=False)
    assert again.skipped == 3 and again.decisions == 0 and again.steps == 0
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("manifest.json")}
    pd.testing.assert_frame_equal(before, rows(out))
    assert [s["session"] for s in state(out)["sessions"]] == [1, 2]


def test_default_directory_is_stable_and_other_sweeps_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_sweep(tmp_path, {"replicates": 2})
    plan = load_plan(path)
    first = run_sweep(plan, progress=False)
    assert first.root == Path("sweeps") / f"sweep-{plan.sweep_id[:8]}"
    other = load_plan(path, replicates=3)
    with pytest.raises(SweepError, match="holds a different sweep.*--overwrite"):
        run_sweep(other, first.root, progress=False)
    assert run_sweep(other, first.root, progress=False, overwrite=True).completed == 3
    with pytest.raises(SweepError, match="no sweep to resume"):
        run_sweep(plan, tmp_path / "empty", resume=True, progress=False)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(SweepError, match="is not a sweep directory"):
        run_sweep(plan, precious, overwrite=True, progress=False)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_failing_run_is_recorded_and_retried_on_resume(tmp_path, monkeypatch):
    from sim.engine.model import MarketModel

    original = MarketModel.step

    def broken(self, *args, **kwargs):
        if self.scenario.run.ticks == 2:
            raise RuntimeError("model bug")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MarketModel, "step", broken)
    path = write_sweep(tmp_path, {"grid": {"run.ticks": [1, 2]}, "replicates": 2})
    out = tmp_path / "out"
    result = run_sweep(load_plan(path), out, progress=False)
    assert (result.completed, result.failed) == (2, 2)
    recorded = state(out)
    assert recorded["status"] == "completed_with_failures"
    failed = [r for r in recorded["runs"] if r["status"] == "failed"]
    assert {r["error"] for r in failed} == {"RuntimeError: model bug"}
    for entry in failed:
        manifest = json.loads((out / "runs" / entry["run_id"] / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "model bug" in manifest["error"]
    assert len(rows(out)) == 2 * 12  # only the completed runs are in the dataset
    monkeypatch.setattr(MarketModel, "step", original)
    again = run_sweep(load_plan(path), out, progress=False)
    assert (again.skipped, again.completed, again.failed) == (2, 4, 0)
    assert len(rows(out)) == 2 * 12 + 2 * 24


def test_unknown_backend_stops_before_anything_runs(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"agents.0.backend": ["rational", "rationl"]}})
    with pytest.raises(TinmenError, match="agents.0.backend: unknown backend 'rationl'.*did "
                       "you mean 'rational'"):
        run_sweep(load_plan(path), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_sweep_dry_run_run_and_rerun(tmp_path, capsys):
    path = write_sweep(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]}})
    out = str(tmp_path / "out")
    assert main(["sweep", str(path), "--dry-run", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "2 cells x 1 replicates = 2 runs" in printed and not Path(out).exists()
    assert main(["sweep", str(path), "--out", out, "--replicates", "2", "--quiet"]) == 0
    assert main(["sweep", str(path), "--out", out, "--replicates", "2"]) == 0
    printed = capsys.readouterr().out
    assert "4/4 runs completed (4 already done, 0 failed)" in printed
    assert main(["sweep", "--resume", "--out", out]) == 0


def test_cli_sweep_errors_are_one_line(tmp_path, capsys):
    path = write_sweep(tmp_path, {})
    assert main(["sweep", str(path), "--grid", "information.monitorng=0,1"]) == 2
    assert main(["sweep", "--resume"]) == 2
    assert main(["sweep", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert main(["sweep", str(path), "--executor", "local", "--workers", "0",
                 "--out", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert "did you mean 'monitoring'?" in err[0] and "--resume --out DIR" in err[1]
    assert "no sweep.json there" in err[2] and "--workers 0" in err[3]


def test_ray_executor_without_ray_names_the_extra(tmp_path):
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("ray is installed: tests/sim/test_sweep_ray.py runs it")
    with pytest.raises(SweepError, match=r"pip install 'tinmen\[ray\]'"):
        run_sweep(load_plan(write_sweep(tmp_path, {})), tmp_path / "out", executor="ray",
                  progress=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- workers


def test_two_worker_processes_give_the_same_rows(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"run.ticks": [1, 2, 3]}, "replicates": 2},
                       mini_scenario(run={"ticks": 1, "seed": 2}))
    plan = load_plan(path)
    run_sweep(plan, tmp_path / "one", progress=False)
    result = run_sweep(plan, tmp_path / "two", progress=False, workers=2)
    assert result.completed == 6 and result.failed == 0
    pd.testing.assert_frame_equal(rows(tmp_path / "one"), rows(tmp_path / "two"))
    recorded = state(tmp_path / "two")
    assert {r["worker"] for r in recorded["runs"]} == {0, 1}
    batches = pd.read_csv(tmp_path / "two" / "batches.csv")
    assert set(batches.worker) == {0, 1}
    assert batches.requests.sum() == len(rows(tmp_path / "two"))


def test_workers_get_registered_backends_and_their_own_environment(tmp_path, monkeypatch):
    monkeypatch.setitem(backend_registry._REGISTRY, "envchoice",
                        ("tests.sim.sweep.slow_backend", "EnvChoiceBackend", None))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    data = one_customer("envchoice")
    path = write_sweep(tmp_path, {"replicates": 4}, data)
    with pytest.raises(SweepError, match="--worker-env: needs --workers 2"):
        run_sweep(load_plan(path), tmp_path / "one", progress=False,
                  worker_env={"TINMEN_TEST_CHOICE": ["1", "2"]})
    run_sweep(load_plan(path), tmp_path / "out", progress=False, workers=2,
              worker_env={"TINMEN_TEST_CHOICE": ["1", "2"]})
    frame = rows(tmp_path / "out")
    worker = {r["run_id"]: r["worker"] for r in state(tmp_path / "out")["runs"]}
    frame["worker"] = frame.run_id.map(worker)
    assert frame.groupby("worker").choice_number.unique().map(list).to_dict() == {
        0: [1], 1: [2]}


# --------------------------------------------------------------------------- interrupts

SLOW_SWEEP_SCRIPT = (
    "import sys\n"
    "from agents.backends.base import register_backend\n"
    "register_backend('slow', 'tests.sim.sweep.slow_backend', 'SlowBackend')\n"
    "from cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.fixture
def slow_backend(monkeypatch):
    """Register the test-only 'slow' backend in this process too."""
    monkeypatch.setitem(backend_registry._REGISTRY, "slow",
                        ("tests.sim.sweep.slow_backend", "SlowBackend", None))


def slow_sweep(tmp_path: Path) -> Path:
    """12 runs of 1..6 ticks: runs complete one pair per lockstep step."""
    data = mini_scenario(run={"ticks": 1, "seed": 4})
    data["agents"][0]["backend"] = "slow"
    return write_sweep(tmp_path, {"grid": {"run.ticks": [1, 2, 3, 4, 5, 6]}, "replicates": 2},
                       data)


def start_slow_sweep(path: Path, out: Path, *extra: str, delay: float = 0.4
                     ) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TINMEN_TEST_BACKEND_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, "-c", SLOW_SWEEP_SCRIPT, "sweep", str(path),
                             "--out", str(out), "--quiet", *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_published_runs(out: Path, proc: subprocess.Popen, at_least: int = 1) -> int:
    """Poll the combined dataset until `at_least` runs are published; return how many."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = len(list((out / "decisions").glob("run_id=*"))) if out.exists() else 0
        if done >= at_least:
            return done
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended early: {proc.communicate()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("no run completed within 60 s")


def test_resume_after_sigkill_gives_exactly_the_uninterrupted_rows(tmp_path, slow_backend):
    path = slow_sweep(tmp_path)
    plan = load_plan(path)
    run_sweep(plan, tmp_path / "reference", progress=False)
    expected = rows(tmp_path / "reference")
    assert len(expected) == 2 * 12 * (1 + 2 + 3 + 4 + 5 + 6)

    out = tmp_path / "killed"
    proc = start_slow_sweep(path, out)
    wait_for_published_runs(out, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    completed_before = {p.name.split("=", 1)[1] for p in (out / "decisions").glob("run_id=*")}
    assert 0 < len(completed_before) < len(plan.runs)  # killed mid-sweep
    kept = {run_id: (out / "runs" / run_id / "manifest.json").stat().st_mtime_ns
            for run_id in completed_before}

    result = run_sweep(plan, out, progress=False)  # the same sweep again: resumes
    assert result.skipped == len(completed_before)
    assert result.completed == len(plan.runs) and result.failed == 0
    resumed = rows(out)
    assert not resumed.duplicated(["run_id", "tick", "decision_id"]).any()
    pd.testing.assert_frame_equal(resumed, expected)
    assert kept == {run_id: (out / "runs" / run_id / "manifest.json").stat().st_mtime_ns
                    for run_id in completed_before}  # completed runs were not run again


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_cleanly_and_say_how_to_resume(tmp_path, slow_backend,
                                                               signum, code):
    path = slow_sweep(tmp_path)
    out = tmp_path / "out"
    proc = start_slow_sweep(path, out)
    wait_for_published_runs(out, proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith(f"interrupted: sweep interrupted by {signal.Signals(signum).name}")
    assert f"resume with: tinmen sweep --resume --out {out}" in lines[0]
    recorded = state(out)
    assert recorded["status"] == "interrupted" and recorded["counts"]["running"] == 0
    assert 0 < recorded["counts"]["completed"] < 12
    stopped = [r for r in recorded["runs"] if r["status"] == "pending" and r["attempts"]]
    assert stopped and all(
        json.loads((out / r["run_dir"] / "manifest.json").read_text())["status"]
        == "interrupted" for r in stopped)
    assert main(["sweep", "--resume", "--out", str(out), "--quiet"]) == 0
    assert state(out)["counts"]["completed"] == 12
    run_sweep(load_plan(path), tmp_path / "reference", progress=False)
    pd.testing.assert_frame_equal(rows(out), rows(tmp_path / "reference"))


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state_ not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_stop_when_the_coordinator_is_killed(tmp_path, slow_backend):
    path = slow_sweep(tmp_path)
    out = tmp_path / "out"
    proc = start_slow_sweep(path, out, "--workers", "2")
    wait_for_published_runs(out, proc)
    workers = [pid for pid in child_pids(proc.pid) if alive(pid)]
    assert len(workers) >= 2  # two workers (and the spawn resource tracker)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)
    result = run_sweep(load_plan(path), out, progress=False)
    assert result.completed == 12 and result.failed == 0
    run_sweep(load_plan(path), tmp_path / "reference", progress=False)
    pd.testing.assert_frame_equal(rows(out), rows(tmp_path / "reference"))


def test_sigterm_stops_worker_processes_cleanly(tmp_path, slow_backend):
    path = slow_sweep(tmp_path)
    out = tmp_path / "out"
    proc = start_slow_sweep(path, out, "--workers", "2")
    wait_for_published_runs(out, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 143, stderr
    recorded = state(out)
    assert recorded["counts"]["running"] == 0 and recorded["counts"]["completed"] < 12
    assert main(["sweep", "--resume", "--out", str(out), "--quiet"]) == 0
    run_sweep(load_plan(path), tmp_path / "reference", progress=False)
    pd.testing.assert_frame_equal(rows(out), rows(tmp_path / "reference"))


def test_sweep_reuses_the_response_cache_through_the_cli(tmp_path, capsys):
    """A second sweep with the same --cache asks the server nothing and decides the same."""
    from agents.fake_server import FakeOpenAIServer
    from cli.main import main

    with FakeOpenAIServer() as server:
        data = mini_scenario(run={"ticks": 1, "seed": 7})
        data["agents"][0].update(backend="openai", model="fake-model",
                                 backend_options={"base_urls": [server.base_url],
                                                  "backoff_s": 0.01, "timeout_s": 5.0})
        base = tmp_path / "base.yaml"
        base.write_text(yaml.safe_dump(data))
        cache = tmp_path / "cache.sqlite"
        args = [str(base), "--grid", "information.disclosure=none,customer",
                "--replicates", "2", "--cache", str(cache), "--quiet"]
        assert main(["sweep", *args, "--out", str(tmp_path / "first")]) == 0
        first_requests = len(server.arrivals)
        server.reset()
        assert main(["sweep", *args, "--out", str(tmp_path / "second")]) == 0
        assert len(server.arrivals) == 0
    assert first_requests == 4 * 12  # 2 cells x 2 replicates x 12 customers
    columns = ["run_id", "decision_id", "seed", "choice", "valid", "outcome"]

    def rows(where):
        frame = pd.read_parquet(where / "decisions")
        frame["run_id"] = frame["run_id"].astype(str)
        return frame.sort_values(["run_id", "decision_id"]).reset_index(drop=True)

    first, second = rows(tmp_path / "first"), rows(tmp_path / "second")
    pd.testing.assert_frame_equal(first[columns], second[columns])
    assert not first.cached.any() and second.cached.all()


def test_workers_that_die_before_running_leave_failed_runs_not_a_finished_sweep(tmp_path):
    """Spawned workers cannot start when the parent's main module is stdin: the sweep must
    say so (failed runs, exit 1) instead of reporting success, and --resume finishes it."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(mini_scenario(run={"ticks": 1})))
    out = tmp_path / "sweep"
    args = [str(tmp_path / "base.yaml"), "--replicates", "4", "--workers", "2", "--quiet",
            "--out", str(out)]
    script = f"import sys; from cli.main import main; sys.exit(main(['sweep', *{args!r}]))"
    proc = subprocess.run([sys.executable, "-"], input=script, cwd=REPO, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 1
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    entries = list(runs.values()) if isinstance(runs, dict) else runs
    assert {e["status"] for e in entries} == {"failed"}
    assert all(e["error"].startswith("never ran: a worker process exited") for e in entries)
    resumed = subprocess.run([sys.executable, "-m", "cli", "sweep", *args, "--resume"],
                             cwd=REPO, text=True, capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    entries = list(runs.values()) if isinstance(runs, dict) else runs
    assert {e["status"] for e in entries} == {"completed"}
