"""Reading an index's vectors from its table: the whole column for a new graph, or the rows that changed.

A build reads the table a slice at a time in short reads and hands usearch large slices, so that
no transaction is held while a graph of a million rows grows and the column is never in Python
objects at once; a catch-up reads the current vectors of the rows the change log names.
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import numpy as np

from .... import codec
from .ann import AnnGraph
from .schema import IndexEntry, Quote

#: Rows stacked into one matrix for the graph at a time: stacking 100k vectors at once held Python's
#: lock ~0.6 s, stalling every other thread (an asyncio event loop included; bench_async_stall.py).
STACK_ROWS = 4096
#: Rows handed to usearch at once while a graph is built from the table: its threads wait for the slowest at
#: the end of every call, so a build adds large slices (32k x 384 float32 is 48 MiB).
BUILD_ROWS = 32_768


def _decode(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        return codec.decode_stored(value)
    except (ValueError, TypeError):
        return None


def read_vectors(cursor: Any, quote: Quote, schema: str, table: str, column: str,
                 rowids: list[int]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Current vectors of ``rowids``, as this cursor sees them (a whole table is read by ``build_from_table``)."""
    source = f"{quote(schema)}.{quote(table)}"
    rows = cursor.execute(
        f"SELECT rowid, {quote(column)} FROM {source} WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(rowids),),
    )
    found = rows.fetchall()
    return np.fromiter((r[0] for r in found), np.int64, len(found)), [_decode(r[1]) for r in found]


def table_rootpage(cursor: Any, quote: Quote, schema: str, table: str) -> int:
    row = cursor.execute(
        f"SELECT rootpage FROM {quote(schema)}.sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return int(row[0]) if row else 0


def build_from_table(cursor: Any, quote: Quote, schema: str, entry: IndexEntry, dim: int | None,
                     stop: threading.Event | None = None) -> AnnGraph | None:
    """A new graph of every non-NULL vector of the table, read STACK_ROWS rows at a time, added BUILD_ROWS at once
    (None when the table holds no vector to size it, or when ``stop`` is set: checked between slices).

    Each slice is its own short read (no transaction is held while the graph grows: a build of a
    million rows takes minutes, and a long read would hold back writers in rollback-journal mode and
    WAL checkpoints). Rows written meanwhile may be read in a newer state than the graph's log
    position; the log names them after it, so every search ranks them exactly and the next catch-up
    applies their final state. At most BUILD_ROWS vectors are held outside the graph at a time: peak
    memory is the graph's own (``bench_vector_index.py`` reports it).
    """
    source = f"{quote(schema)}.{quote(entry.table)}"
    column = quote(entry.column)
    sql = (f"SELECT rowid, {column} FROM {source} WHERE {column} IS NOT NULL AND rowid {{}} ? "
           f"ORDER BY rowid LIMIT {STACK_ROWS}")
    ann: AnnGraph | None = None
    after, bound = -(1 << 63), ">="  # the first read includes the least rowid SQLite allows
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    held = 0
    while True:
        if stop is not None and stop.is_set():
            return None
        rows = cursor.execute(sql.format(bound), (after,)).fetchall()
        if rows:
            after, bound = rows[-1][0], ">"
            rowids, matrix = _stack(rows, dim)
            if len(rowids):  # _stack keeps the vectors of size dim (the first vector's size while dim is None)
                dim = matrix.shape[1]
                pending.append((rowids, matrix))
                held += len(rowids)
        if pending and (held >= BUILD_ROWS or not rows):
            if ann is None:
                ann = AnnGraph(entry.metric, cast(int, dim))
            ann.add_new(np.concatenate([r for r, _ in pending]), np.concatenate([m for _, m in pending]))
            pending, held = [], 0
        if not rows:
            return ann


def _stack(rows: list[tuple[int, Any]], dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose stored vector has ``dim`` values (the first one's size when None), as one matrix."""
    if dim is not None and all(isinstance(v, bytes) and len(v) == dim * 4 for _, v in rows):
        matrix = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), dim)
        return np.fromiter((r for r, _ in rows), np.int64, len(rows)), matrix
    decoded = [(rowid, vector) for rowid, value in rows if (vector := _decode(value)) is not None]
    if dim is None and decoded:
        dim = decoded[0][1].shape[0]
    kept = [(rowid, vector) for rowid, vector in decoded if vector.shape[0] == dim]
    if not kept:
        return np.empty(0, np.int64), np.empty((0, dim or 0), np.float32)
    return np.fromiter((r for r, _ in kept), np.int64, len(kept)), np.stack([v for _, v in kept])


def column_dim(cursor: Any, quote: Quote, schema: str, entry: IndexEntry) -> int | None:
    """VECTOR(N)'s N from the table's declared column type."""
    # table_xinfo, not table_info: an auto-embedding column is a generated column, which table_info hides
    for row in cursor.execute(f"PRAGMA {quote(schema)}.table_xinfo({quote(entry.table)})").fetchall():
        if row[1] == entry.column:
            declared = str(row[2]).upper().replace(" ", "")
            if declared.startswith("VECTOR(") and declared.endswith(")"):
                return int(declared[7:-1])
    return None
