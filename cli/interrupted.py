"""What `tinmen run` says when it is stopped: ticks recorded, where, and how to continue."""

from __future__ import annotations

import json
from pathlib import Path

from agents.wording import plural
from sim.engine.records import MANIFEST


def run_interrupted_message(out: str | Path, *, signal_name: str, cache: str | None,
                            out_given: bool) -> str:
    """One line for an interrupted run, read from its manifest in `out`.

    It names the signal, the ticks recorded of those planned, the run directory, and how to
    continue: a run starts again from tick 1, and the same `--cache` makes the re-run ask the
    model nothing it already answered.
    """
    try:
        manifest = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, ValueError):
        return (f"interrupted by {signal_name} before the run started; nothing was recorded "
                f"in {out}")
    done = int(manifest.get("ticks_completed", 0))
    planned = manifest.get("ticks_planned")
    of = f" of {planned}" if planned is not None else ""
    where = f"{plural(done, 'tick')}{of} recorded in {out}/ (status: interrupted)"
    again = " (add --overwrite to reuse this --out)" if out_given else ""
    if cache:
        how = (f"to continue, re-run the same command with the same --cache {cache}{again}: "
               "answers already in the cache are not asked again")
    else:
        how = (f"to start again, re-run the command{again}; with an LLM backend, --cache PATH "
               "keeps its answers so that a re-run asks nothing it already has")
    return f"interrupted by {signal_name}: {where}; {how}"
