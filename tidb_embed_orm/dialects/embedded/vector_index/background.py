"""Graphs built on a thread of their own while searches scan the table exactly.

A first search after a bulk load (or on a database whose saved graph is gone) would otherwise wait
minutes for a graph of a million rows. Instead the graph is read from the table on a thread with
its own connection (short reads, no transaction held: ``table_reads.build_from_table``), saved
beside the database, and only then handed to searches; until then each search runs as the exact
scan it describes, and the rows written meanwhile are in the change log after the graph's position,
so the first catch-up after it folds them in. TiDB behaves alike: TiFlash builds a vector index
asynchronously and answers from the rows it has not indexed yet by brute force (pingcap/docs
``ai/vector-search-index.md``; progress in ``information_schema.tiflash_indexes``).

A search inside a transaction does not catch a graph up itself (its own locks could make the
engine's connection wait); when the graph is far behind, a thread here catches it up on a connection
of its own while searches keep the graph they have (``search.CATCH_UP_APART_ENTRIES``).

A build that fails is logged once and tried again after ``RETRY_SECONDS``; ``engine.dispose()``
and the interpreter's exit stop builds between slices.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import Quote, installed
from .store import FullBuild, Graph, GraphFiles, catch_up, maybe_save, rebuild

log = logging.getLogger("tidb_embed_orm.vector_index")

#: After a background build failed (a full disk, a database gone), searches scan this long before the next try.
RETRY_SECONDS = 30.0
#: A graph of at least this many rows to read from the table is built in the background (a build of
#: 25,000 x 384 takes ~4 s on two cores, an exact scan of them ~0.2 s), and its start and end are logged at
#: INFO; a smaller one is built there only by a search inside an open transaction, and logged at DEBUG.
BUILD_IN_BACKGROUND_ROWS = 25_000
#: At the interpreter's exit, wait at most this long for builds to stop between slices.
EXIT_WAIT_SECONDS = 2.0


@dataclass
class _Build:
    graph: Graph
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)


class BackgroundBuilds:
    """The graphs one engine is building in the background, and when a failed one may be tried again."""

    def __init__(self, connect: Callable[[str], Any]) -> None:
        #: ``connect(database_file)``: a new connection of the engine's own (``_Reader``) for one build
        self._connect = connect
        self._lock = threading.Lock()
        #: the running builds, by index (``_key``)
        self._running: dict[tuple[str, str], _Build] = {}
        #: indexes whose last build failed (and were not dropped): ``wait`` says they are not ready
        self._failed: set[tuple[str, str]] = set()
        _ALL.add(self)

    def running(self, graph: Graph, database_file: str) -> bool:
        with self._lock:
            return _key(graph, database_file) in self._running

    def may_start(self, graph: Graph) -> bool:
        """False for a while after a failed build: searches scan instead of failing again at once."""
        return time.monotonic() >= graph.build_retry_at

    def start(self, graph: Graph, need: FullBuild | None, quote: Quote, database_file: str) -> None:
        """Build ``need`` for ``graph`` on a new thread, over a connection of its own to ``database_file``; with no
        ``need``, bring ``graph`` up from its saved file and the log first (a search inside an open transaction,
        whose own locks a catch-up on the engine's connection could wait for), and build only if that says so."""
        with self._lock:
            if _key(graph, database_file) in self._running:
                return
            job = _Build(graph, threading.Thread(name=f"tidb-embed-vector-index {graph.entry.name}", daemon=True,
                                                 target=lambda: self._run(job, need, quote, database_file)))
            self._running[_key(graph, database_file)] = job
        if need is not None:
            _announce(graph, need)
        job.thread.start()

    def _run(self, job: _Build, need: FullBuild | None, quote: Quote, database_file: str) -> None:
        graph, started, reader = job.graph, time.monotonic(), None
        serving = graph.ready  # a catch-up for searches inside transactions: they keep this graph meanwhile
        try:
            reader = self._connect(database_file)
            files = GraphFiles(database_file, writable=not reader.read_only)
            cursor = reader.connection.cursor()
            built = Graph(graph.entry)
            if need is None:
                need = catch_up(built, cursor, quote, "main", files)
                if need is not None:
                    _announce(graph, need, serving)
            if need is not None:
                rebuild(built, cursor, quote, "main", need, job.stop)
            if job.stop.is_set():
                return
            maybe_save(built, cursor, quote, "main", files)  # before searches read it: they never wait for the write
            with graph.lock:
                # a graph that kept serving meanwhile (a catch-up for a transaction) may have been caught up
                # further by a search outside one: the newer stays
                if not job.stop.is_set() and (not graph.ready or built.watermark > graph.watermark):
                    graph.take(built)
            with self._lock:
                self._failed.discard(_key(graph, database_file))
            (log.info if need is not None and large_build(need) else log.debug)(
                "vector index %r: its graph of %d rows is ready (in %.1f s)", graph.entry.name,
                len(built.ann) if built.ann is not None else 0, time.monotonic() - started)
        except Exception as exc:
            graph.build_retry_at = time.monotonic() + RETRY_SECONDS
            if reader is not None and _gone(reader.connection, graph, quote):
                log.debug("vector index %r: its table or index was dropped or renamed while its graph was built "
                          "(%s); nothing is built", graph.entry.name, exc)
                return
            if serving:  # nothing is unready: ``wait`` need not say so
                log.warning("vector index %r: catching its graph up in the background failed (%s); searches keep "
                            "the graph they have, and it is tried again in %.0f s", graph.entry.name, exc,
                            RETRY_SECONDS)
                return
            with self._lock:
                self._failed.add(_key(graph, database_file))
            log.warning("vector index %r: building its graph in the background failed (%s); searches scan the "
                        "table and the build is tried again in %.0f s", graph.entry.name, exc, RETRY_SECONDS)
        finally:
            if reader is not None:
                reader.connection.close()
            with self._lock:
                self._running.pop(_key(graph, database_file), None)

    def stop_all(self) -> None:
        """Ask every build to stop at its next slice (``engine.dispose()``, exit); nothing they built is used."""
        with self._lock:
            for job in self._running.values():
                job.stop.set()
            self._failed.clear()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running builds; False when ``timeout`` seconds passed before they all ended, or when
        the last build of a graph failed (searches scan until a later one, at a search after RETRY_SECONDS)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                jobs = list(self._running.values())
                if not jobs:
                    return not self._failed
            for job in jobs:
                job.thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
                if job.thread.is_alive():
                    return False


def _key(graph: Graph, database_file: str) -> tuple[str, str]:
    """Which index a build is of: the database file and the index's token (a Graph object is made anew after
    ``engine.dispose()``, while a stopped build of the same index may still be finishing its slice)."""
    return database_file, graph.entry.token


def large_build(need: FullBuild) -> bool:
    """Whether a build reads enough rows to run on a thread of its own while searches scan, and to be news at
    INFO. (A search inside an open transaction hands even an empty table's build to a thread: its catch-up could
    wait for the transaction's own locks.)"""
    return need.rows >= BUILD_IN_BACKGROUND_ROWS


def _announce(graph: Graph, need: FullBuild, serving: bool = False) -> None:
    until = ("searches keep the graph they have until it is ready" if serving
             else "searches scan the table exactly until it is ready")
    (log.info if large_build(need) else log.debug)(
        "vector index %r: building its graph of up to %d rows in the background; %s", graph.entry.name, need.rows,
        until)


def _gone(connection: Any, graph: Graph, quote: Quote) -> bool:
    """Whether the index ``graph`` was built for is no longer on the table it names (a DROP TABLE, DROP INDEX
    or rename during the build): its failure is then no news to log as a warning."""
    cursor = connection.cursor()
    try:
        current = installed(cursor, quote, "main").get(graph.entry.name)
        if current is None or current.token != graph.entry.token or current.table != graph.entry.table:
            return True
        row = cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (graph.entry.table,)).fetchone()
        return row is None
    except Exception:  # the database itself is unreadable: that is worth the warning
        return False
    finally:
        cursor.close()


_ALL: weakref.WeakSet[BackgroundBuilds] = weakref.WeakSet()


def wait_for_all(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for every engine's running builds (a test's teardown: no build thread
    logs after the test); False when some still ran, or the last build of a graph failed."""
    deadline = time.monotonic() + timeout
    return all([each.wait(max(deadline - time.monotonic(), 0)) for each in list(_ALL)])


@atexit.register
def _stop_at_exit() -> None:
    """Builds stop between slices at exit (a daemon thread inside usearch would otherwise outlive the interpreter's
    state); what they built is not saved, and the next process starts over."""
    builds = list(_ALL)
    for each in builds:
        each.stop_all()
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    for each in builds:
        each.wait(max(deadline - time.monotonic(), 0))
