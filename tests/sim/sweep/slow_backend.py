"""A rational backend that sleeps before each batch, for tests that interrupt a sweep.

The delay comes from TINMEN_TEST_BACKEND_DELAY (seconds, default 0), so a slow and a fast
sweep share one config and therefore the same run ids.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from agents.rational import RationalBackend
from agents.types import Completion, DecisionRequest


class SlowBackend(RationalBackend):
    """The rational baseline, `TINMEN_TEST_BACKEND_DELAY` seconds slower per batch."""

    name = "slow"

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Sleep, then answer as the rational baseline does."""
        time.sleep(float(os.environ.get("TINMEN_TEST_BACKEND_DELAY", "0")))
        return super().generate(requests)


class EnvChoiceBackend(RationalBackend):
    """Always chooses the option numbered by TINMEN_TEST_CHOICE (to see a worker's env)."""

    name = "envchoice"

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer `Choice: $TINMEN_TEST_CHOICE` to every request."""
        choice = os.environ["TINMEN_TEST_CHOICE"]
        return [Completion(text=f"Choice: {choice}") for _ in requests]
