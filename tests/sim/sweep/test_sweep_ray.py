"""The Ray executor, in a local Ray instance (skipped where ray is not installed)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from sim.sweep.session import run_sweep
from sim.sweep.spec import load_plan
from tests.conftest import mini_scenario

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_ray_tasks_give_the_same_rows_as_one_process(tmp_path, local_ray):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(mini_scenario()))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"run.ticks": [1, 2]},
                                    "replicates": 2}))
    plan = load_plan(path)
    run_sweep(plan, tmp_path / "local", progress=False)
    result = run_sweep(plan, tmp_path / "ray", executor="ray", workers=2, progress=False)
    assert result.completed == 4 and result.failed == 0

    def rows(where):
        frame = pd.read_parquet(where / "decisions").drop(columns=["latency_ms"])
        frame["run_id"] = frame["run_id"].astype(str)
        return frame.sort_values(["run_id", "tick", "decision_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(tmp_path / "local"), rows(tmp_path / "ray"))
