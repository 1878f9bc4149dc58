"""What drives the choice: a conditional-logit model of which listed product the agent buys.

For every valid decision that chose a listed product from a listing of 3 or more products,
each listed product is one alternative. The agent is modelled as picking product j with
probability exp(x_j·β) / Σ_k exp(x_k·β) over the listing, so only features that vary across
the products of a listing are identified. Features (per decision and product):

- `price_to_budget`: price / the customer's budget;
- `over_budget`: 1 when the price exceeds the budget;
- `margin_to_budget`: the deciding company's margin on the product / the customer's budget;
- `attr_<name>`: each product attribute (booleans as 0/1);
- `position`: 0-based rank in the listing, only when listing orders vary.

Product prices, attributes and margins come from the manifest (`config.products`).

Standard errors are cluster-robust (`analysis.choice_inference`) with the clusters of the
logistic models (`analysis.clusters`: "auto" is by run in sweeps, by customer in a repeated
market, model-based for independent decisions); `covariance` in the result says which.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.choice_inference import decision_scores, robust_choice_cov
from analysis.clusters import cluster_ids, count_clusters, covariance_label
from analysis.intervals import DEFAULT_LEVEL, z_value

MIN_LISTING = 3


@dataclass
class ChoiceModelResult:
    """Coefficients of the conditional logit: term, coef, se, odds_ratio, lo, hi, p_value and
    `separated` (the feature alone separates the choices: its coefficient is ±inf), the
    cluster kind and a description of the covariance behind `se` (`covariance`). `fit` is
    statsmodels' result, whose own `bse` are model-based; `table` holds the ones used."""

    table: pd.DataFrame
    n_decisions: int
    n_alternatives: int
    features: list[str]
    note: str = ""
    fit: object | None = field(default=None, repr=False)
    cluster: str = "decision"
    covariance: str = ""


def choice_data(decisions: pd.DataFrame, products: pd.DataFrame, margins: pd.DataFrame,
                *, min_listing: int = MIN_LISTING) -> pd.DataFrame:
    """Long table: one row per (decision, listed product) with `chosen` and the features.

    `products` and `margins` are `Runs.products()` and `Runs.margins()` (with run_id), so runs
    with different catalogues are matched to their own products.
    """
    mask = (decisions["valid"].astype(bool) & decisions["choice"].notna()
            & decisions["listing"].notna()).to_numpy(dtype=bool)
    sizes = decisions["listing"].astype(str).str.count(r"\|").to_numpy() + 1
    mask = mask & (sizes >= min_listing)
    needed = decisions[mask]
    if needed.empty:
        return pd.DataFrame()
    run_id = needed["run_id"] if "run_id" in needed else pd.Series("", index=needed.index)
    base = pd.DataFrame({
        "decision": np.arange(len(needed)),
        "row": np.flatnonzero(mask),                 # position in `decisions`
        "run_id": run_id.astype(object).to_numpy(),
        "company": needed["company"].astype(object).to_numpy(),
        "budget": needed["budget"].astype(float).to_numpy(),
        "choice": needed["choice"].astype(object).to_numpy(),
        "product_id": needed["listing"].astype(str).str.split("|").to_numpy(),
    })
    long = base.explode("product_id", ignore_index=True)
    long["position"] = long.groupby("decision").cumcount().astype(float)
    products = products.copy()
    if "run_id" not in products:
        products["run_id"] = ""
    long = long.merge(products.drop(columns=["name"], errors="ignore"),
                      on=["run_id", "product_id"], how="left", validate="many_to_one")
    if long["price"].isna().any():
        missing = sorted(long.loc[long["price"].isna(), "product_id"].unique())
        raise ValueError(f"listed products missing from the manifest's config.products: "
                         f"{missing}")
    margins = margins.copy()
    if "run_id" not in margins:
        margins["run_id"] = ""
    long = long.merge(margins, on=["run_id", "product_id", "company"], how="left",
                      validate="many_to_one")
    long["margin"] = long["margin"].fillna(0.0)
    long["chosen"] = (long["product_id"] == long["choice"]).astype(float)
    long["price_to_budget"] = long["price"] / long["budget"]
    long["over_budget"] = (long["price"] > long["budget"]).astype(float)
    long["margin_to_budget"] = long["margin"] / long["budget"]
    # a choice not in its listing cannot be modelled (it should not happen)
    has_choice = long.groupby("decision")["chosen"].transform("sum") == 1
    return long[has_choice].reset_index(drop=True)


def default_features(long: pd.DataFrame) -> list[str]:
    """Features that vary within at least one listing (others are not identified)."""
    candidates = ["price_to_budget", "over_budget", "margin_to_budget",
                  *sorted(c for c in long.columns if c.startswith("attr_"))]
    # position is a product-level constant when the listing order never changes
    order_varies = long.groupby("product_id")["position"].nunique().max() > 1
    if order_varies:
        candidates.append("position")
    within = long.groupby("decision")[candidates].std(ddof=0).max()
    return [c for c in candidates if within.get(c, 0.0) > 1e-12]


def conditional_logit(decisions: pd.DataFrame, products: pd.DataFrame, margins: pd.DataFrame,
                      *, features: Sequence[str] | None = None,
                      min_listing: int = MIN_LISTING, engine: str = "fast",
                      cluster: str | None = "auto",
                      level: float = DEFAULT_LEVEL) -> ChoiceModelResult:
    """Fit a conditional logit (statsmodels) of the chosen product on product features.

    `engine="fast"` (the default) fits the one-choice-per-listing likelihood as a statsmodels
    `GenericLikelihoodModel` with analytic gradient and Hessian; `engine="statsmodels"` uses
    statsmodels' `ConditionalLogit`, which gives the same estimates (the tests check it) but
    is far slower on long listings (its per-listing recursion handles several chosen items).

    Only decisions with `min_listing`+ listed products that chose one of them are used.
    Features that are collinear with others are dropped, in order, and named in `note`.

    A feature that separates the choices on its own (in every listing the chosen product has
    the listing's highest value of it, or in every listing the lowest) has an infinite
    maximum-likelihood coefficient. It is reported as +inf / -inf, and the other coefficients
    are fitted in that limit, which is exact: each listing keeps only its products at the
    chosen extreme of that feature (e.g. only affordable products, when the agent never buys
    over budget).

    `cluster` ("auto", "customer", "agent", "run" or "decision") chooses the covariance as for
    the logistic models: the clustered sandwich of `analysis.choice_inference`, or model-based
    for "decision"; Wald intervals and p-values use it.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    empty = pd.DataFrame(columns=["term", "coef", "se", "odds_ratio", "lo", "hi", "p_value",
                                  "separated"])
    long = choice_data(decisions, products, margins, min_listing=min_listing)
    if long.empty:
        return ChoiceModelResult(empty, 0, 0, [], note=f"no valid choice from a listing of "
                                 f"{min_listing} or more products")
    n_decisions, n_alternatives = long["decision"].nunique(), len(long)
    features = list(default_features(long) if features is None else features)
    features, dropped = _independent(long, features)
    notes = [f"dropped collinear feature(s): {', '.join(dropped)}"] if dropped else []
    long, features, separated = _limit_separation(long, features)
    if separated:
        notes.append("separation: " + ", ".join(
            f"the chosen product always had its listing's {'highest' if sign > 0 else 'lowest'}"
            f" {name}" for name, sign in separated) + "; that coefficient is infinite, and "
            "the others are fitted on each listing's products at that extreme")
    rows = [{"term": name, "coef": sign * np.inf, "se": np.nan,
             "odds_ratio": np.inf if sign > 0 else 0.0, "lo": np.nan, "hi": np.nan,
             "p_value": np.nan, "separated": True} for name, sign in separated]
    fit, kind, covariance = None, "decision", ""
    if features:
        exog, chosen = long[features].to_numpy(dtype=float), long["chosen"].to_numpy()
        fit = fit_choice_model(chosen.astype(float), exog, long["decision"].to_numpy(),
                               engine=engine)
        coef = np.asarray(fit.params)
        codes = pd.factorize(long["decision"])[0]
        first = np.unique(codes, return_index=True)[1]
        kind, ids = cluster_ids(decisions.iloc[long["row"].to_numpy()[first]], cluster)
        cov = np.asarray(fit.cov_params())
        if ids is not None:
            cov = robust_choice_cov(cov, decision_scores(exog, chosen == 1, codes, coef), ids)
        covariance = covariance_label(kind, count_clusters(ids, len(first)))
        z = z_value(level)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            se = np.sqrt(np.diag(cov))
            fitted = pd.DataFrame({"term": features, "coef": coef, "se": se,
                                   "odds_ratio": np.exp(coef), "lo": np.exp(coef - z * se),
                                   "hi": np.exp(coef + z * se),
                                   "p_value": 2 * stats.norm.sf(np.abs(coef / se)),
                                   "separated": ~np.isfinite(se)})
        rows = fitted.to_dict("records") + rows
    elif not separated:
        notes.append("no product feature varies within a listing")
    table = pd.DataFrame(rows, columns=empty.columns) if rows else empty
    return ChoiceModelResult(table, n_decisions, n_alternatives,
                             features + [name for name, _ in separated],
                             note="; ".join(notes), fit=fit, cluster=kind,
                             covariance=covariance)


ENGINES = ("fast", "statsmodels")


def one_choice_logit(chosen: np.ndarray, exog: np.ndarray, groups: np.ndarray) -> object:
    """The conditional logit with exactly one chosen alternative per group, as a statsmodels
    `GenericLikelihoodModel` (which supplies the Newton solver and the inference).

    log L(β) = Σ_g [x_{g,chosen}·β − log Σ_{j in g} exp(x_{g,j}·β)]; its gradient is
    Σ_g (x_chosen − x̄_g) and its Hessian −Σ_g Σ_j p_j (x_j − x̄_g)(x_j − x̄_g)ᵀ, with p the
    within-group choice probabilities and x̄_g their p-weighted mean.
    """
    from statsmodels.base.model import GenericLikelihoodModel

    codes, _ = pd.factorize(groups)
    n_groups = int(codes.max()) + 1
    picked = np.flatnonzero(chosen == 1)

    def log_denominators(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = np.full(n_groups, -np.inf)
        np.maximum.at(top, codes, v)
        weights = np.exp(v - top[codes])
        total = np.bincount(codes, weights=weights, minlength=n_groups)
        return top + np.log(total), weights / total[codes]

    class Model(GenericLikelihoodModel):
        def loglike(self, params: np.ndarray) -> float:
            v = exog @ params
            return float(v[picked].sum() - log_denominators(v)[0].sum())

        def score(self, params: np.ndarray) -> np.ndarray:
            p = log_denominators(exog @ params)[1]
            return exog[picked].sum(axis=0) - (p[:, None] * exog).sum(axis=0)

        def hessian(self, params: np.ndarray) -> np.ndarray:
            p = log_denominators(exog @ params)[1]
            mean = np.zeros((n_groups, exog.shape[1]))
            np.add.at(mean, codes, p[:, None] * exog)
            return -((exog * p[:, None]).T @ exog - mean.T @ mean)

    return Model(chosen, exog)


def fit_choice_model(chosen: np.ndarray, exog: np.ndarray, groups: np.ndarray, *,
                     engine: str = "fast") -> object:
    """Fit the conditional logit; returns statsmodels results (params, bse, pvalues)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if engine == "statsmodels":
            from statsmodels.discrete.conditional_models import ConditionalLogit

            model = ConditionalLogit(chosen, exog, groups=groups)
        else:
            model = one_choice_logit(chosen, exog, groups)
        # Newton's method reaches the optimum to machine precision on this concave
        # likelihood; BFGS stops early. Fall back to BFGS if Newton fails.
        try:
            fit = model.fit(method="newton", maxiter=100, disp=False)
            if not np.all(np.isfinite(fit.params)):
                raise np.linalg.LinAlgError("non-finite estimates")
        except (np.linalg.LinAlgError, ValueError):
            fit = model.fit(method="bfgs", maxiter=1000, disp=False)
    return fit


def _limit_separation(long: pd.DataFrame, features: list[str]
                      ) -> tuple[pd.DataFrame, list[str], list[tuple[str, int]]]:
    """Take out features that separate the choices on their own (see `conditional_logit`).

    Returns the restricted long table, the remaining features that still vary within some
    listing, and (feature, +1 or -1) for each separating feature, in the order found.
    """
    separated: list[tuple[str, int]] = []
    features = list(features)
    while features:
        grouped = long.groupby("decision")[features]
        top = grouped.transform("max")
        bottom = grouped.transform("min")
        chosen = long["chosen"] == 1
        found = None
        for name in features:
            if (long.loc[chosen, name] >= top.loc[chosen, name] - 1e-12).all():
                found, keep = (name, 1), long[name] >= top[name] - 1e-12
            elif (long.loc[chosen, name] <= bottom.loc[chosen, name] + 1e-12).all():
                found, keep = (name, -1), long[name] <= bottom[name] + 1e-12
            if found:
                break
        if found is None:
            break
        separated.append(found)
        long = long[keep]
        # listings left with one product carry no information about the other features
        long = long[long.groupby("decision")["chosen"].transform("size") > 1]
        features = [f for f in features if f != found[0]]
        if long.empty:
            return long, [], separated
        spread = long.groupby("decision")[features].std(ddof=0).max() if features else None
        features = [f for f in features if spread is not None and spread[f] > 1e-12]
    return long, features, separated


def _independent(long: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    """Keep features whose within-listing deviations are linearly independent, in order."""
    if not features:
        return [], []
    centred = long[features] - long.groupby("decision")[features].transform("mean")
    kept: list[str] = []
    dropped: list[str] = []
    for feature in features:
        trial = centred[[*kept, feature]].to_numpy(dtype=float)
        if np.linalg.matrix_rank(trial, tol=1e-9 * max(1.0, np.abs(trial).max())) > len(kept):
            kept.append(feature)
        else:
            dropped.append(feature)
    return kept, dropped
