"""Numerics of the likelihood fits: a log-likelihood that cannot underflow to −inf, and line
searches that never take a step that lowers the objective."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import analysis.firth_profile as firth_profile
import analysis.loyalty as loyalty
from analysis.loyalty import choice_sets, clogit_pieces, fit_clogit
from analysis.regression import design_matrix
from tests.analysis.test_firth_profile import COUNTS
from tests.analysis.test_loyalty import rational_frame
from tests.analysis.test_regression import design_frame


def nearly_deterministic_sets():
    """Choice sets of a rational agent with almost no noise (buying nothing left out)."""
    sets = choice_sets(rational_frame(0.4, 200, seed=5, noise=0.01))
    keep = sets.x[:, 2] != 1.0
    return sets.x[keep][:, :2], sets.decision[keep], sets.chosen[keep]


def test_the_log_likelihood_stays_finite_where_the_chosen_probability_underflows():
    x, decision, chosen = nearly_deterministic_sets()
    beta = np.array([-5000.0, 0.0])      # the chosen products' probabilities underflow to 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        loglik = clogit_pieces(x, decision, chosen, beta)[0]
    assert np.isfinite(loglik) and loglik < -1000
    # log-sum-exp agrees with the plain formula where nothing underflows
    small = np.array([0.3, -0.2])
    eta = x @ small
    plain = sum(eta[chosen & (decision == d)].sum() - np.log(np.exp(eta[decision == d]).sum())
                for d in np.unique(decision))
    assert clogit_pieces(x, decision, chosen, small)[0] == pytest.approx(plain, rel=1e-12)


def test_a_diverging_fit_raises_no_runtime_warning_and_says_it_did_not_converge():
    x, decision, chosen = nearly_deterministic_sets()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        beta, _, _, ok = fit_clogit(x, decision, chosen)
    assert not ok
    assert np.all(np.isfinite(beta))
    assert np.isfinite(clogit_pieces(x, decision, chosen, beta)[0])


def test_the_clogit_never_accepts_a_step_that_lowers_the_likelihood(monkeypatch):
    sets = choice_sets(rational_frame(0.4, 300, seed=3))
    x, decision, chosen = sets.x, sets.decision, sets.chosen
    real = loyalty.clogit_pieces

    def worse_away_from_zero(x, decision, chosen, beta):
        loglik, scores, info = real(x, decision, chosen, beta)
        return loglik - (1e6 if np.any(beta != 0) else 0.0), scores, info

    monkeypatch.setattr(loyalty, "clogit_pieces", worse_away_from_zero)
    beta, _, _, ok = fit_clogit(x, decision, chosen)
    assert not ok and np.all(beta == 0)


def test_the_firth_profile_never_accepts_a_step_that_lowers_the_objective(monkeypatch):
    frame = design_frame(COUNTS)
    x, _ = design_matrix(frame)
    y = frame["override"].astype(float).to_numpy()
    start = np.zeros(x.shape[1])
    real = firth_profile.penalised_loglik
    at_start = real(x, y, start)

    def worse_away_from_start(x, y, beta):
        value = real(x, y, beta)
        return value if np.all(beta == start) else at_start - 1.0

    monkeypatch.setattr(firth_profile, "penalised_loglik", worse_away_from_start)
    value, beta, converged = firth_profile.profile_loglik(x, y, 1, 0.0, start)
    assert not converged
    assert value == at_start and np.all(beta == start)
