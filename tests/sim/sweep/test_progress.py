"""Sweep progress on a redirected stderr: plain lines, no carriage returns or escape codes."""

from __future__ import annotations

import io
import subprocess
import sys

import yaml

from sim.sweep.progress import ProgressLines, is_terminal
from tests.conftest import REPO, mini_scenario


def test_a_redirected_sweep_writes_plain_progress_lines_and_a_clean_summary(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(mini_scenario(run={"ticks": 2, "seed": 3})))
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "sweep", str(base), "--replicates", "3",
         "--out", str(tmp_path / "sweep")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and all(line.startswith("progress: ") for line in lines)
    assert lines[-1].startswith("progress: 3/3 runs done, 6/6 run-ticks, 72 decisions")
    assert proc.stdout.splitlines()[0].startswith("sweep completed: 3/3 runs completed")


def test_progress_lines_are_periodic():
    stream = io.StringIO()
    lines = ProgressLines(total_runs=2, done_runs=0, todo_ticks=4, stream=stream,
                          every_s=3600)
    for _ in range(4):
        lines.step({"runs": 1}, 10, 1.0)
    lines.run_done({})
    lines.close()
    written = stream.getvalue().splitlines()
    assert written == ["progress: 0/2 runs done, 1/4 run-ticks, 10 decisions (10/s)",
                       "progress: 1/2 runs done, 4/4 run-ticks, 10 decisions (10/s)"]
    assert not is_terminal(stream)
