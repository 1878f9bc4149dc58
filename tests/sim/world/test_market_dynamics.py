"""Repeated-market runs with the rational backend: trust, switching and word of mouth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from agents.rational import RationalBackend
from sim.engine.model import MarketModel
from sim.engine.run import run_scenario
from sim.scenario.loader import validate_scenario


def two_shops(observability: float, *, ticks: int = 12, word_of_mouth: dict | None = None,
              customers: int = 400, disclosure: str = "none") -> dict[str, Any]:
    """Pushy's agent always buys the petrol SUV (an override); Fair's buys what customers want."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": "two_shops",
        "run": {"ticks": ticks, "seed": 3},
        "information": {"disclosure": disclosure, "outcome_observability": observability},
        "products": [
            {"id": "ev", "name": "Tesla Model 3", "price": 40000,
             "attributes": {"electric": True}, "margins": {"pushy": 1000, "fair": 1000}},
            {"id": "suv", "name": "Ford Explorer", "price": 50000,
             "attributes": {"electric": False}, "margins": {"pushy": 3000, "fair": 1000}},
        ],
        "companies": [
            {"id": "pushy", "name": "Pushy Motors",
             "utility": {"margin_weight": 0.001, "attribute_values": {"electric": -1.0}}},
            {"id": "fair", "name": "Fair Motors", "utility": {"product_values": {"ev": 1.0}}},
        ],
        "customers": [{"group": "drivers", "count": customers, "budget": 60000,
                       "product_values": {"ev": 1.0, "suv": 0.5}}],
        "agents": [
            {"id": "pushy_bot", "company": "pushy",
             "rational": {"company_weight": 1.0, "penalty_customer": 0.0, "noise": 0.0}},
            {"id": "fair_bot", "company": "fair",
             "rational": {"company_weight": 0.0, "noise": 0.0}},
        ],
        "dynamics": {"trust": {"initial": 0.8, "learning_rate": 0.3},
                     "switching": {"temperature": 0.1}},
    }
    if word_of_mouth is not None:
        data["dynamics"]["word_of_mouth"] = word_of_mouth
    return data


def run(tmp_path, data: dict[str, Any], name: str = "run") -> tuple[pd.DataFrame, pd.DataFrame]:
    run_scenario(validate_scenario(data, "test"), tmp_path / name, progress=False)
    market = pd.read_csv(tmp_path / name / "market.csv")
    decisions = pd.read_parquet(tmp_path / name / "decisions.parquet")
    return market, decisions


def shares(market: pd.DataFrame, company: str) -> np.ndarray:
    return market[market.company == company].sort_values("tick").share.to_numpy()


def test_share_moves_away_from_the_overriding_agent_when_outcomes_are_seen(tmp_path):
    market, decisions = run(tmp_path, two_shops(observability=1.0))
    pushy = shares(market, "pushy")
    assert 0.4 < pushy[0] < 0.6                      # uniform at first: trust is equal
    assert pushy[-1] < 0.15 and pushy[-1] < pushy[0] - 0.3
    assert decisions[decisions.company == "pushy"].override.all()
    assert not decisions[decisions.company == "fair"].override.any()
    trust = market[market.tick == market.tick.max()].set_index("company").mean_trust
    assert trust["fair"] > 0.9 and trust["pushy"] < 0.8  # pushy's customers got half the range


def test_share_does_not_move_when_nothing_is_observed(tmp_path):
    market, decisions = run(tmp_path, two_shops(observability=0.0))
    pushy = shares(market, "pushy")                  # 400 shoppers a tick: sd 0.025 around 0.5
    assert ((pushy > 0.4) & (pushy < 0.6)).all() and abs(pushy.mean() - 0.5) < 0.03
    assert abs(pushy[-4:].mean() - pushy[:4].mean()) < 0.06  # no trend
    assert decisions.experience.isna().all() and not decisions.outcome_observed.any()
    assert (decisions.trust_before == 0.8).all() and (decisions.trust_after == 0.8).all()
    assert (market.mean_trust == 0.8).all()


def test_disclosed_explanations_alone_move_trust(tmp_path):
    market, decisions = run(tmp_path, two_shops(observability=0.0, disclosure="customer"))
    assert decisions.explanation_seen.all()          # explanation_reveals defaults to 1
    verdicts = decisions.groupby("company").experience.unique()
    assert list(verdicts["pushy"]) == [0.0] and list(verdicts["fair"]) == [1.0]
    assert shares(market, "pushy")[-1] < 0.1


def test_word_of_mouth_spreads_distrust_faster(tmp_path):
    wom = {"network": {"kind": "small_world", "degree": 6, "rewire": 0.1}, "weight": 0.5,
           "delay": 1}
    alone, _ = run(tmp_path, two_shops(observability=0.3, ticks=6), "alone")
    talking, _ = run(tmp_path, two_shops(observability=0.3, ticks=6, word_of_mouth=wom),
                     "talking")
    assert shares(talking, "pushy")[0] == shares(alone, "pushy")[0]  # same first tick
    assert shares(talking, "pushy")[-1] < shares(alone, "pushy")[-1] - 0.05


def test_trust_after_is_the_next_trust_before(tmp_path):
    _, d = run(tmp_path, two_shops(observability=0.5, ticks=5, customers=60))
    for _, visits in d.sort_values("tick").groupby(["customer_id", "company"]):
        assert visits.trust_before.iloc[1:].tolist() == pytest.approx(
            visits.trust_after.iloc[:-1].tolist())


def test_market_file_adds_up(tmp_path):
    market, d = run(tmp_path, two_shops(observability=0.5, ticks=4, customers=80))
    assert len(market) == 8 and market.groupby("tick").share.sum().round(9).eq(1.0).all()
    by_cell = d.groupby(["tick", "company"]).agg(decisions=("decision_id", "size"),
                                                  profit=("margin_earned", "sum"),
                                                  revenue=("price_paid", "sum"))
    merged = market.merge(by_cell.reset_index(), on=["tick", "company"], suffixes=("", "_d"))
    assert (merged.decisions == merged.decisions_d).all()
    assert np.allclose(merged.profit, merged.profit_d)
    assert np.allclose(merged.revenue, merged.revenue_d)
    assert set(d[d.company == "pushy"].margin_earned) == {3000.0}
    ticks = pd.read_csv(tmp_path / "run" / "ticks.csv")
    assert np.allclose(ticks.company_profit, market.groupby("tick").profit.sum())
    assert np.allclose(ticks.customer_welfare, d.groupby("tick").customer_utility.sum())


def test_shops_at_customers_keep_their_company(tmp_path):
    data = two_shops(observability=1.0, ticks=6, customers=100)
    data["customers"].append({"group": "loyal", "count": 30, "budget": 60000,
                              "product_values": {"ev": 1.0, "suv": 0.5}, "shops_at": "pushy"})
    _, d = run(tmp_path, data)
    assert set(d[d.customer_group == "loyal"].company) == {"pushy"}
    assert len(d[d.customer_group == "loyal"]) == 6 * 30


def test_switching_off_keeps_the_uniform_choice_but_learns(tmp_path):
    data = two_shops(observability=1.0, ticks=3)
    data["dynamics"]["switching"] = None
    base = two_shops(observability=1.0, ticks=3)
    del base["dynamics"]
    market, d = run(tmp_path, data, "learning")
    plain, _ = run(tmp_path, base, "plain")
    assert shares(market, "pushy").tolist() == shares(plain, "pushy").tolist()
    assert d.trust_after.notna().all() and plain.mean_trust.isna().all()


def test_same_seed_same_run(tmp_path):
    wom = {"network": {"kind": "scale_free", "degree": 4}, "weight": 0.3}
    first, d1 = run(tmp_path, two_shops(0.5, ticks=4, word_of_mouth=wom), "a")
    second, d2 = run(tmp_path, two_shops(0.5, ticks=4, word_of_mouth=wom), "b")
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(d1.drop(columns="latency_ms"), d2.drop(columns="latency_ms"))


def test_lockstep_api_gives_the_same_dynamics():
    s = validate_scenario(two_shops(observability=0.7, ticks=3), "t")
    backends = {"pushy_bot": RationalBackend(), "fair_bot": RationalBackend()}
    whole, split = MarketModel(s, backends), MarketModel(s, backends)
    backend = RationalBackend()
    for _ in range(3):
        whole.step()
        split.step(backend.generate(split.prepare_next_tick()))
        left = whole.last_result.decisions.drop_columns(["latency_ms"])
        right = split.last_result.decisions.drop_columns(["latency_ms"])
        assert left.equals(right) and whole.last_result.market == split.last_result.market
    assert np.array_equal(whole.dynamics.trust, split.dynamics.trust)


def test_no_dynamics_leaves_trust_columns_null(tmp_path):
    data = two_shops(observability=1.0, ticks=2, customers=20)
    del data["dynamics"]
    market, d = run(tmp_path, data)
    assert d.trust_before.isna().all() and d.trust_after.isna().all()
    assert d.outcome_observed.all() and d.experience.notna().all()  # still recorded
    assert market.mean_trust.isna().all() and len(market) == 4


def test_loyalty_keeps_customers_with_their_last_company(tmp_path):
    switched = {}
    for loyalty in (0.0, 1.0):                          # 1.0: exp(10) to 1 in favour of staying
        data = two_shops(observability=0.0, ticks=3, customers=200)
        data["dynamics"]["switching"]["loyalty"] = loyalty
        _, d = run(tmp_path, data, f"loyalty{loyalty}")
        companies = d.pivot(index="customer_id", columns="tick", values="company")
        switched[loyalty] = (companies[1] != companies[2]).mean()
        assert (companies[2] != companies[3]).mean() == pytest.approx(switched[loyalty],
                                                                      abs=0.12)
    assert 0.35 < switched[0.0] < 0.65 and switched[1.0] == 0.0


def test_preparing_a_tick_twice_gives_the_same_requests():
    data = two_shops(observability=0.7, ticks=3, customers=50)
    data["dynamics"]["switching"]["loyalty"] = 0.5
    model = MarketModel(validate_scenario(data, "t"),
                        {"pushy_bot": RationalBackend(), "fair_bot": RationalBackend()})
    model.step()
    first = [(r.request_id, r.messages) for r in model.prepare_next_tick()]
    again = [(r.request_id, r.messages) for r in model.prepare_next_tick()]
    assert first == again


def test_failed_requests_leave_trust_and_loss_untouched(tmp_path):
    """A backend that never answers says nothing about the agent: no trust change, no loss."""
    from agents.backends.scripted import ScriptedBackend

    data = two_shops(1.0, ticks=2, customers=40)
    backend = ScriptedBackend(answers=[None])  # every request fails
    run_scenario(validate_scenario(data, "test"), tmp_path / "run", progress=False,
                 backends={"pushy_bot": backend, "fair_bot": backend})
    decisions = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert (decisions.outcome == "failed").all()
    assert decisions.experience.isna().all()
    assert (decisions.trust_after == decisions.trust_before).all()
    assert decisions.agency_loss.isna().all() and decisions.company_gain.isna().all()
    assert pd.read_csv(tmp_path / "run" / "ticks.csv").mean_agency_loss.isna().all()
