"""Profile penalised-likelihood intervals for Firth's logistic regression (as R's logistf).

With ℓ*(β) = ℓ(β) + ½·log|XᵀW(β)X| the Firth-penalised log-likelihood and β̂ its maximum, the
profile of coefficient j is ℓ*_j(b) = max over the other coefficients of ℓ*(β) with β_j = b.
The interval for β_j is the set

    { b : 2·(ℓ*(β̂) − ℓ*_j(b)) ≤ χ²₁(level) },

found by bracketing and root-finding on each side of β̂_j (an end the profile never crosses,
within |b| ≤ `LIMIT`, is ±inf). The p-value is the penalised likelihood-ratio test of β_j = 0,
χ²₁ tail of 2·(ℓ*(β̂) − ℓ*_j(0)). Wald intervals are poor under separation (the estimate sits
near a boundary and its likelihood is skewed), which is why logistf reports these. They
treat decisions as independent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, special, stats

LIMIT = 60.0
"""Farthest log-odds searched for an interval end."""

MAX_STEP = 5.0
"""Largest change of one coefficient in a Newton step of the profile (logistf's maxstep)."""


def penalised_loglik(x: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """ℓ(β) + ½·log|XᵀWX| of a logistic regression (−inf where XᵀWX is singular)."""
    eta = x @ beta                      # not clipped: a clip would flatten ℓ* far out
    p = special.expit(eta)
    info = (x * (p * (1 - p))[:, None]).T @ x
    sign, logdet = np.linalg.slogdet(info)
    loglik = float(np.sum(y * eta - np.logaddexp(0, eta)))
    return loglik + 0.5 * logdet if sign > 0 else -np.inf


def _score_and_info(x: np.ndarray, y: np.ndarray, beta: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Firth's modified score Xᵀ(y − p + h(½ − p)) (the gradient of ℓ*) and XᵀWX."""
    p = special.expit(x @ beta)
    w = p * (1 - p)
    info = (x * w[:, None]).T @ x
    h = w * np.einsum("ij,jk,ik->i", x, np.linalg.pinv(info), x)
    return x.T @ (y - p + h * (0.5 - p)), info


def profile_loglik(x: np.ndarray, y: np.ndarray, j: int, value: float, start: np.ndarray,
                   *, max_iter: int = 200) -> tuple[float, np.ndarray, bool]:
    """max ℓ* over the coefficients other than j, with β_j = `value`: (ℓ*_j, the maximiser,
    whether the search converged).

    Newton steps on the free coefficients (Fisher information as the curvature), each
    coefficient's change capped at `MAX_STEP`, with step-halving on ℓ*, from `start`. A
    step is never taken when no halving of it raises ℓ*: the search stops at the current
    iterate and reports that it did not converge."""
    beta = np.array(start, dtype=float)
    beta[j] = value
    free = np.arange(x.shape[1]) != j
    value_now = penalised_loglik(x, y, beta)
    if not free.any():
        return value_now, beta, True
    for _ in range(max_iter):
        score, info = _score_and_info(x, y, beta)
        step = np.linalg.lstsq(info[np.ix_(free, free)], score[free], rcond=None)[0]
        largest = np.max(np.abs(step)) if step.size else 0.0
        if largest > MAX_STEP:
            step *= MAX_STEP / largest
        t, new, new_value = 1.0, None, -np.inf
        while t >= 1e-8:
            trial = beta.copy()
            trial[free] += t * step
            trial_value = penalised_loglik(x, y, trial)
            if trial_value >= value_now - 1e-12:
                new, new_value = trial, trial_value
                break
            t /= 2
        if new is None:      # no step raises ℓ*: stop at the current iterate, not converged
            return value_now, beta, False
        done = np.max(np.abs(new - beta)) < 1e-10 and abs(new_value - value_now) < 1e-12
        beta, value_now = new, new_value
        if done:
            return value_now, beta, True
    return value_now, beta, False


def profile_interval(x: np.ndarray, y: np.ndarray, beta_hat: np.ndarray, j: int, *,
                     level: float = 0.95, se: float = 1.0) -> tuple[float, float, float]:
    """(lo, hi, p_value) of β_j by the profile penalised likelihood (see the module doc);
    `se` (any rough scale of β_j) sets the first bracketing step."""
    top = penalised_loglik(x, y, beta_hat)
    cut = stats.chi2.ppf(level, 1)
    warm = {"beta": np.array(beta_hat, dtype=float)}

    def excess(b: float) -> float:
        value, beta, _ = profile_loglik(x, y, j, b, warm["beta"])
        warm["beta"] = beta
        return 2.0 * (top - value) - cut

    def end(direction: float) -> float:
        warm["beta"] = np.array(beta_hat, dtype=float)
        inner, step = float(beta_hat[j]), max(float(se), 0.25) if np.isfinite(se) else 0.5
        while abs(inner) < LIMIT:
            outer = inner + direction * step
            if excess(outer) > 0:
                try:
                    return optimize.brentq(excess, min(inner, outer), max(inner, outer),
                                           xtol=1e-9, rtol=1e-12)
                except ValueError:   # a warm-started profile moved an end's sign: bisect
                    return _bisect(excess, inner, outer)
            inner, step = outer, step * 2
        return direction * np.inf

    lo, hi = end(-1.0), end(1.0)
    warm["beta"] = np.array(beta_hat, dtype=float)
    stat = max(2.0 * (top - profile_loglik(x, y, j, 0.0, beta_hat)[0]), 0.0)
    return lo, hi, float(stats.chi2.sf(stat, 1))


def _bisect(excess: Callable[[float], float], inside: float, outside: float,
            tol: float = 1e-9) -> float:
    """The crossing of `excess` between a point known inside the interval (excess ≤ 0) and one
    known outside (> 0), by bisection, which never re-evaluates the ends."""
    while abs(outside - inside) > tol:
        middle = 0.5 * (inside + outside)
        if excess(middle) > 0:
            outside = middle
        else:
            inside = middle
    return 0.5 * (inside + outside)
