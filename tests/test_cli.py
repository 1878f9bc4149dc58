"""The command line: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from sim.cli import main
from tests.conftest import REPO, SCENARIOS, mini_scenario


def test_validate_ok(capsys):
    assert main(["validate", str(SCENARIOS / "tin_men.yaml")]) == 0
    assert "ok:" in capsys.readouterr().out


def test_validate_bad_file_exits_2_with_one_line(write_yaml, capsys):
    data = mini_scenario()
    data["run"] = {"tiks": 1}
    good = SCENARIOS / "tin_men.yaml"
    assert main(["validate", str(good), str(write_yaml(data))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.tiks" in err[0] and "did you mean 'ticks'?" in err[0]


def test_run_writes_run_directory_and_summary(tmp_path, write_yaml, capsys):
    out = tmp_path / "run"
    code = main(["run", str(write_yaml(mini_scenario())), "--out", str(out), "--seed", "5",
                 "--set", "information.disclosure=both", "--backend", "rational"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "36 decisions" in printed and "override rate" in printed and str(out) in printed
    for name in ("manifest.json", "decisions.parquet", "transcripts.jsonl", "ticks.csv"):
        assert (out / name).exists()
    d = pd.read_parquet(out / "decisions.parquet")
    assert set(d.disclosure) == {"both"}


def test_run_errors_exit_2(tmp_path, write_yaml, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert main(["run", str(write_yaml(mini_scenario())), "--backend", "rationl",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "did you mean 'rational'?" in err
    assert "Traceback" not in err


def test_console_script_has_no_traceback_on_bad_input(tmp_path, write_yaml):
    bad = write_yaml("schema_version: 1\nname: [oops\n")
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(bad)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "YAML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_exit_code():
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "frobnicate"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2


def test_run_where_every_request_fails_exits_1_and_says_why(tmp_path, write_yaml, capsys):
    data = mini_scenario()
    data["agents"][0].update(backend="openai", model="m",
                             backend_options={"base_urls": ["http://127.0.0.1:9/v1"],
                                              "max_retries": 0, "timeout_s": 2.0})
    code = main(["run", str(write_yaml(data)), "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 1
    assert "36 of 36 requests failed; most common reason: backend: " in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: every request failed (backend: ")
    assert (tmp_path / "run" / "decisions.parquet").exists()  # the failures are recorded
