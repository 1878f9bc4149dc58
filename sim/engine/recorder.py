"""The only writer of run directories.

A run directory holds:
    manifest.json       what ran (scenario, hash, seed, versions, backends) and its status
    decisions.parquet/  one Parquet file per tick (part-000001.parquet, ...), read as one table
    transcripts.jsonl   every request's messages and the raw answer; system prompts appear
                        as {"role": "system", "ref": ...} and are stored once in
    prompts.jsonl       {"ref": ..., "content": ...} per distinct system prompt
    ticks.csv           one row of aggregates per tick
    market.csv          one row per tick and company: share, trust, profit, ...
    sanctions.csv       one row per sanction (warning or replacement of an agent)

Everything is streamed tick by tick. Each tick's Parquet part is written to a temporary name
and renamed into place, and the manifest records the last complete tick, so a crash loses at
most the tick in flight and never leaves a half-written part behind.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from agents.errors import RunDirectoryError
from sim.engine.records import (
    DECISION_SCHEMA,
    DECISIONS,
    MANIFEST,
    MARKET,
    MARKET_COLUMNS,
    PROMPTS,
    SANCTION_COLUMNS,
    SANCTIONS,
    TICK_COLUMNS,
    TICKS,
    TRANSCRIPTS,
)


def now_iso() -> str:
    """The current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON to `path` via a temporary file and a rename, so readers never see half.

    The temporary file is removed when the write fails (a full disk leaves no `.tmp`).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class SharedPrompts:
    """Stores each distinct system prompt once (`prompts.jsonl`) and names it by a ref.

    Every request of a tick carries the same few system prompts (role, listing, company), so
    writing them once instead of once per decision shrinks transcripts about tenfold at
    100,000 decisions per tick. Nothing is lost: `analysis.load_transcripts` puts the full
    messages back together.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._written: set[str] = set()
        self._by_identity: dict[int, tuple[str, str]] = {}

    def ref(self, content: str) -> str:
        """The ref of `content`, writing it to prompts.jsonl the first time it is seen."""
        known = self._by_identity.get(id(content))
        if known is not None and known[0] is content:  # same object: skip hashing 4 KB
            return known[1]
        ref = "p" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
        if ref not in self._written:
            self._handle.write(json.dumps({"ref": ref, "content": content},
                                          ensure_ascii=False) + "\n")
            self._written.add(ref)
        self._by_identity[id(content)] = (content, ref)
        return ref

    def compact(self, message: Mapping[str, str]) -> Mapping[str, str]:
        """A system message becomes {"role": "system", "ref": ...}; others pass unchanged."""
        if message.get("role") != "system":
            return message
        return {"role": "system", "ref": self.ref(message["content"])}


class RunRecorder:
    """Streams one run's records into its directory."""

    def __init__(self, run_dir: str | Path, *, overwrite: bool = False,
                 max_answer_chars: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and any(self.run_dir.iterdir()) and not overwrite:
            raise RunDirectoryError(
                f"{self.run_dir}: the output directory already exists and is not empty; "
                "choose another --out or pass --overwrite"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir = self.run_dir / DECISIONS
        if overwrite:
            # everything an earlier run (or its `tinmen report`) left here describes old data
            for stale in (self.run_dir / TRANSCRIPTS, self.run_dir / PROMPTS,
                          self.run_dir / TICKS,
                          self.run_dir / MARKET, self.run_dir / SANCTIONS,
                          self.run_dir / MANIFEST, self.run_dir / RESERVE_NAME,
                          self.run_dir / "report.md",
                          self.run_dir / "report.html"):
                stale.unlink(missing_ok=True)
            for folder in (self.parts_dir, self.run_dir / "figures"):
                if folder.exists():
                    shutil.rmtree(folder)
        self.parts_dir.mkdir(exist_ok=True)
        self._manifest: dict[str, Any] = {}
        self._started = time.perf_counter()
        self._transcripts = open(self.run_dir / TRANSCRIPTS, "a", encoding="utf-8")  # noqa: SIM115
        self._prompts_file = open(self.run_dir / PROMPTS, "a", encoding="utf-8")  # noqa: SIM115
        self._prompts = SharedPrompts(self._prompts_file)
        self._ticks = open(self.run_dir / TICKS, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._tick_writer = csv.DictWriter(self._ticks, fieldnames=TICK_COLUMNS)
        self._tick_writer.writeheader()
        self._market = open(self.run_dir / MARKET, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._market_writer = csv.DictWriter(self._market, fieldnames=MARKET_COLUMNS)
        self._market_writer.writeheader()
        self._sanctions = open(self.run_dir / SANCTIONS, "a", newline="",  # noqa: SIM115
                               encoding="utf-8")
        self._sanction_writer = csv.DictWriter(self._sanctions, fieldnames=SANCTION_COLUMNS)
        self._sanction_writer.writeheader()
        for handle in (self._ticks, self._market, self._sanctions):
            handle.flush()  # a run killed before its first tick still has readable CSVs
        self._max_answer_chars = max_answer_chars
        self._failing_file: Path | None = None
        self._reserve = DiskReserve(self.run_dir / RESERVE_NAME)

    def start(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest with status 'running'."""
        self._manifest = {**manifest, "status": "running", "started_at": now_iso(),
                          "finished_at": None, "ticks_completed": 0, "decisions": 0}
        self._started = time.perf_counter()
        write_json_atomic(self.run_dir / MANIFEST, self._manifest)
        self._reserve.hold()

    def write_tick(self, tick: int, decisions: pa.Table, transcripts: Iterable[Mapping[str, Any]],
                   stats: Mapping[str, Any], *, market: Iterable[Mapping[str, Any]] = (),
                   sanctions: Iterable[Mapping[str, Any]] = ()) -> None:
        """Persist one tick: transcripts, the decisions part, market and sanction rows, then
        its ticks.csv row (the manifest then moves on to this tick).

        The time spent writing is added to the row's `record_s` and `wall_s`.
        """
        target = self.run_dir / TRANSCRIPTS
        part = self.parts_dir / f"part-{tick:06d}.parquet"
        try:
            self._write_tick(tick, decisions, transcripts, stats, market, sanctions, part)
        except OSError as exc:
            target = self._failing_file or (Path(exc.filename) if exc.filename else target)
            part.with_name(part.name + ".tmp").unlink(missing_ok=True)
            raise RunDirectoryError(describe_write_failure(
                target, exc, self.run_dir, int(self._manifest.get("ticks_completed", 0)))
            ) from exc

    def _write_tick(self, tick: int, decisions: pa.Table,
                    transcripts: Iterable[Mapping[str, Any]], stats: Mapping[str, Any],
                    market: Iterable[Mapping[str, Any]], sanctions: Iterable[Mapping[str, Any]],
                    part: Path) -> None:
        started = time.perf_counter()
        lines = [self._transcript_line(t) for t in transcripts]
        self._failing_file = self.run_dir / PROMPTS
        self._prompts_file.flush()  # prompts first: a transcript never names a missing ref
        self._failing_file = self.run_dir / TRANSCRIPTS
        if lines:
            self._transcripts.write("\n".join(lines) + "\n")
        self._transcripts.flush()
        tmp = part.with_name(part.name + ".tmp")
        self._failing_file = part
        pq.write_table(decisions.cast(DECISION_SCHEMA), tmp)
        os.replace(tmp, part)
        self._failing_file = self.run_dir / MARKET
        for line in market:
            self._market_writer.writerow({k: _rounded(line.get(k)) for k in MARKET_COLUMNS})
        self._market.flush()
        self._failing_file = self.run_dir / SANCTIONS
        for line in sanctions:
            self._sanction_writer.writerow({k: _rounded(line.get(k)) for k in SANCTION_COLUMNS})
        self._sanctions.flush()
        row = dict(stats)
        spent = time.perf_counter() - started
        row["record_s"] = row.get("record_s", 0.0) + spent
        row["wall_s"] = row.get("wall_s", 0.0) + spent
        row["decisions_per_s"] = decisions.num_rows / row["wall_s"] if row["wall_s"] else None
        self._failing_file = self.run_dir / TICKS
        self._tick_writer.writerow({k: _rounded(row.get(k)) for k in TICK_COLUMNS})
        self._ticks.flush()
        self._manifest["ticks_completed"] = tick
        self._manifest["decisions"] = self._manifest.get("decisions", 0) + decisions.num_rows
        self._manifest["failed_decisions"] = (self._manifest.get("failed_decisions", 0)
                                              + int(stats.get("failed", 0) or 0))
        self._failing_file = self.run_dir / MANIFEST
        write_json_atomic(self.run_dir / MANIFEST, self._manifest)

    def _transcript_line(self, record: Mapping[str, Any]) -> str:
        """One JSON line; system prompts become refs into prompts.jsonl.

        The engine's records (tick, decision_id, agent_id, messages, answer, failure,
        finish_reason, earlier_answers) take a fast path that encodes only the strings;
        anything else goes through json.dumps. Answers longer than `max_answer_chars` are
        stored cut (see `cap_answers`).
        """
        if self._max_answer_chars is not None:
            record = cap_answers(record, self._max_answer_chars)
        if record.keys() != _TRANSCRIPT_KEYS:
            messages = [self._prompts.compact(m) for m in record.get("messages", ())]
            return json.dumps({**record, "messages": messages}, ensure_ascii=False)
        parts = []
        for message in record["messages"]:
            if message.get("role") == "system" and message.keys() == _MESSAGE_KEYS:
                ref = self._prompts.ref(message["content"])
                parts.append(f'{{"role": "system", "ref": "{ref}"}}')
            else:
                parts.append(json.dumps(message, ensure_ascii=False))
        return (f'{{"tick": {int(record["tick"])}, '
                f'"decision_id": {_string(record["decision_id"])}, '
                f'"agent_id": {_string(record["agent_id"])}, "messages": [{", ".join(parts)}], '
                f'"answer": {_string(record["answer"])}, "failure": {_string(record["failure"])}, '
                f'"finish_reason": {_string(record["finish_reason"])}, '
                f'"earlier_answers": {_strings(record["earlier_answers"])}}}')

    def elapsed_s(self) -> float:
        """Seconds since `start`."""
        return time.perf_counter() - self._started

    def finish(self, status: str, **extra: Any) -> dict[str, Any]:
        """Close files and write the final manifest with `status` (completed, failed, ...).

        A run that completed although every one of its requests failed is recorded as
        `failed`. On a full disk the space reserved at `start` is released so the final
        manifest can still be written; if even that fails, the error that stopped the run
        is the one reported.
        """
        for handle in (self._transcripts, self._prompts_file, self._ticks, self._market,
                       self._sanctions):
            try:
                handle.close()
            except OSError:
                pass  # a full disk: the tick rows already on disk are the record
        self._manifest.update(extra)
        decisions = int(self._manifest.get("decisions", 0))
        failed = int(self._manifest.get("failed_decisions", 0))
        if status == "completed" and decisions and failed == decisions:
            status = "failed"
            self._manifest.setdefault("error", f"every request failed ({failed} of "
                                      f"{decisions} decisions)")
        self._manifest["status"] = status
        self._manifest["finished_at"] = now_iso()
        try:
            write_json_atomic(self.run_dir / MANIFEST, self._manifest)
        except OSError:
            self._reserve.release()
            try:
                write_json_atomic(self.run_dir / MANIFEST, self._manifest)
            except OSError:
                pass
        self._reserve.release()
        return dict(self._manifest)


RESERVE_NAME = ".disk-reserve"
"""Where the reserve is made: on POSIX it is unlinked at once (an open, nameless file); only
where an open file cannot be unlinked (Windows) does a file of this name stay while a run
writes, and a run that starts in the directory (resume, --overwrite) removes a stale one."""

RESERVE_BYTES = 256 * 1024

UNLINK_OPEN_FILES = os.name != "nt"
"""Whether an open file can be unlinked with its space kept until it is closed."""


class DiskReserve:
    """Holds a few hundred kilobytes of disk so a run on a full disk can still say so.

    On POSIX the reserve is an open file unlinked right after it is written: its space stays
    allocated while the descriptor is open and the system frees it when the process ends,
    however it ends (a kill -9 leaves nothing behind). `release` truncates and closes it.
    Elsewhere it is a named file, deleted by `release`.
    """

    def __init__(self, path: Path, size: int = RESERVE_BYTES,
                 unlink_open: bool | None = None) -> None:
        self.path = path
        self.size = size
        self.unlink_open = UNLINK_OPEN_FILES if unlink_open is None else unlink_open
        self._fd: int | None = None
        self._named = False

    @property
    def held(self) -> bool:
        """Whether the reserved space is still taken."""
        return self._fd is not None or (self._named and self.path.exists())

    def hold(self) -> None:
        """Take the space (quietly skipped when there is no room even for that)."""
        self.release()
        self.path.unlink(missing_ok=True)  # a named reserve a killed run left behind
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC
                         | getattr(os, "O_BINARY", 0), 0o600)
        except OSError:
            return
        try:
            block = b"\0" * self.size
            written = 0
            while written < self.size:
                written += os.write(fd, block[written:])
        except OSError:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            return
        if self.unlink_open:
            try:
                os.unlink(self.path)
            except OSError:
                pass  # this file system keeps open files' names: fall back to a named file
            else:
                self._fd = fd
                return
        os.close(fd)
        self._named = True

    def release(self) -> None:
        """Give the space back: truncate and close the open reserve, or delete the file."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass  # closing it frees the space as well
            os.close(fd)
        if self._named:
            self._named = False
            self.path.unlink(missing_ok=True)


def cap_answers(record: Mapping[str, Any], limit: int) -> Mapping[str, Any]:
    """`record` with its answer (and earlier answers) cut to `limit` characters.

    The cut is recorded: `answer_chars` holds the full length of the answer when it was cut,
    and `earlier_answer_chars` those of earlier answers. The decision was parsed from the
    whole answer before it was stored.
    """
    answer = record.get("answer")
    earlier = list(record.get("earlier_answers") or ())
    long_answer = isinstance(answer, str) and len(answer) > limit
    long_earlier = any(isinstance(a, str) and len(a) > limit for a in earlier)
    if not (long_answer or long_earlier):
        return record
    capped = dict(record)
    if long_answer:
        capped["answer"] = answer[:limit]
        capped["answer_chars"] = len(answer)
    if long_earlier:
        capped["earlier_answers"] = [a[:limit] if isinstance(a, str) else a for a in earlier]
        capped["earlier_answer_chars"] = [len(a) if isinstance(a, str) else None
                                          for a in earlier]
    return capped


def describe_write_failure(path: Path, exc: OSError, run_dir: Path, ticks_done: int) -> str:
    """One line: which file could not be written, why, and what the run directory holds."""
    reason = exc.strerror or type(exc).__name__
    held = (f"it holds ticks 1-{ticks_done}, complete" if ticks_done else
            "it holds no complete tick")
    hint = "free some space and re-run" if exc.errno == errno.ENOSPC else "check the directory"
    return f"{path}: cannot write ({reason}); {run_dir}: {held}; {hint}"


_TRANSCRIPT_KEYS = {"tick", "decision_id", "agent_id", "messages", "answer", "failure",
                    "finish_reason", "earlier_answers"}
_MESSAGE_KEYS = {"role", "content"}


def _string(value: str | None) -> str:
    """JSON for a string or null, via the json module's C string encoder."""
    return "null" if value is None else encode_basestring(str(value))


def _strings(values: Iterable[str | None]) -> str:
    """JSON for a list of strings (or nulls)."""
    return "[" + ", ".join(_string(v) for v in values) + "]"


def _rounded(value: Any) -> Any:
    """Round floats for a readable CSV (6 significant digits)."""
    return float(f"{value:.6g}") if isinstance(value, float) else value
