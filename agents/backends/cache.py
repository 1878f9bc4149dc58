"""The response cache and replay: answers stored in one SQLite file, keyed by what made them.

A key is the SHA-256 of everything that decides a model's answer: the model and its
revision, the sampling parameters and the seed, the structured-output constraint, the full
messages and the replicate index. It never includes the decision's id, tick or context, so
a re-run of the same scenario (same root seed) asks exactly the same questions and finds
every answer it already has; a run interrupted mid-tick finds every answer that arrived
before the interruption, because answers are written as they arrive.

`CachedBackend` wraps any LLM backend with the same protocol; `ReplayBackend` answers only
from the cache and stops the run, naming the first request it has no answer for.

The file is safe under concurrent writers (several runs or a sweep sharing one cache): it
uses SQLite's write-ahead log, a generous busy timeout, and `INSERT OR IGNORE`, so the first
answer stored for a key is the one every later run reads (`--fresh` replaces it instead).
Failed requests are stored apart, as failures: a re-run with the cache asks them again, and
replay reproduces them as the failures they were.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.backends.base import Backend, BackendWrapper, StreamingBackend
from agents.backends.options import BackendOptions
from agents.errors import BackendCreationError, FatalBackendError
from agents.types import Completion, DecisionRequest

CACHE_FORMAT = 4
"""Version of the key recipe and table layout; bumped when either changes, or when what is
sent for a key changes (3: every vLLM sampling field explicit, no added special tokens;
4: a `choice_probs` column stores each answer's choice probabilities)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT,
    request_id TEXT,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms REAL,
    finish_reason TEXT,
    created_at REAL NOT NULL,
    choice_probs TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    model TEXT,
    request_id TEXT,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

_FLUSH_ROWS = 256
_FLUSH_SECONDS = 1.0
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class KeyRecipe:
    """The backend-level parts of a cache key: model, revision and the answer constraint."""

    model: str | None
    revision: str | None = None
    structured_output: str = "none"
    explanation_max_chars: int = 600
    api: str = "chat"
    tokenizer: str | None = None
    server: str = "vllm"
    choice_probs: str = "off"

    @classmethod
    def from_options(cls, model: str | None, options: BackendOptions) -> KeyRecipe:
        """The recipe for a backend built from `options`."""
        return cls(model, options.revision, options.structured_output,
                   options.explanation_max_chars, options.api, options.tokenizer,
                   options.server, options.choice_probs)

    def key(self, request: DecisionRequest) -> str:
        """The cache key of one request.

        Besides the request itself it covers every setting that changes what the model is
        asked: the answer constraint (and, for regex/json, the server flavour, which decides
        the schema sent) and, for `api: completions`, the tokenizer whose chat template
        renders the prompt locally.
        """
        constraint: list[Any] = [self.structured_output]
        if self.structured_output in ("regex", "json"):
            constraint += [self.explanation_max_chars, self.server]
        prompt_format: list[Any] = [self.api]
        if self.api == "completions":
            prompt_format.append(self.tokenizer or self.model)
        payload = {
            "format": CACHE_FORMAT,
            "model": self.model,
            "revision": self.revision,
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
            "seed": request.seed,
            "structured_output": constraint,
            "prompt_format": prompt_format,
            "messages": [[m["role"], m["content"]] for m in request.messages],
            "replicate": request.replicate,
        }
        if self.choice_probs != "off":  # answers stored with probabilities of this kind
            payload["choice_probs"] = self.choice_probs
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """One SQLite file of answers; thread-safe, and safe to share between processes."""

    def __init__(self, path: str | Path, *, must_exist: bool = False) -> None:
        self.path = Path(path)
        if must_exist and not self.path.is_file():
            raise BackendCreationError(
                f"cache file {self.path} does not exist; run the scenario once with a real "
                f"backend and --cache {self.path} first"
            )
        if self.path.is_dir():
            raise BackendCreationError(f"--cache {self.path}: is a directory; give a file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._pending_replace = False
        self._pending_failures: list[tuple[Any, ...]] = []
        self._last_flush = time.monotonic()
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)",
                             (str(CACHE_FORMAT),))
            found = self._db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackendCreationError(
                f"--cache {self.path}: not a usable tinmen response cache ({exc}); "
                "give another path"
            ) from exc
        if found is None or found[0] != str(CACHE_FORMAT):
            raise BackendCreationError(
                f"--cache {self.path}: written by another cache format ({found and found[0]}); "
                f"this tinmen reads format {CACHE_FORMAT}; give another path"
            )

    def get_many(self, keys: Sequence[str], *,
                 with_failures: bool = False) -> dict[str, Completion]:
        """The stored answers among `keys` (missing keys are simply absent).

        With `with_failures`, a key that has no answer but a recorded failure comes back as
        that failure (replay uses this to reproduce a run's failed decisions).
        """
        found: dict[str, Completion] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            self._flush_locked()
            for chunk in _chunks(unique):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, prompt_tokens, completion_tokens, finish_reason, "
                    f"choice_probs FROM responses WHERE key IN ({marks})", chunk).fetchall()
                for key, text, prompt_tokens, completion_tokens, finish_reason, probs in rows:
                    found[key] = Completion(text=text, prompt_tokens=prompt_tokens,
                                            completion_tokens=completion_tokens, attempts=0,
                                            cached=True, finish_reason=finish_reason,
                                            **stored_probs(probs))
            if with_failures:
                for chunk in _chunks([k for k in unique if k not in found]):
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(
                        f"SELECT key, reason FROM failures WHERE key IN ({marks})",
                        chunk).fetchall()
                    for key, reason in rows:
                        found[key] = Completion(text=None, failure=reason, attempts=0,
                                                cached=True)
        return found

    def put(self, key: str, request: DecisionRequest, model: str | None,
            completion: Completion, *, replace: bool = False) -> None:
        """Queue one answer, or one failure, for storage; written in small batches.

        A failure is kept apart from answers: `CachedBackend` never reads it (a re-run asks
        again), `ReplayBackend` reproduces it.
        """
        with self._lock:
            if completion.text is None or completion.failure is not None:
                self._pending_failures.append(
                    (key, model, request.request_id,
                     completion.failure or "no text returned", time.time()))
            else:
                if self._pending and replace != self._pending_replace:
                    self._flush_locked()
                self._pending.append(
                    (key, model, request.request_id, completion.text,
                     completion.prompt_tokens, completion.completion_tokens,
                     completion.latency_ms, completion.finish_reason, time.time(),
                     probs_to_store(completion)))
                self._pending_replace = replace
            if (len(self._pending) + len(self._pending_failures) >= _FLUSH_ROWS
                    or time.monotonic() - self._last_flush >= _FLUSH_SECONDS):
                self._flush_locked()

    def flush(self) -> None:
        """Write every queued answer now."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending and not self._pending_failures:
            return
        verb = "INSERT OR REPLACE" if self._pending_replace else "INSERT OR IGNORE"
        rows, self._pending = self._pending, []
        failures, self._pending_failures = self._pending_failures, []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(f"{verb} INTO responses VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._db.executemany("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?)",
                                 failures)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise FatalBackendError(f"--cache {self.path}: cannot write answers ({exc})") from exc

    def __len__(self) -> int:
        with self._lock:
            self._flush_locked()
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Write what is queued and close the file."""
        with self._lock:
            try:
                self._flush_locked()
            finally:
                self._db.close()


def _chunks(keys: list[str]) -> list[list[str]]:
    """`keys` in pieces small enough for one SQL `IN (...)`."""
    return [keys[i:i + _LOOKUP_CHUNK] for i in range(0, len(keys), _LOOKUP_CHUNK)]


class CachedBackend(BackendWrapper):
    """Answers from the cache when it can, asks `inner` for the rest, and stores new answers.

    With `fresh=True` it never reads the cache but still stores (replacing older answers),
    which refreshes a cache. Answers are stored as they arrive when `inner` can stream them.
    `hits` and `misses` count requests over the backend's life.
    """

    def __init__(self, inner: Backend, cache: ResponseCache, recipe: KeyRecipe, *,
                 fresh: bool = False) -> None:
        super().__init__(inner)
        self.cache = cache
        self.recipe = recipe
        self.fresh = fresh
        self.hits = 0
        self.misses = 0

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Cached answers for known requests; one `inner` call for all the others."""
        keys = [self.recipe.key(r) for r in requests]
        known = {} if self.fresh else self.cache.get_many(keys)
        answers: list[Completion | None] = [_copy(known[k]) if k in known else None
                                            for k in keys]
        missing = [i for i, a in enumerate(answers) if a is None]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            batch = [requests[i] for i in missing]

            def store(j: int, completion: Completion) -> None:
                i = missing[j]
                self.cache.put(keys[i], requests[i], self.model, completion,
                               replace=self.fresh)

            try:
                if isinstance(self.inner, StreamingBackend):
                    fresh = self.inner.generate_streaming(batch, store)
                else:
                    fresh = list(self.inner.generate(batch))
                    if len(fresh) == len(batch):
                        for j, completion in enumerate(fresh):
                            store(j, completion)
            finally:
                self.cache.flush()
            if len(fresh) != len(batch):
                return list(fresh)  # let the engine report the count mismatch
            for i, completion in zip(missing, fresh, strict=True):
                answers[i] = completion
        return [a for a in answers if a is not None]

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {**self.inner.describe(), "cache": str(self.cache.path),
                "fresh": self.fresh}

    def close(self) -> None:
        """Close the inner backend and the cache file."""
        try:
            self.inner.close()
        finally:
            self.cache.close()


class ReplayBackend:
    """Answers only from a response cache; a request it has no answer for stops the run.

    A request that failed in the recorded run (and was never answered since) is replayed as
    the same failure, so a replay reproduces the recorded decisions, failures included.

    Built by the runner for `--backend replay --cache PATH`, with the scenario's model and
    backend options, so it computes the same keys the original run stored.
    """

    name = "replay"
    cacheable = False  # it reads the cache; storing its answers again would change nothing

    def __init__(self, model: str | None = None, *, cache: ResponseCache | str | Path,
                 options: BackendOptions | None = None) -> None:
        self.model = model
        self.options = options or BackendOptions()
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(
            cache, must_exist=True)
        self.recipe = KeyRecipe.from_options(model, self.options)
        self.hits = 0

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """The cached answer of every request, or `FatalBackendError` naming the first gap."""
        keys = [self.recipe.key(r) for r in requests]
        known = self.cache.get_many(keys, with_failures=True)
        for request, key in zip(requests, keys, strict=True):
            if key not in known:
                raise FatalBackendError(
                    f"replay: no answer in {self.cache.path} for request {request.request_id} "
                    f"(model {self.model!r}, seed {request.seed}, replicate "
                    f"{request.replicate}, key {key[:12]}); replay needs the same scenario, "
                    "--set overrides, model and backend options as the run that filled the "
                    "cache"
                )
        self.hits += len(requests)
        return [_copy(known[k]) for k in keys]

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""
        return {"cache": str(self.cache.path), "revision": self.options.revision,
                "structured_output": self.options.structured_output}

    def close(self) -> None:
        """Close the cache file."""
        self.cache.close()


def _copy(completion: Completion) -> Completion:
    """A fresh object per request (two requests may share one key)."""
    return Completion(text=completion.text, failure=completion.failure,
                      prompt_tokens=completion.prompt_tokens,
                      completion_tokens=completion.completion_tokens, attempts=0, cached=True,
                      finish_reason=completion.finish_reason,
                      choice_probs=completion.choice_probs,
                      choice_prob_mass=completion.choice_prob_mass,
                      choice_probs_kind=completion.choice_probs_kind,
                      choice_probs_error=completion.choice_probs_error)


def probs_to_store(completion: Completion) -> str | None:
    """A completion's choice probabilities as stored with its answer (JSON), or None."""
    if completion.choice_probs is None:
        if completion.choice_probs_error is None:
            return None
        return json.dumps({"p": None, "mass": None, "kind": None,
                           "error": completion.choice_probs_error})
    return json.dumps({"p": list(completion.choice_probs), "mass": completion.choice_prob_mass,
                       "kind": completion.choice_probs_kind})


def stored_probs(text: str | None) -> dict[str, Any]:
    """`Completion` keyword arguments for stored choice probabilities ({} when none)."""
    if not text:
        return {}
    stored = json.loads(text)
    return {"choice_probs": None if stored["p"] is None else tuple(stored["p"]),
            "choice_prob_mass": stored["mass"], "choice_probs_kind": stored["kind"],
            "choice_probs_error": stored.get("error")}


def count_answers(path: str | Path) -> int:
    """How many answers a cache file holds (for reports and tests)."""
    cache = ResponseCache(path, must_exist=True)
    try:
        return len(cache)
    finally:
        cache.close()
