"""Batched forward passes for exact choice scoring: one level of every decision's tree at once.

`agents.backends.logprob_scoring` expands, level by level, a tree of token paths per decision
(every tokenization of every option's continuation). `BatchedLevels.level` returns the
next-token log-probabilities after every open path of every decision, running one token per
path in padded passes of up to `rows_per_pass` paths, whatever decision they belong to:

- the *body* (each prefix but its last token) runs once, all prefixes together, right-padded
  to one width; its per-layer keys and values are kept, stacked one row per decision;
- level 0 runs each prefix's last token on top of its body, which gives the distribution after
  the prefix; level d runs each path's newest token on top of its decision's body (gathered
  by decision) and its parent's path keys and values (gathered by parent), so each level costs
  one new token per path, not the whole path again.

The attention mask marks the body's padding (right of each prefix, left of the path tokens)
and the position ids continue each prefix's own numbering, so every row computes what it would
alone, up to floating-point differences of batched arithmetic. Right padding keeps every query
attending to at least one real token (a fully masked row could turn into NaN keys/values).
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol


class OpenPath(Protocol):
    """What a runner reads of a tree path: its decision and the tokens after the prefix."""

    job: int
    tokens: tuple[int, ...]


def cache_argument(lm: Any) -> str:
    """The forward's name for a key/value cache: `cache` (transformers 5) or the older one."""
    return "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"


def layers_of(cache: Any) -> list[tuple[Any, Any]]:
    """The per-layer (keys, values) of a transformers `DynamicCache`."""
    return [(layer.keys, layer.values) for layer in cache.layers]


class BatchedLevels:
    """Next-token log-probabilities after the open paths of many decisions, one level a call.

    `jobs` need `prefix` (token ids) and `temperature`; see the module docstring.
    """

    def __init__(self, lm: Any, torch: Any, jobs: Any, *, pad_id: int, device: Any,
                 rows_per_pass: int) -> None:
        self.lm, self.torch, self.device = lm, torch, device
        self.rows = max(1, rows_per_pass)
        self.pad_id = pad_id
        self.prefixes = [tuple(job.prefix) for job in jobs]
        if any(not p for p in self.prefixes):
            raise ValueError("a scoring job has an empty prefix")
        self.temperatures = torch.tensor(
            [job.temperature if job.temperature > 0 else 1.0 for job in jobs],
            dtype=torch.float32, device=device)
        self.lengths = torch.tensor([len(p) for p in self.prefixes], device=device)
        self.width = max(len(p) for p in self.prefixes) - 1  # the body's padded width
        self.cache_name = cache_argument(lm)
        self.keep_logits = "logits_to_keep" in inspect.signature(lm.forward).parameters
        self.body: list[tuple[Any, Any]] | None = None  # per layer, one row per job
        self.body_mask = None
        self.paths: list[tuple[Any, Any]] | None = None  # last level's path keys/values
        self.index: dict[tuple[int, tuple[int, ...]], int] = {}
        self.passes = 0

    # ------------------------------------------------------------------ the prefixes' bodies
    def _run_body(self) -> None:
        """Every prefix but its last token, right-padded, in chunks: keys/values and mask."""
        torch = self.torch
        mask = torch.zeros((len(self.prefixes), self.width), dtype=torch.long,
                           device=self.device)
        for row, prefix in enumerate(self.prefixes):
            mask[row, :len(prefix) - 1] = 1
        self.body_mask = mask
        if self.width == 0:
            return
        from transformers import DynamicCache

        chunks: list[list[tuple[Any, Any]]] = []
        for start in range(0, len(self.prefixes), self.rows):
            part = self.prefixes[start:start + self.rows]
            ids = torch.full((len(part), self.width), self.pad_id, dtype=torch.long,
                             device=self.device)
            for row, prefix in enumerate(part):
                ids[row, :len(prefix) - 1] = torch.tensor(prefix[:-1], dtype=torch.long)
            positions = torch.arange(self.width, device=self.device)[None, :].expand(
                len(part), -1)
            cache = DynamicCache()
            extra = {"logits_to_keep": 1} if self.keep_logits else {}
            with torch.inference_mode():
                self.lm(input_ids=ids, attention_mask=mask[start:start + len(part)],
                        position_ids=positions, use_cache=True,
                        **{self.cache_name: cache}, **extra)
            self.passes += 1
            chunks.append(layers_of(cache))
        self.body = [(torch.cat([c[layer][0] for c in chunks]),
                      torch.cat([c[layer][1] for c in chunks]))
                     for layer in range(len(chunks[0]))]

    # ------------------------------------------------------------------ one tree level
    def level(self, paths: list[OpenPath]) -> list[Any]:
        """Log-softmax of the next-token logits (each job's temperature) after every path."""
        torch = self.torch
        if self.body_mask is None:
            self._run_body()
        rows: list[Any] = []
        new_paths: list[list[tuple[Any, Any]]] = []
        for start in range(0, len(paths), self.rows):
            chunk = paths[start:start + self.rows]
            logits, kv = self._step(chunk)
            scaled = logits / self.temperatures[
                torch.tensor([p.job for p in chunk], device=self.device)][:, None]
            rows.extend(torch.log_softmax(scaled, dim=-1).cpu().unbind(0))
            new_paths.append(kv)
        self.paths = [(torch.cat([c[layer][0] for c in new_paths]),
                       torch.cat([c[layer][1] for c in new_paths]))
                      for layer in range(len(new_paths[0]))]
        self.index = {(p.job, p.tokens): row for row, p in enumerate(paths)}
        return rows

    def _step(self, chunk: list[OpenPath]) -> tuple[Any, list[tuple[Any, Any]]]:
        """One new token per path on its body and parent path: logits and the path's kv."""
        from transformers import DynamicCache

        torch = self.torch
        depth = len(chunk[0].tokens)  # path tokens before the new one, counting the
        jobs = torch.tensor([p.job for p in chunk], device=self.device)  # prefix's last
        parts: list[list[Any]] = []
        if self.body is not None:
            parts.append([(k.index_select(0, jobs), v.index_select(0, jobs))
                          for k, v in self.body])
        if depth > 0:
            parents = torch.tensor([self.index[(p.job, p.tokens[:-1])] for p in chunk],
                                   device=self.device)
            parts.append([(k.index_select(0, parents), v.index_select(0, parents))
                          for k, v in self.paths])
        if parts:
            cache = DynamicCache(ddp_cache_data=[
                (torch.cat([part[layer][0] for part in parts], dim=2),
                 torch.cat([part[layer][1] for part in parts], dim=2))
                for layer in range(len(parts[0]))])
        else:
            cache = DynamicCache()
        new = [self.prefixes[p.job][-1] if depth == 0 else p.tokens[-1] for p in chunk]
        ids = torch.tensor(new, dtype=torch.long, device=self.device)[:, None]
        mask = torch.cat([self.body_mask.index_select(0, jobs),
                          torch.ones((len(chunk), depth + 1), dtype=torch.long,
                                     device=self.device)], dim=1)
        positions = (self.lengths.index_select(0, jobs) - 1 + depth)[:, None]
        with torch.inference_mode():
            out = self.lm(input_ids=ids, attention_mask=mask, position_ids=positions,
                          use_cache=True, **{self.cache_name: cache})
        self.passes += 1
        kv = [(k[:, :, self.width:, :], v[:, :, self.width:, :]) for k, v in layers_of(cache)]
        return out.logits[:, -1, :].float(), kv
