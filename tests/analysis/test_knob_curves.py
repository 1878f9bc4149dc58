"""Knob-curve bands with cluster-robust covariance, against statsmodels' clustered Logit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import knob_curve


def clustered_frame(customers: int = 40, per: int = 12, seed: int = 3) -> pd.DataFrame:
    """Repeated decisions of customers with their own propensity (a random intercept), so
    decisions within a customer are correlated."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        own = rng.normal(0, 1.2)
        for _ in range(per):
            x = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])
            p = 1 / (1 + np.exp(-(own - 0.5 + 1.5 * x)))
            rows.append({"run_id": "r", "customer_id": f"c{c}", "monitoring": x,
                         "override": bool(rng.random() < p)})
    return pd.DataFrame(rows)


def test_band_matches_statsmodels_logit_with_cluster_covariance():
    import statsmodels.api as sm

    frame = clustered_frame()
    curve = knob_curve(frame, "monitoring", grid=9)
    assert curve.cluster == "customer"          # "auto": customers decide repeatedly
    assert curve.covariance == "cluster-robust by customer (40 clusters)"
    assert (curve.curve["covariance"] == curve.covariance).all()
    x = frame["monitoring"].to_numpy()
    y = frame["override"].to_numpy(dtype=float)
    groups = pd.factorize(frame["customer_id"])[0]
    fit = sm.Logit(y, sm.add_constant(x)).fit(disp=False, cov_type="cluster",
                                              cov_kwds={"groups": groups})
    grid = sm.add_constant(np.linspace(0, 1, 9))
    eta = grid @ fit.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", grid, fit.cov_params(), grid))
    expit = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = curve.curve
    assert c["monitoring"].to_numpy() == pytest.approx(grid[:, 1])
    assert c["fitted"].to_numpy() == pytest.approx(expit(eta), abs=1e-8)
    assert c["lo"].to_numpy() == pytest.approx(expit(eta - 1.959964 * se), abs=1e-6)
    assert c["hi"].to_numpy() == pytest.approx(expit(eta + 1.959964 * se), abs=1e-6)


def test_copies_within_clusters_widen_the_band_only_when_clustered():
    frame = clustered_frame(customers=60, per=1, seed=5)
    copies = pd.concat([frame] * 4, ignore_index=True)
    once = knob_curve(frame, "monitoring", grid=5, cluster="customer").curve
    naive = knob_curve(copies, "monitoring", grid=5, cluster="decision").curve
    clustered = knob_curve(copies, "monitoring", grid=5).curve
    assert naive["covariance"].iloc[0] == "model-based (inverse information)"
    width = lambda c: (c["hi"] - c["lo"]).to_numpy()  # noqa: E731
    assert (width(clustered) > 1.5 * width(naive)).all()
    # four copies of each decision are one cluster: the band of the decisions taken once,
    # up to statsmodels' (n−1)/(n−k) factor, which differs between n = 60 and n = 240
    assert width(clustered) == pytest.approx(width(once), rel=0.02)
