"""Structured-output constraints: every form they allow is an answer the parser reads."""

from __future__ import annotations

import json
import re

import pytest

from agents.parsing import parse_choice
from agents.structured import (
    answer_constraint,
    openai_response_format,
    vllm_structured_outputs,
)
from tests.conftest import make_request


def test_no_constraint_by_default():
    assert answer_constraint(make_request(), "none") is None


def test_choice_mode_lists_every_number_and_the_refusal():
    c = answer_constraint(make_request(options=2), "choice")
    assert vllm_structured_outputs(c) == {"choice": ["Choice: 1", "Choice: 2", "Choice: none"]}
    for answer in c.choices:
        assert re.fullmatch(c.regex, answer)


def test_regex_mode_admits_one_explanation_line_then_the_choice():
    request = make_request(options=3)
    c = answer_constraint(request, "regex", explanation_max_chars=40)
    pattern = vllm_structured_outputs(c)["regex"]
    good = ["It is cheapest.\nChoice: 2", "No.\nChoice: none"]
    bad = ["Choice: 2", "Two lines\nhere\nChoice: 1", "x" * 41 + "\nChoice: 1",
           "Fine.\nChoice: 4"]
    assert all(re.fullmatch(pattern, a) for a in good)
    assert not any(re.fullmatch(pattern, a) for a in bad)
    parsed = [parse_choice(a, request.context.options) for a in good]
    assert parsed[0].choice == 2 and parsed[1].refused


def test_json_mode_schema_for_vllm_and_openai():
    request = make_request(options=2)
    c = answer_constraint(request, "json", explanation_max_chars=50)
    schema = vllm_structured_outputs(c)["json"]
    assert schema["required"] == ["explanation", "choice"]
    assert schema["properties"]["explanation"]["maxLength"] == 50
    assert schema["properties"]["choice"]["enum"] == ["1", "2", "none"]
    strict = openai_response_format(c)
    assert strict["json_schema"]["strict"] is True
    assert "maxLength" not in json.dumps(strict)
    answer = json.dumps({"explanation": "cheaper", "choice": "2"})
    assert parse_choice(answer, request.context.options).choice == 2


def test_openai_cannot_take_a_choice_list():
    with pytest.raises(ValueError, match="cannot constrain"):
        openai_response_format(answer_constraint(make_request(), "choice"))
