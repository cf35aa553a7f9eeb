"""Vector indexes (HNSW) and the TiFlash replica TiDB needs before it can build one.

``CREATE VECTOR INDEX idx ON t ((VEC_COSINE_DISTANCE(embedding))) USING HNSW``. TiDB serves a
vector index from TiFlash: a table needs a TiFlash replica first. TiDB makes one by itself only
when the index is declared inside CREATE TABLE; SQLAlchemy emits CREATE INDEX afterwards, so a
``VectorIndex`` sets the replica (``ALTER TABLE t SET TIFLASH REPLICA 1``) just before its own
CREATE on TiDB. Pass ``tiflash_replica=None`` to manage replicas yourself.

``ef_search`` is how wide the embedded engine's HNSW walk is for searches on the index: wider
finds more of the true nearest rows (recall) and costs more per search. It is a setting of the
embedded engine, read from the model when a search compiles: the DDL (TiDB's and SQLite's) is the
same with or without it, since TiDB has no such option in its DDL.

TiDB's spelling of both (``CREATE VECTOR INDEX``, ``SET TIFLASH REPLICA``) and the listener that
sets the replica live in ``dialects/tidb/ddl.py``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from sqlalchemy import Column, Index, Table, column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.ddl import ExecutableDDLElement

from .elements import INDEX_METRICS, VectorDistance
from .vector import distance_function

#: The execution option that sets one statement's search width, e.g.
#: ``select(...).execution_options(tidb_embed_ef_search=512)``; it wins over the index's and the engine's.
EF_SEARCH_OPTION = "tidb_embed_ef_search"
#: The widest walk an index may ask for (past it an exact scan is cheaper): ann.MAX_EF on the engine.
MAX_EF_SEARCH = 100_000


def check_ef_search(value: Any, what: str = "ef_search") -> int | None:
    """``value`` as a walk width (an int from 1 to MAX_EF_SEARCH), or None; ValueError saying what is allowed."""
    if value is None:
        return None
    # numbers.Integral: numpy's integers too (a width swept with numpy); bool is an int but no width
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= int(value) <= MAX_EF_SEARCH:
        raise ValueError(
            f"{what} is the width of the vector index's search walk, a whole number from 1 to {MAX_EF_SEARCH} "
            f"(higher finds more of the true nearest rows, and costs more per search), not {value!r}"
        )
    return int(value)


#: ``create_engine(url, vector_index_build=...)`` on the embedded engine: a large graph that must be read
#: from the whole table is built on a thread while searches scan exactly (``background``), or by the
#: first search that needs it, which waits (``inline``).
BACKGROUND_BUILD, INLINE_BUILD = "background", "inline"


def check_index_build(value: Any) -> str:
    """``value`` as one of BACKGROUND_BUILD / INLINE_BUILD; ValueError saying what is allowed."""
    if value not in (BACKGROUND_BUILD, INLINE_BUILD):
        raise ValueError(
            f"vector_index_build is {BACKGROUND_BUILD!r} (a large index is built on a thread while searches scan "
            f"the table exactly) or {INLINE_BUILD!r} (the first search waits for it), not {value!r}"
        )
    return str(value)


def wait_for_vector_indexes(engine: Any, timeout: float | None = None) -> bool:
    """Wait until the vector indexes ``engine`` is building in the background are ready to serve searches.

    The embedded engine builds a large graph (a first search after a bulk load) on a thread of its
    own and answers searches by exact scans meanwhile; this waits for those builds, e.g. after
    loading data and before serving traffic or measuring. Returns False when ``timeout`` seconds
    passed first, or when a build failed (it is logged; searches stay exact scans, and a search 30 s
    later tries again). On TiDB, and on engines with nothing being built, it returns True at once (TiFlash
    builds its indexes itself: ``information_schema.tiflash_indexes`` shows their progress). ``engine``
    may also be a connection or a session bound to the engine; anything else is a TypeError.
    """
    dialect = getattr(engine, "dialect", None)  # Engine, AsyncEngine, Connection, AsyncConnection
    if dialect is None and callable(getattr(engine, "get_bind", None)):  # Session, AsyncSession
        dialect = getattr(engine.get_bind(), "dialect", None)
    if dialect is None:  # anything else would return True at once without waiting for anything
        raise TypeError(
            f"wait_for_vector_indexes() takes the engine the searches run on (an Engine, AsyncEngine, "
            f"Connection or Session), not {type(engine).__name__}"
        )
    wait = getattr(dialect, "wait_for_vector_indexes", None)
    return True if wait is None else bool(wait(timeout))


def _check_metric(metric: str) -> str:
    if metric not in INDEX_METRICS:
        raise ValueError(
            f"TiDB vector indexes support the metrics {', '.join(repr(m) for m in INDEX_METRICS)}, not {metric!r}"
        )
    return metric


class VectorIndex(Index):
    """An HNSW vector index on a vector column, for ``ORDER BY <same distance> LIMIT k``."""

    def __init__(
        self,
        name: str,
        column_: Column[Any] | str,
        metric: str = "cosine",
        *,
        tiflash_replica: int | None = 1,
        ef_search: int | None = None,
        **kw: Any,
    ) -> None:
        self.metric = _check_metric(metric)
        #: The embedded engine's search width for this index (None: the engine's default, which widens
        #: with the index's size); not part of any DDL.
        self.ef_search = check_ef_search(ef_search)
        #: Replicas TiDB sets just before this index's CREATE (None: leave replicas alone).
        self.tiflash_replica = tiflash_replica
        target = column(column_) if isinstance(column_, str) else column_
        self.vector_column_name = column_ if isinstance(column_, str) else column_.name
        super().__init__(name, distance_function(metric)(target), **kw)

    @property
    def distance(self) -> VectorDistance:
        """The indexed distance expression, ``VEC_COSINE_DISTANCE(col)`` or ``VEC_L2_DISTANCE(col)``."""
        return self.expressions[0]  # type: ignore[return-value]


class SetTiFlashReplica(ExecutableDDLElement):
    """``ALTER TABLE t SET TIFLASH REPLICA n``: what a TiDB vector index is served from."""

    def __init__(self, table: Table | str, count: int = 1) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"a TiFlash replica count is an int >= 0, got {count!r}")
        self.table = table
        self.count = count


def set_tiflash_replica(bind: Connection, table: Table | str, count: int = 1) -> None:
    """Give ``table`` a TiFlash replica (needed by vector indexes created after the table)."""
    bind.execute(SetTiFlashReplica(table, count))

