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
