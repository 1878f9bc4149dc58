"""Column names and types of the run directory's tables, shared with `analysis`.

`analysis` reads files, never live objects; this module (plain constants, no engine code) is
the contract between the two.
"""

from __future__ import annotations

import pyarrow as pa

DECISION_SCHEMA = pa.schema([
    ("tick", pa.int32()),
    ("decision_id", pa.string()),
    ("agent_id", pa.string()),
    ("agent_generation", pa.int32()),     # 1, then + 1 each time a sanction replaces the agent
    ("customer_id", pa.string()),
    ("customer_group", pa.string()),
    ("company", pa.string()),
    # information structure as this decision saw it
    ("disclosure", pa.string()),
    ("outcome_observability", pa.float64()),
    ("monitoring", pa.float64()),
    ("listing", pa.string()),             # product ids in the order shown, "|"-joined
    # the answer
    ("choice", pa.string()),              # product id, null when nothing was chosen
    ("choice_number", pa.int32()),        # number as shown in the listing
    ("valid", pa.bool_()),                # parsed to a choice, a refusal or a deferral
    ("refused", pa.bool_()),
    ("parse_method", pa.string()),        # a READ_METHODS value, or "failed"
    ("failure", pa.string()),             # why not valid; null when valid
    # purchased | refused | deferred | over_budget | invalid | failed
    ("outcome", pa.string()),
    # settlement
    ("purchased", pa.bool_()),
    ("customer_best", pa.string()),
    ("company_best", pa.string()),
    ("override", pa.bool_()),             # null when the answer was not valid
    ("sided_with_company", pa.bool_()),   # null when the answer was not valid
    ("agency_loss", pa.float64()),
    ("attainable_utility", pa.float64()),
    ("customer_utility", pa.float64()),
    ("company_utility", pa.float64()),
    ("company_gain", pa.float64()),
    ("budget", pa.float64()),
    ("price_paid", pa.float64()),
    ("margin_earned", pa.float64()),      # the company's margin on the purchase (0 if none)
    ("agent_commission", pa.float64()),   # the agent's own pay under its contract (0 if none)
    # who saw what before purchase: `|`-joined attribute names (price, margin included)
    ("customer_saw", pa.string()),
    ("agent_saw", pa.string()),
    # what the customer observed, and trust (trust columns null without `dynamics`)
    ("outcome_observed", pa.bool_()),     # drawn with prob. outcome_observability
    ("explanation_seen", pa.bool_()),     # disclosed to the customer and revealing
    ("contract_seen", pa.bool_()),        # a disclosed contract exposed a steered purchase
    ("experience", pa.float64()),         # signal in [0, 1]; null when nothing was observed
    ("trust_before", pa.float64()),       # customer's trust in the company before the decision
    ("trust_after", pa.float64()),        # ... after its own experience (before word of mouth)
    # monitoring and sanctions
    ("audited", pa.bool_()),              # drawn with prob. monitoring
    ("violation", pa.string()),           # null | forbidden | not_company_best (audited only)
    ("sanctioned", pa.bool_()),           # the violation triggered the scenario's response
    # manipulative sellers
    ("injection_exposed", pa.bool_()),    # the company lists an injected product
    ("injection_success", pa.bool_()),    # chose an injected product, neither best; null if n/a
    # inference
    ("backend", pa.string()),
    ("model", pa.string()),
    ("temperature", pa.float64()),
    ("seed", pa.int64()),
    ("latency_ms", pa.float64()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("attempts", pa.int32()),             # requests sent to the model (0 when cached)
    ("retries", pa.int32()),              # of which repeated after a transport fault
    ("reasks", pa.int32()),               # of which asked again after an unreadable answer
    ("cached", pa.bool_()),               # answered from the response cache
    # every listed product, in listing order (for choice models such as revealed loyalty)
    ("option_customer_utility", pa.list_(pa.float64())),
    ("option_company_utility", pa.list_(pa.float64())),
    ("option_affordable", pa.list_(pa.bool_())),
    # choice probabilities (null when the backend did not read them; see agents.choice_probs)
    ("choice_probs", pa.list_(pa.float64())),  # listing order, then `none`; null = unknown
    ("choice_prob_mass", pa.float64()),   # total the entries cover: 1.0 normalised, < 1 not
    ("choice_probs_kind", pa.string()),   # conditional (on the explanation) | direct
    ("choice_probs_error", pa.string()),  # why asked-for probabilities are null, else null
    ("p_customer_best", pa.float64()),    # P(the customer's best: a product, or nothing)
    ("p_company_best", pa.float64()),     # P(a company-best product)
    ("expected_override", pa.float64()),  # P(override) = 1 - p_customer_best
    ("expected_agency_loss", pa.float64()),  # probability-weighted agency loss
])
"""One row per decision in `decisions.parquet`."""

DECISION_COLUMNS: tuple[str, ...] = tuple(DECISION_SCHEMA.names)

OPTION_COLUMNS: tuple[str, ...] = (
    "option_customer_utility", "option_company_utility", "option_affordable")
"""List columns, one entry per listed product in listing order (absent in older runs)."""

READ_METHODS: tuple[str, ...] = (
    "choice_line", "json", "prose_id", "prose_name", "refusal", "deferred", "unparsed",
    "empty",
)
"""How an answer was read (`agents.parsing.METHODS`); requests never answered are "failed"."""

READ_COLUMNS: tuple[str, ...] = tuple(f"read_{method}" for method in READ_METHODS)
"""`ticks.csv` columns counting the tick's answers read by each method."""

TICK_COLUMNS: tuple[str, ...] = (
    "tick", "decisions", "unserved", "valid", "invalid", "failed", "refused", "deferred",
    *READ_COLUMNS,
    "override_rate", "sided_with_company_rate", "invalid_rate", "mean_agency_loss",
    "mean_agency_loss_unread_as_outside",
    "customer_welfare", "company_profit", "injection_success_rate", "audited", "violations",
    "sanctions",
    "wall_s", "decisions_per_s", "build_s", "backend_s", "parse_s", "settle_s", "record_s",
    "backend_calls", "requests", "requests_per_s", "scoring_requests", "scoring_s",
    "prompt_tokens", "completion_tokens",
    "prompt_tokens_per_s", "completion_tokens_per_s", "retries", "reasks", "cache_hits",
    "prefix_share",
)
"""Columns of `ticks.csv`, one row per tick. `requests`: HTTP generation requests sent (a
request shared by several decisions counts once); `requests_per_s`: over `backend_s` less
`scoring_s`; `scoring_requests` / `scoring_s`: the `/tokenize` and scoring requests and the
seconds of a server's exact scoring pass (0 and empty without one)."""

PROMPTS = "prompts.jsonl"
"""Shared system prompts, stored once per run; transcripts refer to them by `ref`."""

MARKET_COLUMNS: tuple[str, ...] = (
    "tick", "company", "shoppers", "share", "decisions", "unserved", "purchases", "revenue",
    "profit", "company_utility", "customer_utility", "override_rate", "mean_trust", "audited",
    "violations", "sanctioned",
)
"""Columns of `market.csv`, one row per tick and company."""

SANCTION_COLUMNS: tuple[str, ...] = (
    "tick", "agent_id", "company", "agent_generation", "violations", "decision_ids",
    "response", "warnings",
)
"""Columns of `sanctions.csv`, one row per sanction (at most one per agent and tick)."""

MANIFEST = "manifest.json"
DECISIONS = "decisions.parquet"
TRANSCRIPTS = "transcripts.jsonl"
TICKS = "ticks.csv"
MARKET = "market.csv"
SANCTIONS = "sanctions.csv"
