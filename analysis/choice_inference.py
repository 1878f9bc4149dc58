"""Cluster-robust covariance for conditional logits (the choice model and λ̂).

A conditional logit's log-likelihood is a sum over decisions d of
ℓ_d(β) = x_{d,chosen}·β − log Σ_j exp(x_{d,j}·β). Its per-decision score is

    s_d = x_{d,chosen} − Σ_j p_{dj} x_{dj},   p_{dj} = exp(x_{dj}·β) / Σ_k exp(x_{dk}·β),

and minus its Hessian is H = Σ_d Σ_j p_{dj} (x_{dj} − x̄_d)(x_{dj} − x̄_d)ᵀ, x̄_d = Σ_j p_{dj} x_{dj}.
Decisions of one customer, agent or run are not independent, so the covariance is the
cluster-robust sandwich

    V = G/(G−1) · H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹,   s_g = Σ_{d in cluster g} s_d,

with the clusters of `analysis.clusters` (the logistic models' rule). With one decision per
cluster it is the heteroskedasticity-robust sandwich H⁻¹(Σ_d s_d s_dᵀ)H⁻¹ times n/(n−1).
"""

from __future__ import annotations

import numpy as np

from analysis.clusters import sandwich


def decision_scores(exog: np.ndarray, chosen: np.ndarray, codes: np.ndarray,
                    beta: np.ndarray) -> np.ndarray:
    """Per-decision scores s_d (decisions × features) at `beta`; `codes` are 0-based decision
    ids of the stacked alternatives and `chosen` flags the chosen row of each decision."""
    n_dec = int(codes.max()) + 1
    eta = exog @ beta
    top = np.full(n_dec, -np.inf)
    np.maximum.at(top, codes, eta)
    w = np.exp(eta - top[codes])
    p = w / np.bincount(codes, weights=w, minlength=n_dec)[codes]
    mean = np.zeros((n_dec, exog.shape[1]))
    np.add.at(mean, codes, p[:, None] * exog)
    scores = -mean
    picked = np.flatnonzero(np.asarray(chosen, dtype=bool))
    np.add.at(scores, codes[picked], exog[picked])
    return scores


def robust_choice_cov(model_cov: np.ndarray, scores: np.ndarray, ids: np.ndarray | None
                      ) -> np.ndarray:
    """The clustered sandwich G/(G−1)·H⁻¹(Σ_g s_g s_gᵀ)H⁻¹ from the model-based covariance
    H⁻¹ and the per-decision scores; `ids` None is one cluster per decision."""
    return sandwich(model_cov, scores, ids, df_correction=False)
