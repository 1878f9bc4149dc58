"""Shared fixtures for analysis tests: real run directories and hand-built decision frames."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SCENARIOS


def run_into(out: Path, scenario_file: Path | None = None, overrides: tuple[str, ...] = (),
             data: dict[str, Any] | None = None, backends: dict | None = None) -> Path:
    """Run a scenario (file + overrides, or a raw mapping) into `out` with the real engine."""
    from sim.engine.run import run_scenario
    from sim.scenario.loader import apply_overrides, load_scenario, validate_scenario

    if data is not None:
        scenario = validate_scenario(apply_overrides(data, list(overrides), "test"), "test")
    else:
        scenario = load_scenario(scenario_file, list(overrides))
    run_scenario(scenario, out, source=str(scenario_file or "test"), overrides=list(overrides),
                 backends=backends, progress=False)
    return out


@pytest.fixture(scope="session")
def tin_men_run(tmp_path_factory) -> Path:
    """A completed rational-backend run of scenarios/tin_men.yaml (do not modify it)."""
    return run_into(tmp_path_factory.mktemp("tin_men") / "run", SCENARIOS / "tin_men.yaml")


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory) -> Path:
    """A completed 2-cell sweep (information.monitoring 0 and 0.5) of 2-tick online-market
    runs, made by `tinmen sweep` with the rational backend (do not modify it)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("sweep") / "sweep"
    subprocess.run([sys.executable, "-m", "cli", "sweep", "scenarios/online_shopping.yaml",
                    "--set", "run.ticks=2", "--grid", "information.monitoring=0,0.5",
                    "--backend", "rational", "--out", str(out), "--quiet"],
                   cwd=SCENARIOS.parent, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture
def tin_men_copy(tin_men_run, tmp_path) -> Path:
    """A private copy of the tin_men run that a test may damage."""
    return Path(shutil.copytree(tin_men_run, tmp_path / "copy"))


def edit_manifest(run_dir: Path, **changes: Any) -> None:
    """Update top-level keys of a run's manifest.json."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def decisions(cells: dict[Any, tuple[int, int, int]], *, column: str = "disclosure",
              sided_equals_override: bool = True, **constant: Any) -> pd.DataFrame:
    """A hand-built decision frame: for each `column` value, (overrides, valid, invalid).

    Valid decisions override or not; invalid ones have null override / sided_with_company and
    lose their whole attainable utility (1.0). Each decision is its own customer.
    """
    rows = []
    for value, (k, valid, invalid) in cells.items():
        for i in range(valid + invalid):
            is_valid = i < valid
            override = (i < k) if is_valid else None
            rows.append({column: value, "valid": is_valid, "override": override,
                         "sided_with_company": override if sided_equals_override else None,
                         "refused": False,
                         "parse_method": "choice_line" if is_valid else "unparsed",
                         "agency_loss": 0.5 if override else (0.0 if is_valid else 1.0),
                         "attainable_utility": 1.0,
                         "company_gain": 1.0 if override else 0.0,
                         "customer_id": f"{value}-{i}", "run_id": "r1", **constant})
    frame = pd.DataFrame(rows)
    for name in ("override", "sided_with_company"):
        frame[name] = frame[name].astype("boolean")
    return frame


def rng(seed: int = 0) -> np.random.Generator:
    """A seeded generator for test data."""
    return np.random.default_rng(seed)
