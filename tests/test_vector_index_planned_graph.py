"""A search keeps reading the graph it was planned on while other requests catch it up, reset it or rebuild it.

A filtered search runs its statement more than once (probes, then the answer), and SQLite asks the graph for
candidates in the middle of each run. Another request's search may catch the shared graph up in between: fold
in committed deletes, or start it over after a bulk load. Each test makes that other request happen at the
worst moment, from inside the filter (a SQL function the filter calls, as SQLite evaluates it), and checks the
answer against the exact scan of the same snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from sqlalchemy import Integer, bindparam, create_engine, delete, event, func, insert, select, union_all, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import Vector, VectorIndex, wait_for_vector_indexes
from tidb_embed_orm.dialects.embedded.vector_index import store
from tidb_embed_orm.dialects.embedded.vector_index.background import BUILD_IN_BACKGROUND_ROWS

DIM = 32
K = 10


class Base(DeclarativeBase):
    pass


class Doc(Base):
    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)
    v = mapped_column(Vector(DIM))
    __table_args__ = (VectorIndex("ix_docs_v", "v"),)


class OtherRequest:
    """``meanwhile(fn)``: the next time SQLite evaluates ``Doc.now_and_then`` in a filter, ``fn`` runs on another
    thread (its own connections and sessions) and the statement goes on when it is done."""

    def __init__(self) -> None:
        self.pending: Callable[[], None] | None = None
        self.ran = 0

    def meanwhile(self, fn: Callable[[], None]) -> None:
        self.pending = fn

    def __call__(self, _value: object) -> int:
        fn, self.pending = self.pending, None
        if fn is not None:
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    fn()
                except BaseException as exc:  # re-raised in the test, not lost in a thread
                    failures.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
            self.ran += 1
            if failures:
                raise failures[0]
        return 1


@pytest.fixture
def app(tmp_path) -> Iterator[tuple[object, OtherRequest]]:
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    other = OtherRequest()

    @event.listens_for(engine, "connect")
    def register(dbapi_connection, _record):
        dbapi_connection.create_function("other_request_now", 1, other)

    Base.metadata.create_all(engine)
    yield engine, other
    engine.dispose()


def load(engine, rows: int, start: int = 0, kinds: int = 50, seed: int = 0) -> None:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": start + i, "kind": (start + i) % kinds, "v": v} for i, v in enumerate(vectors)])


def search_once(engine) -> None:
    """Any search: it brings the shared graph up to date with what other connections committed."""
    with Session(engine) as session:
        session.scalars(select(Doc.id).order_by(Doc.v.cosine_distance(np.ones(DIM))).limit(1)).all()


def graph_serving(engine) -> None:
    search_once(engine)
    assert wait_for_vector_indexes(engine, timeout=300)
    search_once(engine)


def filtered(session: Session, q: np.ndarray, kind: int, hooked: bool) -> list[int]:
    where = Doc.kind == kind
    if hooked:
        where = where & (func.other_request_now(Doc.id) == 1)
    return list(session.scalars(select(Doc.id).where(where).order_by(Doc.v.cosine_distance(q)).limit(K)))


def exact(session: Session, q: np.ndarray, kind: int) -> list[int]:
    return list(session.scalars(select(Doc.id).where(Doc.kind == kind)
                                .order_by(Doc.v.cosine_distance(q) + 0).limit(K)))


def test_deletes_folded_in_between_the_probe_and_the_answer_do_not_narrow_the_answer(app):
    """The probe found k rows among the candidates it asked for, counting rows this transaction ranks exactly;
    another request's catch-up then removed committed deletes from the graph. The answer still asks as many."""
    engine, other = app
    load(engine, 30_000)
    graph_serving(engine)
    with engine.begin() as conn:  # committed elsewhere, not yet folded in: 980 rows this filter does not match
        conn.execute(delete(Doc).where(Doc.id < 1000, Doc.kind != 7))
    q = np.random.default_rng(1).standard_normal(DIM)
    with Session(engine) as session:
        session.execute(update(Doc).where(Doc.id == 2).values(kind=8))  # this request wrote: its own snapshot
        other.meanwhile(lambda: search_once(engine))
        found = filtered(session, q, 7, hooked=True)
        assert other.ran == 1
        assert found == exact(session, q, 7)
        session.rollback()


def test_a_graph_started_over_by_a_bulk_load_meanwhile_still_answers_the_search_planned_on_it(app):
    """Another request bulk-loads more rows than a catch-up folds, and its search starts the graph over (built
    on a thread): the search planned before reads the graph it was planned on, not an empty one."""
    engine, other = app
    load(engine, 20_000)
    graph_serving(engine)
    load(engine, 1, start=50_000)  # a row written since the graph was built: ranked exactly, so the answer is a
    search_once(engine)            # second run of the statement, after the other request's bulk load

    def bulk_load_and_search() -> None:
        load(engine, BUILD_IN_BACKGROUND_ROWS + 1_000, start=100_000, kinds=1, seed=2)  # kind 0: no match below
        search_once(engine)

    q = np.random.default_rng(3).standard_normal(DIM)
    with Session(engine) as session:
        other.meanwhile(bulk_load_and_search)
        found = filtered(session, q, 7, hooked=True)
        assert other.ran == 1
        assert len(found) == K
        assert found == exact(session, q, 7)
    assert wait_for_vector_indexes(engine, timeout=300)
    with Session(engine) as session:
        assert filtered(session, q, 7, hooked=False) == exact(session, q, 7)


def test_a_search_whose_graph_forgot_the_folds_since_its_plan_runs_as_a_scan(app, monkeypatch):
    """A graph remembers the rows of its last HISTORY catch-ups. When more happened during one statement, the
    rows changed since its plan are unknown: the statement runs as the exact scan instead."""
    monkeypatch.setattr(store, "HISTORY", 1)
    engine, other = app
    load(engine, 3_000)
    graph_serving(engine)
    load(engine, 1, start=5_000)  # a row written since the graph was built: ranked exactly, so the answer is a
    search_once(engine)           # second run of the statement, after the other request's catch-ups
    q = np.random.default_rng(4).standard_normal(DIM)

    def two_commits_each_caught_up() -> None:
        for n in range(2):
            with engine.begin() as conn:
                conn.execute(update(Doc).where(Doc.kind == 7, Doc.id < 500).values(v=(q * (n + 2)).tolist()))
            search_once(engine)

    scans: list[str] = []
    with Session(engine) as session:
        session.connection().connection.dbapi_connection.set_trace_callback(
            lambda sql: scans.append(sql) if "other_request_now" in sql and "json_each(TIDB_EMBED_KNN(" not in sql
            else None)
        other.meanwhile(two_commits_each_caught_up)
        found = filtered(session, q, 7, hooked=True)
        assert other.ran == 1
        assert len(scans) == 1  # the statement, run again as the scan it describes
        assert found == exact(session, q, 7)


def test_a_connection_back_in_the_pool_lets_go_of_the_graph_its_search_was_planned_on(tmp_path):
    """A search holds the graph it was planned on; once its connection is checked in, a graph replaced meanwhile
    (started over, rebuilt) is freed, not kept alive by an idle connection."""
    import gc
    import weakref

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    Base.metadata.create_all(engine)
    load(engine, 3_000)
    search_once(engine)
    (graph,) = engine.dialect.vector_indexes._graphs.values()
    planned_on = weakref.ref(graph.ann)
    with graph.lock:
        graph.reset()  # what a catch-up does before a bulk load's rebuild
    gc.collect()
    assert planned_on() is None
    search_once(engine)  # served again, from the saved file or the table
    assert graph.ready
    engine.dispose()


def two_caught_up_commits(engine) -> None:
    """Another request: two commits, each folded into the shared graph by its own search."""
    for n in range(2):
        with engine.begin() as conn:
            conn.execute(update(Doc).where(Doc.id == 2_000 + n).values(v=[float(n + 2)] * DIM))
        search_once(engine)


def test_an_update_whose_search_the_graph_lost_is_applied_once(app, monkeypatch):
    """Searches inside DML are planned too. When the graph forgot the folds since the plan, SQLite aborts the
    statement (undoing its writes) before it runs as a scan: ``kind + 1`` lands once."""
    monkeypatch.setattr(store, "HISTORY", 1)
    engine, _ = app
    load(engine, 3_000, kinds=1)  # every kind 0
    graph_serving(engine)
    q = np.random.default_rng(5).standard_normal(DIM)
    nearest = select(Doc.id).order_by(Doc.v.cosine_distance(q)).limit(5)
    with engine.connect() as conn:
        armed = [True]

        @event.listens_for(conn, "before_cursor_execute")
        def between_plan_and_run(*_args):
            if armed:
                armed.clear()
                thread = threading.Thread(target=two_caught_up_commits, args=(engine,))
                thread.start()
                thread.join()

        conn.execute(update(Doc).where((Doc.id == 0) | Doc.id.in_(nearest)).values(kind=Doc.kind + 1))
        conn.commit()
        kinds = dict(conn.execute(select(Doc.id, Doc.kind).where(Doc.kind != 0)).all())
        expected = set(conn.execute(select(Doc.id).order_by(Doc.v.cosine_distance(q) + 0).limit(5)).scalars())
    assert kinds == dict.fromkeys(expected | {0}, 1)


def test_a_search_the_graph_lost_while_rows_are_fetched_is_an_error_not_missing_rows(app, monkeypatch):
    """The second half of a UNION ALL asks the graph only when the first half's rows have been read. If the graph
    forgot the folds since the plan by then, the statement cannot be run again: it says so."""
    from tidb_embed_orm.exc import VectorIndexChangedError

    monkeypatch.setattr(store, "HISTORY", 1)
    engine, _ = app
    load(engine, 3_000)
    graph_serving(engine)
    rng = np.random.default_rng(6)
    halves = [select(Doc.id).order_by(Doc.v.cosine_distance(rng.standard_normal(DIM))).limit(5).subquery()
              for _ in range(2)]
    with engine.connect() as conn:
        result = conn.execute(union_all(*(select(half.c.id) for half in halves)))
        assert result.fetchone() is not None
        two_caught_up_commits(engine)
        with pytest.raises(VectorIndexChangedError, match="run it again"):
            result.fetchall()


def test_an_executemany_with_a_search_inside_scans_while_the_graph_is_built(app):
    """An UPDATE ... WHERE id IN (nearest ...) with several parameter sets: its search is the exact scan while the
    table's graph is built in the background, as a single execute's is, not an empty candidate list."""
    engine, _ = app
    load(engine, BUILD_IN_BACKGROUND_ROWS + 1_000, kinds=1)
    q = np.random.default_rng(7).standard_normal(DIM)
    nearest = select(Doc.id).order_by(Doc.v.cosine_distance(q)).limit(5)
    statement = (update(Doc).where(Doc.id.in_(nearest), Doc.kind == bindparam("old"))
                 .values(kind=bindparam("new")))
    with engine.begin() as conn:
        updated = conn.execute(statement, [{"old": 0, "new": 1}, {"old": 1, "new": 2}])
        assert updated.rowcount == 10
        expected = set(conn.execute(select(Doc.id).order_by(Doc.v.cosine_distance(q) + 0).limit(5)).scalars())
        assert dict(conn.execute(select(Doc.id, Doc.kind).where(Doc.kind != 0)).all()) == dict.fromkeys(expected, 2)
    assert wait_for_vector_indexes(engine, timeout=300)


def test_a_failed_reconnect_is_reported_as_it_happened(tmp_path):
    """The listener that names a SQL function's own error reads nothing from an invalidated connection: reading it
    would connect a second time, and that failure would hide the statement from the error."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'x.db'}")
    attempts: list[int] = []
    failing = [False]

    @event.listens_for(engine, "do_connect")
    def connect(dialect, _record, _cargs, _cparams):
        attempts.append(1)
        if failing[0]:
            raise dialect.loaded_dbapi.OperationalError("cannot open (simulated)")

    with engine.connect() as conn:
        conn.execute(text("select 1"))
        conn.invalidate()
        conn.rollback()
        failing[0] = True
        before = len(attempts)
        with pytest.raises(OperationalError, match="cannot open"):
            conn.execute(text("select 1"))
        assert len(attempts) - before == 1
        failing[0] = False
    engine.dispose()
