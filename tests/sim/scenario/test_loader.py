"""Every kind of loader error gives one clear line naming the file, the key and the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.errors import ScenarioError
from sim.scenario.loader import apply_overrides, load_scenario
from tests.conftest import mini_scenario


def error_of(path, overrides=()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    message = str(info.value)
    assert "\n" not in message, "errors must be one line"
    assert message.startswith(str(path)), "errors must name the file"
    return message


def test_valid_file_loads_frozen(write_yaml):
    scenario = load_scenario(write_yaml(mini_scenario()))
    assert scenario.run.ticks == 3
    assert scenario.information.disclosure == ("none",)
    with pytest.raises(ValidationError):
        scenario.run.ticks = 5  # frozen


def test_missing_file(tmp_path):
    message = error_of(tmp_path / "nope.yaml")
    assert "file not found" in message


def test_empty_file(write_yaml):
    assert "the file is empty" in error_of(write_yaml("   \n"))


def test_yaml_syntax_error_names_line(write_yaml):
    message = error_of(write_yaml("schema_version: 1\nname: [unclosed\n"))
    assert "YAML syntax error" in message and "line" in message


def test_top_level_must_be_mapping(write_yaml):
    assert "top level must be a mapping" in error_of(write_yaml("- a\n- b\n"))


def test_missing_schema_version(write_yaml):
    data = mini_scenario()
    del data["schema_version"]
    assert "schema_version: missing" in error_of(write_yaml(data))


def test_unknown_key_suggests_close_match(write_yaml):
    data = mini_scenario()
    data["run"] = {"tick": 3}
    message = error_of(write_yaml(data))
    assert "run.tick: unknown key 'tick'" in message
    assert "did you mean 'ticks'?" in message
    assert "allowed keys: ticks, seed" in message


def test_wrong_type_names_dotted_path_and_value(write_yaml):
    data = mini_scenario()
    data["products"][1]["price"] = "cheap"
    message = error_of(write_yaml(data))
    assert "products.1.price" in message and "'cheap'" in message


def test_out_of_range_value(write_yaml):
    data = mini_scenario()
    data["agents"][0]["sampling"] = {"temperature": 5}
    message = error_of(write_yaml(data))
    assert "agents.0.sampling.temperature" in message and "less than or equal to 2" in message


def test_bad_choice_lists_allowed_values_and_suggests(write_yaml):
    data = mini_scenario()
    data["information"] = {"disclosure": "custmer"}
    message = error_of(write_yaml(data))
    assert "information.disclosure.0" in message
    assert "'customer'" in message and "did you mean 'customer'?" in message


def test_unknown_distribution(write_yaml):
    data = mini_scenario()
    data["customers"][0]["budget"] = {"dist": "lognorm", "median": 1, "sigma": 1}
    message = error_of(write_yaml(data))
    assert "customers.0.budget" in message and "did you mean 'lognormal'?" in message


def test_bad_distribution_parameter_path_has_no_internal_tags(write_yaml):
    data = mini_scenario()
    data["customers"][0]["budget"] = {"dist": "lognormal", "median": -1, "sigma": 1}
    message = error_of(write_yaml(data))
    assert "customers.0.budget.median:" in message and "greater than 0" in message


def test_unknown_reference_suggests(write_yaml):
    data = mini_scenario()
    data["agents"][0]["company"] = "oill"
    message = error_of(write_yaml(data))
    assert "agents.0.company: unknown company 'oill'" in message
    assert "did you mean 'oil'?" in message


def test_duplicate_ids(write_yaml):
    data = mini_scenario()
    data["products"][1]["id"] = "ev"
    assert "products.1: duplicate id 'ev'" in error_of(write_yaml(data))


def test_bad_request_placeholder(write_yaml):
    data = mini_scenario()
    data["customers"][0]["request"] = "I have {money} to spend"
    message = error_of(write_yaml(data))
    assert "customers.0.request" in message and "{budget}" in message


def test_company_without_agents_for_loyal_customers(write_yaml):
    data = mini_scenario()
    data["companies"].append({"id": "ghost", "name": "Ghost"})
    data["customers"][0]["shops_at"] = "ghost"
    assert "has no agents" in error_of(write_yaml(data))


def test_set_override_applies_and_validates(write_yaml):
    path = write_yaml(mini_scenario())
    scenario = load_scenario(path, ["information.disclosure=[customer, both]",
                                    "agents.0.backend=scripted", "run.seed=99"])
    assert scenario.information.disclosure == ("customer", "both")
    assert scenario.agents[0].backend == "scripted"
    assert scenario.run.seed == 99
    assert "run.ticks" in error_of(path, ["run.ticks=0"])


def test_set_override_errors(write_yaml):
    path = write_yaml(mini_scenario())
    assert "expected dotted.key=value" in error_of(path, ["run.ticks"])
    assert "needs a list index below 1" in error_of(path, ["agents.3.backend=x"])


def test_apply_overrides_does_not_mutate_input():
    data = mini_scenario()
    changed = apply_overrides(data, ["run.ticks=9"], "x")
    assert data["run"]["ticks"] == 3 and changed["run"]["ticks"] == 9


def test_duplicate_keys_are_refused(write_yaml):
    text = write_yaml(mini_scenario()).read_text().replace("ticks: 3", "ticks: 3\n  ticks: 20")
    message = error_of(write_yaml(text, "dup.yaml"))
    assert "the key 'ticks' appears twice" in message and "line" in message


def test_information_attribute_must_be_known(write_yaml):
    data = mini_scenario(information={"attributes": {"electrc": {"seen_by": ["agent"]}}})
    assert "did you mean 'electric'?" in error_of(write_yaml(data, "typo.yaml"))
    data = mini_scenario(information={"attributes": {"electric": {"seen_by": ["agent"]}}})
    assert load_scenario(write_yaml(data)).information.attributes["electric"].seen_by == (
        "agent",)
