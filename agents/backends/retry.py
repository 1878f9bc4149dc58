"""Which HTTP faults are worth retrying, and how long to wait before the next try.

Retryable: 408, 409, 429 and 5xx answers, timeouts, dropped or refused connections, and
responses whose body cannot be read. Not retryable: the other 4xx answers (a bad request, a
wrong key, an unknown model), which would fail the same way again.

Waits grow exponentially (`backoff_s`, doubled per retry, capped at `MAX_BACKOFF_S`) with
"equal jitter" (half fixed, half random) so that a tick's worth of rate-limited requests
does not come back at the same instant; a server's `retry-after` is a floor.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from agents.errors import REASON_LIMIT, one_line

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0
RETRYABLE_STATUS = frozenset({408, 409, 429})


class UnreadableResponse(Exception):
    """A response arrived but holds no usable answer (bad JSON or UTF-8, no choices, no text)."""


class HTTPStatusError(Exception):
    """A server answered with status 400 or more; `message` is its own explanation."""

    def __init__(self, status: int, message: str, headers: Any = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to make of one failed attempt."""

    retryable: bool
    reason: str
    retry_after: float | None = None


def retry_after_seconds(headers: Any) -> float | None:
    """A response's `retry-after-ms` / `retry-after` (seconds or an HTTP date), if any."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            import datetime

            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


def _status_verdict(status: int, detail: str, headers: Any) -> Verdict:
    reason = f"HTTP {status}: {one_line(detail, REASON_LIMIT) or 'no message'}"
    if status in RETRYABLE_STATUS or status >= 500:
        return Verdict(True, reason, retry_after_seconds(headers))
    return Verdict(False, reason)


def _connection_error_types() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ConnectionError]
    try:
        import aiohttp

        kinds += [aiohttp.ClientConnectionError, aiohttp.ClientPayloadError]
    except ImportError:  # pragma: no cover - aiohttp is a core dependency
        pass
    return tuple(kinds)


def classify(exc: BaseException, timeout_s: float) -> Verdict:
    """Decide whether a failed attempt is retried, and describe it in one line."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Verdict(True, f"timeout after {timeout_s:g}s")
    if isinstance(exc, HTTPStatusError):
        return _status_verdict(exc.status, exc.message, exc.headers)
    if isinstance(exc, UnicodeDecodeError):  # a body that is not UTF-8: unreadable, retried
        return Verdict(True, f"unreadable response: body is not valid UTF-8 ({exc.reason} at "
                             f"byte {exc.start})")
    if isinstance(exc, UnreadableResponse | json.JSONDecodeError):
        detail = one_line(str(exc), REASON_LIMIT) or type(exc).__name__
        return Verdict(True, f"unreadable response: {detail}")
    if isinstance(exc, _connection_error_types()):
        return Verdict(True, f"connection failed ({type(exc).__name__})")
    detail = one_line(str(exc), REASON_LIMIT)
    return Verdict(False, f"unexpected error: {type(exc).__name__}: {detail}")


@dataclass
class RetryPolicy:
    """How many retries, and the wait before each."""

    max_retries: int = 5
    backoff_s: float = 0.5
    rng: random.Random | None = None

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first)."""
        rng = self.rng or random
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (retry - 1))
        wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_S))
        return wait
