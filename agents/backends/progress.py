"""Progress inside one backend call: backends report answers as they finish them.

A tick of a local model can take minutes in one `generate` call, so a backend that works in
pieces (the `hf` backend, per micro-batch) calls `report_answered(n)` after each piece, and
whoever shows progress (the engine's progress bar) listens with `answer_progress(callback)`
around the call. The listener is a plain callable, so `agents` needs nothing from `sim`;
with no listener, reporting does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

AnswerListener = Callable[[int], None]
"""Receives how many more requests a backend has just answered."""

_listeners: list[AnswerListener] = []


@contextmanager
def answer_progress(listener: AnswerListener) -> Iterator[None]:
    """Call `listener(n)` whenever a backend reports `n` more answers, inside this block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def report_answered(count: int) -> None:
    """Tell the listeners (if any) that `count` more requests were answered."""
    for listener in list(_listeners):
        listener(count)
