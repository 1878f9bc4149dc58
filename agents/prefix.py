"""How much of a batch's prompt text a prefix cache could reuse.

A server with a prefix cache (vLLM's automatic prefix caching, a radix tree) computes each
distinct prefix once. Put the batch's prompts in a prefix tree: the tokens it must compute
are the tree's nodes, and everything else is reused. With the prompts sorted, the new part of
prompt i is its length minus its longest common prefix with prompt i-1 in sorted order, so

    prefix_share = 1 - sum_i (len_i - lcp(sorted_i, sorted_{i-1})) / sum_i len_i

This is the ideal a cache could reach for one tick's batch, served together (block
granularity and eviction make a real server's hit rate somewhat lower).
"""

from __future__ import annotations

from collections.abc import Sequence


def common_prefix_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common prefix of two strings or token lists (binary search)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _message_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Common prefix, in characters, of two prompts given as tuples of message contents."""
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x is y or x == y:  # identical shared system text: no character-wise compare
            shared += len(x)
            continue
        return shared + common_prefix_length(x, y)
    return shared


def prefix_share(prompts: Sequence[tuple[str, ...]]) -> float | None:
    """Share of characters a prefix cache could reuse across `prompts` (message tuples)."""
    total = sum(sum(len(m) for m in p) for p in prompts)
    if not total:
        return None
    ordered = sorted(prompts)
    reused = sum(_message_prefix(ordered[i - 1], ordered[i]) for i in range(1, len(ordered)))
    return reused / total


def token_prefix_share(sequences: Sequence[Sequence[int]]) -> float | None:
    """Share of tokens a prefix cache could reuse across tokenised prompts."""
    total = sum(len(s) for s in sequences)
    if not total:
        return None
    ordered = sorted(tuple(s) for s in sequences)
    reused = sum(common_prefix_length(ordered[i - 1], ordered[i])
                 for i in range(1, len(ordered)))
    return reused / total
