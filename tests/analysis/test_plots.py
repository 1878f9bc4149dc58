"""Plot functions: a DataFrame in, a Figure out, showing the numbers the tables hold."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis import compare_with_published, load_run, plots, summarise
from tests.analysis.conftest import decisions

CELLS = {"none": (20, 25, 1), "customer": (6, 24, 2), "company": (22, 25, 0),
         "both": (9, 25, 3)}


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def no_pyplot_figures() -> bool:
    import matplotlib.pyplot as plt

    return plt.get_fignums() == []


def test_rates_by_condition_bars_are_the_summary_rates():
    frame = pd.concat([decisions(CELLS, model="m1", temperature=0.2),
                       decisions({"none": (5, 10, 0), "customer": (1, 10, 0),
                                  "company": (9, 10, 0), "both": (4, 10, 0)},
                                 model="m2", temperature=0.2)], ignore_index=True)
    fig = plots.rates_by_condition(frame)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    override_axis = fig.axes[0]
    heights = [p.get_height() for p in override_axis.patches]
    table = summarise(frame, ["model", "disclosure"], n_boot=0)
    order = ["none", "customer", "company", "both"]
    expected = [table.set_index(["model", "disclosure"]).loc[(m, c), "override_rate"]
                for m in ("m1", "m2") for c in order]
    assert heights == pytest.approx(expected)
    assert [t.get_text() for t in override_axis.get_xticklabels()] == order
    assert override_axis.get_legend() is None and fig.axes[1].get_legend() is not None
    assert png_bytes(fig).startswith(b"\x89PNG")
    assert no_pyplot_figures()


def test_rates_by_condition_interval_bars_are_wilson():
    fig = plots.rates_by_condition(decisions(CELLS), metrics=["override"])
    table = summarise(decisions(CELLS), "disclosure", n_boot=0).set_index("disclosure")
    ax = fig.axes[0]
    segments = ax.collections[0].get_segments()  # one vertical error bar per condition
    for segment, condition in zip(segments, ["none", "customer", "company", "both"],
                                  strict=True):
        low, high = sorted(segment[:, 1])
        assert low == pytest.approx(table.loc[condition, "override_lo"])
        assert high == pytest.approx(table.loc[condition, "override_hi"])


def test_rates_facets(tin_men_run):
    d = load_run(tin_men_run).decisions
    fig = plots.rates_by_condition(d, facet="company", metrics=["override", "sided",
                                                                "invalid"])
    assert len(fig.axes) == 6
    assert "company=lumen" in fig.axes[0].get_title()


def test_agency_loss_plot_dots_match_summarise_and_stay_inside(tin_men_run):
    d = load_run(tin_men_run).decisions
    fig = plots.agency_loss_plot(d, facet="company", n_boot=200)
    ax = fig.axes[0]
    table = summarise(d, ["company", "disclosure"], n_boot=200)
    lumen = table[table["company"] == "lumen"]
    [dots] = [c for c in ax.containers if c.get_label() == "company=lumen"]
    assert dots.lines[0].get_ydata() == pytest.approx(lumen["agency_loss"].to_numpy())
    low, high = ax.get_ylim()
    assert low < table["agency_loss_lo"].min() and table["agency_loss_hi"].max() < high
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "customer", "company",
                                                          "both"]
    share = plots.agency_loss_plot(d, share=True, n_boot=50)
    assert share.axes[0].get_ylabel() == "agency loss / attainable utility"
    assert png_bytes(share)


def test_outcome_shares_stack_to_one_per_condition(tin_men_run):
    d = load_run(tin_men_run).decisions
    fig = plots.outcome_shares(d, facet="company")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    heights = np.zeros(4)
    for container in ax.containers:
        heights += np.array([bar.get_height() for bar in container])
    assert heights == pytest.approx(np.ones(4))
    classes = plots.outcome_classes(d)
    lumen_none = (d["company"] == "lumen") & (d["disclosure"] == "none")
    best = ((classes == "customer's best") & lumen_none).sum() / lumen_none.sum()
    first = ax.containers[0]
    assert first[0].get_height() == pytest.approx(best)
    assert ax.get_ylim()[1] > 1.0


def test_outcome_classes_cover_each_outcome():
    frame = pd.DataFrame({
        "valid": [True, True, True, True, False],
        "override": pd.array([False, True, True, True, pd.NA], dtype="boolean"),
        "sided_with_company": pd.array([False, True, False, False, pd.NA], dtype="boolean"),
        "outcome": ["purchased", "purchased", "purchased", "refused", "invalid"],
    })
    assert plots.outcome_classes(frame).tolist() == [
        "customer's best", "company's pick", "other product", "bought nothing",
        "unreadable / failed"]


def test_knob_plot_points_and_band():
    rng = np.random.default_rng(0)
    x = rng.choice([0.0, 0.5, 1.0], size=600)
    frame = pd.DataFrame({"monitoring": x,
                          "override": pd.array(rng.random(600) < 0.8 - 0.5 * x)})
    fig = plots.knob_plot(frame, "monitoring")
    ax = fig.axes[0]
    points = ax.lines[0]
    observed = frame.groupby("monitoring")["override"].mean()
    assert points.get_ydata() == pytest.approx(observed.to_numpy())
    assert len(ax.collections) >= 1  # the band
    assert png_bytes(fig)


def test_tick_series_lines_and_many_runs():
    ticks = pd.DataFrame({"tick": [1, 2, 3] * 2, "run_id": ["a"] * 3 + ["b"] * 3,
                          "override_rate": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                          "sided_with_company_rate": 0.1, "invalid_rate": 0.0,
                          "mean_agency_loss": 0.2, "valid": 10, "decisions": 10})
    fig = plots.tick_series(ticks)
    assert len([a for a in fig.axes if a.get_visible()]) == 4
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == [[0.1, 0.2, 0.3],
                                                                     [0.4, 0.5, 0.6]]
    many = pd.concat([ticks.assign(run_id=f"r{i}") for i in range(20)])
    fig = plots.tick_series(many, columns=["override_rate"], max_lines=5)
    assert len(fig.axes[0].lines) == 1  # the mean across runs
    single = plots.tick_series(ticks[ticks["run_id"] == "a"], columns=["override_rate"])
    assert len(single.axes[0].collections) == 1  # the Wilson band
    assert single.axes[0].get_ylabel() == "share of valid decisions"


def test_tick_series_zero_column_has_no_band_and_says_so():
    ticks = pd.DataFrame({"tick": [1, 2, 3], "run_id": "a", "invalid_rate": 0.0,
                          "override_rate": [0.2, 0.3, 0.1], "decisions": 100, "valid": 100})
    fig = plots.tick_series(ticks, columns=["invalid_rate", "override_rate"])
    invalid, override = fig.axes[0], fig.axes[1]
    assert len(invalid.collections) == 0
    assert any(t.get_text() == "0 in every tick" for t in invalid.texts)
    assert len(override.collections) == 1
    assert all(ax.get_ylabel() for ax in (invalid, override))


def test_published_comparison_plot(tin_men_run):
    d = load_run(tin_men_run).decisions
    fig = plots.published_comparison_plot(compare_with_published(d))
    assert len(fig.axes) == 2 and "film" in fig.axes[0].get_title()
    assert png_bytes(fig) and no_pyplot_figures()
