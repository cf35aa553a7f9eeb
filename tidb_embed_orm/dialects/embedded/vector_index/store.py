"""The HNSW graphs of an engine's vector indexes: built once, kept current from the change log, saved.

A ``Graph`` holds the committed rows of one index as of one change-log position, its
``watermark``. Catching up reads the log entries after the watermark and the current vectors of
those rows in one read transaction, on a connection with no transaction of its own (a private
one per database file), and applies them: the work is proportional to what changed. A graph is
saved beside the database (``<file>-tidb-vector/<token>.<rootpage>.<watermark>.usearch``,
written to a temporary name and renamed, so a crash leaves the previous file), after which the
log entries it holds are deleted. Opening a database loads the newest saved graph and folds the
log after it: the first search does not rebuild anything.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from .... import codec
from .ann import AnnGraph
from .schema import IndexEntry, Quote, changed_rows, compact, installed, log_position, reconcile

log = logging.getLogger("tidb_embed_orm.vector_index")

#: Save a graph after this share of its size (and at least SAVE_MIN rows) changed since the last save.
SAVE_SHARE = 0.05
SAVE_MIN = 1000
#: The most recently written rows are always ranked exactly, as Chroma's brute-force buffer does: an
#: HNSW graph can leave a just-inserted outlier unreachable, and a read after a write must find it.
RECENT_ROWS = 100
#: Rows stacked into one matrix for the graph at a time: stacking 100k vectors at once held Python's
#: lock ~0.6 s, stalling every other thread (an asyncio event loop included; bench_async_stall.py).
STACK_ROWS = 4096
#: Catch-ups remembered per graph, for searches planned before one of them.
HISTORY = 64


@dataclass
class Graph:
    """One index's graph and the log position it reflects."""

    entry: IndexEntry
    lock: threading.RLock = field(default_factory=threading.RLock)
    ann: AnnGraph | None = None
    watermark: int = -1
    rootpage: int = -1
    unsaved: int = 0
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_ROWS))
    #: (watermark after a catch-up, the rows it changed): what a search planned earlier must rank exactly
    history: deque[tuple[int, np.ndarray]] = field(default_factory=lambda: deque(maxlen=HISTORY))

    @property
    def ready(self) -> bool:
        return self.ann is not None and self.watermark >= 0

    def reset(self) -> None:
        self.ann, self.watermark, self.unsaved = None, -1, 0
        self.recent.clear()
        self.history.clear()

    def changed_since(self, watermark: int) -> np.ndarray:
        """Rows folded in after ``watermark``, as far back as the history reaches."""
        if watermark >= self.watermark:
            return np.empty(0, np.int64)
        parts = [rows for position, rows in self.history if position > watermark]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def _decode(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        return codec.decode_stored(value)
    except (ValueError, TypeError):
        return None


def read_vectors(cursor: Any, quote: Quote, schema: str, table: str, column: str,
                 rowids: list[int] | None) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Current vectors of ``rowids`` (all non-NULL rows when ``rowids`` is None), as this cursor sees them."""
    source = f"{quote(schema)}.{quote(table)}"
    if rowids is None:
        rows = cursor.execute(f"SELECT rowid, {quote(column)} FROM {source} WHERE {quote(column)} IS NOT NULL")
    else:
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


class GraphFiles:
    """Where the graphs of one database file are saved."""

    def __init__(self, database_file: str) -> None:
        self.folder = Path(database_file + "-tidb-vector")

    def newest(self, token: str, rootpage: int, lowest: int, highest: int) -> tuple[Path, int] | None:
        """The saved graph with the highest watermark in ``[lowest, highest]`` for this incarnation."""
        best: tuple[Path, int] | None = None
        if not self.folder.is_dir():
            return None
        for path in self.folder.glob(f"{token}.{rootpage}.*.usearch"):
            try:
                watermark = int(path.name.split(".")[2])
            except (IndexError, ValueError):
                continue
            if lowest <= watermark <= highest and (best is None or watermark > best[1]):
                best = (path, watermark)
        return best

    def save(self, graph: Graph) -> None:
        assert graph.ann is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{graph.entry.token}.{graph.rootpage}.{graph.watermark}.usearch"
        partial = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        graph.ann.save(partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
        for old in self.folder.glob(f"{graph.entry.token}.*.usearch"):
            if old != final:
                old.unlink(missing_ok=True)

    def prune(self, live_tokens: set[str]) -> None:
        """Delete the files of indexes that no longer exist."""
        if self.folder.is_dir():
            for path in self.folder.glob("*.usearch"):
                if path.name.split(".")[0] not in live_tokens:
                    path.unlink(missing_ok=True)


def catch_up(graph: Graph, cursor: Any, quote: Quote, schema: str, files: GraphFiles | None) -> None:
    """Bring ``graph`` to the newest committed log position. ``cursor`` must have no open transaction."""
    entry = graph.entry
    cursor.execute("BEGIN")
    try:
        position = log_position(cursor, quote, schema)
        current = installed(cursor, quote, schema).get(entry.name)
        if current is None or current.token != entry.token:
            return  # dropped or replaced meanwhile: the caller will see it at its next search
        rootpage = table_rootpage(cursor, quote, schema, entry.table)
        start_over = (
            not graph.ready
            or rootpage != graph.rootpage
            or graph.watermark < current.compacted_through
            or graph.watermark > position
        )
        if start_over:
            graph.ann, graph.watermark, graph.rootpage, graph.unsaved = None, -1, rootpage, 0
            saved = files.newest(entry.token, rootpage, current.compacted_through, position) if files else None
            if saved is not None:
                dim = _column_dim(cursor, quote, schema, entry)
                try:
                    graph.ann = AnnGraph.load(saved[0], entry.metric, dim) if dim else None
                    graph.watermark = saved[1] if graph.ann is not None else -1
                except (OSError, RuntimeError, ValueError):
                    graph.ann, graph.watermark = None, -1
        if graph.ann is None or graph.watermark < 0:
            rowids, vectors = read_vectors(cursor, quote, schema, entry.table, entry.column, None)
            full_build = True
        else:
            if position == graph.watermark:
                return
            changed = changed_rows(cursor, quote, schema, entry.token, graph.watermark, position)
            rowids, vectors = read_vectors(cursor, quote, schema, entry.table, entry.column, changed)
            gone = np.setdiff1d(np.asarray(changed, np.int64), rowids)
            full_build = False
    finally:
        cursor.execute("COMMIT")
    if full_build:
        dim = _column_dim(cursor, quote, schema, entry) or next((v.shape[0] for v in vectors if v is not None), None)
        if dim is None:  # no declared size and no vector yet: nothing to build the graph on
            graph.reset()
            return
        graph.ann = AnnGraph(entry.metric, dim)
        gone = np.empty(0, np.int64)
    assert graph.ann is not None
    graph.ann.remove(gone)
    keep = [i for i, v in enumerate(vectors) if v is not None and v.shape[0] == graph.ann.dim]
    if keep:
        for start in range(0, len(keep), STACK_ROWS):  # numpy holds the GIL while it stacks: a slice at a time
            part = keep[start : start + STACK_ROWS]
            graph.ann.upsert(rowids[part], np.stack([cast(np.ndarray, vectors[i]) for i in part]))
        if full_build:
            graph.recent.clear()
        else:
            graph.recent.extend(int(rowids[i]) for i in keep[-RECENT_ROWS:])
    removed = [rowids[i] for i, v in enumerate(vectors) if v is None or v.shape[0] != graph.ann.dim]
    graph.ann.remove(np.asarray(removed, np.int64))
    if full_build:
        graph.history.clear()
    else:
        graph.history.append((position, np.unique(np.concatenate([rowids, gone]))))
    # A new graph is always worth saving; an updated one once enough of it changed (maybe_save).
    graph.unsaved = max(SAVE_MIN, len(rowids)) if full_build else graph.unsaved + len(rowids) + len(gone)
    graph.watermark, graph.rootpage = position, rootpage


def _column_dim(cursor: Any, quote: Quote, schema: str, entry: IndexEntry) -> int | None:
    """VECTOR(N)'s N from the table's declared column type."""
    # table_xinfo, not table_info: an auto-embedding column is a generated column, which table_info hides
    for row in cursor.execute(f"PRAGMA {quote(schema)}.table_xinfo({quote(entry.table)})").fetchall():
        if row[1] == entry.column:
            declared = str(row[2]).upper().replace(" ", "")
            if declared.startswith("VECTOR(") and declared.endswith(")"):
                return int(declared[7:-1])
    return None


def maybe_save(graph: Graph, cursor: Any, quote: Quote, schema: str, files: GraphFiles | None) -> None:
    """Save the graph when enough changed, then drop the log entries it holds (best effort)."""
    if files is None or graph.ann is None:
        return
    if graph.unsaved < max(SAVE_MIN, SAVE_SHARE * len(graph.ann)):
        return
    try:
        files.save(graph)
    except OSError as exc:  # a read-only folder, a full disk: keep serving from memory, log once per try
        log.warning("vector index %r: could not save its graph beside the database (%s)", graph.entry.name, exc)
        graph.unsaved = 0
        return
    graph.unsaved = 0
    timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    cursor.execute("PRAGMA busy_timeout = 0")  # never make a search wait for writers
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except Exception:  # a writer holds the database: compact at a later save
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")
        return
    try:
        compact(cursor, quote, schema, graph.entry.token, graph.watermark)
        cursor.execute("COMMIT")
    except Exception:
        cursor.execute("ROLLBACK")
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")


def reconcile_change_logs(dbapi_connection: Any, quote: Quote) -> None:
    """After DDL: the vector indexes' change logs and triggers as the schema now says, in one transaction
    (the statement's own when one is open); graphs of indexes that are gone are deleted."""
    cursor = dbapi_connection.cursor()
    try:
        own_transaction = not dbapi_connection.in_transaction
        if own_transaction:
            cursor.execute("BEGIN")
        try:
            reconcile(cursor, quote, lambda file, live: GraphFiles(file).prune(live))
        except BaseException:
            if own_transaction:
                cursor.execute("ROLLBACK")
            raise
        if own_transaction:
            cursor.execute("COMMIT")
    finally:
        cursor.close()
