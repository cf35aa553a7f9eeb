"""The HNSW graphs of an engine's vector indexes: built once, kept current from the change log, saved.

A ``Graph`` holds the committed rows of one index as of one change-log position, its
``watermark``. Catching up reads the log entries after the watermark and the current vectors of
those rows in one read transaction, on a connection with no transaction of its own (a private
one per database file), and applies them: the work is proportional to what changed.

A graph is saved beside the database (``<file>-tidb-vector/<token>.<save>.usearch``): written
and fsynced under a temporary name, then, in one write transaction, the log entries it holds are
deleted, the database records the save's random id (``schema.record_saved_graph``), the file is
renamed to its name and the folder fsynced. A crash or a full disk at any step leaves the
database naming the previous file, which is deleted only after the commit. Opening a database
loads the file the database names, verified (``ann.AnnGraph.load``), and folds the log after it:
the first search rebuilds nothing. A file that fails the check is set aside as ``.corrupt`` with
one warning and the graph is rebuilt from the table, which is the truth: the folder is a cache.
A read-only database is never written: its graph is built in memory and not saved.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from .ann import AnnGraph
from .graph_file import GraphFileError, GraphStamp, record_checked
from .schema import (
    IndexEntry,
    Quote,
    SavedGraph,
    changed_rows,
    installed,
    log_position,
    reconcile,
    record_saved_graph,
    saved_graph,
)
from .table_reads import STACK_ROWS, build_from_table, column_dim, read_vectors, table_rootpage

log = logging.getLogger("tidb_embed_orm.vector_index")

#: Save a graph after this share of its size (and at least SAVE_MIN rows) changed since the last save.
SAVE_SHARE = 0.05
SAVE_MIN = 1000
#: The most recently written rows are always ranked exactly, as Chroma's brute-force buffer does: an
#: HNSW graph can leave a just-inserted outlier unreachable, and a read after a write must find it.
RECENT_ROWS = 100
#: Catch-ups remembered per graph, for searches planned before one of them.
HISTORY = 64
#: After a save that failed (a full disk, a writer holding the database), wait this long before the next try.
SAVE_RETRY_SECONDS = 30.0
#: A catch-up that would fold more log entries than this (and than the graph holds) reads the table
#: anew instead: a fold holds every changed vector at once, a build a slice at a time.
REBUILD_ENTRIES = 25_000


@dataclass(frozen=True)
class FullBuild:
    """A graph that must be read from the whole table: the log position and b-tree it will reflect."""

    position: int
    rootpage: int
    #: VECTOR(N)'s N (None: the first stored vector's size)
    dim: int | None
    #: rowid span of the table, an upper bound of its rows (``max(rowid) - min(rowid) + 1``)
    rows: int


@dataclass
class FoldHistory:
    """The rows each catch-up folded into one graph object, newest last: a search planned at an earlier log
    position ranks them exactly (its snapshot may hold other versions of them than the graph now does)."""

    entries: deque[tuple[int, np.ndarray]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    #: the log position of the newest fold pushed out of ``entries``: a search planned before it cannot know all
    forgotten_through: int = -1

    def add(self, position: int, rows: np.ndarray) -> None:
        """Record a fold that brought the graph to ``position`` (pushing out, and noting, the oldest when full)."""
        if len(self.entries) == self.entries.maxlen:
            self.forgotten_through = self.entries[0][0]
        self.entries.append((position, rows))

    def since(self, watermark: int) -> np.ndarray | None:
        """Rows folded in after ``watermark``; None when folds after it were already forgotten."""
        if watermark < self.forgotten_through:
            return None
        if not self.entries or self.entries[-1][0] <= watermark:  # every search asks: most find nothing newer
            return np.empty(0, np.int64)
        parts = [rows for position, rows in self.entries if position > watermark]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)


@dataclass(frozen=True)
class PlannedGraph:
    """What a search planned on a graph reads until it ends: the graph object it was planned on, with that object's
    record of folds and of recently written rows. While the ``Graph`` serves that object, these are its live
    ones (folds after the plan are recorded, and ranked exactly). A reset or a finished rebuild gives the ``Graph``
    new ones (``Graph.reset``); the search keeps reading these, which no fold changes any more, so its
    candidates stay those of its plan instead of an empty or unrelated graph's."""

    ann: AnnGraph | None
    recent: deque[int]
    history: FoldHistory


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
    #: the rows each catch-up folded in: what a search planned earlier must rank exactly
    history: FoldHistory = field(default_factory=FoldHistory)
    #: saved files that failed their check and could not be set aside (read-only): never read again
    rejected: set[Path] = field(default_factory=set)
    #: no save before this time.monotonic() (a save failed)
    retry_at: float = 0.0
    #: the one message that a read-only database's graph lives in memory only was given
    told_read_only: bool = False
    #: the last save failed (and said so): later failures are only logged at DEBUG until one succeeds
    save_failed: bool = False
    #: no background build before this time.monotonic() (the last one failed)
    build_retry_at: float = 0.0
    #: the log position of the snapshot whose search last had a thread catch this graph up (``search.py``,
    #: CATCH_UP_APART_ENTRIES): a transaction's own uncommitted entries, which no thread can fold, start none again
    caught_up_apart_for: int = -1

    @property
    def ready(self) -> bool:
        return self.ann is not None and self.watermark >= 0

    def reset(self) -> None:
        """Serve nothing until a load or build; searches planned before keep what they planned on (``planned``)."""
        self.ann, self.watermark, self.unsaved = None, -1, 0
        self.recent = deque(maxlen=RECENT_ROWS)  # new objects, not cleared ones: see PlannedGraph
        self.history = FoldHistory()

    def planned(self) -> PlannedGraph:
        """What a search planned now reads (the caller holds ``lock``)."""
        return PlannedGraph(self.ann, self.recent, self.history)

    def take(self, built: Graph) -> None:
        """Serve what a build on another Graph object made (a background build: built and saved unseen); the rows
        written most recently stay ranked exactly (the new graph may not reach them either)."""
        recent = [*self.recent, *built.recent]
        self.reset()
        self.recent.extend(recent)
        self.ann, self.watermark, self.rootpage = built.ann, built.watermark, built.rootpage
        self.unsaved = built.unsaved
        self.retry_at, self.save_failed, self.told_read_only = built.retry_at, built.save_failed, built.told_read_only


class GraphFiles:
    """Where the graphs of one database file are saved; ``writable`` is False for a database opened read-only."""

    def __init__(self, database_file: str, writable: bool = True) -> None:
        self.database_file = database_file
        self.folder = Path(database_file + "-tidb-vector")
        self.writable = writable

    def path(self, token: str, save: str) -> Path:
        """The file of save ``save`` of index ``token`` (the name says which; the trailer inside is what is checked)."""
        return self.folder / f"{token}.{save}.usearch"

    def load(self, graph: Graph, stamp: GraphStamp) -> AnnGraph | None:
        """The verified graph ``stamp`` names, or None: missing, or failed its check (set aside, one warning)."""
        path = self.path(stamp.token, stamp.save)
        if path in graph.rejected:
            return None
        try:
            return AnnGraph.load(path, stamp)
        except FileNotFoundError:  # deleted (allowed: it is rebuilt), or replaced by a newer save meanwhile
            return None
        except (GraphFileError, RuntimeError, OSError) as exc:
            self._set_aside(graph, path, exc)
            return None

    def _set_aside(self, graph: Graph, path: Path, problem: Exception) -> None:
        graph.rejected.add(path)
        where = "left in place (the database is read-only)"
        if self.writable:
            aside = path.with_name(path.name + ".corrupt")
            try:
                os.replace(path, aside)
                where = f"moved to {aside.name}"
            except OSError:
                pass
        log.warning("vector index %r: the saved graph %s is not used: %s. It was %s; the index is rebuilt from "
                    "the table.", graph.entry.name, path, problem, where)

    def write(self, ann: AnnGraph, stamp: GraphStamp) -> Path | None:
        """Write the graph under a temporary name, fsynced; None when the database itself is gone (its
        folder is never created again). OSError when the disk is full: nothing is left behind."""
        if not os.path.exists(self.database_file):
            return None
        if not self.folder.is_dir():
            self.folder.mkdir()  # never parents: a deleted database directory stays deleted
            _fsync_folder(self.folder.parent)
        final = self.path(stamp.token, stamp.save)
        partial = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            ann.save(partial, stamp)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return partial

    def publish(self, partial: Path, stamp: GraphStamp) -> Path:
        """Give a written graph its name (inside the transaction that records it) and make the rename durable."""
        final = self.path(stamp.token, stamp.save)
        os.replace(partial, final)
        _fsync_folder(self.folder)
        record_checked(final)
        return final

    def remove_except(self, token: str, keep: set[Path]) -> None:
        """Delete ``token``'s saved graphs but ``keep`` (best effort: a file in use stays readable to its users)."""
        for old in self.folder.glob(f"{token}.*.usearch"):
            if old not in keep:
                old.unlink(missing_ok=True)

    def prune(self, live_tokens: set[str]) -> None:
        """Delete the files of indexes that no longer exist."""
        if self.folder.is_dir():
            for path in [*self.folder.glob("*.usearch"), *self.folder.glob("*.usearch.corrupt")]:
                if path.name.split(".")[0] not in live_tokens:
                    path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """A rename or a new entry survives power loss once its folder is fsynced (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def catch_up(graph: Graph, cursor: Any, quote: Quote, schema: str, files: GraphFiles | None) -> FullBuild | None:
    """Bring ``graph`` to the newest committed log position from its saved file and the change log;
    the ``FullBuild`` it needs when only the whole table will do (no usable file, or more changed
    than a fold should hold), which the caller runs (``rebuild``), at once or in the
    background. ``cursor`` must have no open transaction."""
    entry = graph.entry
    cursor.execute("BEGIN")
    try:
        position = log_position(cursor, quote, schema)
        current = installed(cursor, quote, schema).get(entry.name)
        if current is None or current.token != entry.token:
            return None  # dropped or replaced meanwhile: the caller will see it at its next search
        rootpage = table_rootpage(cursor, quote, schema, entry.table)
        start_over = (
            not graph.ready
            or rootpage != graph.rootpage
            or graph.watermark < current.compacted_through
            or graph.watermark > position
        )
        dim: int | None = None
        if start_over:
            recent = graph.recent
            graph.reset()
            graph.rootpage = rootpage
            graph.recent.extend(recent)  # rows just written stay ranked exactly (a new graph may not reach them)
            saved = saved_graph(cursor, quote, schema, entry.token) if files else None
            # The file the database names, of this table's b-tree, whose log entries are all still there.
            usable = saved and saved.rootpage == rootpage and current.compacted_through <= saved.watermark <= position
            if files and saved and usable:
                dim = column_dim(cursor, quote, schema, entry)
                if dim:
                    stamp = GraphStamp(entry.token, saved.save, rootpage, saved.watermark, entry.metric, dim)
                    graph.ann = files.load(graph, stamp)
                    graph.watermark = saved.watermark if graph.ann is not None else -1
        changed: list[int] = []
        if graph.ann is not None and graph.watermark >= 0:
            if position == graph.watermark:
                return None
            changed = changed_rows(cursor, quote, schema, entry.token, graph.watermark, position)
            if len(changed) > max(REBUILD_ENTRIES, len(graph.ann)):  # a bulk load: read the table anew
                graph.reset()
        if graph.ann is None or graph.watermark < 0:
            dim = dim or column_dim(cursor, quote, schema, entry)  # read once when a saved graph was tried
            return FullBuild(position, rootpage, dim, _rowid_span(cursor, quote, schema, entry.table))
        rowids, vectors = read_vectors(cursor, quote, schema, entry.table, entry.column, changed)
        gone = np.setdiff1d(np.asarray(changed, np.int64), rowids)
    finally:
        cursor.execute("COMMIT")
    _fold(graph, rowids, vectors, gone, position)
    graph.watermark, graph.rootpage = position, rootpage
    return None


def _rowid_span(cursor: Any, quote: Quote, schema: str, table: str) -> int:
    """``max(rowid) - min(rowid) + 1``: two b-tree descents, where ``count(*)`` reads every page."""
    low, high = cursor.execute(f"SELECT min(rowid), max(rowid) FROM {quote(schema)}.{quote(table)}").fetchone()
    return 0 if low is None else int(high) - int(low) + 1


def rebuild(graph: Graph, cursor: Any, quote: Quote, schema: str, need: FullBuild,
            stop: threading.Event | None = None) -> None:
    """Read the graph ``need`` describes from the table and make it the one ``graph`` serves (the caller holds
    ``graph.lock``, or ``graph`` is a background build's own); left empty when the table holds no vector to
    size it, or when ``stop`` was set."""
    ann = build_from_table(cursor, quote, schema, graph.entry, need.dim, stop)
    graph.reset()
    if ann is None:
        return
    graph.ann, graph.unsaved = ann, max(SAVE_MIN, len(ann))
    graph.watermark, graph.rootpage = need.position, need.rootpage


def _fold(graph: Graph, rowids: np.ndarray, vectors: list[np.ndarray | None], gone: np.ndarray,
          position: int) -> None:
    """Apply the rows the log names after the graph's position: their current vectors, or their absence."""
    ann = graph.ann
    assert ann is not None
    ann.remove(gone)
    keep = [i for i, v in enumerate(vectors) if v is not None and v.shape[0] == ann.dim]
    for start in range(0, len(keep), STACK_ROWS):  # numpy holds the GIL while it stacks: a slice at a time
        part = keep[start : start + STACK_ROWS]
        ann.upsert(rowids[part], np.stack([cast(np.ndarray, vectors[i]) for i in part]))
    graph.recent.extend(int(rowids[i]) for i in keep[-RECENT_ROWS:])
    removed = [rowids[i] for i, v in enumerate(vectors) if v is None or v.shape[0] != ann.dim]
    ann.remove(np.asarray(removed, np.int64))
    graph.history.add(position, np.unique(np.concatenate([rowids, gone])))
    graph.unsaved += len(rowids) + len(gone)


def maybe_save(graph: Graph, cursor: Any, quote: Quote, schema: str, files: GraphFiles | None) -> None:
    """Save the graph when enough changed, and drop the log entries it holds (best effort: a search never
    waits for a writer, and a failed save leaves the previous graph and the table as they were)."""
    if files is None or graph.ann is None:
        return
    if graph.unsaved < max(SAVE_MIN, SAVE_SHARE * len(graph.ann)) or time.monotonic() < graph.retry_at:
        return
    if not files.writable:
        if not graph.told_read_only:
            graph.told_read_only = True
            log.warning("vector index %r: %s is opened read-only, so its graph (%d rows) is kept in memory and not "
                        "saved; each new process builds it again from the table", graph.entry.name,
                        files.database_file, len(graph.ann))
        graph.unsaved = 0
        return
    dim = graph.ann.dim
    stamp = GraphStamp(graph.entry.token, secrets.token_hex(16), graph.rootpage, graph.watermark, graph.entry.metric,
                       dim)
    try:
        partial = files.write(graph.ann, stamp)
    except OSError as exc:  # a full disk, a read-only folder: keep serving from memory, try again later
        (log.debug if graph.save_failed else log.warning)(
            "vector index %r: could not save its graph beside the database (%s); the previous one is kept and "
            "the save is tried again later", graph.entry.name, exc)
        graph.save_failed = True
        graph.retry_at = time.monotonic() + SAVE_RETRY_SECONDS
        return
    if partial is None:  # the database file was deleted: nothing is recreated
        graph.unsaved = 0
        return
    if _record(graph, cursor, quote, schema, files, partial, stamp):
        graph.unsaved, graph.save_failed = 0, False
    else:
        partial.unlink(missing_ok=True)
        graph.retry_at = time.monotonic() + SAVE_RETRY_SECONDS


def _record(graph: Graph, cursor: Any, quote: Quote, schema: str, files: GraphFiles, partial: Path,
            stamp: GraphStamp) -> bool:
    """The write transaction of a save: compact the log, name the new file, rename it; then drop the old one."""
    timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    cursor.execute("PRAGMA busy_timeout = 0")  # never make a search wait for writers
    final: Path | None = None
    previous: SavedGraph | None = None
    try:
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except Exception:  # a writer holds the database: save at a later search
            return False
        try:
            current = installed(cursor, quote, schema).get(graph.entry.name)
            if current is None or current.token != stamp.token or current.compacted_through > stamp.watermark:
                cursor.execute("ROLLBACK")  # dropped, replaced, or a newer graph was saved meanwhile
                return False
            previous = saved_graph(cursor, quote, schema, stamp.token)
            record_saved_graph(cursor, quote, schema, stamp.token,
                               SavedGraph(stamp.save, stamp.watermark, stamp.rootpage))
            final = files.publish(partial, stamp)
            keep = {final} | ({files.path(stamp.token, previous.save)} if previous else set())
            files.remove_except(stamp.token, keep)  # files no database state names (crashed saves)
            cursor.execute("COMMIT")
        except Exception as exc:
            try:
                cursor.execute("ROLLBACK")
            except Exception:
                pass  # SQLite already rolled back (a failed COMMIT)
            if final is not None:
                final.unlink(missing_ok=True)
            log.warning("vector index %r: could not record its saved graph (%s); the previous one is kept",
                        graph.entry.name, exc)
            return False
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    if previous is not None and previous.save != stamp.save:
        files.path(stamp.token, previous.save).unlink(missing_ok=True)
    return True


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
