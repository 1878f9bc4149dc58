"""The viewer's data layer on a finished run, a sweep, and a run in progress mid-tick."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from agents.errors import AnalysisError
from analysis.load import load_run
from analysis.render import Table
from analysis.report import build_report
from analysis.viewer import data
from tests.analysis.conftest import run_into
from tests.conftest import SCENARIOS

N_BOOT = 50


@pytest.fixture(scope="module")
def market_run(tmp_path_factory) -> Path:
    """A finished 3-tick run of the market-dynamics scenario (trust and share per tick)."""
    return run_into(tmp_path_factory.mktemp("viewer") / "market",
                    SCENARIOS / "market_dynamics.yaml", overrides=("run.ticks=3",))


def test_overview_shows_the_report_numbers(tin_men_run):
    o = data.overview(tin_men_run, n_boot=N_BOOT)
    d = pd.read_parquet(tin_men_run / "decisions.parquet")
    valid = d[d["valid"]]
    assert (o.status, o.ticks_completed, o.ticks_planned, o.decisions) == (
        "completed", 1, 1, len(d))
    assert o.override_rate == pytest.approx(valid["override"].astype(bool).mean())
    assert o.override.startswith(f"{100 * o.override_rate:.1f}% (")
    blocks = build_report(load_run(tin_men_run), n_boot=N_BOOT)
    by_condition = next(b for b in blocks if isinstance(b, Table)
                        and (b.caption or "").startswith("By condition"))
    pd.testing.assert_frame_equal(o.metrics.reset_index(drop=True),
                                  by_condition.frame.reset_index(drop=True))
    assert o.keys == ("company", "disclosure")
    assert list(o.series["tick"]) == [1]


def test_series_and_health_per_tick(market_run):
    series = data.tick_series(market_run)
    ticks = pd.read_csv(market_run / "ticks.csv")
    assert list(series["tick"]) == [1, 2, 3]
    assert list(series["override"]) == pytest.approx(list(ticks["override_rate"]))
    trust = [c for c in series if c.startswith("trust ")]
    assert trust and len(trust) == len([c for c in series if c.startswith("share ")])
    health = data.health(market_run)
    assert list(health["tick"]) == [1, 2, 3]
    d = pd.read_parquet(market_run / "decisions.parquet")
    p99 = d.groupby("tick")["latency_ms"].quantile(0.99)
    assert list(health["latency p99"]) == pytest.approx(list(p99))
    assert list(health["requests/s"]) == pytest.approx(list(ticks["requests_per_s"]))


def test_pages_filters_and_detail(tin_men_run):
    d = pd.read_parquet(tin_men_run / "decisions.parquet")
    options = data.filter_options(tin_men_run)
    assert options["disclosure"] == ["none", "customer", "company", "both"]
    everything = data.decision_page(tin_men_run, page=0, page_size=25)
    assert (everything.total, everything.pages, len(everything.rows)) == (len(d), 10, 25)
    chosen = d[(d["disclosure"] == "customer") & (d["company"] == "lumen")]
    page = data.decision_page(tin_men_run, {"disclosure": "customer", "company": "lumen"},
                              page=1, page_size=7)
    assert page.total == len(chosen)
    assert list(page.rows["decision_id"]) == list(chosen["decision_id"][7:14])
    last = data.decision_page(tin_men_run, {"disclosure": "customer"}, page=99, page_size=25)
    assert last.page == last.pages - 1 and len(last.rows) == 60 - 50
    overridden = data.decision_page(tin_men_run, {"override": True}, page_size=1000)
    assert overridden.total == int(d["override"].fillna(False).astype(bool).sum())
    with pytest.raises(AnalysisError, match="not a filter column"):
        data.decision_page(tin_men_run, {"price_paid": 3})

    decision_id = chosen["decision_id"].iloc[3]
    detail = data.decision_detail(tin_men_run, decision_id)
    record = next(json.loads(line) for line in
                  (tin_men_run / "transcripts.jsonl").read_text().splitlines()
                  if json.loads(line)["decision_id"] == decision_id)
    assert detail.answer == record["answer"]
    assert detail.messages[0]["role"] == "system"
    assert "shopping assistant" in detail.messages[0]["content"]  # the shared prompt, resolved
    assert detail.messages[1] == record["messages"][1]
    assert detail.row["decision_id"] == decision_id and detail.parse_method == "choice_line"
    assert detail.earlier_answers == []
    # the rational baseline records its own choice probabilities: listing order, then none
    shown = detail.probabilities
    assert list(shown["probabilities"]) == [*detail.row["listing"].split("|"), "none"]
    assert sum(shown["probabilities"].values()) == pytest.approx(1.0)
    assert shown["choice_prob_mass"] == 1.0 and shown["choice_probs_kind"] == "direct"
    with pytest.raises(AnalysisError, match="no decision"):
        data.decision_detail(tin_men_run, "t9-999")


def test_side_by_side_pairs_conditions(tin_men_run, market_run):
    pairs = data.side_by_side((tin_men_run, {"disclosure": "none"}),
                              (tin_men_run, {"disclosure": "customer"}),
                              match="customer_group", limit=5)
    assert len(pairs) == 5
    d = pd.read_parquet(tin_men_run / "decisions.parquet").set_index("decision_id")
    for _, pair in pairs.iterrows():
        a, b = d.loc[pair["decision_id A"]], d.loc[pair["decision_id B"]]
        assert (a["disclosure"], b["disclosure"]) == ("none", "customer")
        assert a["customer_group"] == b["customer_group"] == pair["customer group"]
        assert pair["answer A"].startswith("Explanation:")
    same = data.side_by_side((market_run, {"tick": 1}), (market_run, {"tick": 2}),
                             match="customer_id", limit=50)
    m = pd.read_parquet(market_run / "decisions.parquet").set_index("decision_id")
    assert len(same)
    assert all(m.loc[a, "customer_id"] == m.loc[b, "customer_id"]
               for a, b in zip(same["decision_id A"], same["decision_id B"], strict=True))


def test_sweep_cells_runs_and_knob_curve(small_sweep):
    assert data.source_kind(small_sweep) == "sweep"
    cells = data.sweep_cells(small_sweep)
    assert list(cells["information.monitoring"]) == [0, 0.5]
    assert list(cells["completed"]) == [1, 1] and list(cells["progress"]) == [1.0, 1.0]
    assert list(cells["decisions"]) == [200, 200]
    runs = data.sweep_runs(small_sweep)
    assert len(runs) == 2 and set(runs["status"]) == {"completed"}
    assert data.sweep_knobs(small_sweep) == ["information.monitoring"]
    curve = data.knob_curve(small_sweep, "information.monitoring", "override_rate",
                            n_boot=N_BOOT)
    d = pd.read_parquet(small_sweep / "decisions")
    for run_id, value in zip(runs["run_id"], runs["information.monitoring"], strict=True):
        part = d[(d["run_id"] == run_id) & d["valid"]]
        row = curve[curve["information.monitoring"] == value].iloc[0]
        assert row["value"] == pytest.approx(part["override"].astype(bool).mean())
        assert row["lo"] <= row["value"] <= row["hi"]
    o = data.overview(small_sweep, n_boot=N_BOOT)
    assert (o.decisions, o.ticks_completed, o.ticks_planned) == (400, 4, 4)
    with pytest.raises(AnalysisError, match="unknown metric"):
        data.knob_curve(small_sweep, "information.monitoring", "speed")


def test_run_in_progress_with_a_partial_tick(market_run, tmp_path):
    """Tick 2 of 3 is half written: transcripts are out, its Parquet part is not, and a line
    of ticks.csv and of transcripts.jsonl stops mid-way. The viewer shows tick 1 only, then
    picks up tick 2 once it is complete."""
    live = Path(shutil.copytree(market_run, tmp_path / "live"))
    manifest = json.loads((live / "manifest.json").read_text())
    first_tick = pd.read_parquet(live / "decisions.parquet" / "part-000001.parquet")
    held = {name: (live / name).read_bytes() for name in ("ticks.csv", "transcripts.jsonl",
                                                         "market.csv")}
    part2 = live / "decisions.parquet" / "part-000002.parquet"
    part2_bytes = part2.read_bytes()
    part2.unlink()
    (live / "decisions.parquet" / "part-000003.parquet").unlink()
    (live / "decisions.parquet" / "part-000002.parquet.tmp").write_bytes(part2_bytes[:100])
    ticks_lines = held["ticks.csv"].decode().splitlines(keepends=True)
    (live / "ticks.csv").write_text("".join(ticks_lines[:2]) + ticks_lines[2][:20])
    market = held["market.csv"].decode().splitlines(keepends=True)
    (live / "market.csv").write_text("".join(line for line in market
                                             if line.split(",")[0] in ("tick", "1")))
    transcripts = held["transcripts.jsonl"].decode().splitlines(keepends=True)
    in_tick = [line for line in transcripts if json.loads(line)["tick"] <= 2]
    (live / "transcripts.jsonl").write_text("".join(in_tick) + transcripts[len(in_tick)][:30])
    (live / "manifest.json").write_text(json.dumps(
        {**manifest, "status": "running", "finished_at": None, "ticks_completed": 1,
         "decisions": len(first_tick)}))

    before = data.signature(live)
    o = data.overview(live, n_boot=N_BOOT)
    assert (o.status, o.ticks_completed, o.ticks_planned, o.decisions) == (
        "running", 1, 3, len(first_tick))
    assert o.notes  # says the run has not completed
    assert list(o.series["tick"]) == [1]
    assert list(data.health(live)["tick"]) == [1]
    assert data.decision_page(live).total == len(first_tick)
    assert data.filter_options(live)["tick"] == [1]
    index = data.TranscriptIndex(live)
    index.refresh()
    assert len(index.offsets) == len(in_tick)  # the partial line is not indexed

    # the recorder finishes ticks 2 and 3
    for name, content in held.items():
        (live / name).write_bytes(content)
    part2.write_bytes(part2_bytes)
    (live / "decisions.parquet" / "part-000002.parquet.tmp").unlink()
    shutil.copy(market_run / "decisions.parquet" / "part-000003.parquet",
                live / "decisions.parquet")
    (live / "manifest.json").write_text(json.dumps(manifest))
    assert data.signature(live) != before
    o = data.overview(live, n_boot=N_BOOT)
    assert (o.status, o.ticks_completed, o.decisions) == (
        "completed", 3, len(pd.read_parquet(market_run / "decisions.parquet")))
    assert list(o.series["tick"]) == [1, 2, 3]
    index.refresh()
    assert len(index.offsets) == len(transcripts)
    last = json.loads(transcripts[-1])
    assert index.get(last["decision_id"])["answer"] == last["answer"]


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(AnalysisError, match="no run directories found"):
        data.source_kind(tmp_path)
    with pytest.raises(AnalysisError, match="sweep.json: cannot read"):
        data.read_sweep(tmp_path)


def test_view_errors_are_one_line(tmp_path, tin_men_run, monkeypatch, capsys):
    from analysis.viewer import serve
    from cli.main import main

    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: view: ")
    with serve.socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AnalysisError, match=f"--port {port}: cannot listen"):
            serve.serve(tin_men_run, port=port, open_browser=False)
    monkeypatch.setitem(sys.modules, "streamlit", None)
    monkeypatch.setitem(sys.modules, "streamlit.web", None)
    with pytest.raises(AnalysisError, match=r"pip install 'tinmen\[viewer\]'"):
        serve.serve(tin_men_run, open_browser=False)


def test_choice_probabilities_are_shown_when_recorded(tin_men_copy):
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = tin_men_copy / "decisions.parquet" / "part-000001.parquet"
    table = pq.read_table(part)
    probs = [[0.75, 0.25, 0.0] if i == 0 else None for i in range(table.num_rows)]
    columns = {"choice_probs": pa.array(probs, pa.list_(pa.float64())),
               "choice_prob_mass": pa.array([1.0] + [None] * (table.num_rows - 1),
                                            pa.float64()),
               "choice_probs_kind": pa.array([None] * table.num_rows, pa.string())}
    for name, column in columns.items():  # replace what the rational run recorded
        table = table.set_column(table.schema.get_field_index(name), name, column)
    pq.write_table(table, part)
    first = table.slice(0, 1).to_pylist()[0]
    detail = data.decision_detail(tin_men_copy, first["decision_id"])
    a, b = first["listing"].split("|")
    assert detail.probabilities == {"probabilities": {a: 0.75, b: 0.25, "none": 0.0},
                                    "choice_prob_mass": 1.0}
    other = table.slice(1, 1).to_pylist()[0]["decision_id"]
    assert data.decision_detail(tin_men_copy, other).probabilities is None
