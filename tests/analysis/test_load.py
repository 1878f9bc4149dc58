"""Loading run and sweep directories into tidy frames, including damaged and crashed runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from agents.backends.scripted import ScriptedBackend
from agents.errors import AnalysisError
from analysis import find_run_dirs, load_run, load_runs
from tests.analysis.conftest import edit_manifest, run_into
from tests.conftest import REPO, mini_scenario


def test_load_run_gives_decisions_ticks_and_manifest_columns(tin_men_run):
    runs = load_run(tin_men_run)
    d = runs.decisions
    raw = pd.read_parquet(tin_men_run / "decisions.parquet")
    assert len(d) == len(raw) == 240
    assert d["run_id"].unique().tolist() == [tin_men_run.name]
    assert set(d["status"]) == {"completed"} and set(d["scenario_name"]) == {"tin_men"}
    assert str(d["override"].dtype) == "boolean"
    assert d["override"].sum() == raw["override"].sum()
    assert (d["customer_reads"] == d["disclosure"].isin(["customer", "both"])).all()
    assert (d["company_reads"] == d["disclosure"].isin(["company", "both"])).all()
    assert set(d["agent_spec"]) == {"petro_assistant", "lumen_assistant"}
    assert d.loc[d["company"] == "petro", "company_persona"].str.contains("oil").all()
    assert (d["explanation_reveals"] == 1.0).all()
    assert len(runs.ticks) == 1 and runs.ticks["decisions"].iloc[0] == 240
    assert runs.ticks["run_id"].iloc[0] == tin_men_run.name
    assert runs.runs.loc[0, "decisions"] == 240 and runs.incomplete.empty
    assert runs.manifests[tin_men_run.name]["scenario_name"] == "tin_men"


def test_products_and_margins_come_from_the_manifest(tin_men_run):
    runs = load_run(tin_men_run)
    products = runs.products().set_index("product_id")
    assert products.loc["petrol_suv", "price"] == 50000
    assert products.loc["electric_car", "attr_electric"] == 1.0
    assert products.loc["petrol_suv", "attr_electric"] == 0.0
    assert products.loc["romcom_film", "attr_harmful"] == 0.0
    margins = runs.margins().set_index(["product_id", "company"])["margin"]
    assert margins[("petrol_suv", "petro")] == 3000 and margins[("romcom_film", "lumen")] == 1.6


def test_invalid_answers_leave_override_null(tmp_path):
    backend = ScriptedBackend(answers=["Choice: 1", "I am not sure what to say.", None,
                                       "I refuse to buy anything."])
    out = run_into(tmp_path / "run", data=mini_scenario(), backends={"bot": backend})
    d = load_run(out).decisions
    assert len(d) == 36
    invalid = ~d["valid"]
    assert invalid.sum() == 18  # the unparsed and the failed answers
    assert d.loc[invalid, "override"].isna().all()
    assert d.loc[~invalid, "override"].notna().all()
    assert set(d.loc[invalid, "outcome"]) == {"invalid", "failed"}


def test_crashed_run_loads_what_it_recorded_and_exposes_status(tin_men_copy):
    edit_manifest(tin_men_copy, status="running", finished_at=None)
    # a part still being written when the process died is ignored
    stray = tin_men_copy / "decisions.parquet" / "part-000002.parquet.tmp"
    stray.write_bytes(b"half a file")
    runs = load_run(tin_men_copy)
    assert len(runs.decisions) == 240
    assert set(runs.decisions["status"]) == {"running"}
    assert runs.incomplete["run_id"].tolist() == [tin_men_copy.name]


def test_failed_run_with_nothing_recorded(tin_men_copy):
    edit_manifest(tin_men_copy, status="failed", ticks_completed=0)
    for part in (tin_men_copy / "decisions.parquet").iterdir():
        part.unlink()
    (tin_men_copy / "ticks.csv").unlink()
    runs = load_run(tin_men_copy)
    assert runs.decisions.empty and "override" in runs.decisions
    assert "customer_reads" in runs.decisions
    assert runs.ticks.empty and "override_rate" in runs.ticks
    assert runs.runs.loc[0, "status"] == "failed"


def make_sweep(root, source, cells):
    """A sweep directory in the layout of the sweep runner: sweep.json + runs/<run_id>/."""
    (root / "runs").mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps({"sweep_id": "s1", "cells": len(cells)}))
    for i, (cell, replicate) in enumerate(cells):
        run_dir = root / "runs" / f"run-{i:03d}"
        shutil.copytree(source, run_dir)
        edit_manifest(run_dir, sweep={"sweep_id": "s1", "cell": cell, "replicate": replicate})
    return root


def test_sweep_directory_exposes_cell_columns_run_id_and_replicate(tin_men_run, tmp_path):
    cells = [({"information.monitoring": m, "agents.0.sampling.temperature": 0.2}, r)
             for m in (0.0, 0.5) for r in (0, 1)]
    sweep = make_sweep(tmp_path / "sweep", tin_men_run, cells)
    runs = load_runs(sweep)
    assert runs.sweep == {"sweep_id": "s1", "cells": 4}
    assert runs.cell_columns == ("information.monitoring", "agents.0.sampling.temperature")
    d = runs.decisions
    assert len(d) == 4 * 240
    assert sorted(d["run_id"].unique()) == [f"run-{i:03d}" for i in range(4)]
    by_run = d.groupby("run_id")[["information.monitoring", "replicate", "sweep_id"]].first()
    assert by_run.loc["run-001"].tolist() == [0.0, 1, "s1"]
    assert by_run.loc["run-002"].tolist() == [0.5, 0, "s1"]
    assert set(runs.ticks["information.monitoring"]) == {0.0, 0.5}
    assert len(runs.runs) == 4 and set(runs.runs["replicate"]) == {0, 1}
    # list values of a cell become hashable strings
    edit_manifest(sweep / "runs" / "run-000", sweep={
        "sweep_id": "s1", "cell": {"information.disclosure": ["customer", "none"]},
        "replicate": 0})
    d = load_runs(sweep).decisions
    assert d.loc[d["run_id"] == "run-000", "information.disclosure"].iloc[0] == \
        '["customer","none"]'


def test_load_runs_on_several_directories_and_duplicate_names(tin_men_run, tmp_path):
    a = shutil.copytree(tin_men_run, tmp_path / "a" / "run")
    b = shutil.copytree(tin_men_run, tmp_path / "b" / "run")
    runs = load_runs([a, b])
    assert runs.decisions["run_id"].nunique() == 2  # same name: the full path is the id
    assert set(runs.decisions["run_id"]) == {str(a), str(b)}
    assert find_run_dirs(tmp_path) == [a, b]


def test_errors_are_one_line_and_name_the_path(tmp_path, tin_men_copy):
    with pytest.raises(AnalysisError, match="no such directory"):
        load_runs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError, match="no run directories found"):
        load_runs(tmp_path / "empty")
    with pytest.raises(AnalysisError, match="not a directory"):
        load_runs(tin_men_copy / "manifest.json")
    with pytest.raises(AnalysisError, match="not a run directory"):
        load_run(tmp_path)
    with pytest.raises(AnalysisError, match="no directories"):
        load_runs([])
    (tin_men_copy / "manifest.json").write_text("{not json")
    with pytest.raises(AnalysisError) as info:
        load_run(tin_men_copy)
    assert "manifest.json" in str(info.value) and "\n" not in str(info.value)


def test_damaged_parquet_part_is_reported(tin_men_copy):
    part = next((tin_men_copy / "decisions.parquet").glob("*.parquet"))
    part.write_bytes(b"PAR1 garbage")
    with pytest.raises(AnalysisError, match="unreadable Parquet"):
        load_run(tin_men_copy)


def test_analysis_never_imports_the_engine():
    code = ("import sys, analysis, analysis.report, analysis.plots; "
            "allowed = {'sim', 'sim.engine', 'sim.engine.records', 'agents', 'agents.errors'}; "
            "bad = [m for m in sys.modules if m == 'mesa' or (m.split('.')[0] in "
            "('sim', 'agents') and m not in allowed)]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (REPO / "analysis").glob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("from sim", "import sim")):
                assert line.startswith("from sim.engine.records import"), (path, line)


def test_ticks_of_older_runs_keep_their_agency_loss_under_its_meaning(tin_men_copy):
    from analysis.viewer.data import tick_series

    path = tin_men_copy / "ticks.csv"
    ticks = pd.read_csv(path)
    old = ticks.drop(columns=["mean_agency_loss_unread_as_outside"])
    old["mean_agency_loss"] = 0.75          # recorded with unreadable answers as full loss
    old.to_csv(path, index=False)
    loaded = load_run(tin_men_copy).ticks
    assert loaded["mean_agency_loss_unread_as_outside"].tolist() == [0.75]
    assert loaded["mean_agency_loss"].isna().all()
    assert list(loaded.columns).index("mean_agency_loss_unread_as_outside") == \
        list(loaded.columns).index("mean_agency_loss") + 1
    assert tick_series(tin_men_copy)["agency loss"].isna().all()
    ticks.to_csv(path, index=False)            # a current file passes unchanged
    current = load_run(tin_men_copy).ticks
    columns = ["mean_agency_loss", "mean_agency_loss_unread_as_outside"]
    assert current[columns].equals(ticks[columns])
