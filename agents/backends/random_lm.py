"""Random-weight chat models built on the spot: no download, any size.

For tests (a model of a few hundred kilobytes), benchmarks (about 0.5B parameters on a GPU)
and dry runs of the `hf` backend. A byte-level BPE tokenizer is trained with `tokenizers` on
shopping sentences and given a ChatML-style chat template; a Llama-style model with random
weights is saved next to it, so backends load it with their ordinary `from_pretrained` code.
Its answers are gibberish, which is the point: only structured output makes them valid.
"""

from __future__ import annotations

from pathlib import Path

from agents.backends.base import require

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, as used by Qwen models."""

CORPUS = (
    "You are a shopping assistant on an online marketplace. Choice: 1",
    "Choice: 2", "Choice: none", "The customer's budget is 40,000.",
    "Your explanation will be shared with the customer.",
    "Tesla Model 3 (price 40,000) electric: yes", "Ford Explorer (price 50,000)",
    '{"explanation": "it is the best option for the customer", "choice": "2"}',
)


def build_random_lm(folder: str | Path, *, vocab_size: int = 400, hidden_size: int = 32,
                    layers: int = 2, heads: int = 2, intermediate_size: int = 64,
                    seed: int = 0) -> Path:
    """Write a tokenizer and a random-weight Llama-style model into `folder`; return it.

    The defaults make a model of about 40k parameters (for tests); hidden_size=1024,
    layers=28, heads=16, intermediate_size=4096 make one of about 0.5B.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    tokenizers = require("tokenizers", "hf")
    folder = Path(folder)
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(list(CORPUS) * 20, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer,
                                                pad_token="<|pad|>", eos_token="<|im_end|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden_size,
        intermediate_size=intermediate_size, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=4096,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=None,
        tie_word_embeddings=True)
    torch.manual_seed(seed)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def sample_answers(folder: str | Path, messages: list[dict[str, str]], count: int, *,
                   max_new_tokens: int = 120, seed: int = 0, batch: int = 48) -> list[str]:
    """`count` answers sampled (temperature 1, no top-k) from the model saved in `folder`.

    The answers of a random-weight model are gibberish made of the tokenizer's shopping
    words, which is what the parser's false-reading checks need.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt = tokenizer(text, return_tensors="pt").input_ids
    torch.manual_seed(seed)
    answers: list[str] = []
    while len(answers) < count:
        ids = prompt.repeat(min(batch, count - len(answers)), 1)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                             temperature=1.0, top_k=0, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id)
        answers += tokenizer.batch_decode(out[:, prompt.shape[1]:], skip_special_tokens=True)
    return answers
SIZES = {"tiny": {}, "0.5b": {"hidden_size": 1024, "layers": 28, "heads": 16,
                              "intermediate_size": 4096}}
"""Named model sizes for the command line: tiny (~40k parameters) and 0.5b."""


def main(argv: list[str] | None = None) -> int:
    """`python -m agents.backends.random_lm FOLDER [--size tiny|0.5b] [--seed N]`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m agents.backends.random_lm",
        description="Build a random-weight chat model and tokenizer in FOLDER (nothing is "
                    "downloaded), for trying the hf or vllm backend offline: its answers "
                    "are gibberish unless structured output constrains them.")
    parser.add_argument("folder", help="where to write the model (created if missing)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="tiny: about 40k parameters, seconds on a CPU (default); "
                             "0.5b: about 0.5B parameters, for GPU benchmarks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args(argv)
    folder = build_random_lm(args.folder, seed=args.seed, **SIZES[args.size])
    print(f"random-weight model written to {folder}; try it with: tinmen run "
          f"scenarios/tin_men.yaml --backend hf --model {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
