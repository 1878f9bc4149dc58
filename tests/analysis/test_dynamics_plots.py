"""Time-series plots of a repeated market, drawn from a real run directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.dynamics import (
    plot_company_profit,
    plot_dynamics_overview,
    plot_injection_success,
    plot_market_shares,
    plot_mean_trust,
    plot_override_rates,
    plot_welfare,
    read_dynamics,
)
from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dyn") / "run"
    scenario = load_scenario(SCENARIOS / "seller_injection.yaml", ["run.ticks=4"])
    run_scenario(scenario, out, progress=False)
    return out


def lines_by_label(fig: Figure, panel: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {line.get_label(): (np.asarray(line.get_xdata()), np.asarray(line.get_ydata()))
            for line in fig.axes[panel].get_lines()}


def test_read_dynamics_reads_the_three_tables(run_dir):
    market, ticks, sanctions = read_dynamics(run_dir)
    assert len(market) == 8 and set(market.company) == {"trustmart", "quickcart"}
    assert len(ticks) == 4 and "injection_success_rate" in ticks
    assert list(sanctions.columns)[:3] == ["tick", "agent_id", "company"]


def test_share_plot_has_one_line_per_company_with_the_data(run_dir):
    market, _, _ = read_dynamics(run_dir)
    fig = plot_market_shares(market)
    assert isinstance(fig, Figure)
    lines = lines_by_label(fig)
    assert set(lines) == {"trustmart", "quickcart"}
    x, y = lines["quickcart"]
    expected = market[market.company == "quickcart"].sort_values("tick")
    assert x.tolist() == expected.tick.tolist() and np.allclose(y, expected.share)
    assert fig.axes[0].get_ylim() == (0, 1)


@pytest.mark.parametrize("plot, column", [(plot_mean_trust, "mean_trust"),
                                          (plot_company_profit, "profit"),
                                          (plot_override_rates, "override_rate")])
def test_company_plots(run_dir, plot, column):
    market, _, _ = read_dynamics(run_dir)
    lines = lines_by_label(plot(market))
    expected = market[market.company == "trustmart"].sort_values("tick")[column]
    assert np.allclose(lines["trustmart"][1], expected)


def test_tick_plots_and_overview(run_dir):
    market, ticks, _ = read_dynamics(run_dir)
    [welfare] = plot_welfare(ticks).axes[0].get_lines()
    assert np.allclose(welfare.get_ydata(), ticks.customer_welfare)
    [injection] = plot_injection_success(ticks).axes[0].get_lines()
    assert np.allclose(injection.get_ydata(), ticks.injection_success_rate)
    overview = plot_dynamics_overview(market, ticks)
    assert len(overview.axes) == 6
    assert [ax.get_title() for ax in overview.axes] == [
        "Market share", "Mean trust", "Company profit", "Override rate", "Customer welfare",
        "Injection success rate"]


def test_overview_draws_only_panels_with_data(run_dir):
    market, ticks, _ = read_dynamics(run_dir)
    market = market.assign(mean_trust=np.nan)
    ticks = ticks.assign(injection_success_rate=np.nan)
    overview = plot_dynamics_overview(market, ticks)
    titles = [ax.get_title() for ax in overview.axes if ax.get_visible()]
    assert titles == ["Market share", "Company profit", "Override rate", "Customer welfare"]


def test_missing_column_and_missing_files_are_clear(tmp_path):
    with pytest.raises(ValueError, match="needs column"):
        plot_market_shares(pd.DataFrame({"tick": [1], "company": ["a"]}))
    with pytest.raises(FileNotFoundError, match="market.csv: not found"):
        read_dynamics(tmp_path)
