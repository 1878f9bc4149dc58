"""`tinmen report`: files written, numbers matching the analysis functions, one-line errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from analysis import load_run, load_runs, summarise
from analysis.published import SOURCE
from analysis.render import fmt_rate
from analysis.report import write_report
from cli.main import main
from tests.analysis.conftest import edit_manifest, run_into
from tests.conftest import REPO, SCENARIOS, mini_scenario


def test_report_on_a_tin_men_run(tin_men_run, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(tin_men_run), "--out", str(out), "--bootstrap", "200"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == f"report: {out / 'report.md'}"
    assert str(out / "report.html") in printed[1]
    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for heading in ("## Runs", "## Conflict metrics", "## Observation gap",
                    "## Pairwise tests between disclosure conditions",
                    "## Logistic regression of override",
                    "## Side by side with the published study",
                    "### Published rates: unparsed answers dropped or kept"):
        assert heading in markdown
    assert SOURCE in markdown and "This section failed" not in markdown
    assert "## Per tick" not in markdown  # one tick: no time series
    # the table holds the same numbers as summarise
    d = load_run(tin_men_run).decisions
    row = summarise(d, ["company", "disclosure"], n_boot=10).set_index(
        ["company", "disclosure"]).loc[("petro", "customer")]
    expected = fmt_rate(row["override_rate"], row["override_lo"], row["override_hi"])
    assert re.search(rf"\| petro \| customer \| 30 \| [^|]+ \| {re.escape(expected)} \|",
                     markdown)
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["agency_loss.png", "outcomes.png", "override_probability.png",
                       "published_comparison.png", "rates_by_condition.png"]
    assert "## Choice probabilities" in markdown  # the rational backend records them
    for name in figures:
        assert f"figures/{name}" in markdown and f'src="figures/{name}"' in html
        assert (out / "figures" / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<table>") == markdown.count("\n|---")
    assert "<script" not in html


def test_report_leads_with_the_summary_and_ends_with_the_runs(tin_men_run, tmp_path):
    files = write_report(tin_men_run, tmp_path / "r", n_boot=50)
    markdown = files.markdown.read_text()
    html = files.html.read_text()
    h2 = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert h2[0] == "Summary" and h2[-1] == "Runs"
    summary = markdown.split("## Summary")[1].split("\n## ")[0]
    assert "Varied: `company` (lumen, petro); `disclosure` (none, customer, company, both)" \
        in summary
    assert "| company | disclosure | n | override | sided with company | invalid |" in summary
    assert summary.index("figures/rates_by_condition.png") < summary.index(
        "figures/outcomes.png")
    # a table of contents links every section, in order, in both formats
    contents = next(line for line in markdown.splitlines() if line.startswith("**Contents:**"))
    assert re.findall(r"\(#([^)]+)\)", contents)[:2] == ["summary", "conflict-metrics"]
    assert '<h2 id="conflict-metrics">' in html and 'href="#conflict-metrics"' in html
    # the per-run table is folded away in HTML, and intervals never wrap inside a cell
    assert re.search(r"<details><summary>Runs \(1\)", html)
    assert "white-space: nowrap" in html


def test_report_defaults_to_the_run_directory(tin_men_copy):
    files = write_report(tin_men_copy, n_boot=50)
    assert files.markdown == tin_men_copy / "report.md" and files.html.is_file()
    assert len(files.figures) == 5  # the four of the tin_men report and override_probability
    # the run directory still loads (the report adds files, never touches the records)
    assert len(load_run(tin_men_copy).decisions) == 240


def test_report_on_a_sweep_with_a_continuous_knob(tmp_path):
    source = tmp_path / "src"
    runs = []
    for i, monitoring in enumerate((0.0, 0.5, 1.0)):
        for replicate in (0, 1):
            data = mini_scenario(run={"ticks": 2, "seed": 10 + replicate})
            data["information"] = {"disclosure": ["none", "customer"],
                                   "monitoring": monitoring}
            data["agents"][0]["rational"] = {"noise": 0.5}
            run_dir = run_into(source / f"r{i}{replicate}", data=data)
            runs.append((run_dir, {"information.monitoring": monitoring}, replicate))
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "sweep.json").write_text('{"sweep_id": "knob"}')
    for k, (run_dir, cell, replicate) in enumerate(runs):
        target = shutil.copytree(run_dir, sweep / "runs" / f"run-{k}")
        edit_manifest(target, sweep={"sweep_id": "knob", "cell": cell, "replicate": replicate})
    files = write_report(sweep, n_boot=100)
    markdown = files.markdown.read_text()
    assert "## Rates against continuous knobs" in markdown
    assert "Override rate by `monitoring`" in markdown
    assert (sweep / "figures" / "knob_0.png").is_file()
    assert "## Per tick" in markdown and (sweep / "figures" / "ticks.png").is_file()
    runs_table = markdown.split("## Runs")[1].split("##")[0]
    assert runs_table.index("| 0.0 |") < runs_table.index("| 0.5 |") < runs_table.index(
        "| 1.0 |")  # runs listed by cell
    assert "| backends | information.monitoring |" in markdown  # the runs table's cell column
    assert "`override ~ customer_reads + monitoring` on 144 valid decisions" in markdown
    assert len(load_runs(sweep).runs) == 6
    assert "Side by side with the published study" not in markdown


def test_report_with_long_listings_has_a_choice_model(tmp_path):
    data = mini_scenario(run={"ticks": 2, "seed": 3, "listing_order": "shuffled"})
    data["products"].append({"id": "hybrid", "name": "Prius", "price": 30000,
                             "attributes": {"electric": True}, "margins": {"oil": 2000}})
    data["customers"][0].update(count=30, product_values={"ev": 1.0, "suv": 0.5,
                                                          "hybrid": 0.7})
    data["agents"][0]["rational"] = {"noise": 0.3}
    run = run_into(tmp_path / "run", data=data)
    markdown = write_report(run, n_boot=50).markdown.read_text()
    assert "## What drives the choice: conditional logit" in markdown
    assert "| position |" in markdown


def test_report_on_a_market_dynamics_run_shows_the_dynamics(tmp_path):
    run = run_into(tmp_path / "run", SCENARIOS / "market_dynamics.yaml", ("run.ticks=3",))
    files = write_report(run, n_boot=50)
    names = {p.name for p in files.figures}
    assert {"ticks.png", "dynamics.png"} <= names
    assert "Market dynamics: share, trust" in files.markdown.read_text()


def test_report_on_a_failed_run_without_decisions(tin_men_copy):
    edit_manifest(tin_men_copy, status="failed", ticks_completed=0)
    for part in (tin_men_copy / "decisions.parquet").iterdir():
        part.unlink()
    markdown = write_report(tin_men_copy, n_boot=10).markdown.read_text()
    assert "**Warning:** 1 run did not complete" in markdown and "failed" in markdown
    assert "No decisions were recorded" in markdown


def test_a_failing_section_is_reported_not_fatal(tin_men_run, tmp_path, monkeypatch):
    import analysis.report_sections as report

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(report, "observation_gap", broken)
    markdown = write_report(tin_men_run, tmp_path / "out", n_boot=10).markdown.read_text()
    assert "**This section failed**: RuntimeError: boom" in markdown
    assert "## Side by side with the published study" in markdown


def test_report_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such directory" in err[0] and str(tmp_path) in err[0]
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no run directories found" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "empty"), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--bootstrap" in err[0]


def test_report_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cli", "report", str(tmp_path / "nope")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("bad", ["{oops", "[1, 2]"])
def test_report_on_a_damaged_manifest(tin_men_copy, bad, capsys):
    (tin_men_copy / "manifest.json").write_text(bad)
    assert main(["report", str(tin_men_copy)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json" in err and err.count("\n") == 1


def test_load_and_report_a_sweep_written_by_tinmen_sweep(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(SCENARIOS / "sweeps" / "tin_men_disclosure.yaml"),
                 "--replicates", "3", "--out", str(out), "--quiet"]) == 0
    runs = load_runs(out)
    assert len(runs.runs) == 12 and runs.cell_columns == ("information.disclosure",)
    d = runs.decisions
    assert len(d) == 24 and set(d["replicate"]) == {0, 1, 2}
    assert (d["information.disclosure"] == d["disclosure"]).all()
    assert set(d["run_id"]) == {p.name for p in (out / "runs").iterdir()}
    assert runs.sweep is not None and runs.sweep["sweep_id"] == d["sweep_id"].iloc[0]
    capsys.readouterr()
    assert main(["report", str(out), "--bootstrap", "100"]) == 0
    markdown = (out / "report.md").read_text()
    assert "## Side by side with the published study" in markdown
    assert "of 3 |" in markdown  # 3 decisions per case and condition


def test_report_on_a_run_whose_answers_are_all_unreadable(tmp_path):
    from agents.backends.scripted import ScriptedBackend

    backend = ScriptedBackend(answers=["I would rather not say.", None])
    run = run_into(tmp_path / "run", SCENARIOS / "tin_men.yaml",
                   backends={"petro_assistant": backend, "lumen_assistant": backend})
    markdown = write_report(run, n_boot=20).markdown.read_text()
    assert "This section failed" not in markdown and "nan" not in markdown
    assert "| lumen | 120 | 100.0% (96.9–100.0) |" in markdown  # invalid: 120 of 120
    assert "Not fitted: no valid decisions." in markdown


def test_report_shows_cells_orders_loyalty_and_the_interaction_model(tin_men_run, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(tin_men_run), "--out", str(out), "--bootstrap", "50"]) == 0
    markdown = (out / "report.md").read_text()
    for text in ("## Design cells", "### By listing order",
                 "## Revealed loyalty λ̂", "only β_customer − β_company is identified",
                 "## Interaction model: customer reads × company reads",
                 "override: Firth-penalised likelihood",
                 "sided_with_company equals override", "bounds over all samples",
                 "loss, unreadable as buying nothing"):
        assert text in markdown, text
    assert "This section failed" not in markdown
    cells = markdown.split("## Design cells", 1)[1].split("###", 1)[0]
    assert cells.count("| 30 | 30 |") == 8          # 8 equal cells of 30 decisions
