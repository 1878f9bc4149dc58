"""Cluster labels for cluster-robust standard errors and cluster bootstraps.

Decisions of one customer (repeated markets), one agent or one run are not independent. The
user chooses the cluster: "customer" (run + customer_id), "agent" (run + agent_id), "run"
(run_id) or "decision" (independent decisions). "auto" is "run" when the decisions come from
several runs (a sweep; for a table per group, when every group holds several runs),
"customer" when customers decide more than once within a run (a repeated market) and
"decision" otherwise (a one-shot market: every decision is its own cluster). It is resolved
once for a whole table, never per group, so every row of a table names the same covariance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CLUSTERS = ("auto", "customer", "agent", "run", "decision")


def resolve_cluster(frame: pd.DataFrame, cluster: str | None,
                    by: Sequence[str] = ()) -> str:
    """The concrete cluster kind that `cluster` ("auto" included) means for `frame`.

    Resolve it once on the whole frame, before fitting per group of `by`, so that one table
    uses one covariance: "auto" is "run" when every group of `by` holds several runs, else
    "customer" when some customer decides more than once within a run, else "decision".
    """
    if cluster is None:
        return "decision"
    if cluster not in CLUSTERS:
        raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)}; got {cluster!r}")
    if cluster == "auto":
        if "run_id" in frame and len(frame):
            keys = [k for k in by if k in frame]
            runs = (frame.groupby(keys, dropna=False, observed=True)["run_id"].nunique().min()
                    if keys else frame["run_id"].nunique())
        else:
            runs = 1
        if runs > 1:
            return "run"
        if "customer_id" in frame:
            pair = [c for c in ("run_id", "customer_id") if c in frame]
            if frame.duplicated(subset=pair).any():
                return "customer"
        return "decision"
    return cluster


def cluster_ids(frame: pd.DataFrame, cluster: str | None) -> tuple[str, np.ndarray | None]:
    """(kind, integer cluster id per row), or (\"decision\", None) for independent rows."""
    kind = resolve_cluster(frame, cluster)
    if kind == "decision":
        return kind, None
    run = (frame["run_id"].astype(str) if "run_id" in frame
           else pd.Series("", index=frame.index, dtype=object))
    if kind == "run":
        labels = run
    else:
        column = "customer_id" if kind == "customer" else "agent_id"
        if column not in frame:
            raise ValueError(f"cluster={kind!r} needs a {column} column")
        labels = run + "\x1f" + frame[column].astype(str)
    return kind, pd.factorize(labels.to_numpy(dtype=object))[0]


def sandwich(bread_inverse: np.ndarray, scores: np.ndarray, ids: np.ndarray | None, *,
             df_correction: bool = True) -> np.ndarray:
    """Cluster-robust covariance H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹ · G/(G−1), s_g = a cluster's scores.

    `bread_inverse` is the inverse of minus the Hessian (the model-based covariance) and
    `scores` the per-row score contributions; with `ids` None each row is its own cluster.
    The G/(G−1) factor is the usual small-sample correction. With `df_correction` (the
    logistic models) it is multiplied by (n−1)/(n−k), as in statsmodels' default cluster
    covariance; the choice models leave that factor out (n is ambiguous there: decisions or
    alternatives) and use G/(G−1) alone, as Stata's clogit does.
    """
    n, k = scores.shape
    if ids is None:
        ids = np.arange(n)
    groups = int(ids.max()) + 1 if n else 0
    summed = np.zeros((groups, k))
    np.add.at(summed, ids, scores)
    meat = summed.T @ summed
    factor = groups / max(groups - 1, 1)
    if df_correction:
        factor *= (n - 1) / max(n - k, 1)
    return factor * bread_inverse @ meat @ bread_inverse


def count_clusters(ids: np.ndarray | None, n: int) -> int:
    """How many clusters `ids` holds (`n`, one per row, when None)."""
    return n if ids is None else (int(ids.max()) + 1 if len(ids) else 0)


FEW_CLUSTERS = 10
"""Below this many clusters a cluster-robust covariance is itself unreliable (the output
says so): its middle term has rank at most G − 1."""


def covariance_label(kind: str, clusters: int) -> str:
    """How a model's covariance was estimated, for the output: model-based for independent
    decisions, else cluster-robust by `kind` with the number of clusters (and a warning
    below `FEW_CLUSTERS`)."""
    if kind == "decision":
        return "model-based (inverse information)"
    few = (f"; fewer than {FEW_CLUSTERS} clusters, so these errors are unreliable"
           if clusters < FEW_CLUSTERS else "")
    return f"cluster-robust by {kind} ({clusters} clusters{few})"
