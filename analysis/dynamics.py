"""Plots of a repeated market over time: shares, trust, profit, override, welfare, injections.

Reads run-directory files only (`market.csv`, `ticks.csv`, `sanctions.csv`); every plot
function takes a DataFrame and returns a matplotlib `Figure` (it never calls `show()`), so it
works the same in a notebook, a script or a report:

    market, ticks, sanctions = read_dynamics("runs/md")
    plot_dynamics_overview(market, ticks).savefig("dynamics.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

COMPANY_SERIES: dict[str, tuple[str, str]] = {
    "share": ("Market share", "share of shoppers"),
    "mean_trust": ("Mean trust", "mean trust (all customers)"),
    "profit": ("Company profit", "margin earned"),
    "override_rate": ("Override rate", "share of readable decisions"),
}
"""market.csv columns plotted per company: column -> (title, y label)."""

TICK_SERIES: dict[str, tuple[str, str]] = {
    "customer_welfare": ("Customer welfare", "total realised utility"),
    "injection_success_rate": ("Injection success rate", "share of exposed decisions"),
}
"""ticks.csv columns plotted per tick: column -> (title, y label)."""


class DynamicsFiles(NamedTuple):
    """The per-tick tables of one run."""

    market: pd.DataFrame      # one row per tick and company
    ticks: pd.DataFrame       # one row per tick
    sanctions: pd.DataFrame   # one row per sanction


def read_dynamics(run_dir: str | Path) -> DynamicsFiles:
    """Read `market.csv`, `ticks.csv` and `sanctions.csv` from a run directory."""
    run_dir = Path(run_dir)
    tables = []
    for name in ("market.csv", "ticks.csv", "sanctions.csv"):
        path = run_dir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found; is {run_dir} a tinmen run directory "
                                    "(written by a version with market dynamics)?")
        tables.append(pd.read_csv(path))
    return DynamicsFiles(*tables)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}; "
                         f"got {', '.join(map(str, frame.columns))}")


def _company_lines(ax: Axes, market: pd.DataFrame, column: str, title: str,
                   ylabel: str) -> None:
    _require(market, ("tick", "company", column), f"plotting {column}")
    wide = market.pivot_table(index="tick", columns="company", values=column, aggfunc="mean",
                              dropna=False)
    for company in wide.columns:
        ax.plot(wide.index, wide[company], label=str(company), marker=".", markersize=3)
    ax.set_title(title)
    ax.set_xlabel("tick")
    ax.set_ylabel(ylabel)
    if len(wide.columns):
        ax.legend(title="company", fontsize="small")


def _tick_line(ax: Axes, ticks: pd.DataFrame, column: str, title: str, ylabel: str) -> None:
    _require(ticks, ("tick", column), f"plotting {column}")
    ax.plot(ticks["tick"], ticks[column], marker=".", markersize=3, color="black")
    ax.set_title(title)
    ax.set_xlabel("tick")
    ax.set_ylabel(ylabel)


def plot_company_series(market: pd.DataFrame, column: str) -> Figure:
    """One line per company of a market.csv column (share, mean_trust, profit, ...)."""
    title, ylabel = COMPANY_SERIES.get(column, (column, column))
    fig = Figure(figsize=(6, 4), layout="constrained")
    _company_lines(fig.subplots(), market, column, title, ylabel)
    return fig


def plot_market_shares(market: pd.DataFrame) -> Figure:
    """Each company's share of shoppers per tick."""
    fig = plot_company_series(market, "share")
    fig.axes[0].set_ylim(0, 1)
    return fig


def plot_mean_trust(market: pd.DataFrame) -> Figure:
    """Each company's mean trust over all customers, per tick."""
    fig = plot_company_series(market, "mean_trust")
    fig.axes[0].set_ylim(0, 1)
    return fig


def plot_company_profit(market: pd.DataFrame) -> Figure:
    """Each company's profit (margins earned) per tick."""
    return plot_company_series(market, "profit")


def plot_override_rates(market: pd.DataFrame) -> Figure:
    """Each company's override rate per tick."""
    fig = plot_company_series(market, "override_rate")
    fig.axes[0].set_ylim(0, 1)
    return fig


def plot_welfare(ticks: pd.DataFrame) -> Figure:
    """Customer welfare (total realised customer utility) per tick."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    _tick_line(fig.subplots(), ticks, "customer_welfare", *TICK_SERIES["customer_welfare"])
    return fig


def plot_injection_success(ticks: pd.DataFrame) -> Figure:
    """Injection success rate per tick (gaps where no decision was exposed)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    _tick_line(ax, ticks, "injection_success_rate", *TICK_SERIES["injection_success_rate"])
    ax.set_ylim(0, 1)
    return fig


def plot_dynamics_overview(market: pd.DataFrame, ticks: pd.DataFrame) -> Figure:
    """Panels of share, mean trust, profit and override rate per company, and welfare and
    injection success rate per tick — only the panels that have data.

    A panel is drawn when its column exists and has a value in some tick; trust, for
    instance, is absent without trust dynamics and injection success without injections.
    """
    panels = [(_company_lines, market, column, labels)
              for column, labels in COMPANY_SERIES.items() if _has_data(market, column)]
    panels += [(_tick_line, ticks, column, labels)
               for column, labels in TICK_SERIES.items() if _has_data(ticks, column)]
    cols = min(3, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig = Figure(figsize=(5 * cols, 4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (draw, frame, column, (title, ylabel)) in zip(axes, panels, strict=False):
        draw(ax, frame, column, title, ylabel)
        if column in BOUNDED_SERIES:
            ax.set_ylim(-0.02, 1.05)
    return fig


BOUNDED_SERIES = ("share", "mean_trust", "override_rate", "injection_success_rate")
"""Series that are shares in [0, 1] and get a fixed axis."""


def _has_data(frame: pd.DataFrame, column: str) -> bool:
    """Whether `frame` has `column` with at least one non-missing value."""
    return column in frame and bool(pd.to_numeric(frame[column], errors="coerce").notna().any())
