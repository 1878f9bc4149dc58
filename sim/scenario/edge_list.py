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
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: the edge list is not UTF-8 text") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the edge list ({exc.strerror})") from None
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
                f"spaces, found {len(fields)} fields"
            )
        for position, name in zip(("first", "second"), fields, strict=True):
            if name not in index:
                raise ScenarioError(f"{path}: line {number}: the {position} id is not a "
                                    f"customer of this scenario; {_id_hint(name, ids)}")
        left.append(index[fields[0]])
        right.append(index[fields[1]])
    return np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)


def _id_hint(name: str, ids: Sequence[str]) -> str:
    """The id range of the group `name` names (`<group>-<digits>`), else the id scheme.

    Only the scenario's own ids and group names are quoted, never the file's text.
    """
    group, _, digits = name.rpartition("-")
    first = next((i for i in ids if i.rpartition("-")[0] == group), None)
    if group and digits.isdigit() and first is not None:
        last = next(i for i in reversed(ids) if i.rpartition("-")[0] == group)
        width = len(first.rpartition("-")[2])
        return (f"customer ids of group {group} run from {first} to {last} (counted from 1, "
                f"{width} digits)")
    example = ids[0] if ids else "shoppers-001"
    return (f"ids are <group>-<index>, counted from 1 and zero-padded, e.g. {example!r}"
            f"{did_you_mean(name, ids[:10000])}")


def customer_ids(scenario: Scenario) -> tuple[str, ...]:
    """Every customer's id, `<group>-<index>` (zero-padded), in population order."""
    ids: list[str] = []
    for group in scenario.customers:
        width = len(str(group.count))
        ids.extend(f"{group.group}-{i:0{width}d}" for i in range(1, group.count + 1))
    return tuple(ids)
