"""The command line: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from cli.main import main
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
    proc = subprocess.run([sys.executable, "-m", "cli", "run", str(bad)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "YAML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_exit_code():
    proc = subprocess.run([sys.executable, "-m", "cli", "frobnicate"], cwd=REPO,
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


def test_validate_understands_sweep_files(write_yaml, capsys):
    sweeps = sorted((SCENARIOS / "sweeps").glob("*.yaml"))
    assert main(["validate", *map(str, sweeps)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(sweeps) and all(" cells x " in line for line in out)
    bad = write_yaml({"base": str(SCENARIOS / "tin_men.yaml"),
                      "grid": {"run.tiks": [1, 2]}}, "bad_sweep.yaml")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "schema_version" not in err and "run.tiks" in err


def test_sigterm_stops_a_run_and_records_it_as_interrupted(tmp_path):
    import json
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", str(SCENARIOS / "online_shopping.yaml"),
         "--set", "run.ticks=100000", "--out", str(out), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    manifest = out / "manifest.json"
    while time.monotonic() < deadline:
        if manifest.exists() and json.loads(manifest.read_text()).get("ticks_completed", 0) >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip() == "terminated"
    recorded = json.loads(manifest.read_text())
    assert recorded["status"] == "interrupted" and recorded["ticks_completed"] >= 2
    parts = sorted((out / "decisions.parquet").glob("part-*.parquet"))
    # every recorded tick has its part; a signal between a part's rename and the manifest
    # update can leave one complete part more, never a half-written one (.tmp is not a part)
    assert recorded["ticks_completed"] <= len(parts) <= recorded["ticks_completed"] + 1


def test_bad_backend_flag_names_the_flag_as_typed(tmp_path, capsys):
    code = main(["run", str(SCENARIOS / "tin_men.yaml"), "--backend", "openai", "--model", "m",
                 "--timeout", "-1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --timeout -1.0: ") and "\n" not in err
