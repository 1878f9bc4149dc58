"""Who knows what, agent contracts, and the rational baseline's comparative statics on them.

Each comparative static is asserted on seeded runs of the shipped scenarios (rational
backend), in the direction the textbook predicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.engine.model import MarketModel
from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario
from sim.scenario.prompting import AgentPrompt
from tests.conftest import SCENARIOS, mini_scenario

LEMONS = SCENARIOS / "lemons.yaml"
COMMISSION = SCENARIOS / "commission_disclosure.yaml"


def decisions(path, tmp_path, name, overrides=()):
    run_scenario(load_scenario(path, list(overrides)), tmp_path / name, progress=False)
    return pd.read_parquet(tmp_path / name / "decisions.parquet")


# --------------------------------------------------------------------------- who sees what


def test_hidden_attribute_leaves_the_agent_listing_and_the_customer_request(write_yaml):
    data = mini_scenario(information={"attributes": {
        "electric": {"seen_by": ["customer"]}, "margin": {"seen_by": ["agent"]}}})
    data["customers"][0]["request"] = "I care about {top_attributes}."
    data["customers"][0]["attribute_weights"] = {"electric": 1.0}
    data["prompt"] = {
        "messages": [{"role": "user", "template": "{{ listing }}|{{ customer.request }}"}],
        "listing_item": "{{ product.name }} {{ product.attributes }} {{ product.margin | money }}",
        "disclosure_notes": {"none": ""}}
    scenario = load_scenario(write_yaml(data))
    model = MarketModel(scenario, {"bot": None})
    (message,) = model.shopping_agents[0].prompt.messages(
        np.array([0, 1]), model.customer_context(0), "none", 1)
    assert message["content"] == ("Tesla Model 3 {} 1,000\nFord Explorer {} 3,000"
                                  "|I care about electric.")
    hidden = load_scenario(write_yaml(mini_scenario(information={"attributes": {
        "electric": {"seen_by": ["agent"]}}}) | {"customers": [data["customers"][0]]},
        "hidden.yaml"))
    assert MarketModel(hidden, {"bot": None}).population.requests[0] == \
        "I care about value for money."


def test_price_hidden_from_the_agent_is_not_in_its_products(write_yaml):
    scenario = load_scenario(write_yaml(mini_scenario(
        information={"attributes": {"price": {"seen_by": ["customer"]}}},
        prompt={"messages": [{"role": "user", "template": "{{ listing }}"}],
                "listing_item": "{{ product.name }}", "disclosure_notes": {"none": ""}})))
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    assert "price" not in prompt.products[0]
    with pytest.raises(Exception, match="listing_item"):  # the default names product.price
        load_scenario(write_yaml(mini_scenario(information={"attributes": {
            "price": {"seen_by": ["customer"]}}}), "default.yaml"))


def test_records_say_what_each_side_saw(tmp_path):
    d = decisions(LEMONS, tmp_path, "lemons", ["run.ticks=1"])
    assert set(d.customer_saw) == {"price"} and set(d.agent_saw) == {"price|quality"}
    assert (d.agent_commission == 0).all() and not d.contract_seen.any()


# --------------------------------------------------------------------------- contracts


def test_agent_commission_is_recorded_per_decision(tmp_path):
    d = decisions(COMMISSION, tmp_path, "c", ["run.ticks=1"])
    assert set(d.agent_commission[d.choice == "premium"]) == {40.0}
    assert set(d.agent_commission[d.choice == "value"]) == {0.0}


def test_margin_share_and_flat_fee(write_yaml, tmp_path):
    data = mini_scenario(run={"ticks": 1, "seed": 1})
    data["agents"][0]["contract"] = {"margin_share": 0.1, "flat_fee": 5}
    run_scenario(load_scenario(write_yaml(data)), tmp_path / "r", progress=False)
    d = pd.read_parquet(tmp_path / "r" / "decisions.parquet")
    margins = {"ev": 1000, "suv": 3000}
    expected = [0.1 * margins[c] + 5 if c else 0.0 for c in d.choice]
    assert d.agent_commission.tolist() == pytest.approx(expected)


def test_contract_appears_in_templates(write_yaml):
    data = mini_scenario(prompt={
        "messages": [{"role": "user", "template":
                      "{{ listing }} fee={{ contract.flat_fee }} {{ contract.disclosed }}"}],
        "listing_item": "{{ product.name }}", "disclosure_notes": {"none": ""}})
    data["agents"][0]["contract"] = {"flat_fee": 7, "disclosed": True}
    scenario = load_scenario(write_yaml(data))
    model = MarketModel(scenario, {"bot": None})
    (message,) = model.shopping_agents[0].prompt.messages(
        np.array([0, 1]), model.customer_context(0), "none", 1)
    assert message["content"].endswith("fee=7.0 True")


def test_unknown_contract_product_is_one_line(write_yaml):
    from agents.errors import ScenarioError

    data = mini_scenario()
    data["agents"][0]["contract"] = {"per_product": {"evv": 1}}
    with pytest.raises(ScenarioError, match=r"agents\.0\.contract\.per_product\.evv.*did you "
                       "mean 'ev'"):
        load_scenario(write_yaml(data))


# --------------------------------------------------------------------------- comparative statics


def steering(d: pd.DataFrame, agent: str) -> float:
    rows = d[d.agent_id == agent]
    return float((rows.choice == rows.company_best).mean())


def test_hidden_quality_without_observation_raises_steering(tmp_path):
    common = ["dynamics=null", "run.ticks=2", "agents.1.rational.penalty_customer=1.0",
              "agents.1.rational.company_weight=0.6"]
    seen = decisions(LEMONS, tmp_path, "seen", [
        *common, "information.attributes.quality.seen_by=[customer, agent]"])
    hidden = decisions(LEMONS, tmp_path, "hidden", [
        *common, "information.attributes.quality.revealed_after_purchase=false"])
    unobserved = decisions(LEMONS, tmp_path, "unobserved", [
        *common, "information.outcome_observability=0"])
    assert steering(seen, "lot_agent") < 0.2
    assert steering(hidden, "lot_agent") > 0.8
    assert steering(unobserved, "lot_agent") > 0.8


def test_revealing_quality_with_trust_costs_the_steering_company_share(tmp_path):
    revealed = decisions(LEMONS, tmp_path, "revealed")
    credence = decisions(LEMONS, tmp_path, "credence", [
        "information.attributes.quality.revealed_after_purchase=false"])

    def late_share(d: pd.DataFrame) -> float:
        late = d[d.tick > d.tick.max() - 3]
        return float((late.company == "lot").mean())

    assert steering(revealed, "lot_agent") > 0.8  # the lot keeps steering ...
    assert late_share(revealed) < 0.1             # ... and loses its customers
    assert late_share(credence) > 0.35            # unless quality is never revealed


def test_disclosing_a_commission_raises_detection_and_lowers_steering(tmp_path):
    both = ("agents.0.contract.disclosed", "agents.1.contract.disclosed")
    hidden = decisions(COMMISSION, tmp_path, "hidden", [f"{k}=false" for k in both])
    told = decisions(COMMISSION, tmp_path, "told", [f"{k}=true" for k in both])
    steered_hidden = (hidden.choice == "premium").mean()
    steered_told = (told.choice == "premium").mean()
    assert steered_told < steered_hidden - 0.4
    detected = told[told.choice == "premium"].contract_seen.mean()
    assert hidden.contract_seen.sum() == 0 and detected > 0.2


def test_cheap_talk_explanations_reveal_nothing(tmp_path):
    base = ["information.disclosure=customer", "dynamics=null", "run.ticks=2",
            "information.outcome_observability=0",
            "information.attributes.quality.seen_by=[customer, agent]",
            "agents.1.rational.penalty_customer=1.0", "agents.1.rational.company_weight=0.6"]
    informative = decisions(LEMONS, tmp_path, "informative", base)
    cheap = decisions(LEMONS, tmp_path, "cheap", [*base, "information.explanation_reveals=0"])
    assert informative.explanation_seen.any() and not cheap.explanation_seen.any()
    assert steering(cheap, "lot_agent") > steering(informative, "lot_agent") + 0.5
    per_reader = decisions(LEMONS, tmp_path, "per_reader",
                           [*base, "information.explanation_reveals_to.customer=0"])
    assert not per_reader.explanation_seen.any()
