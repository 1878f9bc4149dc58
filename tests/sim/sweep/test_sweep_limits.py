"""Sweep plans too large to hold are refused from their list lengths, before expansion."""

from __future__ import annotations

import tracemalloc

import pytest

from cli.main import main
from tests.sim.sweep.test_spec import write_sweep


@pytest.mark.parametrize("spec", [
    {"replicates": 10_000_000},
    {"grid": {"customers.0.budget": list(range(1, 1001)), "run.ticks": list(range(1, 1001))}},
    {"zip": {"run.ticks": list(range(1, 102))}, "replicates": 1000},
])
def test_oversized_plan_refused_before_expansion(tmp_path, capsys, spec):
    path = write_sweep(tmp_path, spec)
    tracemalloc.start()
    try:
        code = main(["validate", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "more than the 100000 one sweep may hold" in err
    assert peak < 200 * 2**20  # no plan of millions of runs was built


def test_sweep_seed_bounded(tmp_path, capsys):
    path = write_sweep(tmp_path, {"seed": 2**63})
    assert main(["validate", str(path)]) == 2
    assert "seed" in capsys.readouterr().err
