"""The customers' social network and word of mouth over it.

The graph is built once per run (networkx generators, or an edge-list file) and kept as a
symmetric scipy sparse adjacency matrix, so spreading a tick's experiences to every neighbour
is two sparse products, whatever the size of the market.

Word of mouth (see `WordOfMouth`): a customer who observed something about a company passes
its experience signal to each neighbour; `delay` ticks later every neighbour that heard about
company k moves its trust in k towards the mean of what it heard,

    trust[j, k] <- trust[j, k] + weight * (mean of reports heard by j about k - trust[j, k]).

Only first-hand experiences are passed on (one hop); a customer never hears its own report.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sim.config import EdgeList, Network, RandomGraph, ScaleFree, SmallWorld
from sim.errors import ScenarioError, did_you_mean

_SEPARATOR = re.compile(r"[,\s]+")


def read_edge_list(path: str | Path, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read an edge list of customer ids; return the two endpoint index arrays.

    One edge per line: two customer ids separated by a comma or whitespace. Blank lines and
    lines starting with `#` are skipped. Raises `ScenarioError` (one line, naming the file and
    the line) for an unreadable file, a malformed line or an unknown customer id.
    """
    path = Path(path)
    index = {name: i for i, name in enumerate(ids)}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: the edge list is not UTF-8 text") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the edge list ({exc.strerror})") from None
    left: list[int] = []
    right: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in _SEPARATOR.split(line) if f]
        if len(fields) != 2:
            raise ScenarioError(
                f"{path}: line {number}: expected two customer ids separated by a comma or "
                f"spaces, found {len(fields)} fields"
            )
        for position, name in zip(("first", "second"), fields, strict=True):
            if name not in index:
                hint = did_you_mean(name, ids[:10000])
                raise ScenarioError(
                    f"{path}: line {number}: the {position} id is not a customer of this "
                    f"scenario (ids are <group>-<index>, e.g. {ids[0]!r}){hint}"
                )
        left.append(index[fields[0]])
        right.append(index[fields[1]])
    return np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)


def adjacency_from_edges(left: np.ndarray, right: np.ndarray, n: int) -> sp.csr_array:
    """Symmetric 0/1 adjacency (CSR) from undirected edges; self-loops and repeats dropped."""
    keep = left != right
    rows = np.concatenate([left[keep], right[keep]])
    cols = np.concatenate([right[keep], left[keep]])
    matrix = sp.coo_array((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def build_adjacency(spec: Network, ids: Sequence[str], seed: int) -> sp.csr_array:
    """The network over `ids` (population order) as a sparse adjacency matrix."""
    n = len(ids)
    if isinstance(spec, EdgeList):
        left, right = read_edge_list(spec.path, ids)
        return adjacency_from_edges(left, right, n)
    import networkx as nx

    if isinstance(spec, SmallWorld):
        graph = nx.watts_strogatz_graph(n, spec.degree, spec.rewire, seed=seed)
    elif isinstance(spec, ScaleFree):
        graph = nx.barabasi_albert_graph(n, max(1, spec.degree // 2), seed=seed)
    elif isinstance(spec, RandomGraph):
        graph = nx.fast_gnp_random_graph(n, min(1.0, spec.degree / max(n - 1, 1)), seed=seed)
    else:  # pragma: no cover - the schema admits no other kind
        raise TypeError(f"unknown network spec {spec!r}")
    edges = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
    return adjacency_from_edges(edges[:, 0], edges[:, 1], n)


@dataclass(frozen=True)
class Reports:
    """The experiences of one tick: who reported, about which company, what signal."""

    tick: int
    customers: np.ndarray
    companies: np.ndarray
    signals: np.ndarray


class WordOfMouth:
    """Holds reports until they are due, then moves the neighbours' trust (vectorised)."""

    def __init__(self, adjacency: sp.csr_array, companies: int, weight: float,
                 delay: int) -> None:
        self.adjacency = adjacency
        self.companies = companies
        self.weight = weight
        self.delay = delay
        self._queue: deque[Reports] = deque()

    def tell(self, tick: int, customers: np.ndarray, companies: np.ndarray,
             signals: np.ndarray) -> None:
        """Queue the experiences customers had in `tick` (NaN signals are not reported)."""
        known = ~np.isnan(signals)
        self._queue.append(Reports(tick, customers[known], companies[known], signals[known]))

    def deliver(self, tick: int, trust: np.ndarray) -> int:
        """Apply, in place, every report due by the end of `tick`; return how many were heard.

        A report from tick t is heard at the end of tick t + delay. The return value counts
        (listener, company) pairs whose trust moved.
        """
        heard = 0
        while self._queue and self._queue[0].tick + self.delay <= tick:
            heard += self._spread(self._queue.popleft(), trust)
        return heard

    def _spread(self, reports: Reports, trust: np.ndarray) -> int:
        if len(reports.customers) == 0 or self.weight == 0:
            return 0
        n = self.adjacency.shape[0]
        shape = (n, self.companies)
        said = sp.coo_array((reports.signals, (reports.customers, reports.companies)),
                            shape=shape).tocsr()
        told = sp.coo_array((np.ones(len(reports.customers)),
                             (reports.customers, reports.companies)), shape=shape).tocsr()
        counts = (self.adjacency @ told).tocoo()
        if counts.nnz == 0:
            return 0
        sums = (self.adjacency @ said).toarray()[counts.row, counts.col]
        listeners, about = counts.row, counts.col
        mean = sums / counts.data
        trust[listeners, about] += self.weight * (mean - trust[listeners, about])
        return int(counts.nnz)
