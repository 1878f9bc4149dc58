"""The transformers backend batched vs one request at a time, on a random-weight model.

Builds a Llama-style model with random weights (about 0.5B parameters with `--size 0.5b`;
nothing is downloaded), then for each N answers N requests per tick:

- batched: one `generate` call, micro-batches of N (left padding, attention masks);
- sequential: micro-batches of 1, one request after another. Its rate does not depend on
  N, so it is measured on the first `--sequential-sample` requests of the same tick.

Random weights rarely produce the end-of-sequence token, so every answer runs close to
`--max-tokens`, which makes the comparison one of equal work.

    python benchmarks/hf_batching.py                       # on a GPU machine
    python benchmarks/hf_batching.py --size tiny --counts 1 16   # a quick check on a CPU
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.backends.hf_local import HFBackend  # noqa: E402
from agents.backends.options import BackendOptions  # noqa: E402
from agents.backends.random_lm import build_random_lm  # noqa: E402
from agents.prompts import build_messages  # noqa: E402
from agents.types import DecisionContext, DecisionRequest, SamplingParams  # noqa: E402

SIZES = {
    "tiny": {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2,
             "intermediate_size": 64},
    "0.5b": {"vocab_size": 400, "hidden_size": 1024, "layers": 28, "heads": 16,
             "intermediate_size": 4096},
}


def requests(n: int, max_tokens: int) -> list[DecisionRequest]:
    """N shopping decisions with a shared system prompt and varied customer text."""
    import numpy as np

    listing = "\n".join(f"{i}: Product {i} (price {1000 * i})" for i in range(1, 9))
    context = DecisionContext(
        option_numbers=tuple(range(1, 9)), option_names=tuple(f"P{i}" for i in range(1, 9)),
        customer_utility=np.zeros(8), company_utility=np.zeros(8),
        affordable=np.ones(8, dtype=bool), company_name="Shop", disclosure="none")
    sampling = SamplingParams(temperature=0.7, max_tokens=max_tokens)
    return [DecisionRequest(f"t1-{i}", build_messages(
        "You are a shopping assistant. Products on offer:\n" + listing,
        f"Customer {i}: I need something good. " * (1 + i % 3)), sampling, seed=i,
        context=context) for i in range(n)]


def rate(backend: HFBackend, batch: list[DecisionRequest]) -> tuple[float, float]:
    """Decisions per second and completion tokens per second for one `generate` call."""
    started = time.perf_counter()
    answers = backend.generate(batch)
    seconds = time.perf_counter() - started
    failed = [a.failure for a in answers if a.failure]
    if failed:
        raise SystemExit(f"generation failed: {failed[0]}")
    return len(batch) / seconds, sum(a.completion_tokens or 0 for a in answers) / seconds


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sequential-sample", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_random_lm(Path(tmp), **SIZES[args.size])
        backends = {n: HFBackend(str(folder), options=BackendOptions(
            micro_batch_size=n, device=args.device, dtype=args.dtype))
            for n in sorted({1, *args.counts})}
        first = backends[1]
        params = sum(p.numel() for p in first.lm.parameters())
        gpu = torch.cuda.get_device_name() if first.device.startswith("cuda") else "none"
        print(f"# model: random Llama-style, {params / 1e6:.3g}M parameters, "
              f"{first.dtype}, on {first.device} (GPU: {gpu}); torch {torch.__version__}, "
              f"{platform.processor() or platform.machine()}; max_tokens {args.max_tokens}")
        first.generate(requests(2, 4))  # warm up
        print("| requests per tick | batched decisions/s | sequential decisions/s | speedup "
              "| batched tokens/s |")
        print("|---:|---:|---:|---:|---:|")
        for n in args.counts:
            backend = backends[n]
            backend.generate(requests(min(n, 2), 4))  # warm up this batch size's kernels
            tick = requests(n, args.max_tokens)
            batched, tokens = rate(backend, tick)
            sequential, _ = rate(first, tick[:args.sequential_sample])
            print(f"| {n} | {batched:.1f} | {sequential:.1f} | {batched / sequential:.1f}x "
                  f"| {tokens:.0f} |", flush=True)


if __name__ == "__main__":
    main()
