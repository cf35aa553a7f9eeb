"""Client mode: the database has no EMBED_TEXT, so a rebuilt table's new vectors come from the client.

After the rows are copied, the rows of each changed auto-embedding column are embedded in
batches (``EmbeddingService.embed``) and written with one ``executemany`` UPDATE per chunk,
keyed by the table's primary key (or SQLite's rowid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ...sql.auto_embedding import AutoEmbeddingVector
from ...sql.vector import Vector
from .plan import chunk_rows, log


def fill_vectors(
    conn: Connection,
    table_sql: str,
    keys: Sequence[str],
    pairs: Sequence[tuple[Any, Any]],
    total: int,
    after_chunk: Callable[[], None] = lambda: None,
) -> None:
    """Give every row of ``table_sql`` with source text a vector in each (column, source) pair.

    ``after_chunk`` runs after each chunk's UPDATE (TiDB: a COMMIT, to stay within transaction limits).
    """
    quote = conn.dialect.identifier_preparer.quote
    service = conn.dialect.embedding_service  # type: ignore[attr-defined]
    match = " AND ".join(f"{quote(k)} = :k{i}" for i, k in enumerate(keys))
    for column, source in pairs:
        column_type = cast(AutoEmbeddingVector, column.type)
        update = text(f"UPDATE {table_sql} SET {quote(column.name)} = :vector WHERE {match}").bindparams(
            bindparam("vector", type_=Vector(column_type.dim))
        )
        done = 0
        for rows in _chunks(conn, table_sql, keys, quote(column.name), quote(source.name)):
            vectors = service.embed_stored(column_type, [str(r[-1]) for r in rows])
            conn.execute(update, [
                {"vector": vector, **{f"k{i}": row[i] for i in range(len(keys))}}
                for row, vector in zip(rows, vectors, strict=True)
            ])
            after_chunk()
            done += len(rows)
            log.info("embedded %d/%d rows of %s.%s on the client", done, total, table_sql, column.name)


def _chunks(conn: Connection, table_sql: str, keys: Sequence[str], col: str, src: str) -> Iterator[list[Any]]:
    """The rows with source text, a chunk at a time: by key range, or (composite keys) the rows still NULL."""
    quote = conn.dialect.identifier_preparer.quote
    size = chunk_rows()
    if len(keys) == 1:
        key, last = quote(keys[0]), None
        while True:
            after = "" if last is None else f" AND {key} > :last"
            rows = conn.execute(text(f"SELECT {key}, {src} FROM {table_sql} WHERE {src} IS NOT NULL{after} "
                                     f"ORDER BY {key} LIMIT {size}"), {"last": last}).all()
            if not rows:
                return
            yield list(rows)
            last = rows[-1][0]
    listed = ", ".join(quote(k) for k in keys)
    while rows := conn.execute(text(f"SELECT {listed}, {src} FROM {table_sql} WHERE {col} IS NULL AND {src} "
                                    f"IS NOT NULL LIMIT {size}")).all():
        yield list(rows)
