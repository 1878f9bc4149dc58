"""Files a scenario names: the edge list of a word-of-mouth network, read against customer ids.

Reading happens here, in the scenario layer, so the loader can check the file's contents at
load time without importing the world's maths; `sim.world.network` builds the graph from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.errors import ScenarioError, did_you_mean
from sim.scenario.schema import Scenario

_SEPARATOR = re.compile(r"[,\s]+")


def read_edge_list(path: str | Path, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read an edge list of customer ids; return the two endpoint index arrays.

    One edge per line: two customer ids separated by a comma or whitespace. Blank lines and
    lines starting with `#` are skipped. Raises `ScenarioError` (one line, naming the file and
    the line) for an unreadable file, a malformed line or an unknown customer id.
    """
    path = Path(path)
    index = {name: i for i, name in enumerate(ids)}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the edge list ({exc})") from exc
    left: list[int] = []
    right: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in _SEPARATOR.split(line) if f]
        if len(fields) != 2:
            raise ScenarioError(
                f"{path}: line {number}: expected two customer ids separated by a comma or "
                f"spaces, got {line[:60]!r}"
            )
        for name in fields:
            if name not in index:
                hint = did_you_mean(name, ids[:10000])
                raise ScenarioError(
                    f"{path}: line {number}: unknown customer id {name!r} (ids are "
                    f"<group>-<index>, e.g. {ids[0]!r}){hint}"
                )
        left.append(index[fields[0]])
        right.append(index[fields[1]])
    return np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)


def customer_ids(scenario: Scenario) -> tuple[str, ...]:
    """Every customer's id, `<group>-<index>` (zero-padded), in population order."""
    ids: list[str] = []
    for group in scenario.customers:
        width = len(str(group.count))
        ids.extend(f"{group.group}-{i:0{width}d}" for i in range(1, group.count + 1))
    return tuple(ids)
