"""Prefix sharing: how much of each tick's prompt text a server's prefix cache can reuse.

For each scenario, runs it with the rational backend, reads every tick's prompts back from
the run directory, and measures the share of prompt tokens that a prefix tree over the tick's
requests would not have to compute again (see `agents.prefix`), in characters and in tokens.
The tokenizer is real and built locally: a byte-level BPE trained with the `tokenizers`
library on the run's own prompts, with prompts framed by a ChatML-style chat template (the
layout Qwen2 models use). Needs the `hf` extra (for `tokenizers`).

    python benchmarks/prefix_sharing.py
    python benchmarks/prefix_sharing.py --ticks 3 --vocab 4000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASES = (
    ("online_shopping (fixed listing)", "online_shopping.yaml", []),
    ("online_shopping (shuffled per decision)", "online_shopping.yaml",
     ["run.listing_order=shuffled"]),
    ("tin_men (counterbalanced)", "tin_men.yaml", []),
)


def chat_template(messages: list[dict[str, str]]) -> str:
    """ChatML framing, as a Qwen2-style chat template renders a prompt."""
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def train_tokenizer(texts: list[str], vocab: int):
    """A byte-level BPE tokenizer trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                                  special_tokens=["<|im_start|>", "<|im_end|>"])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def measure(label: str, scenario_file: str, sets: list[str], ticks: int, vocab: int
            ) -> dict[str, object]:
    """Run one case and return its mean character and token prefix shares per tick."""
    import pandas as pd

    from agents.prefix import prefix_share, token_prefix_share
    from analysis.transcripts import iter_transcripts
    from sim.engine.run import run_scenario
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(REPO / "scenarios" / scenario_file, [*sets, f"run.ticks={ticks}"]
                             if scenario_file != "tin_men.yaml" else sets)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_scenario(scenario, run_dir, progress=False)
        by_tick: dict[int, list[list[dict[str, str]]]] = defaultdict(list)
        for record in iter_transcripts(run_dir):
            by_tick[record["tick"]].append(record["messages"])
        engine_share = pd.read_csv(run_dir / "ticks.csv").prefix_share.tolist()
    texts = [chat_template(m) for batch in by_tick.values() for m in batch]
    tokenizer = train_tokenizer(texts, vocab)
    char_shares, token_shares, sizes, lengths = [], [], [], []
    for batch in by_tick.values():
        char_shares.append(prefix_share([tuple(m["content"] for m in msgs) for msgs in batch]))
        encoded = tokenizer.encode_batch([chat_template(m) for m in batch])
        token_shares.append(token_prefix_share([e.ids for e in encoded]))
        sizes.append(len(batch))
        lengths.append(statistics.mean(len(e.ids) for e in encoded))
    # the engine's own per-tick figure (ticks.csv) must equal the one recomputed here
    assert abs(statistics.mean(char_shares) - statistics.mean(engine_share)) < 1e-4
    return {"case": label, "ticks": len(by_tick), "requests": statistics.mean(sizes),
            "tokens": statistics.mean(lengths), "chars": statistics.mean(char_shares),
            "engine": statistics.mean(engine_share), "tok": statistics.mean(token_shares)}


def main() -> None:
    """Print a markdown table of prefix shares per case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=5, help="ticks per multi-tick scenario")
    parser.add_argument("--vocab", type=int, default=8000, help="BPE vocabulary size")
    args = parser.parse_args()
    print("| case | ticks | requests/tick | prompt tokens (mean) | prefix share, characters "
          "(ticks.csv) | prefix share, tokens |")
    print("|---|---|---|---|---|---|")
    for label, file, sets in CASES:
        r = measure(label, file, sets, args.ticks, args.vocab)
        print(f"| {r['case']} | {r['ticks']} | {r['requests']:.0f} | {r['tokens']:.0f} | "
              f"{100 * r['engine']:.1f}% | {100 * r['tok']:.1f}% |")


if __name__ == "__main__":
    main()
