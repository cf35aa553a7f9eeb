"""Serving ``ORDER BY <distance> LIMIT k`` from a vector index, with SQLite's visibility rules.

Before a statement runs, ``VectorIndexes.prepare`` brings the index's graph up to the newest
committed log position and reads, on the statement's own connection, which rows the log names
after the graph's position: other connections' recent commits and this connection's own
uncommitted writes. During the statement, ``TIDB_EMBED_KNN(n, query, k)`` returns the graph's
nearest rows minus those changed rows, plus the changed rows themselves; SQLite then ranks these
candidates exactly (the statement's own ORDER BY) and applies its WHERE. A search therefore sees
exactly the committed rows plus its own writes, and nothing of other open transactions.

When the connection cannot use the graph (its read snapshot is older than the graph, the index
has no change log yet, or an in-memory database is mid-transaction before the graph was built)
the statement runs as the exact scan it describes, restricted to non-NULL vectors.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .... import codec
from ....exc import VectorIndexChangedError
from ..access import engine_connection_uri
from .ann import OUTSIDE_ROWID
from .background import BackgroundBuilds, large_build
from .schema import Quote, changed_rows, find_index, holds_vector, log_position, schemas
from .store import Graph, GraphFiles, PlannedGraph, catch_up, maybe_save, rebuild

log = logging.getLogger("tidb_embed_orm.vector_index")

KNN_FUNCTION = "TIDB_EMBED_KNN"
#: The last argument of every TIDB_EMBED_KNN call: marks where the call ends in the statement text.
KNN_END = "tidb_embed_knn_end"
#: ``TIDB_EMBED_KNN_PROBING()``: 1 while a filtered search probes the index for k matching rows, else 0.
PROBING_FUNCTION = "TIDB_EMBED_KNN_PROBING"
#: Candidates asked of the graph beyond k, so that approximate misses rarely reach the top k.
EXTRA_CANDIDATES = 30
#: A search inside a transaction whose graph is this many change-log entries behind its snapshot has a thread catch
#: the graph up (``VectorIndexes._prepare_one``); fewer are ranked exactly, as every search there ranks them.
CATCH_UP_APART_ENTRIES = 1_000
#: A filtered search asks the graph for more candidates, up to this many times the first ask, before it scans.
MAX_MULTIPLIER = 64
#: A filtered search whose filter SQLite reads from an index scans those rows exactly, instead of walking the
#: graph further, when a probe suggests at most this many rows match (a scan reads each matching row once).
INDEXED_SCAN_ROWS = 5_000
#: Statements whose filter SQLite answers from an index (``EXPLAIN QUERY PLAN``), remembered per statement text.
PLAN_MEMORY = 256
#: A run whose first probe found its k rows lets the next start at this share of its multiplier: a probe stops at
#: the statement's LIMIT, so it never tells how many fewer candidates would have done. The start settles just
#: above what the filter typically needs (an occasional second walk), and a parameter that once matched
#: nothing does not keep later runs at the widest walk (64x halves in four runs, 0.84**4).
SETTLE_SHARE = 0.84
#: After a probe found m of k rows, the next asks this many times k / m as many candidates: at the rate of matches
#: the probe saw, a Poisson count of mean 2k, which reaches k more than 99 times in 100 (for k = 10).
GROWTH_SLACK = 2.0


@dataclass(frozen=True)
class KnnSearch:
    """One indexed search in a compiled statement (what the compiler decided)."""

    number: int
    schema: str | None
    table: str
    column: str
    metric: str
    filtered: bool
    #: inside a subquery or CTE: the statement's rows are not this search's rows
    nested: bool = False
    #: the width its ``VectorIndex(ef_search=)`` declares (None: the engine's)
    ef_search: int | None = None
    #: a distance threshold beside it, void while a filtered search probes (``knn.compile_distance_bound``):
    #: a probe's rows are then not the statement's answer
    bounded: bool = False

    @property
    def head(self) -> str:
        """The statement text before the call's arguments (which hold bind placeholders)."""
        return f"IN (SELECT value FROM json_each({KNN_FUNCTION}({self.number}, "

    tail = f", '{KNN_END}')))"

    def as_scan(self, sql: str) -> str:
        """``rowid IN (<candidates>)`` turned into a test every row passes (same parameters, same order)."""
        start = sql.find(self.head)
        end = sql.find(self.tail, start)
        if start < 0 or end < 0:
            raise RuntimeError("vector-index search: the statement does not contain its own search")
        arguments = sql[start + len(self.head) : end]
        scan = f"IS NOT NULL OR ({KNN_FUNCTION}({self.number}, {arguments}, '{KNN_END}') IS NULL)"
        return sql[:start] + scan + sql[end + len(self.tail) :]


@dataclass
class SearchRun:
    """One execution of one search: the graph it reads and the rows changed after it."""

    graph: Graph | None
    #: what the search reads: the graph object it was planned on (None once the statement ran as a scan)
    planned: PlannedGraph | None
    #: the graph's log position when the search was planned; rows the graph folded in after it are
    #: ranked exactly too (they may differ from what this connection's snapshot holds)
    watermark: int = -1
    dirty: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    multiplier: int = 1
    #: a filtered search's probe: only the graph's own candidates count towards "k rows found"
    probing: bool = False
    limit: int | None = None
    exhaustive: bool = False
    #: the graph walk's width for this search (None: ``ann.default_ef``)
    ef_search: int | None = None
    #: the last probe's (candidates asked, query, graph's answer): the final run after it asks the same
    probed: tuple[int, np.ndarray, np.ndarray] | None = None
    #: rows the graph held at the last ask
    size: int = 0
    #: the last probe had no row to rank exactly besides the graph's candidates (no recent, changed or
    #: outside row), so it asked the same candidates the final run would: its rows can be the answer
    only_graph_candidates: bool = False
    #: the searched table may hold a vector in the row no graph can (``ann.OUTSIDE_ROWID``); looked up for
    #: filtered searches, whose probe may then be the answer
    may_hold_outside_row: bool = True
    #: the graph forgot rows folded in after ``watermark`` (``FoldHistory.since``): the statement runs as a scan
    #: (found while SQLite fetches rows after ``Plan.execute`` returned, it is ``VectorIndexChangedError``)
    lost: bool = False


#: ranked exactly by every indexed search: the rowid no graph can hold (``ann.OUTSIDE_ROWID``)
_OUTSIDE = np.array([OUTSIDE_ROWID], dtype=np.int64)


class ConnectionSearches:
    """Per DBAPI connection: the runs of the statement being executed, read by TIDB_EMBED_KNN."""

    def __init__(self) -> None:
        self.runs: dict[int, SearchRun] = {}
        #: schema -> database file, as PRAGMA database_list says
        self.files: dict[str, str] | None = None
        #: clears the last SQL-function error recorded on this connection (``udf.UdfErrors.take``)
        self.forget_error: Callable[[], object] | None = None

    def probing(self) -> int:
        """``TIDB_EMBED_KNN_PROBING()``: whether this statement run is a filtered search's probe."""
        return int(any(run.probing for run in self.runs.values()))

    def knn(self, number: int, query: Any, limit: Any, offset: Any, end: Any = None) -> str:
        """TIDB_EMBED_KNN(n, query, limit, offset, end): candidate rowids as a JSON array."""
        run = self.runs.get(int(number))
        if run is None or run.graph is None or run.planned is None or query is None or limit is None:
            return "[]"
        graph = run.graph
        vector = codec.decode_stored(query)
        with graph.lock:
            # The graph as planned, even when another connection's catch-up has since reset it (a bulk load) or a
            # rebuild replaced it: an empty or newer graph would answer for other rows than this run's snapshot.
            planned = run.planned
            ann = planned.ann
            folded = planned.history.since(run.watermark)
            if folded is None:  # more catch-ups since the plan than the graph remembers: only a scan is sure
                run.lost = True  # SQLite aborts the statement (undoing its writes); ``Plan`` runs the scan instead
                raise VectorIndexChangedError(
                    f"the vector index on {graph.entry.table}.{graph.entry.column} was caught up more than "
                    f"{planned.history.entries.maxlen} times while this statement ran: run it again")
            size = run.size = len(ann) if ann is not None else 0
            run.limit = int(limit)
            k = -1 if run.limit < 0 else run.limit + max(int(offset or 0), 0)
            margin = max(k, EXTRA_CANDIDATES)
            # ranked exactly: rows changed after the graph's position, as this connection or a later fold saw them
            exact = np.concatenate([run.dirty, folded])
            if ann is None or vector.shape[0] != ann.dim:
                found = np.empty(0, np.int64)
                run.exhaustive = True
            else:
                # rows the graph holds that are ranked exactly instead (a graph viewed from its file, without
                # its rowid table, counts them all: asking a few more candidates is cheaper than that table)
                stale = len(exact) if not ann.has_key_table else int(np.count_nonzero(ann.contains(exact)))
                want = size if k < 0 else (k + stale + margin) * run.multiplier
                probed = run.probed if run.probed is not None and np.array_equal(run.probed[1], vector) else None
                if probed is not None:
                    # the final run after a probe: the same walk. Never fewer candidates than the probe saw k rows
                    # among: a catch-up between the two (deletes folded in) lowers ``stale``, not the rows needed.
                    want = max(want, probed[0])
                if probed is not None and probed[0] == want:
                    found = probed[2]
                else:
                    found = ann.search(vector, want, run.ef_search)
                run.probed = (want, vector, found) if run.probing else None
                run.exhaustive = want >= size
            recent = np.fromiter(planned.recent, np.int64, len(planned.recent))
            # An untrimmed probe that found k matching rows among c candidates leaves about c / (k + 1) of them
            # beyond its k-th, where a trimmed one leaves the margin: below that its rows are not answer enough
            # (a 10% filter: recall 0.946 against 0.968 with the final run, at 100,000 hard rows).
            slack = run.exhaustive or len(found) >= (k + 1) * margin
            run.only_graph_candidates = slack and not (len(exact) or len(recent) or run.may_hold_outside_row)
            if run.probing and not run.exhaustive and not run.only_graph_candidates:
                found = found[: max(len(found) - margin, 0)]  # leave the final run slack at the boundary
        if len(exact):
            found = found[~np.isin(found, exact)]
        if run.probing:  # rows ranked exactly anyway must not make a probe look complete
            return json.dumps(found.tolist())
        return json.dumps(np.concatenate([found, recent, exact, _OUTSIDE]).tolist())


@dataclass
class StatementFacts:
    """What earlier runs of one statement text taught the engine (``VectorIndexes.plan_memory``)."""

    #: whether SQLite reads the filter's column from an index (None: not asked yet)
    uses_index: bool | None = None
    #: the candidate multiplier the last filtered run needed: the next run's first probe asks that many,
    #: so a selective filter costs one graph walk instead of a small walk and then a wide one
    multiplier: int = 1


@dataclass
class Plan:
    """What ``do_execute`` needs: which searches run as scans, and whether to retry filtered ones."""

    runs: dict[int, SearchRun]
    searches: list[KnnSearch]
    scans: set[int]
    #: the engine's memory of statements, by text (cleared at DDL: an index may have come or gone)
    plan_memory: dict[str, StatementFacts] = field(default_factory=dict)
    #: clears the SQL-function error a lost search raised (``udf.UdfErrors.take``), once ``run`` has handled it
    forget_error: Callable[[], object] | None = None

    def facts(self, statement: str) -> StatementFacts:
        found = self.plan_memory.get(statement)
        if found is None:
            if len(self.plan_memory) >= PLAN_MEMORY:
                self.plan_memory.clear()
            found = self.plan_memory[statement] = StatementFacts()
        return found

    @property
    def probed(self) -> list[SearchRun]:
        """The runs of top-level filtered searches: they ask for more candidates until k rows match."""
        return [self.runs[s.number] for s in self.searches if s.filtered and not s.nested and s.number in self.runs]

    def statement(self, sql: str, *, scan_all: bool = False) -> str:
        for search in self.searches:
            if scan_all or search.number in self.scans:
                sql = search.as_scan(sql)
        return sql

    def execute(self, cursor: Any, statement: str, parameters: Any) -> list[Any] | None:
        """Run an indexed search; a filtered one asks for more candidates until it has k rows (or scans).

        Returns the rows already fetched when the last probe's run was the answer itself (the caller hands
        them to the result), else None: the answer is on ``cursor``.

        After a probe that found ``m`` of the ``limit`` rows among ``c`` candidates, the next asks for
        ``GROWTH_SLACK * limit / m`` times more (a 1% filter needs two probes, not five). When SQLite answers
        the filter itself from an index and the probe suggests few rows match (INDEXED_SCAN_ROWS), the
        exact scan runs at once: the index narrows it to the matching rows, which is cheaper than
        walking the graph for a hundred times more candidates. A statement text starts at the multiplier
        its last run needed: a repeated 1% filter walks the graph once. A probe stops at the statement's
        LIMIT, so it cannot tell that fewer candidates would have done: after a run whose first probe
        sufficed, the next starts a little lower (``SETTLE_SHARE``), so the start settles just above what
        the filter needs and a parameter that once matched nothing does not keep later runs at the widest walk.
        """
        sql = self.statement(statement)
        runs = self.probed
        if not runs:
            if not self.run(cursor, sql, parameters):
                self.scan(cursor, statement, parameters)
            return None
        facts = self.facts(statement)
        multiplier, first = min(facts.multiplier, MAX_MULTIPLIER), True
        while multiplier <= MAX_MULTIPLIER:
            for run in runs:
                run.multiplier, run.probing = multiplier, True
            try:  # a probe: are there k matching rows among the index's own candidates?
                if not self.run(cursor, sql, parameters):
                    break
                probed_rows = cursor.fetchall()
            finally:
                for run in runs:
                    run.probing = False
            rows, wanted = len(probed_rows), max((run.limit or 0) for run in runs)
            if all(run.exhaustive or (run.limit is not None and 0 <= run.limit <= rows) for run in runs):
                # next time start here, or a little lower when the first probe sufficed (it stops at the LIMIT:
                # it cannot tell how many fewer candidates would have done)
                facts.multiplier = max(1, int(multiplier * SETTLE_SHARE)) if first else multiplier
                if self.probe_answers(runs):
                    return probed_rows
                if not self.run(cursor, sql, parameters):  # the answer: those candidates plus the rows ranked exactly
                    self.scan(cursor, statement, parameters)
                return None
            first = False
            asked = max(run.probed[0] if run.probed else 1 for run in runs)
            # how many rows may match, at most (a Poisson upper bound: a probe's candidates are the query's
            # neighbours, a small and local sample; 3 of 680 must not pass for 4,400 of a million when 10,000
            # match, whose scan costs 240 ms, where another walk costs 6)
            matching = (rows + 2 * math.sqrt(rows) + 2) / asked * max(run.size for run in runs)
            if matching <= INDEXED_SCAN_ROWS and self.filter_uses_index(cursor, statement, parameters):
                break
            if multiplier >= MAX_MULTIPLIER:
                break
            # m of k rows matched among c candidates: GROWTH_SLACK * c * k / m candidates almost always hold k. A
            # fixed step of at least 4x (as once) overshot: a run that just missed walked 4x wider, and the
            # statement's next runs started from there.
            growth = GROWTH_SLACK * wanted / rows if rows else 4 * max(wanted, 1)
            multiplier = facts.multiplier = min(max(math.ceil(multiplier * growth), 2 * multiplier), MAX_MULTIPLIER)
        self.scan(cursor, statement, parameters)
        return None

    def executemany(self, cursor: Any, statement: str, parameter_sets: Any) -> None:
        """A DML statement with searches inside, for every parameter set: the searches the plan scans (a graph
        still being built) run as scans. A lost search (``SearchRun.lost``) is ``VectorIndexChangedError`` here:
        the sets before it were written, which only the caller's transaction can undo."""
        cursor.executemany(self.statement(statement), parameter_sets)

    def run(self, cursor: Any, sql: str, parameters: Any) -> bool:
        """Execute ``sql``; False when a search's graph forgot what changed since the plan (``SearchRun.lost``):
        SQLite aborted the statement, undoing what it wrote, and it must run as a scan."""
        try:
            cursor.execute(sql, parameters)
        except Exception:
            if not any(run.lost for run in self.runs.values()):
                raise
            if self.forget_error is not None:
                self.forget_error()  # handled here: not the cause of a later error of this statement
            return False
        return True

    def scan(self, cursor: Any, statement: str, parameters: Any) -> None:
        """Run the statement with every search as the exact scan it describes (letting go of their graphs)."""
        for run in self.runs.values():
            run.graph, run.planned = None, None
        cursor.execute(self.statement(statement, scan_all=True), parameters)

    def probe_answers(self, runs: list[SearchRun]) -> bool:
        """Whether the probe that found k rows ran the statement exactly as its final run would: every
        probed search had only the graph's candidates to rank (``SearchRun.only_graph_candidates``) and no threshold was
        void for the probe. Then its rows are the answer, and the statement is not run a second time."""
        return all(run.only_graph_candidates for run in runs) and not any(search.bounded for search in self.searches)

    def filter_uses_index(self, cursor: Any, statement: str, parameters: Any) -> bool:
        """Whether SQLite reads the searched table through an index in the scan form of ``statement``."""
        facts = self.facts(statement)
        if facts.uses_index is None:
            scan = self.statement(statement, scan_all=True)
            try:
                details = [str(row[-1]) for row in cursor.execute("EXPLAIN QUERY PLAN " + scan, parameters)]
            except Exception:  # the plan is advice: without it, keep probing
                details = []
            facts.uses_index = any(" USING INDEX " in d or " USING COVERING INDEX " in d for d in details)
        return facts.uses_index


@dataclass
class _Reader:
    """The engine's own connection to one database file, for catching graphs up (and saving them)."""

    connection: Any
    read_only: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


class VectorIndexes:
    """An engine's graphs, shared by its connections (and kept current with other processes).

    ``background``: a graph of at least ``background.BUILD_IN_BACKGROUND_ROWS`` rows that must be read from
    the whole table (a first search after a bulk load, no saved graph) is built on a thread of its
    own while searches scan the table exactly, as TiDB answers from unindexed rows while TiFlash
    builds a vector index (pingcap/docs ``ai/vector-search-index.md``; its progress is
    ``information_schema.tiflash_indexes``). ``wait`` waits for those builds.
    """

    def __init__(self, dbapi: Any, background: bool = True) -> None:
        self._dbapi = dbapi
        self.background = background
        self.builds = BackgroundBuilds(self._connect)
        self._graphs: dict[tuple[Any, ...], Graph] = {}
        self._readers: dict[str, _Reader] = {}
        self._lock = threading.Lock()
        #: real path -> the URI parameters the user's URL opens that file with (``access.split_filename``)
        self.opened_as: dict[str, dict[str, str]] = {}
        #: statement text -> whether SQLite reads its filter from an index (``Plan.filter_uses_index``)
        self.plan_memory: dict[str, StatementFacts] = {}

    def remember_opened_as(self, path: str, params: dict[str, str]) -> None:
        """The user's URL opens ``path`` with these URI parameters: the engine's own connections honour them."""
        self.opened_as[os.path.realpath(path)] = dict(params)

    def connection_searches(self, dbapi_connection: Any, info: dict[str, Any], errors: Any) -> ConnectionSearches:
        searches = info.get("tidb_embed_knn")
        if searches is None:
            searches = info["tidb_embed_knn"] = ConnectionSearches()
            searches.forget_error = errors.take
            # deterministic: constant arguments are evaluated once per statement, also in a scan
            dbapi_connection.create_function(KNN_FUNCTION, 5, errors.guarded(searches.knn), deterministic=True)
            dbapi_connection.create_function(PROBING_FUNCTION, 0, searches.probing, deterministic=True)
        return searches

    def _connect(self, database_file: str) -> _Reader:
        """A connection of the engine's own to ``database_file``, honouring how the user's URL opens it."""
        params = self.opened_as.get(os.path.realpath(database_file), {})
        uri, read_only = engine_connection_uri(database_file, params)
        connection = self._dbapi.connect(uri, uri=True, check_same_thread=False, timeout=5.0, isolation_level=None)
        return _Reader(connection, read_only)

    def _reader(self, database_file: str) -> _Reader:
        with self._lock:
            found = self._readers.get(database_file)
            if found is None:
                found = self._readers[database_file] = self._connect(database_file)
            return found

    def close(self) -> None:
        """Close the connections the engine opened on its own, stop its background builds and forget the
        graphs (``engine.dispose()``); all are opened again by the next search."""
        self.builds.stop_all()
        with self._lock:
            readers = list(self._readers.values())
            self._readers.clear()
            self._graphs.clear()
        for reader in readers:
            with reader.lock:  # after a catch-up in progress on another thread
                reader.connection.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the graphs being built in the background; False when ``timeout`` seconds passed first."""
        return self.builds.wait(timeout)

    def prepare(self, dbapi_connection: Any, searches_here: ConnectionSearches, quote: Quote,
                searches: list[KnnSearch], schema_map: dict[str | None, str | None] | None = None,
                ef_search: int | None = None, default_ef_search: int | None = None) -> Plan:
        """Plan a statement's searches; ``ef_search`` (the statement's execution option) overrides every
        search's width, then each index's declared one, then ``default_ef_search`` (the engine's)."""
        cursor = dbapi_connection.cursor()
        try:
            if searches_here.files is None:  # forgotten at ATTACH / DETACH
                searches_here.files = dict(schemas(cursor))
            files = searches_here.files
            runs: dict[int, SearchRun] = {}
            scans: set[int] = set()
            for search in searches:
                schema = schema_map.get(search.schema, search.schema) if schema_map else search.schema
                run = None
                if not (search.nested and search.filtered):  # a filtered subquery cannot ask for more rows
                    run = self._prepare_one(dbapi_connection, cursor, quote, files, search, schema)
                if run is None:
                    scans.add(search.number)
                else:
                    run.ef_search = ef_search or search.ef_search or default_ef_search
                    # Only a probe asks, and only while nothing else rules out its rows as the answer (rows of
                    # this snapshot or recently written are ranked exactly anyway): one lookup.
                    if search.filtered and not len(run.dirty) and run.planned is not None and not run.planned.recent:
                        run.may_hold_outside_row = holds_vector(cursor, quote, schema or "main", search.table,
                                                                search.column, OUTSIDE_ROWID)
                    runs[search.number] = run
        finally:
            cursor.close()
        searches_here.runs = runs
        return Plan(runs, searches, scans, self.plan_memory, searches_here.forget_error)

    def _prepare_one(self, dbapi_connection: Any, cursor: Any, quote: Quote, files: dict[str, str],
                     search: KnnSearch, schema: str | None) -> SearchRun | None:
        schema = schema or "main"
        if schema not in files:
            return None
        entry = find_index(cursor, quote, schema, search.table, search.column, search.metric)
        if entry is None:
            return None
        database_file = files[schema]
        location: tuple[Any, ...] = (database_file,) if database_file else ("memory", id(dbapi_connection), schema)
        with self._lock:
            graph = self._graphs.get(location + (entry.token,))
            if graph is None:
                graph = self._graphs[location + (entry.token,)] = Graph(entry)
        position = log_position(cursor, quote, schema)
        with graph.lock:
            apart = self.builds.running(graph, database_file) or not self.builds.may_start(graph)
            if apart and not graph.ready:
                return None  # its graph is being built (or its last build failed just now): scan
            # Inside its own transaction a connection does not catch the graph up itself: the log entries it
            # sees after the graph's position are ranked exactly (and a private reader could wait on this very
            # connection's locks). When they are many, a thread catches the graph up on a connection of its own
            # (searches keep this graph meanwhile): an application whose every request is a transaction
            # (SQLAlchemy's pysqlite recipe for BEGIN) would otherwise rank them all on every search, for good.
            if (graph.ready and dbapi_connection.in_transaction and not apart and database_file and self.background
                    and position - max(graph.watermark, graph.caught_up_apart_for) >= CATCH_UP_APART_ENTRIES):
                graph.caught_up_apart_for = position
                self.builds.start(graph, None, quote, database_file)
            if not graph.ready and dbapi_connection.in_transaction:
                # The first search inside a transaction scans (a catch-up on the engine's connection could wait on
                # this connection's own locks), and has the graph brought up on a thread that may wait instead.
                if database_file and self.background:
                    self.builds.start(graph, None, quote, database_file)
                return None
            if not graph.ready or (graph.watermark < position and not dbapi_connection.in_transaction):
                try:
                    self._catch_up(graph, dbapi_connection, cursor, quote, schema, database_file)
                except Exception as exc:  # a lost file, a full disk...: start over next time, scan now
                    graph.reset()
                    log.warning("vector index %r: catching up failed (%s); this search scans", entry.name, exc)
                    return None
            if graph.ready and graph.watermark > position and not dbapi_connection.in_transaction:
                position = log_position(cursor, quote, schema)  # a commit landed meanwhile: look again
            if not graph.ready or graph.watermark > position:
                return None  # no graph for this connection's snapshot: scan
            if position == graph.watermark:
                return SearchRun(graph, graph.planned(), graph.watermark)
            dirty = changed_rows(cursor, quote, schema, entry.token, graph.watermark)
            return SearchRun(graph, graph.planned(), graph.watermark, np.asarray(dirty, np.int64))

    def _catch_up(self, graph: Graph, dbapi_connection: Any, cursor: Any, quote: Quote, schema: str,
                  database_file: str) -> None:
        """Bring ``graph`` up to date now, or start building it in the background (the caller then scans)."""
        if database_file:
            reader = self._reader(database_file)
            with reader.lock:
                own = reader.connection.cursor()
                files = GraphFiles(database_file, writable=not reader.read_only)
                try:
                    need = catch_up(graph, own, quote, "main", files)
                    if need is not None and self.background and large_build(need):
                        if self.builds.may_start(graph):  # else scan until the delay after a failed build ends
                            self.builds.start(graph, need, quote, database_file)
                        return
                    if need is not None:
                        rebuild(graph, own, quote, "main", need)
                    maybe_save(graph, own, quote, "main", files)
                finally:
                    own.close()
        elif not dbapi_connection.in_transaction:  # in memory: the statement's own connection is the only one
            need = catch_up(graph, cursor, quote, schema, None)
            if need is not None:
                rebuild(graph, cursor, quote, schema, need)

