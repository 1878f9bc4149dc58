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
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.intervals import DEFAULT_LEVEL, z_value

MIN_LISTING = 3


@dataclass
class ChoiceModelResult:
    """Coefficients of the conditional logit: term, coef, se, odds_ratio, lo, hi, p_value and
    `separated` (the feature alone separates the choices, so the estimate is a bound)."""

    table: pd.DataFrame
    n_decisions: int
    n_alternatives: int
    features: list[str]
    note: str = ""
    fit: object | None = field(default=None, repr=False)


def choice_data(decisions: pd.DataFrame, products: pd.DataFrame, margins: pd.DataFrame,
                *, min_listing: int = MIN_LISTING) -> pd.DataFrame:
    """Long table: one row per (decision, listed product) with `chosen` and the features.

    `products` and `margins` are `Runs.products()` and `Runs.margins()` (with run_id), so runs
    with different catalogues are matched to their own products.
    """
    needed = decisions[decisions["valid"].astype(bool) & decisions["choice"].notna()
                       & decisions["listing"].notna()]
    sizes = needed["listing"].astype(str).str.count(r"\|") + 1
    needed = needed[sizes >= min_listing]
    if needed.empty:
        return pd.DataFrame()
    run_id = needed["run_id"] if "run_id" in needed else pd.Series("", index=needed.index)
    base = pd.DataFrame({
        "decision": np.arange(len(needed)),
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
                      min_listing: int = MIN_LISTING,
                      level: float = DEFAULT_LEVEL) -> ChoiceModelResult:
    """Fit a conditional logit (statsmodels) of the chosen product on product features.

    Only decisions with `min_listing`+ listed products that chose one of them are used.
    Features that are collinear with others are dropped, in order, and named in `note`.
    """
    from statsmodels.discrete.conditional_models import ConditionalLogit

    empty = pd.DataFrame(columns=["term", "coef", "se", "odds_ratio", "lo", "hi", "p_value",
                                  "separated"])
    long = choice_data(decisions, products, margins, min_listing=min_listing)
    if long.empty:
        return ChoiceModelResult(empty, 0, 0, [], note=f"no valid choice from a listing of "
                                 f"{min_listing} or more products")
    chosen_from = long.groupby("decision")["chosen"].count()
    n_decisions, n_alternatives = len(chosen_from), len(long)
    features = list(default_features(long) if features is None else features)
    features, dropped = _independent(long, features)
    notes = [f"dropped collinear feature(s): {', '.join(dropped)}"] if dropped else []
    if not features:
        return ChoiceModelResult(empty, n_decisions, n_alternatives, [],
                                 note="no product feature varies within a listing")
    if long["chosen"].groupby(long["decision"]).size().min() < 2:
        notes.append("some listings had a single product")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ConditionalLogit(long["chosen"].to_numpy(),
                                 long[features].to_numpy(dtype=float),
                                 groups=long["decision"].to_numpy())
        # Newton's method reaches the optimum to machine precision on this concave
        # likelihood; BFGS (the default) stops early. Fall back to BFGS if Newton fails.
        try:
            fit = model.fit(method="newton", maxiter=100, disp=False)
            if not np.all(np.isfinite(fit.params)):
                raise np.linalg.LinAlgError("non-finite estimates")
        except (np.linalg.LinAlgError, ValueError):
            fit = model.fit(method="bfgs", maxiter=500, disp=False)
    z = z_value(level)
    coef, se = np.asarray(fit.params), np.asarray(fit.bse)
    with np.errstate(over="ignore", invalid="ignore"):  # separated terms overflow to inf
        table = pd.DataFrame({"term": features, "coef": coef, "se": se,
                              "odds_ratio": np.exp(coef), "lo": np.exp(coef - z * se),
                              "hi": np.exp(coef + z * se), "p_value": np.asarray(fit.pvalues),
                              "separated": _separated(long, features, se)})
    if table["separated"].any():
        notes.append("separation: in every listing the chosen product has the extreme value "
                     "of " + ", ".join(table.loc[table["separated"], "term"]) + ", so that "
                     "estimate is a bound, not a finite effect")
    return ChoiceModelResult(table, n_decisions, n_alternatives, features,
                             note="; ".join(notes), fit=fit)


def _separated(long: pd.DataFrame, features: list[str], se: np.ndarray) -> np.ndarray:
    """Flag features that separate the choices on their own: in every listing the chosen
    product has the highest (or in every listing the lowest) value of the feature. The
    likelihood then keeps improving as the coefficient grows, so the estimate is a bound."""
    grouped = long.groupby("decision")[features]
    chosen = long.loc[long["chosen"] == 1].set_index("decision")[features]
    at_max = (chosen >= grouped.max().loc[chosen.index] - 1e-12).all()
    at_min = (chosen <= grouped.min().loc[chosen.index] + 1e-12).all()
    return (at_max | at_min).to_numpy() | ~np.isfinite(se)


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
