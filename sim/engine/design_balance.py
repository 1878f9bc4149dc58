"""Which disclosure condition and listing-order block a company's next decision gets.

Conditions rotate over a company's decisions across the WHOLE run, not within each tick: the
company's n-th decision of the run (n counted from 0 over every tick) gets condition
n mod C and listing-order block n div C, so over the run every condition has the same number
of decisions to within one per company, and with counterbalanced orders (block mod L) every
(condition, order) pair comes once per C·L consecutive decisions. Restarting the rotation
every tick instead gave the first condition an extra decision in most ticks.
"""

from __future__ import annotations


def design_slot(served_before: int, index: int, conditions: int) -> tuple[int, int]:
    """(condition index, listing-order block) of a company's decision.

    `served_before` is how many decisions the company served in earlier ticks and `index` is
    this decision's position among the company's decisions of this tick.
    """
    if conditions < 1:
        raise ValueError("a design needs at least one condition")
    n = served_before + index
    return n % conditions, n // conditions
