"""Ctrl-C on `tinmen run`: how many ticks were recorded, where, and how to continue."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from cli.interrupted import run_interrupted_message
from tests.conftest import REPO, endless_openai_scenario, wait_for_ticks

# Python leaves SIGINT ignored in a child started with it ignored (a background job of a
# script): restore the default so the test sees what a terminal user gets.
RUN_SCRIPT = ("import signal, sys\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "from cli.main import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def test_sigint_says_ticks_recorded_where_and_how_to_continue(tmp_path, write_yaml):
    from agents.fake_server import FakeOpenAIServer

    scenario = endless_openai_scenario(write_yaml)
    out = tmp_path / "run"
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer(latency_s=0.01) as server:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_SCRIPT, "run", str(scenario), "--out", str(out),
             "--cache", str(cache), "--base-url", server.base_url],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_and_interrupt(proc, out)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    manifest = out / "manifest.json"
    recorded = json.loads(manifest.read_text())
    assert recorded["status"] == "interrupted"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    ticks = recorded["ticks_completed"]
    assert lines[0].startswith(f"interrupted by SIGINT: {ticks} ticks of 100000 recorded in "
                               f"{out}/")
    assert f"re-run the same command with the same --cache {cache}" in lines[0]
    assert "--overwrite" in lines[0]


def _wait_and_interrupt(proc: subprocess.Popen, out) -> None:
    wait_for_ticks(proc, out)
    proc.send_signal(signal.SIGINT)


def test_interrupt_message_without_cache_or_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"ticks_completed": 1,
                                                         "ticks_planned": 5}))
    line = run_interrupted_message(tmp_path, signal_name="SIGINT", cache=None, out_given=False)
    assert "1 tick of 5 recorded" in line and "--cache PATH" in line
    assert "--overwrite" not in line
    empty = run_interrupted_message(tmp_path / "none", signal_name="SIGTERM", cache=None,
                                    out_given=True)
    assert empty.startswith("interrupted by SIGTERM before the run started")
