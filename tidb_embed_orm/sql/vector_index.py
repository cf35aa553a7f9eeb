"""Vector indexes (HNSW) and the TiFlash replica TiDB needs before it can build one.

``CREATE VECTOR INDEX idx ON t ((VEC_COSINE_DISTANCE(embedding))) USING HNSW``. TiDB serves a
vector index from TiFlash: a table needs a TiFlash replica first. TiDB makes one by itself only
when the index is declared inside CREATE TABLE; SQLAlchemy emits CREATE INDEX afterwards, so a
``VectorIndex`` sets the replica (``ALTER TABLE t SET TIFLASH REPLICA 1``) just before its own
CREATE on TiDB. Pass ``tiflash_replica=None`` to manage replicas yourself.

TiDB's spelling of both (``CREATE VECTOR INDEX``, ``SET TIFLASH REPLICA``) and the listener that
sets the replica live in ``dialects/tidb/ddl.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Table, column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.ddl import ExecutableDDLElement

from .elements import INDEX_METRICS, VectorDistance
from .vector import distance_function


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
        **kw: Any,
    ) -> None:
        self.metric = _check_metric(metric)
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

