"""Exact choice probabilities through a server: the scoring pass's cost beside generation.

The loopback fake server (`agents.fake_server`, with the toy model of `agents.toy_lm`)
answers a tick of decisions with `choice_probs: off` and with `exact`, alternately,
`--repeats` times each, in one process; it reports the seconds per tick (best of the
repeats) and the requests sent. The server takes no time per prompt, so the figure is the
client's and the loopback server's own work (tokenize calls, token-id prompts, the
`prompt_logprobs` bodies), not a GPU's.

    python benchmarks/server_choice_probs.py                   # a few seconds
    python benchmarks/server_choice_probs.py --decisions 16 --repeats 1
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import toy_lm  # noqa: E402
from agents.backends.openai_server import OpenAIBackend  # noqa: E402
from agents.backends.options import BackendOptions  # noqa: E402
from agents.fake_server import FakeOpenAIServer  # noqa: E402
from agents.toy_lm import ToyLM  # noqa: E402
from tests.conftest import make_request  # noqa: E402


class TimedServer(FakeOpenAIServer):
    """The fake server, adding up the seconds its toy model spends on `prompt_logprobs`."""

    scoring_s: float = 0.0

    def start(self) -> TimedServer:
        """Start serving, with the toy model's `prompt_logprobs` timed."""
        original = toy_lm.prompt_logprobs

        def timed(lm: Any, prompt: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(lm, prompt)
            finally:
                self.scoring_s += time.perf_counter() - started

        toy_lm.prompt_logprobs = timed  # the server imports it at each scoring request
        super().start()
        return self


def one_tick(server: TimedServer, choice_probs: str, decisions: int,
             products: int) -> tuple[float, float, dict[str, int]]:
    """Seconds for one tick of `decisions` requests, of which the toy server's scoring, and
    the requests sent by path."""
    backend = OpenAIBackend("toy", options=BackendOptions(
        base_urls=(server.base_url,), choice_probs=choice_probs))  # type: ignore[arg-type]
    requests = [make_request(seed=k, options=products, request_id=f"r{k}",
                             user=f"I need car number {k}.") for k in range(decisions)]
    server.reset()
    server.scoring_s = 0.0
    started = time.perf_counter()
    answers = backend.generate(requests)
    seconds = time.perf_counter() - started
    backend.close()
    if choice_probs == "exact":
        assert all(a.choice_probs is not None for a in answers)
    paths: dict[str, int] = {}
    for arrival in server.arrivals:
        paths[arrival.path] = paths.get(arrival.path, 0) + 1
    return seconds, server.scoring_s, paths


def body_bytes(server: TimedServer) -> int:
    """JSON bytes of the `prompt_logprobs` the recorded scoring requests were answered with."""
    from agents.backends.http_client import dumps

    lm = server.toy_lm
    return sum(len(dumps([toy_lm.prompt_logprobs(lm, p) for p in a.body["prompt"]]))
               for a in server.arrivals if "prompt_logprobs" in a.body)


def main() -> None:
    """Run both settings alternately and print one table row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=64)
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, tuple[float, float]] = {}
    sent: dict[str, dict[str, int]] = {}
    with TimedServer(toy_lm=ToyLM()) as server:
        for _ in range(args.repeats):
            for setting in ("off", "exact"):
                seconds, toy_s, paths = one_tick(server, setting, args.decisions,
                                                 args.products)
                best[setting] = min(best.get(setting, (seconds, toy_s)), (seconds, toy_s))
                sent[setting] = paths
        size = body_bytes(server)  # the last tick's (exact) scoring answers, re-encoded
    print(f"{platform.machine()} {platform.python_version()}; {args.decisions} decisions, "
          f"{args.products} products, best of {args.repeats}")
    for setting in ("off", "exact"):
        seconds, toy_s = best[setting]
        print(f"{setting:>5}: {seconds:.3f} s per tick (toy model's prompt_logprobs "
              f"{toy_s:.3f} s), requests {sent[setting]}")
    print(f"scoring answers of one exact tick: {size / 1e6:.1f} MB of JSON")
    print(f"ratio exact/off: {best['exact'][0] / best['off'][0]:.1f}")


if __name__ == "__main__":
    main()
