"""Batched forward passes for exact choice scoring: one level of every decision's tree at once.

`agents.backends.logprob_scoring` expands, level by level, a tree of token paths per decision
(every tokenization of every option's continuation). `BatchedLevels.level` returns the
next-token log-probabilities after every open path of every decision, running ONE new token
per path, all decisions together, with tree attention:

- the cache has one row per decision. It starts with the *body* (each prefix but its last
  token; right-padded to one width, run once, `rows_per_pass` prefixes a pass);
- each level appends the level's new tokens to their decision's row (the prefix's last token
  at level 0, then each path's newest token), as many per row as that decision has open
  paths, padded to the longest row; a pass holds up to `tokens_per_pass` new tokens;
- a custom 4D attention mask lets each new token see its decision's body and its own
  ancestors in the tree (the tokens of its path, each at the cache position where it ran),
  not the other paths, and the position ids continue the prefix's own numbering.

So a level costs one pass (or a few, for wide trees) whatever the number of decisions, and
neither the prefix nor any path is run or copied again; each new token computes what it would
on its own path alone, up to floating-point differences of batched arithmetic. Padding tokens
see only themselves (never a fully masked row) and nothing ever sees them.
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
                 rows_per_pass: int, tokens_per_pass: int | None = None) -> None:
        self.lm, self.torch, self.device = lm, torch, device
        self.body_rows = max(1, rows_per_pass)
        self.tokens_per_pass = max(1, tokens_per_pass or 16 * self.body_rows)
        self.pad_id = pad_id
        self.prefixes = [tuple(job.prefix) for job in jobs]
        if any(not p for p in self.prefixes):
            raise ValueError("a scoring job has an empty prefix")
        self.temperatures = [job.temperature if job.temperature > 0 else 1.0 for job in jobs]
        self.width = max(len(p) for p in self.prefixes) - 1  # the body's padded width
        self.cache_name = cache_argument(lm)
        self.keep_logits = "logits_to_keep" in inspect.signature(lm.forward).parameters
        dtype = getattr(lm, "dtype", None) or next(lm.parameters()).dtype
        self.dtype = dtype if dtype.is_floating_point else torch.float32  # the mask's
        self.cache: Any = None
        self.body_mask: Any = None  # (jobs, width) bool: real body tokens
        self.length = 0  # columns in the cache
        self.chains: dict[tuple[int, tuple[int, ...]], tuple[int, ...]] = {}
        self.passes = 0

    # ------------------------------------------------------------------ the prefixes' bodies
    def _run_body(self) -> None:
        """Every prefix but its last token, right-padded, in chunks, into one cache."""
        from transformers import DynamicCache

        torch = self.torch
        jobs = len(self.prefixes)
        mask = torch.zeros((jobs, self.width), dtype=torch.long, device=self.device)
        for row, prefix in enumerate(self.prefixes):
            mask[row, :len(prefix) - 1] = 1
        self.body_mask = mask.bool()
        self.length = self.width
        if self.width == 0:
            self.cache = DynamicCache()
            return
        chunks: list[list[tuple[Any, Any]]] = []
        for start in range(0, jobs, self.body_rows):
            part = self.prefixes[start:start + self.body_rows]
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
        self.cache = DynamicCache(ddp_cache_data=[
            (torch.cat([c[layer][0] for c in chunks]), torch.cat([c[layer][1] for c in chunks]))
            for layer in range(len(chunks[0]))])

    # ------------------------------------------------------------------ one tree level
    def level(self, paths: list[OpenPath]) -> list[Any]:
        """Log-softmax of the next-token logits (each job's temperature) after every path."""
        if self.cache is None:
            self._run_body()
        by_job: dict[int, list[int]] = {}
        for index, path in enumerate(paths):
            by_job.setdefault(path.job, []).append(index)
        per_row = max(1, self.tokens_per_pass // len(self.prefixes))
        widest = max(len(members) for members in by_job.values())
        rows: list[Any] = [None] * len(paths)
        chains: dict[tuple[int, tuple[int, ...]], tuple[int, ...]] = {}
        for start in range(0, widest, per_row):
            slots = {job: members[start:start + per_row] for job, members in by_job.items()
                     if members[start:start + per_row]}
            self._pass(paths, slots, rows, chains)
        self.chains = chains
        return rows

    def _pass(self, paths: list[OpenPath], slots: dict[int, list[int]], rows: list[Any],
              chains: dict[tuple[int, tuple[int, ...]], tuple[int, ...]]) -> None:
        """Append the slotted paths' new tokens to their rows; their log-probs into `rows`."""
        torch = self.torch
        jobs, count = len(self.prefixes), max(len(m) for m in slots.values())
        ids = torch.full((jobs, count), self.pad_id, dtype=torch.long)
        positions = torch.zeros((jobs, count), dtype=torch.long)
        see_j, see_s, see_c = [], [], []  # (row, slot) sees cache column c
        for job in range(jobs):
            members = slots.get(job, [])
            for slot in range(count):
                column = self.length + slot
                if slot < len(members):
                    path = paths[members[slot]]
                    depth = len(path.tokens)
                    ids[job, slot] = path.tokens[-1] if depth else self.prefixes[job][-1]
                    positions[job, slot] = len(self.prefixes[job]) - 1 + depth
                    chain = (self.chains[(job, path.tokens[:-1])] if depth else ()) + (column,)
                    chains[(job, path.tokens)] = chain
                else:
                    chain = (column,)  # padding: sees itself only
                see_j.extend([job] * len(chain))
                see_s.extend([slot] * len(chain))
                see_c.extend(chain)
        total = self.length + count
        allowed = torch.zeros((jobs, count, total), dtype=torch.bool, device=self.device)
        allowed[:, :, :self.width] = self.body_mask[:, None, :]
        allowed[tuple(torch.tensor(v, device=self.device) for v in (see_j, see_s, see_c))] = True
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=self.device)
        mask.masked_fill_(~allowed, torch.finfo(self.dtype).min)
        with torch.inference_mode():
            out = self.lm(input_ids=ids.to(self.device), attention_mask=mask[:, None],
                          position_ids=positions.to(self.device), use_cache=True,
                          **{self.cache_name: self.cache})
        self.passes += 1
        self.length = total
        logits = out.logits.float()
        for job, members in slots.items():
            scaled = logits[job, :len(members)] / self.temperatures[job]
            for index, row in zip(members, torch.log_softmax(scaled, dim=-1).cpu().unbind(0),
                                  strict=True):
                rows[index] = row
