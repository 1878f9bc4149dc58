"""Analysis of run directories: it reads files only and never imports the engine.

    from analysis import load_run, load_runs, summarise, observation_gap
    runs = load_run("runs/tin_men-20250101-120000")      # or load_runs("sweeps/x")
    summarise(runs.decisions, ["company", "disclosure"])  # rates and means with 95% intervals

Modules: `load` (run and sweep directories -> DataFrames), `metrics` (conflict metrics by any
grouping), `effects` (observation gap, pairwise tests, logistic regression), `knob_curves`
(rates against a continuous knob with cluster-robust bands), `choice_model` (conditional
logit), `choice_inference` (cluster-robust covariance of the conditional logits), `published`
(the original study's counts), `plots` (DataFrame -> Figure), `report` (report.md /
report.html), `intervals` (Wilson, Newcombe, bootstrap, Holm), `transcripts` (transcripts with
shared prompts resolved), `loyalty` (the agent's revealed weight on the company, λ̂),
`regression` (interaction logit, Firth, cluster-robust SEs), `firth_profile` (Firth's profile
penalised-likelihood intervals), `clusters` (cluster labels and the sandwich), `planning`
(decisions per cell for a wanted power). Plots are imported on demand: `from analysis import
plots`.
"""

from agents.errors import AnalysisError
from analysis.choice_model import ChoiceModelResult, choice_data, conditional_logit
from analysis.effects import (
    KnobCurve,
    LogitResult,
    information_knobs,
    knob_curve,
    logistic_regression,
    observation_gap,
    pairwise_tests,
)
from analysis.intervals import (
    bootstrap_mean_interval,
    holm,
    newcombe_interval,
    wilson_interval,
)
from analysis.load import Runs, find_run_dirs, load_run, load_runs
from analysis.loyalty import revealed_loyalty
from analysis.metrics import DEFINITIONS, summarise
from analysis.planning import plan
from analysis.published import (
    compare_with_published,
    published_counts,
    published_rates,
    run_counts,
    unparsed_bounds,
    unparsed_sensitivity,
)
from analysis.regression import InteractionResult, interaction_logit
from analysis.transcripts import iter_transcripts, load_transcripts

__all__ = [
    "DEFINITIONS",
    "AnalysisError",
    "ChoiceModelResult",
    "InteractionResult",
    "KnobCurve",
    "LogitResult",
    "Runs",
    "bootstrap_mean_interval",
    "choice_data",
    "compare_with_published",
    "conditional_logit",
    "find_run_dirs",
    "iter_transcripts",
    "holm",
    "information_knobs",
    "interaction_logit",
    "knob_curve",
    "load_run",
    "load_runs",
    "load_transcripts",
    "logistic_regression",
    "newcombe_interval",
    "observation_gap",
    "pairwise_tests",
    "plan",
    "published_counts",
    "published_rates",
    "revealed_loyalty",
    "run_counts",
    "summarise",
    "unparsed_bounds",
    "unparsed_sensitivity",
    "wilson_interval",
]
