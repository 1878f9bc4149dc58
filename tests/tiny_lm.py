"""The tiny random-weight chat model the tests build (see agents.backends.random_lm)."""

from __future__ import annotations

from pathlib import Path

from agents.backends.random_lm import build_random_lm


def build_tiny_lm(folder: Path) -> Path:
    """A two-layer, 32-wide Llama-style model and a 400-token BPE tokenizer, in `folder`."""
    return build_random_lm(folder, vocab_size=400, hidden_size=32, layers=2, heads=2,
                           intermediate_size=64, seed=0)
