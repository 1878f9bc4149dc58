"""Interaction logit, Firth's penalised likelihood and cluster-robust SEs against independent
computations: statsmodels' GLM cluster covariance, the closed form of Firth on a saturated
design and a direct numerical maximisation of the penalised likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from analysis.regression import interaction_logit, irls


def design_frame(counts: dict[tuple[bool, bool], tuple[int, int]], customers: int = 0
                 ) -> pd.DataFrame:
    """Decisions per (customer_reads, company_reads) cell with k overrides out of n."""
    rows = []
    for (c, k), (hits, n) in counts.items():
        for i in range(n):
            rows.append({"customer_reads": c, "company_reads": k, "override": i < hits})
    frame = pd.DataFrame(rows)
    frame["customer_id"] = [f"c{i % customers}" if customers else f"c{i}"
                            for i in range(len(frame))]
    frame["run_id"] = "r"
    return frame


def test_ml_fit_and_cluster_se_match_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    frame = design_frame({(False, False): (30, 80), (True, False): (20, 80),
                          (False, True): (45, 80), (True, True): (25, 80)}, customers=40)
    frame = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame["customer_id"] = [f"c{i}" for i in rng.integers(0, 40, size=len(frame))]
    result = interaction_logit(frame, cluster="customer")
    assert result.method == "maximum likelihood" and result.cluster == "customer"
    c = frame["customer_reads"].astype(float)
    k = frame["company_reads"].astype(float)
    x = np.column_stack([np.ones(len(frame)), c, k, c * k])
    groups = pd.factorize(frame["customer_id"])[0]
    reference = sm.GLM(frame["override"].astype(float), x, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    assert result.table["coef"].to_numpy() == pytest.approx(reference.params[1:], abs=1e-7)
    assert result.table["se"].to_numpy() == pytest.approx(reference.bse[1:], rel=1e-6)
    model_based = interaction_logit(frame, cluster="decision")
    plain = sm.GLM(frame["override"].astype(float), x, family=sm.families.Binomial()).fit()
    assert model_based.table["se"].to_numpy() == pytest.approx(plain.bse[1:], rel=1e-6)


def test_firth_on_a_separated_saturated_design_adds_a_half_to_every_cell():
    # company_reads alone: no override at all -> ML log-odds of that cell is -inf
    counts = {(False, False): (12, 40), (True, False): (5, 40), (False, True): (0, 40),
              (True, True): (0, 40)}
    result = interaction_logit(design_frame(counts), cluster="decision")
    assert result.method == "Firth-penalised likelihood"
    assert "separation" in result.note and "all 0" in result.note
    # saturated model: Firth's estimate puts each cell at logit((k + 1/2) / (n + 1))
    cell = {key: np.log((k + 0.5) / (n - k + 0.5)) for key, (k, n) in counts.items()}
    expected = [cell[True, False] - cell[False, False], cell[False, True] - cell[False, False],
                cell[True, True] - cell[True, False] - cell[False, True] + cell[False, False]]
    table = result.table.set_index("term")
    assert table["coef"].to_numpy() == pytest.approx(expected, abs=1e-7)
    assert np.isfinite(table["odds_ratio"]).all() and np.isfinite(table["se"]).all()


def test_firth_matches_a_direct_maximisation_of_the_penalised_likelihood():
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(30), rng.normal(size=30), rng.random(30) < 0.5])
    y = (x[:, 1] > 0.2).astype(float)                   # completely separated by x1

    def minus_penalised(b):
        eta = x @ b
        p = 1 / (1 + np.exp(-eta))
        info = (x * (p * (1 - p))[:, None]).T @ x
        return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(info)[1])

    direct = minimize(minus_penalised, np.zeros(3), method="Nelder-Mead",
                      options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}).x
    beta, _, scores, ok = irls(x, y, firth=True)
    assert ok and beta == pytest.approx(direct, abs=1e-4)
    assert np.abs(scores.sum(axis=0)).max() < 1e-8
    ml_beta, _, _, _ = irls(x, y)
    assert np.abs(ml_beta).max() > 15                   # ML runs away; Firth does not


def test_a_design_without_all_four_conditions_is_not_fitted():
    frame = design_frame({(False, False): (3, 10), (True, True): (4, 10)})
    frame = frame[frame["customer_reads"] == frame["company_reads"]]
    assert interaction_logit(frame[frame["customer_reads"]]).table.empty


SEPARATED = {(False, False): (12, 40), (True, False): (5, 40), (False, True): (0, 40),
             (True, True): (0, 40)}


def test_ml_under_separation_reports_no_standard_errors_intervals_or_p_values():
    result = interaction_logit(design_frame(SEPARATED), cluster="decision", method="ml")
    assert result.method == "maximum likelihood"
    assert "separation" in result.note and "company_reads=True: all 0" in result.note
    table = result.table
    for column in ("se", "lo", "hi", "p_value"):
        assert table[column].isna().all(), column
    balanced = {(False, False): (12, 40), (True, False): (5, 40), (False, True): (9, 40),
                (True, True): (4, 40)}
    fine = interaction_logit(design_frame(balanced), cluster="decision", method="ml")
    assert np.isfinite(fine.table[["se", "lo", "hi", "p_value"]].to_numpy(float)).all()


def test_forced_firth_names_the_separated_cells_as_auto_does():
    frame = design_frame(SEPARATED)
    auto = interaction_logit(frame, cluster="decision")
    forced = interaction_logit(frame, cluster="decision", method="firth")
    assert forced.method == auto.method == "Firth-penalised likelihood"
    assert forced.note == auto.note
    assert "company_reads=True: all 0" in forced.note
