"""Disclosure conditions (and counterbalanced orders) are balanced over the whole run."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from sim.engine.design_balance import design_slot
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario
from tests.conftest import mini_scenario


def test_the_rotation_continues_across_ticks():
    # 3 conditions; 2 decisions served earlier, so this tick starts at the third condition
    assert [design_slot(2, i, 3) for i in range(4)] == [(2, 0), (0, 1), (1, 1), (2, 1)]
    assert design_slot(0, 0, 1) == (0, 0)
    with pytest.raises(ValueError):
        design_slot(0, 0, 0)


def test_a_long_run_has_equal_cells(tmp_path):
    data = mini_scenario(run={"ticks": 7, "seed": 1, "shoppers_per_tick": 5,
                              "listing_order": "counterbalanced"},
                         information={"disclosure": ["none", "customer", "company", "both"]})
    run_scenario(validate_scenario(data, "test"), tmp_path / "run", progress=False)
    decisions = pq.read_table(tmp_path / "run" / "decisions.parquet").to_pandas()
    assert len(decisions) == 35
    sizes = decisions["disclosure"].value_counts()
    assert sizes.max() - sizes.min() <= 1               # 9, 9, 9, 8
    cells = decisions.groupby(["disclosure", "listing"]).size()
    assert len(cells) == 8 and cells.max() - cells.min() <= 1
