"""How a run's answers were read: counts by reading method, and the summary's warning.

Every answer is read by one method of `agents.parsing.METHODS` (``choice_line``, ``json``,
``prose_id``, ``prose_name``, ``refusal``, ``deferred``, ``unparsed``, ``empty``); requests
the backend never answered are ``failed``. Prose readings are the least certain, so a run
whose answers are mostly read from prose is flagged: its choices rest on the parser's
reading of free text rather than on the model's own answer line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from sim.engine.records import READ_METHODS

PROSE_WARNING_SHARE = 0.2
"""Above this share of a run's answers read from prose, the summary warns."""


def read_counts(methods: Iterable[str]) -> dict[str, int]:
    """`ticks.csv` counts for one tick's parse methods: ``deferred`` and ``read_<method>``.

    ``failed`` is left out (`tick_stats` counts it).
    """
    counts = Counter(methods)
    return {"deferred": counts.get("deferred", 0),
            **{f"read_{method}": counts.get(method, 0) for method in READ_METHODS}}


def reading_mix(methods: Iterable[str | None]) -> dict[str, int]:
    """Answers per reading method over a run (``prose`` = ``prose_id`` + ``prose_name``).

    Keys: the methods of `READ_METHODS` with the two prose methods merged into ``prose``,
    then ``failed``; every key is present.
    """
    counts = Counter(m for m in methods if m is not None)
    mix = {m: counts.get(m, 0) for m in READ_METHODS if not m.startswith("prose_")}
    mix = {"choice_line": mix.pop("choice_line"), "json": mix.pop("json"),
           "prose": counts.get("prose_id", 0) + counts.get("prose_name", 0), **mix}
    mix["failed"] = counts.get("failed", 0)
    return mix


def answered(mix: Mapping[str, int]) -> int:
    """Answers that came back from the backend (everything but ``failed``)."""
    return sum(v for k, v in mix.items() if k != "failed")


def prose_share(mix: Mapping[str, int]) -> float | None:
    """Share of the answers that came back which were read from prose; None if none did."""
    total = answered(mix)
    return mix.get("prose", 0) / total if total else None


def reading_lines(mix: Mapping[str, int]) -> list[str]:
    """The run summary's lines on reading: the mix, and a warning when prose exceeds 20%."""
    total = answered(mix)
    if not total:
        return []
    parts = ", ".join(f"{k} {v}" for k, v in mix.items() if v and k != "failed")
    lines = [f"answers read by: {parts}"]
    share = prose_share(mix)
    if share is not None and share > PROSE_WARNING_SHARE:
        lines.append(
            f"warning: {100 * share:.1f}% of answers were read from prose (over "
            f"{100 * PROSE_WARNING_SHARE:.0f}%); the model mostly ignores the answer form, so "
            "check parse_method and the transcripts before trusting its choices")
    return lines


def deferral_text(mix: Mapping[str, int]) -> str:
    """", deferred 3.2%" for the summary's rates line: share of valid answers; "" if none."""
    deferred = mix.get("deferred", 0)
    valid = sum(mix.get(k, 0) for k in ("choice_line", "json", "prose", "refusal", "deferred"))
    if not deferred or not valid:
        return ""
    return f", deferred {100 * deferred / valid:.1f}%"
