"""Prefix-cache share: the prefix tree's saving, checked by hand."""

from __future__ import annotations

import pytest

from agents.prefix import common_prefix_length, prefix_share, token_prefix_share


def test_common_prefix_length():
    assert common_prefix_length("abcdef", "abcxyz") == 3
    assert common_prefix_length("abc", "abc") == 3
    assert common_prefix_length("abc", "abcd") == 3
    assert common_prefix_length("", "abc") == 0
    assert common_prefix_length((1, 2, 3), (1, 2, 4)) == 2


def test_prefix_share_by_hand():
    system = "S" * 10
    prompts = [(system, "aaaa"), (system, "aabb"), ("T" * 10, "aaaa")]
    # total 42 chars; sorted: (S,aaaa), (S,aabb), (T,aaaa): reuse 0, 12, 0 -> 12/42
    assert prefix_share(prompts) == pytest.approx(12 / 42)


def test_identical_prompts_are_reused_except_the_first():
    assert prefix_share([("abc", "d")] * 4) == pytest.approx(3 / 4)
    assert prefix_share([]) is None


def test_equal_but_distinct_strings_compare_by_value():
    a, b = "x" * 50, "".join(["x"] * 50)
    assert a is not b
    assert prefix_share([(a, "1"), (b, "2")]) == pytest.approx(50 / 102)


def test_token_prefix_share():
    assert token_prefix_share([[1, 2, 3, 4], [1, 2, 5, 6], [7]]) == pytest.approx(2 / 9)
