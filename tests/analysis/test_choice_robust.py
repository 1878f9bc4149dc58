"""Cluster-robust covariance of the conditional logits (choice model and λ̂) against
independent computations: per-cluster scores built by hand, and statsmodels' clustered logit
on two-product listings (where the conditional logit is a logit on feature differences)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import conditional_logit, revealed_loyalty
from analysis.loyalty import choice_sets, fit_clogit
from tests.analysis.test_choice_model import MARGINS, PRODUCTS, simulate
from tests.analysis.test_loyalty import rational_frame

FEATURES = ["price_to_budget", "margin_to_budget", "attr_quality", "position"]


def hand_pieces(matrices: list[np.ndarray], chosen: list[int], beta: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-decision scores and minus the Hessian of the conditional logit, written out."""
    scores, info = [], np.zeros((len(beta), len(beta)))
    for x, pick in zip(matrices, chosen, strict=True):
        v = x @ beta
        p = np.exp(v - v.max())
        p /= p.sum()
        mean = p @ x
        scores.append(x[pick] - mean)
        info += (x - mean).T @ np.diag(p) @ (x - mean)
    return np.array(scores), info


def hand_cluster_cov(scores: np.ndarray, info: np.ndarray, labels: list[str]) -> np.ndarray:
    """G/(G−1) · H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹ with the clusters summed by a dict."""
    sums: dict[str, np.ndarray] = {}
    for label, s in zip(labels, scores, strict=True):
        sums[label] = sums.get(label, 0) + s
    meat = sum(np.outer(s, s) for s in sums.values())
    bread = np.linalg.inv(info)
    g = len(sums)
    return g / (g - 1) * bread @ meat @ bread


def test_choice_model_cluster_se_equals_the_hand_built_sandwich():
    frame, matrices, chosen = simulate(n=400, seed=5)
    frame["customer_id"] = [f"c{i % 37}" for i in range(len(frame))]
    result = conditional_logit(frame, PRODUCTS, MARGINS, features=FEATURES)
    assert result.cluster == "customer"          # "auto": customers decide repeatedly
    assert result.covariance == "cluster-robust by customer (37 clusters)"
    table = result.table.set_index("term").loc[FEATURES]
    scores, info = hand_pieces(matrices, chosen, table["coef"].to_numpy())
    cov = hand_cluster_cov(scores, info, list(frame["customer_id"]))
    assert table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-6)
    model_based = conditional_logit(frame, PRODUCTS, MARGINS, features=FEATURES,
                                    cluster="decision")
    assert model_based.covariance == "model-based (inverse information)"
    assert model_based.table["se"].to_numpy() == pytest.approx(
        np.sqrt(np.diag(np.linalg.inv(info))), rel=1e-5)


def test_one_decision_per_cluster_is_the_robust_sandwich_times_n_over_n_minus_1():
    frame, matrices, chosen = simulate(n=300, seed=8)
    frame["customer_id"] = [f"c{i}" for i in range(len(frame))]
    result = conditional_logit(frame, PRODUCTS, MARGINS, features=FEATURES,
                               cluster="customer")
    table = result.table.set_index("term").loc[FEATURES]
    scores, info = hand_pieces(matrices, chosen, table["coef"].to_numpy())
    bread = np.linalg.inv(info)
    hc0 = bread @ (scores.T @ scores) @ bread
    n = len(frame)
    assert table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(hc0) * n / (n - 1)),
                                                   rel=1e-6)


def test_two_product_listings_match_statsmodels_clustered_logit_on_differences():
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    rows, diffs, first = [], [], []
    price = PRODUCTS["price"].to_numpy() / 100
    quality = PRODUCTS["attr_quality"].to_numpy()
    for i in range(500):
        a, b = rng.choice(6, size=2, replace=False)
        x = np.array([[price[a], quality[a]], [price[b], quality[b]]])
        pick = int(np.argmax(x @ np.array([-2.0, 3.0]) + rng.gumbel(size=2)))
        diffs.append(x[0] - x[1])
        first.append(float(pick == 0))
        rows.append({"run_id": "r1", "customer_id": f"c{i % 25}", "company": "shop",
                     "budget": 100.0, "valid": True, "listing": f"p{a}|p{b}",
                     "choice": f"p{(a, b)[pick]}"})
    frame = pd.DataFrame(rows)
    result = conditional_logit(frame, PRODUCTS, MARGINS, min_listing=2,
                               features=["price_to_budget", "attr_quality"])
    groups = pd.factorize(frame["customer_id"])[0]
    reference = sm.GLM(np.array(first), np.array(diffs), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    n, k = len(first), 2
    # statsmodels also multiplies by (n−1)/(n−k); the choice model uses G/(G−1) alone
    expected = np.sqrt(np.diag(np.asarray(reference.cov_params())) * (n - k) / (n - 1))
    assert result.table["coef"].to_numpy() == pytest.approx(reference.params, rel=1e-6)
    assert result.table["se"].to_numpy() == pytest.approx(expected, rel=1e-6)


def lambda_by_hand(frame: pd.DataFrame, beta: np.ndarray, labels: list[str]) -> float:
    """Delta-method se of λ̂ from scores, Hessian and cluster sums computed here (the choice
    sets, with buying nothing, are the module's; everything after them is rebuilt)."""
    sets = choice_sets(frame)
    decisions = range(sets.decision.max() + 1)
    matrices = [sets.x[sets.decision == d] for d in decisions]
    picks = [int(np.flatnonzero(sets.chosen[sets.decision == d])[0]) for d in decisions]
    scores, info = hand_pieces(matrices, picks, beta)
    cov = hand_cluster_cov(scores, info, labels)
    bu, bc = beta[0], beta[1]
    grad = np.array([-bc, bu]) / (bu + bc) ** 2
    return float(np.sqrt(grad @ cov[:2, :2] @ grad))


def test_lambda_interval_uses_the_clustered_covariance():
    frame = rational_frame(0.35, 600, seed=2, refuse_every=7)   # 30 customers, one run
    row = revealed_loyalty(frame).iloc[0]
    assert row["cluster"] == "customer" and row["outside_option"]
    assert row["covariance"] == "cluster-robust by customer (30 clusters)"
    sets = choice_sets(frame)
    beta = fit_clogit(sets.x, sets.decision, sets.chosen)[0]
    assert beta[:2] == pytest.approx([row["beta_customer"], row["beta_company"]])
    expected = lambda_by_hand(frame, beta, list(frame["customer_id"]))
    assert row["lambda_se"] == pytest.approx(expected, rel=1e-6)
    assert row["lambda_hi"] - row["lambda_lo"] == pytest.approx(2 * 1.959964 * expected,
                                                                rel=1e-5)


def test_duplicated_decisions_widen_the_interval_only_when_clustered():
    once = rational_frame(0.3, 300, seed=4)
    once["customer_id"] = [f"c{i}" for i in range(len(once))]
    five = pd.concat([once] * 5, ignore_index=True)
    single = revealed_loyalty(once, cluster="customer").iloc[0]
    naive = revealed_loyalty(five, cluster="decision").iloc[0]
    clustered = revealed_loyalty(five).iloc[0]          # "auto": customers repeat
    assert clustered["cluster"] == "customer" and naive["covariance"].startswith("model")
    assert clustered["lambda_hat"] == pytest.approx(single["lambda_hat"], abs=1e-9)
    # copies are no new information: the model-based interval shrinks by √5, the clustered
    # one is exactly the robust interval of the decisions taken once
    assert naive["lambda_se"] < single["lambda_se"] / 2
    assert clustered["lambda_se"] == pytest.approx(single["lambda_se"], rel=1e-6)
    width = clustered["lambda_hi"] - clustered["lambda_lo"]
    assert width > 2 * (naive["lambda_hi"] - naive["lambda_lo"])


def test_few_clusters_are_flagged_in_the_covariance():
    frame = rational_frame(0.35, 300, seed=2, refuse_every=7)
    frame["run_id"] = [f"r{i % 3}" for i in range(len(frame))]
    row = revealed_loyalty(frame).iloc[0]                  # "auto": by run in a sweep
    assert row["cluster"] == "run"
    assert row["covariance"] == ("cluster-robust by run (3 clusters; fewer than 10 clusters, "
                                 "so these errors are unreliable)")
