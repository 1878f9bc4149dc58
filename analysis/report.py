"""`tinmen report`: a run's or sweep's tables and figures as report.md and report.html.

Sections: runs and their status; conflict metrics by condition (with denominators); the
observation gap; pairwise tests between disclosure conditions (Holm-corrected); a logistic
regression of override on the information knobs; curves against continuous knobs; a
conditional-logit choice model (listings of 3+ products); per-tick series; and, for the
tin_men scenario, the comparison with the published study.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agents.errors import AnalysisError
from analysis.intervals import DEFAULT_BOOTSTRAP
from analysis.load import Runs, load_runs
from analysis.probability_report import probability_section
from analysis.render import (
    Block,
    Collapsed,
    Contents,
    Heading,
    Text,
    save_figures,
    to_html,
    to_markdown,
)
from analysis.report_design import design_section, interaction_section, loyalty_section
from analysis.report_models import choice_section, knobs_section, published_section, ticks_section
from analysis.report_sections import (
    condition_keys,
    count_text,
    gap_section,
    metrics_section,
    pairwise_section,
    regression_section,
    runs_section,
    runs_warning,
    summary_section,
)


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]


def write_report(path: str | Path, out_dir: str | Path | None = None, *,
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> ReportFiles:
    """Load the run or sweep at `path` and write report.md, report.html and figures/.

    `out_dir` defaults to `path`. `n_boot` and `seed` set the bootstrap of mean intervals.
    """
    if n_boot < 1:
        raise AnalysisError(f"bootstrap replicates must be at least 1, got {n_boot}")
    source = Path(path)
    runs = load_runs(source)
    out = Path(out_dir) if out_dir is not None else source
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnalysisError(f"{out}: cannot create the report directory ({exc.strerror})"
                            ) from exc
    title = f"tinmen report: {source.resolve().name}"
    blocks = build_report(runs, title=title, n_boot=n_boot, seed=seed)
    try:
        figures = save_figures(blocks, out)
        markdown = out / "report.md"
        html = out / "report.html"
        markdown.write_text(to_markdown(blocks), encoding="utf-8")
        html.write_text(to_html(blocks, title), encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"{out}: cannot write the report ({exc.strerror}); choose another "
                            "output directory") from exc
    return ReportFiles(markdown, html, tuple(figures))


def build_report(runs: Runs, *, title: str = "tinmen report",
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> list[Block]:
    """Every section of the report as blocks (see `analysis.render`)."""
    d = runs.decisions
    blocks: list[Block] = [Heading(title, 1), Text(
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} from "
        f"`{runs.root}`: {count_text(len(runs.runs), 'run')}, {count_text(len(d), 'decision')}. "
        "Intervals are 95%: "
        f"Wilson for rates, a seeded percentile bootstrap ({n_boot} resamples, seed {seed}) "
        "for means.")]
    if d.empty:
        blocks += runs_warning(runs)
        blocks.append(Text("**No decisions were recorded**, so there is nothing to analyse."))
        blocks += runs_section(runs)
        return blocks
    sections: list[tuple[str, Callable[[], list[Block]]]] = [
        ("Summary", lambda: summary_section(runs, n_boot=n_boot, seed=seed)),
        ("Contents", lambda: [Contents()]),
        ("Conflict metrics", lambda: metrics_section(runs, n_boot=n_boot, seed=seed)),
        ("Choice probabilities", lambda: probability_section(
            runs.decisions, condition_keys(runs), n_boot=n_boot, seed=seed)),
        ("Observation gap", lambda: gap_section(runs)),
        ("Pairwise tests", lambda: pairwise_section(runs)),
        ("Design cells", lambda: design_section(runs)),
        ("Revealed loyalty", lambda: loyalty_section(runs)),
        ("Logistic regression", lambda: regression_section(runs)),
        ("Interaction model", lambda: interaction_section(runs)),
        ("Continuous knobs", lambda: knobs_section(runs)),
        ("Choice model", lambda: choice_section(runs)),
        ("Per tick", lambda: ticks_section(runs)),
        ("Published study", lambda: published_section(runs)),
        ("Runs", lambda: [Collapsed(f"Runs ({len(runs.runs)}): status, ticks and size of each",
                                    runs_section(runs))]),
    ]
    for name, section in sections:
        try:
            blocks += section()
        except Exception as exc:  # noqa: BLE001 - one failing analysis must not hide the rest
            blocks += [Heading(name), Text(
                f"**This section failed**: {type(exc).__name__}: {exc}. Other sections are "
                "unaffected; please report it with the run directory."),
                Text("`" + traceback.format_exc(limit=1).strip().splitlines()[-1] + "`")]
    return blocks
