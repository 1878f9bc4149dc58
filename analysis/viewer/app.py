"""The run viewer's page, a Streamlit script: `streamlit run app.py -- PATH REFRESH_S N_BOOT`.

Started by `tinmen view` (see `analysis.viewer.serve`). Everything it shows comes from
`analysis.viewer.data`; results are cached per `data.signature` of the files, so the live
parts (overview, health, sweep progress) re-read only when the run has written something.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from agents.errors import AnalysisError
from analysis.viewer import data

ALL = "(all)"
PAGE_SIZES = (25, 50, 100)


# ------------------------------------------------------------------------------ cached reads
@st.cache_data(show_spinner=False, max_entries=32)
def cached_overview(path: str, sig: tuple, n_boot: int) -> data.Overview:
    """`data.overview`, recomputed only when the files change."""
    return data.overview(path, n_boot=n_boot)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_health(path: str, sig: tuple) -> pd.DataFrame:
    """`data.health`, recomputed only when the files change."""
    return data.health(path)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_options(path: str, sig: tuple) -> dict[str, list[Any]]:
    """`data.filter_options`, recomputed only when the files change."""
    return data.filter_options(path)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_knob_curve(path: str, sig: tuple, knob: str, metric: str, n_boot: int
                      ) -> pd.DataFrame:
    """`data.knob_curve`, recomputed only when the files change."""
    return data.knob_curve(path, knob, metric, n_boot=n_boot)


@st.cache_resource(show_spinner=False)
def transcript_index(path: str) -> data.TranscriptIndex:
    """One transcript index per run directory, kept for the life of the server."""
    return data.TranscriptIndex(path)


def lines(where: Any, frame: pd.DataFrame, columns: list[str], title: str,
          height: int = 220) -> None:
    """A per-tick line chart (points drawn too, so a single tick shows) of `columns`."""
    long = frame.reset_index().melt(id_vars="tick", value_vars=columns, var_name="series")
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("tick:Q", axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=True)),
        color=alt.Color("series:N", title=None), tooltip=["tick", "series", "value"],
    ).properties(height=height)
    where.caption(title)
    where.altair_chart(chart, width="stretch")


# ------------------------------------------------------------------------------ sections
def overview_section(path: str, n_boot: int) -> None:
    """Status, progress, decisions, override rate, metrics by condition, per-tick series."""
    o = cached_overview(path, data.signature(path), n_boot)
    cols = st.columns([1, 1, 1, 1.6])
    cols[0].metric("Status", o.status)
    cols[1].metric("Ticks done", f"{o.ticks_completed} of {o.ticks_planned}")
    cols[2].metric("Decisions", f"{o.decisions:,}")
    cols[3].metric("Override rate", o.override)
    for note in o.notes:
        st.warning(note)
    st.caption(f"Scenario {o.scenario or '?'} · backends {o.backends or '?'}")
    if not o.metrics.empty:
        st.subheader("Conflict metrics by condition")
        st.caption("The numbers of `tinmen report`: rates with 95% Wilson intervals, means "
                   "with a 95% bootstrap interval.")
        st.dataframe(o.metrics, hide_index=True, width="stretch")
    if not o.series.empty:
        st.subheader("Per tick")
        series = o.series.set_index("tick")
        rates = [c for c in ("override", "sided with company", "invalid") if c in series]
        left, right = st.columns(2)
        lines(left, series, rates, "Rates", 220)
        lines(right, series, ["agency loss"], "Mean agency loss", 220)
        trust = [c for c in series if c.startswith("trust ")]
        share = [c for c in series if c.startswith("share ")]
        if trust:
            left, right = st.columns(2)
            lines(left, series, trust, "Mean trust by company", 220)
            lines(right, series, share, "Market share by company", 220)


def health_section(path: str) -> None:
    """Backend throughput, tokens, latency percentiles, retries, failures, cache, prefix."""
    frame = cached_health(path, data.signature(path))
    if frame.empty:
        st.info("No tick recorded yet.")
        return
    last = frame.iloc[-1]
    cols = st.columns(5)
    cols[0].metric("Requests/s (last tick)", f"{last['requests/s']:,.0f}")
    cols[1].metric("Completion tokens/s", f"{last['completion tokens/s']:,.0f}")
    cols[2].metric("Latency p50 / p99 (ms)",
                   f"{last['latency p50']:,.0f} / {last['latency p99']:,.0f}")
    cols[3].metric("Failures (all ticks)", f"{int(frame['failures'].sum()):,}")
    cols[4].metric("Cache hits (all ticks)", f"{int(frame['cache hits'].sum()):,}")
    series = frame.set_index("tick")
    left, right = st.columns(2)
    lines(left, series, ["requests/s"], "Requests per second", 200)
    lines(right, series, ["prompt tokens/s", "completion tokens/s"], "Tokens per second", 200)
    left, right = st.columns(2)
    lines(left, series, ["latency p50", "latency p90", "latency p99"],
          "Latency percentiles (ms)", 200)
    lines(right, series, ["retries", "re-asks", "failures", "cache hits"],
          "Retries, re-asks, failures, cache hits", 200)
    st.dataframe(frame, hide_index=True, width="stretch")


def decisions_section(path: str) -> None:
    """The filterable, paged decisions table and the detail of one decision."""
    options = cached_options(path, data.signature(path))
    filters: dict[str, Any] = {}
    cols = st.columns(len(data.FILTER_COLUMNS))
    for col, column in zip(cols, data.FILTER_COLUMNS, strict=True):
        choice = col.selectbox(data.FILTER_LABELS[column], [ALL, *options[column]],
                               key=f"filter-{path}-{column}")
        if choice != ALL:
            filters[column] = choice
    size_col, page_col, _ = st.columns([1, 1, 4])
    page_size = size_col.selectbox("rows per page", PAGE_SIZES, key=f"size-{path}")
    page_number = page_col.number_input("page", min_value=1, value=1, step=1,
                                        key=f"page-{path}")
    page = data.decision_page(path, filters, page=int(page_number) - 1, page_size=page_size)
    first = page.page * page.page_size + 1 if page.total else 0
    last = min(page.total, (page.page + 1) * page.page_size)
    st.markdown(f"**{page.total:,} decisions match** · rows {first}–{last} · page "
                f"{page.page + 1} of {page.pages}")
    if page.rows.empty:
        st.info("No decision matches these filters.")
        return
    shown = page.rows.rename(columns={"disclosure": "condition", "agent_id": "agent",
                                      "customer_id": "customer", "customer_group": "group",
                                      "parse_method": "read by"})
    st.table(shown.set_index("decision_id"))
    decision_id = st.selectbox("Open a decision", [None, *page.rows["decision_id"]],
                               format_func=lambda d: "choose a decision id…" if d is None
                               else d, key=f"open-{path}")
    if decision_id is not None:
        detail_section(path, decision_id)


def detail_section(path: str, decision_id: str) -> None:
    """One decision: its row, the full prompt, the raw answer, earlier answers, reading."""
    try:
        detail = data.decision_detail(path, decision_id, transcript_index(path))
    except AnalysisError as exc:
        st.error(str(exc))
        return
    row = detail.row
    st.subheader(f"Decision {decision_id}")
    cols = st.columns(6)
    cols[0].metric("Outcome", str(row.get("outcome")))
    cols[1].metric("Choice", str(row.get("choice")))
    cols[2].metric("Override", str(row.get("override")))
    cols[3].metric("Read by", str(detail.parse_method))
    cols[4].metric("Customer best", str(row.get("customer_best")))
    cols[5].metric("Company best", str(row.get("company_best")))
    if detail.failure:
        st.warning(f"Failure: {detail.failure}")
    prompt, answer = st.columns(2)
    with prompt:
        st.markdown("**Prompt**")
        for message in detail.messages:
            st.caption(message["role"])
            st.code(message["content"], language=None, wrap_lines=True)
    with answer:
        st.markdown("**Answer**")
        st.code(detail.answer if detail.answer is not None else "(no answer)", language=None,
                wrap_lines=True)
        for i, earlier in enumerate(detail.earlier_answers, start=1):
            st.caption(f"earlier answer {i} (unreadable, asked again)")
            st.code(str(earlier), language=None, wrap_lines=True)
        if detail.probabilities is not None:
            st.markdown("**Choice probabilities**")
            st.json(detail.probabilities)
        with st.expander("All recorded fields"):
            st.json({k: v for k, v in row.items()})


def side_by_side_section(path: str, run_dirs: list[str]) -> None:
    """Two conditions' (or runs') answers for the same customer or the same cell."""
    match = st.radio("pair by", ["customer_group", "customer_id"], horizontal=True,
                     format_func=lambda m: {"customer_group": "the same cell (k-th decision "
                                            "of each customer group)",
                                            "customer_id": "the same customer"}[m],
                     key=f"sbs-match-{path}")
    sides = []
    for side, col in zip("AB", st.columns(2), strict=True):
        run_dir = (col.selectbox(f"run {side}", run_dirs, key=f"sbs-run-{side}-{path}",
                                 format_func=lambda d: Path(d).name)
                   if len(run_dirs) > 1 else run_dirs[0])
        conditions = cached_options(run_dir, data.signature(run_dir))["disclosure"]
        default = min(len(conditions) - 1, 0 if side == "A" else 1) if conditions else 0
        condition = col.selectbox(f"condition {side}", conditions, index=default,
                                  key=f"sbs-cond-{side}-{path}")
        sides.append((run_dir, {"disclosure": condition} if condition else {}))
    pairs = data.side_by_side(sides[0], sides[1], match=match, limit=20)
    if pairs.empty:
        st.info("No pairs: the two sides share no " + match.replace("_", " ") + ".")
        return
    for _, pair in pairs.iterrows():
        st.markdown(f"**{pair[match]}** · A `{pair['decision_id A']}` → "
                    f"{pair['choice A']} · B `{pair['decision_id B']}` → {pair['choice B']}")
        left, right = st.columns(2)
        left.code(str(pair["answer A"]), language=None, wrap_lines=True)
        right.code(str(pair["answer B"]), language=None, wrap_lines=True)


def cells_section(path: str) -> None:
    """The plan's cells with their progress, and the runs."""
    sweep = data.read_sweep(path)
    counts = sweep.get("counts", {})
    cols = st.columns(4)
    cols[0].metric("Sweep status", str(sweep.get("status")))
    for col, state in zip(cols[1:], ("completed", "running", "failed"), strict=True):
        col.metric(f"Runs {state}", f"{counts.get(state, 0)} of {sweep.get('runs_planned')}")
    cells = data.sweep_cells(path)
    st.dataframe(cells, hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                    format="percent")})


def knob_section(path: str, n_boot: int) -> None:
    """A chosen metric against a chosen numeric swept key, with 95% intervals."""
    knobs = data.sweep_knobs(path)
    if not knobs:
        st.info("No numeric key varies across this sweep's cells.")
        return
    left, right = st.columns(2)
    knob = left.selectbox("knob", knobs, key="knob")
    metric = right.selectbox("metric", list(data.KNOB_METRICS), key="knob-metric",
                             format_func=data.KNOB_METRICS.get)
    curve = cached_knob_curve(path, data.signature(path), knob, metric, n_boot)
    if curve.empty:
        st.info("No decisions recorded yet.")
        return
    base = alt.Chart(curve).encode(x=alt.X(f"{knob}:Q", title=knob))
    chart = (base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title=data.KNOB_METRICS[metric]), tooltip=[knob, "value", "n"])
        + base.mark_errorbar().encode(y="lo:Q", y2="hi:Q"))
    st.altair_chart(chart, width="stretch")
    st.dataframe(curve, hide_index=True)


def pick(pages: list[str], key: str) -> str:
    """The page chosen in the bar under the title (only that page is computed)."""
    return st.radio("page", pages, horizontal=True, key=key,
                    label_visibility="collapsed") or pages[0]


def run_view(path: str, n_boot: int, refresh: float, run_dirs: list[str]) -> None:
    """The pages of one run."""
    chosen = pick(["Overview", "Backend health", "Decisions", "Side by side"],
                  key=f"page-of-{path}")
    if chosen == "Overview":
        st.fragment(overview_section, run_every=refresh)(path, n_boot)
    elif chosen == "Backend health":
        st.fragment(health_section, run_every=refresh)(path)
    elif chosen == "Decisions":
        decisions_section(path)
    else:
        side_by_side_section(path, run_dirs)


def sweep_view(path: str, n_boot: int, refresh: float) -> None:
    """The pages of a sweep (sweep.json) or of a folder of runs (no sweep.json)."""
    planned = (Path(path) / data.SWEEP_FILE).is_file()
    pages = ["Overview", "Cells", "Knob curve", "Side by side"] if planned else ["Overview"]
    chosen = pick(pages, key="page-of-sweep")
    if chosen == "Overview":
        st.fragment(overview_section, run_every=refresh)(path, n_boot)
    elif chosen == "Cells":
        st.fragment(cells_section, run_every=refresh)(path)
    elif chosen == "Knob curve":
        knob_section(path, n_boot)
    else:
        runs = data.sweep_runs(path)
        side_by_side_section(path, list(runs["run_dir"]) if len(runs) else [])


def main(argv: list[str]) -> None:
    """Render the page for the run or sweep at argv[0]."""
    path = str(Path(argv[0]).resolve())
    refresh = float(argv[1]) if len(argv) > 1 else 2.0
    n_boot = int(argv[2]) if len(argv) > 2 else 2000
    st.set_page_config(page_title=f"tinmen view · {Path(path).name}", layout="wide")
    try:
        kind = data.source_kind(path)
    except AnalysisError as exc:
        st.error(str(exc))
        return
    st.sidebar.title("tinmen view")
    st.sidebar.caption(path)
    target, run_dirs = path, [path]
    if kind == "sweep":
        runs = data.sweep_runs(path) if (Path(path) / data.SWEEP_FILE).is_file() else None
        choices = ["the whole sweep", *(list(runs["run_id"]) if runs is not None else [])]
        chosen = st.sidebar.selectbox("Show", choices, key="drill")
        if chosen != "the whole sweep" and runs is not None:
            target = str(runs.set_index("run_id").loc[chosen, "run_dir"])
            run_dirs = [target]
    st.sidebar.caption(f"Updates every {refresh:g} s while the run writes.")
    st.title(Path(target).name)
    if kind == "sweep" and target == path:
        sweep_view(path, n_boot, refresh)
    else:
        run_view(target, n_boot, refresh, run_dirs)


if __name__ == "__main__":
    main(sys.argv[1:])
