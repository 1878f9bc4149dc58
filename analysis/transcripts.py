"""Read a run's transcripts back with every message in full.

`transcripts.jsonl` stores each distinct system prompt once, in `prompts.jsonl`, and refers
to it as {"role": "system", "ref": ...}; this module resolves those references.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_prompts(run_dir: str | Path) -> dict[str, str]:
    """ref -> content of every shared prompt of a run (empty if the run has none)."""
    path = Path(run_dir) / "prompts.jsonl"
    if not path.exists():
        return {}
    prompts = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                entry = json.loads(line)
                prompts[entry["ref"]] = entry["content"]
    return prompts


def iter_transcripts(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each transcript record with its messages resolved to full text.

    A trailing partial line (a run killed mid-write) is skipped, as is anything after it.
    """
    run_dir = Path(run_dir)
    prompts = read_prompts(run_dir)
    with (run_dir / "transcripts.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            record = json.loads(line)
            record["messages"] = [
                {"role": m["role"], "content": prompts[m["ref"]]} if "ref" in m else m
                for m in record.get("messages", [])
            ]
            yield record


def load_transcripts(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every transcript record of a run, messages in full (see `iter_transcripts`)."""
    return list(iter_transcripts(run_dir))
