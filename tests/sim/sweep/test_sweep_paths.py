"""Edge-list paths in sweeps: read from the file that names them, contained, checked at plan
time, and allowed with --allow-path (in worker processes too)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cli.main import main
from tests.conftest import mini_scenario

SECRET = "root:$6$SECRETHASH$abcdef:19000:0:99999:7:::"
KEY = "dynamics.word_of_mouth.network.path"


def layout(tmp_path: Path, sweep: dict, base_path: str = "nets/base.txt") -> Path:
    """sweeps/sweep.yaml (base: ../scenario/base.yaml), each folder with its own nets/, an
    outside/ folder with a friends file and a secret; the working directory is elsewhere."""
    for folder in ("sweeps/nets", "scenario/nets", "outside", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("sweeps/nets/a.txt", "sweeps/nets/b.txt", "scenario/nets/base.txt",
                 "outside/friends.txt", "outside/more.txt"):
        (tmp_path / name).write_text("buyers-01 buyers-02\n")
    (tmp_path / "outside" / "secret.txt").write_text(SECRET + "\n")
    data = mini_scenario(run={"ticks": 1, "seed": 1})
    data["dynamics"] = {"word_of_mouth": {"network": {"kind": "edge_list", "path": base_path}}}
    (tmp_path / "scenario" / "base.yaml").write_text(yaml.safe_dump(data))
    path = tmp_path / "sweeps" / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "../scenario/base.yaml", **sweep}))
    return path


def sweep_state(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())


def test_values_are_read_from_the_sweep_file_and_the_base_from_its_own(tmp_path, monkeypatch):
    sweep = layout(tmp_path, {"grid": {"information.monitoring": [0.0, 1.0]}})
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative paths must not depend on this
    code = main(["sweep", str(sweep), "--quiet", "--out", str(out),
                 "--set", f"{KEY}=nets/a.txt"])
    assert code == 0
    state = sweep_state(out)
    assert state["spec"]["fixed"][KEY] == str(tmp_path / "sweeps" / "nets" / "a.txt")
    network = state["base_config"]["dynamics"]["word_of_mouth"]["network"]
    assert network["path"] == str(tmp_path / "scenario" / "nets" / "base.txt")
    assert {r["status"] for r in state["runs"]} == {"completed"}
    manifest = json.loads(next(out.glob("runs/*/manifest.json")).read_text())
    assert str(tmp_path / "sweeps" / "nets" / "a.txt") in json.dumps(manifest)


def test_grid_values_and_whole_mappings_resolve_against_the_sweep_file(tmp_path, capsys):
    sweep = layout(tmp_path, {"grid": {
        "dynamics.word_of_mouth.network": [{"kind": "edge_list", "path": "nets/a.txt"},
                                           {"kind": "edge_list", "path": "nets/b.txt"}]}})
    assert main(["validate", str(sweep)]) == 0
    assert "ok: " in capsys.readouterr().out


def test_a_cell_leaving_the_sweep_folder_is_refused_before_anything_runs(tmp_path, capsys):
    sweep = layout(tmp_path, {"grid": {KEY: ["nets/a.txt", "../outside/secret.txt"]}})
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SECRET" not in err
    assert err.startswith(f"error: {sweep}: grid.{KEY}: '../outside/secret.txt' is outside "
                          "the sweep file's folder")
    assert f"--allow-path {tmp_path / 'outside'}" in err
    assert not out.exists()  # checked at plan time: no run started
    assert main(["validate", str(sweep)]) == 2
    assert f"grid.{KEY}: '../outside/secret.txt'" in capsys.readouterr().err


def test_command_line_values_and_the_base_scenario_are_contained_too(tmp_path, capsys):
    sweep = layout(tmp_path, {}, base_path="../outside/friends.txt")
    assert main(["sweep", str(sweep), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"error: {sweep}: base scenario {sweep.parent.parent}/scenario/"
                          f"base.yaml: {KEY}: '../outside/friends.txt' is outside the "
                          "scenario's folder")
    sweep = layout(tmp_path / "two", {})
    network = json.dumps({"kind": "edge_list", "path": "/etc/passwd"})
    code = main(["sweep", str(sweep), "--dry-run", "--set",
                 f"dynamics.word_of_mouth.network={network}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "fixed.dynamics.word_of_mouth.network.path: '/etc/passwd'" in err
    assert "--allow-path /etc" in err and "root:" not in err


def test_allow_path_admits_a_folder_and_contents_are_checked_at_plan_time(tmp_path, capsys):
    sweep = layout(tmp_path, {"grid": {KEY: [str(tmp_path / "outside" / "friends.txt"),
                                             str(tmp_path / "outside" / "secret.txt")]}})
    outside = str(tmp_path / "outside")
    assert main(["validate", str(sweep), "--allow-path", outside]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SECRET" not in err
    assert "line 1: expected two customer ids" in err and str(sweep) in err


def test_worker_processes_get_the_allowance_and_resume_needs_it_again(tmp_path, capsys):
    sweep = layout(tmp_path, {"grid": {KEY: ["../outside/friends.txt",
                                             "../outside/more.txt"]}})
    out = tmp_path / "out"
    outside = str(tmp_path / "outside")
    code = main(["sweep", str(sweep), "--quiet", "--out", str(out), "--workers", "2",
                 "--allow-path", outside])
    assert code == 0, capsys.readouterr().err
    state = sweep_state(out)
    assert {r["status"] for r in state["runs"]} == {"completed"}
    assert state["sessions"][-1]["workers"] == 2
    assert main(["sweep", "--resume", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is outside the sweep file's folder" in err
    assert main(["sweep", "--resume", "--out", str(out), "--quiet",
                 "--allow-path", outside]) == 0


def test_a_worker_refuses_a_path_outside_the_folders_it_was_given(tmp_path):
    from sim.sweep.lockstep import RunJob, run_lockstep

    layout(tmp_path, {})
    data = mini_scenario(run={"ticks": 1, "seed": 1})
    data["dynamics"] = {"word_of_mouth": {"network": {
        "kind": "edge_list", "path": str(tmp_path / "outside" / "friends.txt")}}}
    job = RunJob(run_id="r1", config=data, replicate=0, ticks=1,
                 data_folders=(str(tmp_path / "sweeps"), str(tmp_path / "scenario")))
    events: list = []
    try:
        run_lockstep([job], tmp_path / "out", events.append)
    except Exception as exc:  # noqa: BLE001 - the error every run would hit ends the sweep
        assert "is outside the sweep file's folder" in str(exc)
    finished = [e for e in events if type(e).__name__ == "RunFinished"]
    assert finished and finished[0].status == "failed"


def test_a_scenario_swept_from_the_command_line_reads_values_from_its_folder(tmp_path,
                                                                            capsys):
    sweep = layout(tmp_path, {})
    scenario = tmp_path / "scenario" / "base.yaml"
    (tmp_path / "scenario" / "nets" / "other.txt").write_text("buyers-03 buyers-04\n")
    assert main(["sweep", str(scenario), "--dry-run", "--grid",
                 f"{KEY}=nets/base.txt,nets/other.txt"]) == 0
    assert main(["sweep", str(scenario), "--dry-run", "--grid",
                 f"{KEY}=nets/base.txt,../sweeps/nets/a.txt"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and sweep.exists()
    assert err.startswith(f"error: {scenario}: grid.{KEY}: '../sweeps/nets/a.txt' is outside "
                          "the scenario's folder")
