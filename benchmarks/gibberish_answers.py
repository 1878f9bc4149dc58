"""How many answers of a random-weight model the parser reads as choices, and how.

A random-weight model writes gibberish built from shopping words ("Explorer", "Choice",
"Tesla"), so every choice read from it is a false reading. The script samples answers from
the random model of `agents.backends.random_lm` (the tests' tiny model by default) on the
vehicle listing and counts the parser's readings by method. With ``--baseline FILE`` it also
runs an older `parsing.py` on the same answers, side by side.

    python benchmarks/gibberish_answers.py --answers 240 [--baseline old_parsing.py]

Sampling 240 answers takes minutes on a busy CPU; ``--save`` / ``--load`` reuse them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

from agents.backends.random_lm import build_random_lm, sample_answers
from agents.parsing import parse_choice
from agents.prompts import ANSWER_FORMAT, ROLE

VEHICLE = {1: "Tesla Model 3", 2: "Ford Explorer"}
LISTING = "1: Tesla Model 3 (price 40,000) electric: yes\n2: Ford Explorer (price 50,000)"


GIBBERISH_PROMPT = [
    {"role": "system", "content": f"{ROLE}\n\n{LISTING}\n\n{ANSWER_FORMAT}"},
    {"role": "user", "content": "I need a car for my family. Budget: 55,000."},
]
"""The vehicle decision, as the random model is asked it."""


def random_model_answers(count: int, max_new_tokens: int, seed: int) -> list[str]:
    """`count` sampled answers of the tiny random model to the vehicle prompt."""
    with tempfile.TemporaryDirectory() as folder:
        path = build_random_lm(folder, seed=seed)
        return sample_answers(path, GIBBERISH_PROMPT, count, max_new_tokens=max_new_tokens,
                              seed=seed)


def readings(parse, answers: list[str]) -> Counter:
    """How many answers each reading method got."""
    return Counter(parse(a, VEHICLE).method for a in answers)


def chosen(parse, answers: list[str]) -> Counter:
    """How many answers were read as a choice, by method."""
    return Counter(p.method for p in (parse(a, VEHICLE) for a in answers) if p.valid)


def main() -> None:
    """Sample, parse and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=240)
    parser.add_argument("--max-new-tokens", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="also write the answers here, one JSON a line")
    parser.add_argument("--load", type=Path, help="parse answers saved by --save instead")
    parser.add_argument("--baseline", type=Path, help="an older agents/parsing.py to compare")
    args = parser.parse_args()
    if args.load is not None:
        answers = [json.loads(line) for line in args.load.read_text().splitlines()]
    else:
        answers = random_model_answers(args.answers, args.max_new_tokens, args.seed)
    if args.save is not None:
        args.save.write_text("".join(json.dumps(a) + "\n" for a in answers))
    parsers = {"current": parse_choice}
    if args.baseline is not None:
        spec = importlib.util.spec_from_file_location("baseline_parsing", args.baseline)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parsers = {"baseline": module.parse_choice, **parsers}
    print(f"{len(answers)} answers of a random-weight model, vehicle listing")
    for name, parse in parsers.items():
        accepted = chosen(parse, answers)
        print(f"{name}: {sum(accepted.values())} read as choices {dict(sorted(accepted.items()))}; "
              f"all readings {dict(sorted(readings(parse, answers).items()))}")


if __name__ == "__main__":
    main()
