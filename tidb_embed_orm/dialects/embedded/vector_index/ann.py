"""The approximate-nearest-neighbour graph behind an embedded ``VectorIndex``: usearch's HNSW.

usearch was chosen over hnswlib and faiss because it removes and re-adds keys in place (rows are
updated and deleted), saves to and loads from one file quickly, quantises what it keeps in memory
(``i8`` for cosine, ``f16`` for L2: candidates are re-ranked exactly from the table anyway), and
is actively maintained with wheels for every platform. SQLite rowids are the keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Below this many stored values (rows x dimensions) a brute-force pass over the graph's vectors is
#: as fast as walking it, and exact.
EXACT_WORK = 2_000_000
#: usearch's name and in-memory scalar type per TiDB index metric.
_METRICS = {"cosine": ("cos", "i8"), "l2": ("l2sq", "f16")}


def _keys(rowids: np.ndarray) -> np.ndarray:
    """SQLite rowids are signed 64-bit; usearch keys are unsigned: reinterpret the bits."""
    return np.ascontiguousarray(rowids, dtype=np.int64).view(np.uint64)


class AnnGraph:
    """An HNSW graph of one column's non-NULL vectors, keyed by rowid."""

    def __init__(self, metric: str, dim: int, *, connectivity: int = 16, expansion_add: int = 128,
                 expansion_search: int = 128) -> None:
        from usearch.index import Index

        usearch_metric, dtype = _METRICS[metric]
        self.metric, self.dim = metric, dim
        self._index = Index(ndim=dim, metric=usearch_metric, dtype=dtype, connectivity=connectivity,
                            expansion_add=expansion_add, expansion_search=expansion_search)
        #: the saved file this graph is a read-only memory map of, until its first change
        self._viewed: Path | None = None

    def _writable(self) -> None:
        if self._viewed is not None:
            # A copy of the mapping, not a re-read of the file: another process may have replaced it.
            self._index = self._index.copy()
            self._viewed = None

    def __len__(self) -> int:
        return len(self._index)

    def upsert(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows, replacing any the graph already holds."""
        if len(rowids) == 0:
            return
        self._writable()
        self.remove(rowids)
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.metric == "cosine":  # zero vectors have no direction: TiDB's cosine distance is NULL for them
            keep = np.einsum("ij,ij->i", matrix, matrix) > 0
            rowids, matrix = rowids[keep], matrix[keep]
            if len(rowids) == 0:
                return
        self._index.add(_keys(rowids), matrix, threads=0)

    def contains(self, rowids: np.ndarray) -> np.ndarray:
        keys = _keys(rowids)
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(self._index.contains(keys), dtype=bool).reshape(len(keys))

    def remove(self, rowids: np.ndarray) -> None:
        present = _keys(rowids)[self.contains(rowids)]
        if len(present):
            self._writable()
            self._index.remove(present)

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """The rowids of (about) the ``count`` nearest rows, nearest first."""
        if count <= 0 or len(self._index) == 0:
            return np.empty(0, dtype=np.int64)
        exact = len(self._index) * self.dim <= EXACT_WORK
        matches = self._index.search(np.ascontiguousarray(query, dtype=np.float32), min(count, len(self._index)),
                                     exact=exact)
        return np.asarray(matches.keys, dtype=np.uint64).view(np.int64)

    def save(self, path: Path) -> None:
        self._index.save(str(path))

    @classmethod
    def load(cls, path: Path, metric: str, dim: int) -> AnnGraph:
        """Open a saved graph as a memory map (fast to open); it is read into memory at its first change."""
        graph = cls(metric, dim)
        graph._index.view(str(path))
        graph._viewed = path
        if graph._index.ndim != dim:
            raise ValueError(f"{path} holds {graph._index.ndim}-dimensional vectors, expected {dim}")
        return graph
