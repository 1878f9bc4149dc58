"""Gibberish from a random-weight model is not read as choices."""

from __future__ import annotations

import re

from agents.backends.random_lm import sample_answers
from agents.parsing import parse_choice
from agents.prompts import ANSWER_FORMAT, ROLE

VEHICLE = {1: "Tesla Model 3", 2: "Ford Explorer"}
PROMPT = [
    {"role": "system", "content": f"{ROLE}\n\n1: Tesla Model 3 (price 40,000)\n"
                                  f"2: Ford Explorer (price 50,000)\n\n{ANSWER_FORMAT}"},
    {"role": "user", "content": "I need a car for my family. Budget: 55,000."},
]


def test_random_model_answers_mention_products_but_are_not_read_as_choices(tiny_lm):
    answers = sample_answers(tiny_lm, PROMPT, 24, max_new_tokens=80, seed=3)
    # The tokenizer knows the product names, so the gibberish names them now and then ...
    mentioning = [a for a in answers if re.search(r"explorer|tesla|model 3|ford", a.lower())]
    assert len(mentioning) >= 3
    # ... and a bare mention must not become a purchase.
    readings = [parse_choice(a, VEHICLE) for a in answers]
    assert [r for r in readings if r.method.startswith("prose_")] == []
