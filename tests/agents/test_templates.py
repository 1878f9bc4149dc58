"""Prompt templates: the default reproduces the legacy prompt, protocols render byte for byte,
the sandbox holds, and bad templates are one-line errors naming the file, key and name."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from agents.errors import ScenarioError
from agents.prompts import (
    ListingEntry,
    build_messages,
    render_listing,
    system_message,
    user_message,
)
from agents.templates import CompiledPrompt, TemplateError, default_templates, money
from sim.engine.run import run_scenario
from sim.scenario.loader import load_scenario, prompt_warnings, validate_scenario
from sim.scenario.prompting import AgentPrompt
from tests.conftest import REPO, mini_scenario

PROTOCOL = {
    "messages": [{"role": "user", "template": (
        "PROTOCOL v2  \n{{ customer.request }} -- budget {{ customer.budget | money('$') }}  \n"
        "Items:\n{{ listing }}\n\n{{ disclosure_note }}   \n")}],
    "listing_item": "[Product id: {{ number }}]. {{ product.name }}: "
                    "{{ product.price | money('$') }}",
    "listing_separator": " ;\n",
    "disclosure_notes": {
        "none": "Note (extra words here): nobody, not even {{ company.name }}, reads this.  ",
        "customer": "Note, with more words: the customer reads this. ",
    },
}


def error_of(path, overrides=()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# --------------------------------------------------------------------------- the default


def rich_scenario():
    data = mini_scenario()
    data["products"][0].update(description="compact EV", seller_text="  Best car ever!  ",
                               attributes={"electric": True, "range": 0.75})
    data["products"][1]["price"] = 49999.5
    data["agents"][0]["persona"] = "  Be brief.  "
    data["information"] = {"disclosure": ["none", "customer", "company", "both"]}
    return validate_scenario(data, "rich.yaml")


def legacy_messages(scenario, order, request, budget, disclosure, persona):
    entries = [ListingEntry(name=p.name, price=p.price, description=p.description,
                            attributes=tuple(p.attributes.items()), seller_text=p.seller_text)
               for p in scenario.products]
    company = scenario.companies[0]
    system = system_message(render_listing([entries[i] for i in order]), company.name,
                            company.persona, persona)
    return build_messages(system, user_message(request, budget, disclosure, company.name))


@pytest.mark.parametrize("disclosure", ["none", "customer", "company", "both"])
def test_default_template_reproduces_the_legacy_prompt(disclosure):
    scenario = rich_scenario()
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    for warnings in ([], ["Warning: you bought a forbidden product."]):
        persona = "\n\n".join(p for p in ("Be brief.", *warnings) if p)
        prompt.set_agent("bot", persona, warnings)
        for order in (np.array([0, 1]), np.array([1, 0])):
            for request, budget in (("  I want an EV. ", 50000.0), ("A car", 1234.56)):
                customer = {"id": f"c{budget}", "group": "buyers", "request": request,
                            "budget": budget, "fields": {}}
                got = prompt.messages(order, customer, disclosure, 1)
                want = legacy_messages(scenario, order.tolist(), request, budget, disclosure,
                                       persona)
                assert got == want


def test_default_without_personas_matches_too():
    data = mini_scenario()
    data["companies"][0]["persona"] = ""
    scenario = validate_scenario(data, "plain.yaml")
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    customer = {"id": "c", "group": "g", "request": "x", "budget": 10.0, "fields": {}}
    got = prompt.messages(np.array([0, 1]), customer, "none", 1)
    assert got == legacy_messages(scenario, [0, 1], "x", 10.0, "none", "")
    assert got[0]["content"].endswith("also represent its interests.")


def test_money_filter():
    assert money(40000) == "40,000" and money(9.99) == "9.99" and money(5, "$") == "$5"


# --------------------------------------------------------------------------- byte for byte


def test_a_protocol_renders_byte_for_byte_in_transcripts(write_yaml, tmp_path):
    data = mini_scenario(prompt=PROTOCOL, run={"ticks": 1, "seed": 3})
    data["customers"][0].update(count=2, request="I want a car.")
    data["information"] = {"disclosure": ["none", "customer"]}
    run_scenario(load_scenario(write_yaml(data)), tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()
    messages = sorted((json.loads(line)["messages"] for line in lines),
                      key=lambda m: m[0]["content"])
    listing = "[Product id: 1]. Tesla Model 3: $40,000 ;\n[Product id: 2]. Ford Explorer: $50,000"
    head = f"PROTOCOL v2  \nI want a car. -- budget $50,000  \nItems:\n{listing}\n\n"
    assert messages == [
        [{"role": "user", "content": head + "Note (extra words here): nobody, not even "
          "Petro Corp, reads this.     \n"}],
        [{"role": "user", "content": head + "Note, with more words: the customer reads "
          "this.    \n"}],
    ]


def test_named_prompts_and_agent_override(write_yaml):
    upper = {**PROTOCOL, "messages": [{"role": "system", "template": "{{ listing | upper }}"},
                                      {"role": "user", "template": "{{ customer.request }}"}]}
    data = mini_scenario(prompts={"proto": PROTOCOL, "upper": upper}, prompt="proto")
    data["agents"][0]["prompt"] = "upper"
    scenario = load_scenario(write_yaml(data))
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    customer = {"id": "c", "group": "g", "request": "hi", "budget": 1.0, "fields": {}}
    system, user = prompt.messages(np.array([0, 1]), customer, "none", 1)
    assert system["content"].startswith("[PRODUCT ID: 1]. TESLA MODEL 3") and user["content"] \
        == "hi"
    data["agents"][0]["prompt"] = "uper"
    assert "agents.0.prompt" in error_of(write_yaml(data, "bad.yaml"))


# --------------------------------------------------------------------------- errors, sandbox


@pytest.mark.parametrize(("template", "needle"), [
    ("{{ customr.request }}", "prompt.messages.0.template: unknown name 'customr'"),
    ("{{ customer.request", "prompt.messages.0.template: template does not parse"),
    ("{{ customer.reqest }}", "prompt.messages.0.template: template failed to render"),
])
def test_bad_templates_are_one_line_errors(write_yaml, template, needle):
    data = mini_scenario(prompt={**PROTOCOL, "messages": [{"role": "user",
                                                           "template": template}]})
    assert needle in error_of(write_yaml(data))


def test_missing_note_for_a_condition_in_use(write_yaml):
    data = mini_scenario(prompt=PROTOCOL, information={"disclosure": ["both"]})
    assert "prompt.disclosure_notes: no note for disclosure condition 'both'" in error_of(
        write_yaml(data))


HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{{ customer.__class__.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__['__builtins__']['open']('/etc/passwd').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_templates_cannot_escape_the_sandbox(write_yaml, template, tmp_path):
    data = mini_scenario(prompt={**PROTOCOL, "messages": [{"role": "user",
                                                           "template": template}]})
    path = write_yaml(data)
    assert "prompt.messages.0.template" in error_of(path)
    done = subprocess.run([sys.executable, "-m", "cli", "validate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "pwned" not in done.stdout


def test_sandbox_blocks_at_render_time_too():
    templates = default_templates()
    hostile = type(templates)(messages=(("user", "{{ agent.__class__ }}"),),
                              listing_item="x", listing_separator="\n",
                              disclosure_notes={"none": ""})
    compiled = CompiledPrompt(hostile)
    with pytest.raises(TemplateError):
        compiled.messages_for([None], {"agent": {}})


def test_validate_warns_about_per_decision_text_before_the_listing(write_yaml):
    early = {**PROTOCOL, "messages": [
        {"role": "system", "template": "{{ customer.request }}"},
        {"role": "user", "template": "{{ listing }}"}]}
    scenario = load_scenario(write_yaml(mini_scenario(prompt=early)))
    warnings = prompt_warnings(scenario, "s.yaml")
    assert len(warnings) == 1 and "prompt.messages.0.template" in warnings[0]
    assert prompt_warnings(load_scenario(write_yaml(mini_scenario(), "ok.yaml")), "ok") == []
    assert prompt_warnings(load_scenario(write_yaml(mini_scenario(prompt=PROTOCOL), "p.yaml")),
                           "p") != []  # request before the listing in one message


def test_one_template_can_be_set_from_the_command_line(write_yaml):
    path = write_yaml(mini_scenario(prompt=PROTOCOL))
    scenario = load_scenario(path, ["prompt.listing_item=<{{ product.name }}>"])
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    customer = {"id": "c", "group": "g", "request": "r", "budget": 1.0, "fields": {}}
    (message,) = prompt.messages(np.array([0, 1]), customer, "none", 1)
    assert "<Tesla Model 3> ;\n<Ford Explorer>" in message["content"]


def test_prompt_variants_are_a_sweep_axis(write_yaml, tmp_path):
    from sim.sweep.spec import load_plan

    write_yaml(mini_scenario(prompts={"proto": PROTOCOL}), "base.yaml")
    sweep = write_yaml({"base": "base.yaml", "grid": {"prompt": ["default", "proto"]},
                        "fixed": {"run.ticks": 1}}, "sweep.yaml")
    plan = load_plan(sweep)
    assert [cell["prompt"] for cell in plan.cells] == ["default", "proto"]
    bad = write_yaml({"base": "base.yaml", "grid": {"prompt": ["default", "nope"]}}, "bad.yaml")
    with pytest.raises(ScenarioError, match="unknown prompt 'nope'"):
        load_plan(bad)


def test_a_partial_prompt_takes_the_rest_from_the_default(write_yaml):
    path = write_yaml(mini_scenario())
    scenario = load_scenario(path, ["prompt.listing_item=<{{ product.name }}>"])
    prompt = AgentPrompt(scenario, scenario.agents[0], 0)
    customer = {"id": "c", "group": "g", "request": "r", "budget": 1.0, "fields": {}}
    system, _ = prompt.messages(np.array([0, 1]), customer, "none", 1)
    assert "Products on offer:\n<Tesla Model 3>\n<Ford Explorer>\n\n" in system["content"]
    message = error_of(path, ["prompt.listing_itm=x"])
    assert "prompt.listing_itm: unknown key" in message and "listing_item" in message
