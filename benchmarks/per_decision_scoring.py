"""The earlier exact-scoring passes, kept to measure the batched ones against.

`PerDecisionLevels` is a runner for `agents.backends.logprob_scoring.score_targets`: each
decision's prefix runs alone once (its keys/values kept), and at every tree level each
decision's open paths run as one forward pass of their whole token paths on top of that cache,
so a level costs one pass per decision. `benchmarks/choice_probs.py --scoring both` times it
beside the default `agents.backends.tree_passes.BatchedLevels`.
"""

from __future__ import annotations

from typing import Any

from agents.backends.tree_passes import cache_argument, layers_of


class PerDecisionLevels:
    """Next-token log-probabilities after every path, one forward pass per decision a level."""

    def __init__(self, lm: Any, torch: Any, jobs: Any, *, pad_id: int, device: Any,
                 rows_per_pass: int, tokens_per_pass: int | None = None) -> None:
        self.lm, self.torch, self.jobs, self.device = lm, torch, list(jobs), device
        self.rows = max(1, rows_per_pass)
        self.prefixes: dict[int, tuple[Any, Any]] = {}
        self.passes = 0

    def level(self, paths: list[Any]) -> list[Any]:
        """Log-softmax of the next-token logits (at each job's temperature) after every path."""
        torch = self.torch
        rows: list[Any] = [None] * len(paths)
        by_job: dict[int, list[int]] = {}
        for index, path in enumerate(paths):
            by_job.setdefault(path.job, []).append(index)
        for job_index, members in by_job.items():
            job = self.jobs[job_index]
            temperature = job.temperature if job.temperature > 0 else 1.0
            if job_index not in self.prefixes:
                self.prefixes[job_index] = self._run_prefix(job.prefix)
            kv, last = self.prefixes[job_index]
            if not paths[members[0]].tokens:
                for index in members:
                    rows[index] = torch.log_softmax(last / temperature, dim=-1).cpu()
                continue
            for start in range(0, len(members), self.rows):
                chunk = members[start:start + self.rows]
                logits = self._run_paths(kv, [paths[i].tokens for i in chunk], len(job.prefix))
                for index, row in zip(chunk, torch.log_softmax(logits / temperature,
                                                               dim=-1).cpu(), strict=True):
                    rows[index] = row
        return rows

    def _run_prefix(self, prefix: tuple[int, ...]) -> tuple[Any, Any]:
        """One job's prefix: its per-layer (keys, values) and the logits after it."""
        from transformers import DynamicCache

        torch = self.torch
        ids = torch.tensor([list(prefix)], dtype=torch.long, device=self.device)
        cache = DynamicCache()
        with torch.inference_mode():
            out = self.lm(input_ids=ids, use_cache=True, **{cache_argument(self.lm): cache})
        self.passes += 1
        return layers_of(cache), out.logits[0, -1, :].float()

    def _run_paths(self, kv: Any, tokens: list[tuple[int, ...]], length: int) -> Any:
        """Next-token logits after each path (all of one length) on top of a cached prefix."""
        from transformers import DynamicCache

        torch = self.torch
        n, depth = len(tokens), len(tokens[0])
        cache = DynamicCache(ddp_cache_data=[
            (k.expand(n, -1, -1, -1).contiguous(), v.expand(n, -1, -1, -1).contiguous())
            for k, v in kv])
        ids = torch.tensor([list(t) for t in tokens], dtype=torch.long, device=self.device)
        mask = torch.ones((n, length + depth), dtype=torch.long, device=self.device)
        positions = torch.arange(length, length + depth, device=self.device)[None, :].expand(
            n, -1)
        with torch.inference_mode():
            out = self.lm(input_ids=ids, attention_mask=mask, position_ids=positions,
                          use_cache=True, **{cache_argument(self.lm): cache})
        self.passes += 1
        return out.logits[:, -1, :].float()
