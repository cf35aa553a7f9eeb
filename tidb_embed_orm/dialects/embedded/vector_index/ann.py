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
REFERENCE_EF = 128
REFERENCE_ROWS = 100_000
#: REFERENCE_EF of a graph saved with fewer links than CONNECTIVITY (usearch's 16, before 5 December 2026): it
#: keeps its links when opened, and at 128 its recall on the hard set was 0.931 at 100,000 rows.
FEWER_LINKS_REFERENCE_EF = 192
#: A viewed graph is read into memory once the changes kept beside it pass this share of it (and VIEW_CHANGES_MIN
#: rows): masked entries make its walks ask for more, and a save (at SAVE_SHARE of changes) reads it anyway.
VIEW_CHANGES_SHARE = 0.05
VIEW_CHANGES_MIN = 10_000
#: HNSW's links per node (``M``; twice that on the bottom level). On the hard set of
#: benchmarks/bench_vector_index.py at a million rows, the 40 candidates of a search held 0.956 of the true
#: top 10 at width 192 with 24 links, and 0.947 at width 512 with 16 (1.11 vs 1.96 ms a walk): a graph that
#: takes 27% longer to build and 64 more bytes a row walks twice as fast at equal recall.
CONNECTIVITY = 24
#: usearch's name and in-memory scalar type per TiDB index metric.
_METRICS = {"cosine": ("cos", "i8"), "l2": ("l2sq", "f16")}


#: The rowid whose key (2**64 - 1) usearch reserves for free slots: a graph cannot hold it, so every indexed
#: search ranks that row exactly (``search.ConnectionSearches.knn``).
OUTSIDE_ROWID = -1


def _keys(rowids: np.ndarray) -> np.ndarray:
    """SQLite rowids are signed 64-bit; usearch keys are unsigned: reinterpret the bits."""
    return np.ascontiguousarray(rowids, dtype=np.int64).view(np.uint64)


def _held(index: Any, rowids: np.ndarray) -> np.ndarray:
    """Which of ``rowids`` the usearch ``index`` (with its rowid table) holds."""
    keys = _keys(rowids)
    if len(keys) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(index.contains(keys), dtype=bool).reshape(len(keys))


def _remove_held(index: Any, rowids: np.ndarray) -> None:
    """Take out of ``index`` those of ``rowids`` it holds."""
    present = _keys(rowids)[_held(index, rowids)]
    if len(present):
        index.remove(present)


def default_ef(size: int, connectivity: int = CONNECTIVITY) -> int:
    """The walk width a search gets by default: wider for bigger graphs (a walk is never narrower than
    the candidates it is asked for: usearch widens it to that count itself).

    HNSW's recall at a fixed width falls as the graph grows (more hops, more near-ties between
    clustered rows). On the hard set of benchmarks/bench_vector_index.py (wide clusters of 5,000
    rows), with ``CONNECTIVITY`` links, recall@10 reached 0.957 at 128 with 100,000 rows (0.936 at 96)
    and, for the 40 candidates a search ranks, 0.974 at 256 with a million (0.956 at 192): the width
    doubles per tenfold growth, ``128 * (size / 100,000) ** log10(2)``. A graph with fewer links
    (``connectivity``, read from its file) walks wider: ``FEWER_LINKS_REFERENCE_EF``.
    """
    reference = REFERENCE_EF if connectivity >= CONNECTIVITY else FEWER_LINKS_REFERENCE_EF
    width = reference * (max(size, 1) / REFERENCE_ROWS) ** math.log10(2)
    return int(min(max(MIN_EF, round(width)), MAX_EF_SEARCH))


class AnnGraph:
    """An HNSW graph of one column's non-NULL vectors, keyed by rowid.

    A graph loaded from its saved file is *viewed* (usearch reads the mapped file in place). Changes to a
    viewed graph are kept beside it until its next save, or until they pass ``VIEW_CHANGES_SHARE`` of it:
    rows added or rewritten go to a small in-memory graph (``_changes``), and the view's entries of rows
    deleted or rewritten are masked (``_masked``). A search asks both and merges by distance. Reading a
    million-row graph into memory takes most of a second and 530 MB more: a database opened with a few
    unsaved changes in its log (any application that writes) paid that before its first search.
    """

    def __init__(self, metric: str, dim: int, *, connectivity: int = CONNECTIVITY, expansion_add: int = 128,
                 expansion_search: int = 128, key_lookups: bool = True) -> None:
        from usearch.index import Index

        usearch_metric, dtype = _METRICS[metric]
        self.metric, self.dim = metric, dim
        self._settings: dict[str, Any] = {"ndim": dim, "metric": usearch_metric, "dtype": dtype,
                                          "connectivity": connectivity, "expansion_add": expansion_add,
                                          "expansion_search": expansion_search}
        self._index = Index(**self._settings, enable_key_lookups=key_lookups)
        #: the verified memory map of a saved file this graph reads, until it is read into memory
        self._mapping: mmap.mmap | None = None
        self._content: memoryview | None = None
        #: an open descriptor of that file, closed when it is read into memory (or when the graph is dropped)
        self._descriptor: int | None = None
        self._closer: weakref.finalize | None = None
        #: a viewed graph's changes: rows added or rewritten since it was saved (keys: the rowids in it) ...
        self._changes: Any = None
        self._changed: set[int] = set()
        #: ... and the rowids whose entry in the view no longer counts (deleted or rewritten)
        self._masked: set[int] = set()
        self._masked_keys: np.ndarray | None = None

    @property
    def has_key_table(self) -> bool:
        """Whether ``contains`` can answer: a viewed graph has no rowid table (building it is O(rows), 150 ms at a
        million rows, which the first search after opening would otherwise pay)."""
        return self._content is None

    @property
    def viewed(self) -> bool:
        """Whether the graph is read in place from its saved file (its changes kept beside it)."""
        return self._content is not None

    def _read_into_memory(self) -> None:
        """Read a viewed graph into memory, with its rowid table, and apply the changes kept beside it.

        The source is the file that was checked (its open descriptor, not its name: another process may have
        replaced it), read after the map is let go: a million-row graph then occupies memory once (530 MB),
        not mapped and loaded at once. A failure leaves the graph viewed, its changes beside it."""
        if self._content is None:
            return
        from usearch.index import Index

        loaded = Index(**self._settings)
        source = reopen_path(self._descriptor) if self._descriptor is not None else None
        length = len(self._content)
        try:
            if source is None:
                loaded.load(self._content)
            else:
                self._release_view()
                loaded.load(source)
            self._replay(loaded)
        except BaseException:
            if self._content is None and self._descriptor is not None:  # the map was let go: view the file again
                mapping = mmap.mmap(self._descriptor, 0, access=mmap.ACCESS_READ)
                self._view(mapping, memoryview(mapping)[:length])
            raise
        self._release_view()
        self._index = loaded
        self._close_descriptor()
        self._changes, self._changed, self._masked, self._masked_keys = None, set(), set(), None

    def _release_view(self) -> None:
        if self._content is None:
            return
        self._index.reset()  # usearch lets go of the map
        content, mapping, self._content, self._mapping = self._content, self._mapping, None, None
        content.release()
        try:
            if mapping is not None:
                mapping.close()
        except BufferError:  # still exported somewhere: unmapped when that goes
            pass

    def _view(self, mapping: mmap.mmap, content: memoryview) -> None:
        """Serve ``content``, the verified bytes of ``mapping``, in place (no rowid table: see ``has_key_table``)."""
        from usearch.index import Index

        index = Index(**self._settings, enable_key_lookups=False)
        index.view(content)  # the verified bytes themselves: no second read of a file that may change
        self._index, self._mapping, self._content = index, mapping, content

    def _replay(self, loaded: Any) -> None:
        """Apply the changes kept beside the view to ``loaded``, the same graph read into memory."""
        if self._masked:
            _remove_held(loaded, np.fromiter(self._masked, np.int64, len(self._masked)))
        if self._changes is not None and self._changed:
            keys = _keys(np.fromiter(self._changed, np.int64, len(self._changed)))
            # usearch's own stored scalars (i8 or f16) go back in as they are: the same entries, not quantised twice
            loaded.add(keys, np.stack(self._changes.get(keys)), threads=0)

    def _close_descriptor(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer, self._descriptor = None, None

    def __len__(self) -> int:
        """The rows the graph holds; for a viewed graph with changes, at least that (masked entries count)."""
        return len(self._index) + (len(self._changes) if self._changes is not None else 0)

    def upsert(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows, replacing any the graph already holds."""
        self.remove(rowids)
        self.add_new(rowids, vectors)

    def contains(self, rowids: np.ndarray) -> np.ndarray:
        """Which of ``rowids`` the graph holds (only when ``has_key_table``)."""
        return _held(self._index, rowids)

    def remove(self, rowids: np.ndarray) -> None:
        if len(rowids) == 0:
            return
        if self._content is not None:
            ids = [int(r) for r in rowids]
            self._masked.update(ids)
            self._masked_keys = None
            gone = self._changed.intersection(ids)
            if gone:
                self._changes.remove(_keys(np.fromiter(gone, np.int64, len(gone))))
                self._changed -= gone
            self._bound_changes()
            return
        _remove_held(self._index, rowids)

    def add_new(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows the graph does not hold yet (a build from the table, or rows ``remove`` just took out)."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.metric == "cosine":  # zero vectors have no direction: TiDB's cosine distance is NULL for them
            keep = np.einsum("ij,ij->i", matrix, matrix) > 0
            if not keep.all():
                rowids, matrix = rowids[keep], matrix[keep]
        outside = rowids == OUTSIDE_ROWID
        if outside.any():
            rowids, matrix = rowids[~outside], matrix[~outside]
        if len(rowids) == 0:
            return
        if self._content is None:
            self._index.add(_keys(rowids), matrix, threads=0)
            return
        if self._changes is None:
            from usearch.index import Index

            self._changes = Index(**self._settings)
        self._changes.add(_keys(rowids), matrix, threads=0)
        self._changed.update(int(r) for r in rowids)
        self._bound_changes()

    def _bound_changes(self) -> None:
        """Read the graph into memory once its changes pass a share of it: a search's cost grows with them."""
        if len(self._changed) + len(self._masked) > max(VIEW_CHANGES_MIN, VIEW_CHANGES_SHARE * len(self._index)):
            self._read_into_memory()

    def search(self, query: np.ndarray, count: int, ef: int | None = None) -> np.ndarray:
        """The rowids of (about) the ``count`` nearest rows, nearest first; ``ef`` is the walk's width
        (``default_ef`` when None; callers hold the graph's lock: the width is a setting of the graph)."""
        if count <= 0 or len(self) == 0:
            return np.empty(0, dtype=np.int64)
        vector = np.ascontiguousarray(query, dtype=np.float32)
        width = ef or default_ef(len(self), self._index.connectivity)
        if self._changes is None and not self._masked:
            return self._search(self._index, vector, count, width)[0]
        keys, distances = self._search_view(vector, count, width)
        if self._changes is not None and len(self._changes):
            more, further = self._search(self._changes, vector, count, width)
            keys, distances = np.concatenate([keys, more]), np.concatenate([distances, further])
        return keys[np.argsort(distances, kind="stable")[:count]]

    def _search_view(self, vector: np.ndarray, count: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` nearest entries of the view that are not masked (asking more while masked ones fill it)."""
        if self._masked_keys is None:
            self._masked_keys = np.fromiter(self._masked, np.int64, len(self._masked))
        size, ask = len(self._index), count + min(len(self._masked), count)
        while True:
            keys, distances = self._search(self._index, vector, ask, width)
            keep = ~np.isin(keys, self._masked_keys)
            if int(np.count_nonzero(keep)) >= count or ask >= size:
                return keys[keep][:count], distances[keep][:count]
            ask = min(ask * 2, size)

    def _search(self, index: Any, vector: np.ndarray, count: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        size = len(index)
        if size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        # Asked for every entry: a walk cannot promise them all (HNSW leaves a few nodes that no link reaches:
        # 8 of 40,000 near-duplicate rows), and the caller takes the answer as complete. Brute force can.
        exact = size * self.dim <= EXACT_WORK or count >= size
        if not exact:
            # usearch declares this setter apart from its getter, which mypy reads as a read-only property
            index.expansion_search = width
        matches = index.search(vector, min(count, size), exact=exact)
        return (np.asarray(matches.keys, dtype=np.uint64).view(np.int64),
                np.asarray(matches.distances, dtype=np.float32))

    def save(self, path: Path, stamp: GraphStamp) -> None:
        """Write the graph to ``path`` with its stamp and digest, and fsync it (OSError when the disk is full)."""
        self._read_into_memory()  # a viewed graph's changes are written with it
        try:
            self._index.save(str(path))
        except RuntimeError as exc:  # usearch reports a failed write (a full disk, a size limit) this way
            raise OSError(f"could not write {path.name}: {exc}") from exc
        append_trailer(path, stamp)

    @classmethod
    def load(cls, path: Path, stamp: GraphStamp) -> AnnGraph:
        """Open a saved graph as a verified memory map (fast to open); it is read into memory at its next save.

        Raises GraphFileError when the file is not the graph ``stamp`` names or is damaged, and
        OSError when it cannot be read (it may have been replaced or deleted meanwhile).
        """
        mapping, descriptor = map_file(path)
        try:
            graph = cls(stamp.metric, stamp.dim, key_lookups=False)
            graph._view(mapping, verified_content(memoryview(mapping), stamp, descriptor))
        except BaseException:
            os.close(descriptor)
            raise
        graph._descriptor = descriptor
        graph._closer = weakref.finalize(graph, os.close, descriptor)
        return graph
