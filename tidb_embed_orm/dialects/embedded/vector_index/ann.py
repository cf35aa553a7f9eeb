"""The approximate-nearest-neighbour graph behind an embedded ``VectorIndex``: usearch's HNSW.

usearch was chosen over hnswlib and faiss because it removes and re-adds keys in place (rows are
updated and deleted), saves to and loads from one file quickly, quantises what it keeps in memory
(``i8`` for cosine, ``f16`` for L2: candidates are re-ranked exactly from the table anyway), and
is actively maintained with wheels for every platform. SQLite rowids are the keys.

A saved graph is usearch's file followed by a trailer (``graph_file.py``): the ``GraphStamp``
saying which index, save, table and log position it holds, and a digest of everything before it.
``load`` checks both before usearch sees a byte, then views the verified bytes in place.
"""

from __future__ import annotations

import math
import mmap
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ....sql.vector_index import MAX_EF_SEARCH
from .graph_file import GraphStamp, append_trailer, map_file, reopen_path, verified_content

#: Below this many stored values (rows x dimensions) a brute-force pass over the graph's vectors is
#: as fast as walking it, and exact.
EXACT_WORK = 2_000_000
#: How wide the graph walk of a search is (HNSW's ``ef``) unless the search or its index says otherwise: at
#: least MIN_EF, REFERENCE_EF at REFERENCE_ROWS, doubling per tenfold growth (``default_ef``). Recall at this
#: width, measured by benchmarks/bench_vector_index.py, is in docs/speed.md.
MIN_EF = 128
REFERENCE_EF = 192
REFERENCE_ROWS = 100_000
#: usearch's name and in-memory scalar type per TiDB index metric.
_METRICS = {"cosine": ("cos", "i8"), "l2": ("l2sq", "f16")}


def _keys(rowids: np.ndarray) -> np.ndarray:
    """SQLite rowids are signed 64-bit; usearch keys are unsigned: reinterpret the bits."""
    return np.ascontiguousarray(rowids, dtype=np.int64).view(np.uint64)


def default_ef(size: int) -> int:
    """The walk width a search gets by default: wider for bigger graphs (a walk is never narrower than
    the candidates it is asked for: usearch widens it to that count itself).

    HNSW's recall at a fixed width falls as the graph grows (more hops, more near-ties between
    clustered rows). On the hard set of benchmarks/bench_vector_index.py (wide clusters of 5,000
    rows), recall@10 reached 0.95 at 192 with 100,000 rows (0.931 at 128) and at 384 with a million
    (0.907 at 256): the width doubles per tenfold growth, ``192 * (size / 100,000) ** log10(2)``.
    """
    width = REFERENCE_EF * (max(size, 1) / REFERENCE_ROWS) ** math.log10(2)
    return int(min(max(MIN_EF, round(width)), MAX_EF_SEARCH))


class AnnGraph:
    """An HNSW graph of one column's non-NULL vectors, keyed by rowid."""

    def __init__(self, metric: str, dim: int, *, connectivity: int = 16, expansion_add: int = 128,
                 expansion_search: int = 128, key_lookups: bool = True) -> None:
        from usearch.index import Index

        usearch_metric, dtype = _METRICS[metric]
        self.metric, self.dim = metric, dim
        self._settings: dict[str, Any] = {"ndim": dim, "metric": usearch_metric, "dtype": dtype,
                                          "connectivity": connectivity, "expansion_add": expansion_add,
                                          "expansion_search": expansion_search}
        self._index = Index(**self._settings, enable_key_lookups=key_lookups)
        #: the verified memory map of a saved file this graph reads, until its first change
        self._mapping: mmap.mmap | None = None
        self._content: memoryview | None = None
        #: an open descriptor of that file, closed at the first change (or when the graph is dropped)
        self._descriptor: int | None = None
        self._closer: weakref.finalize | None = None

    @property
    def has_key_table(self) -> bool:
        """Whether ``contains`` can answer: a graph viewed from its file has no rowid table until its first change."""
        return self._content is None

    def _writable(self) -> None:
        if self._content is None:
            return
        from usearch.index import Index

        # Read into memory, with its rowid table (viewing skips it: building it is O(rows), 150 ms at a million
        # rows, which the first search after opening would otherwise pay). The source is the file that was
        # checked (its open descriptor, not its name: another process may have replaced it), read after the
        # map is let go: a million-row graph then occupies memory once (530 MB), not mapped and loaded at once.
        loaded = Index(**self._settings)
        source = reopen_path(self._descriptor) if self._descriptor is not None else None
        self._index.reset()  # usearch lets go of the map
        if source is None:
            loaded.load(self._content)
        content, mapping, self._content, self._mapping = self._content, self._mapping, None, None
        content.release()
        try:
            if mapping is not None:
                mapping.close()
        except BufferError:  # still exported somewhere: unmapped when that goes
            pass
        if source is not None:
            loaded.load(source)
        self._index = loaded
        self._close_descriptor()

    def _close_descriptor(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer, self._descriptor = None, None

    def __len__(self) -> int:
        return len(self._index)

    def upsert(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows, replacing any the graph already holds."""
        self.remove(rowids)
        self.add_new(rowids, vectors)

    def contains(self, rowids: np.ndarray) -> np.ndarray:
        """Which of ``rowids`` the graph holds (only when ``has_key_table``)."""
        keys = _keys(rowids)
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(self._index.contains(keys), dtype=bool).reshape(len(keys))

    def remove(self, rowids: np.ndarray) -> None:
        if len(rowids) == 0:
            return
        self._writable()
        present = _keys(rowids)[self.contains(rowids)]
        if len(present):
            self._index.remove(present)

    def add_new(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows the graph does not hold yet (a build from the table: nothing to replace)."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.metric == "cosine":  # zero vectors have no direction: TiDB's cosine distance is NULL for them
            keep = np.einsum("ij,ij->i", matrix, matrix) > 0
            if not keep.all():
                rowids, matrix = rowids[keep], matrix[keep]
        if len(rowids):
            self._writable()
            self._index.add(_keys(rowids), matrix, threads=0)

    def search(self, query: np.ndarray, count: int, ef: int | None = None) -> np.ndarray:
        """The rowids of (about) the ``count`` nearest rows, nearest first; ``ef`` is the walk's width
        (``default_ef`` when None; callers hold the graph's lock: the width is a setting of the graph)."""
        if count <= 0 or len(self._index) == 0:
            return np.empty(0, dtype=np.int64)
        exact = len(self._index) * self.dim <= EXACT_WORK
        if not exact:
            # usearch declares this setter apart from its getter, which mypy reads as a read-only property
            self._index.expansion_search = ef or default_ef(len(self._index))  # type: ignore[misc]
        matches = self._index.search(np.ascontiguousarray(query, dtype=np.float32), min(count, len(self._index)),
                                     exact=exact)
        return np.asarray(matches.keys, dtype=np.uint64).view(np.int64)

    def save(self, path: Path, stamp: GraphStamp) -> None:
        """Write the graph to ``path`` with its stamp and digest, and fsync it (OSError when the disk is full)."""
        try:
            self._index.save(str(path))
        except RuntimeError as exc:  # usearch reports a failed write (a full disk, a size limit) this way
            raise OSError(f"could not write {path.name}: {exc}") from exc
        append_trailer(path, stamp)

    @classmethod
    def load(cls, path: Path, stamp: GraphStamp) -> AnnGraph:
        """Open a saved graph as a verified memory map (fast to open); it is read into memory at its first change.

        Raises GraphFileError when the file is not the graph ``stamp`` names or is damaged, and
        OSError when it cannot be read (it may have been replaced or deleted meanwhile).
        """
        mapping, descriptor = map_file(path)
        try:
            content = verified_content(memoryview(mapping), stamp, descriptor)
            graph = cls(stamp.metric, stamp.dim, key_lookups=False)
            graph._index.view(content)  # the verified bytes themselves: no second read of a file that may change
        except BaseException:
            os.close(descriptor)
            raise
        graph._mapping, graph._content, graph._descriptor = mapping, content, descriptor
        graph._closer = weakref.finalize(graph, os.close, descriptor)
        return graph
