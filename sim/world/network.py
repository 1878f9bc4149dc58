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

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.scenario.edge_list import read_edge_list
from sim.scenario.schema import EdgeList, Network, RandomGraph, ScaleFree, SmallWorld


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
