"""Shared fixtures: small scenarios written to temporary files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from agents.types import DecisionContext, DecisionRequest, SamplingParams

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"


def mini_scenario(**changes: Any) -> dict[str, Any]:
    """A two-product, one-company market as a raw mapping (tests tweak it)."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": "mini",
        "run": {"ticks": 3, "seed": 7},
        "products": [
            {"id": "ev", "name": "Tesla Model 3", "price": 40000,
             "attributes": {"electric": True}, "margins": {"oil": 1000}},
            {"id": "suv", "name": "Ford Explorer", "price": 50000,
             "attributes": {"electric": False}, "margins": {"oil": 3000}},
        ],
        "companies": [
            {"id": "oil", "name": "Petro Corp", "persona": "We sell petrol cars.",
             "utility": {"margin_weight": 0.0001, "attribute_values": {"electric": -1.0}}},
        ],
        "customers": [
            {"group": "buyers", "count": 12, "budget": 50000,
             "product_values": {"ev": 1.0, "suv": 0.5}},
        ],
        "agents": [{"id": "bot", "company": "oil", "backend": "rational"}],
    }
    data.update(changes)
    return data


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a mapping (or raw text) to a YAML file in tmp_path and return its path."""

    def write(content: Any, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return path

    return write


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A folder holding a tiny random-weight chat model and its tokenizer (built once)."""
    for package in ("torch", "transformers", "tokenizers"):
        pytest.importorskip(package, reason="the hf extra is not installed")
    from tests.tiny_lm import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def make_request(seed: int = 1, *, options: int = 3, temperature: float = 0.7,
                 max_tokens: int = 256, user: str = "I need a car.", replicate: int = 0,
                 request_id: str | None = None) -> DecisionRequest:
    """A stand-alone decision request with a numbered listing of `options` products."""
    names = tuple(f"Product {chr(65 + i)}" for i in range(options))
    listing = "\n".join(f"{i + 1}: {name} (price {100 * (i + 1)})" for i, name in
                        enumerate(names))
    context = DecisionContext(
        option_numbers=tuple(range(1, options + 1)), option_names=names,
        customer_utility=np.zeros(options), company_utility=np.zeros(options),
        affordable=np.ones(options, dtype=bool), company_name="Shop", disclosure="none")
    messages = ({"role": "system", "content": "Products on offer:\n" + listing},
                {"role": "user", "content": user})
    return DecisionRequest(request_id or f"t1-{seed}", messages,
                           SamplingParams(temperature=temperature, max_tokens=max_tokens),
                           seed=seed, context=context, replicate=replicate)


def endless_openai_scenario(write_yaml) -> Path:
    """A mini scenario of 100,000 ticks answered by the `openai` backend (a run to stop)."""
    data = mini_scenario(run={"ticks": 100000, "seed": 1})
    data["agents"][0].update(backend="openai", model="fake-model")
    return write_yaml(data)


def wait_for_ticks(proc, out: Path, ticks: int = 2, timeout_s: float = 240) -> None:
    """Wait until the run writing `out` has recorded `ticks` ticks or `proc` has ended (a
    loaded machine can take minutes to start a run)."""
    import json
    import time

    manifest = out / "manifest.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text()).get(
                "ticks_completed", 0) >= ticks:
            return
        time.sleep(0.05)
