"""An ORM flush's texts, embedded before its first statement takes SQLite's write lock.

A flush may run several write statements (inserts of two classes, then updates, then each page of an
insertmanyvalues): once the first has written, the transaction holds the lock until it ends, so a
later statement embedding its own texts would keep every other writer waiting. ``before_flush``
reads every pending and changed source text of the flush and the engine embeds them all first
(``EmbeddingService.hold``, layer ``"flush"``); ``after_flush_postexec`` forgets them.

Registered on the ``Session`` class once an embedded engine exists (``install``), the SQLAlchemy
way for an extension that must see every session; it acts only for mappers bound to an engine whose
dialect offers ``embed_flush_texts`` (the embedded engine's), and costs other sessions one loop over
the flush's objects.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.exc import UnmappedColumnError

from ...sql.auto_embedding import auto_embedding_columns

#: mapper -> (column type, attribute key of its source) for each auto-embedding column it maps
_SOURCES: weakref.WeakKeyDictionary[Mapper[Any], list[tuple[Any, str]]] = weakref.WeakKeyDictionary()
_HELD = "tidb_embed_flush_held"


def _sources(mapper: Mapper[Any]) -> list[tuple[Any, str]]:
    found = _SOURCES.get(mapper)
    if found is None:
        found = []
        for table in mapper.tables:
            for column, source in auto_embedding_columns(table):
                try:
                    found.append((column.type, mapper.get_property_by_column(source).key))
                except UnmappedColumnError:
                    continue
        _SOURCES[mapper] = found
    return found


def _texts(session: Session) -> dict[Mapper[Any], dict[Any, list[str]]]:
    """Per mapper: per column type, the source texts this flush will write."""
    texts: dict[Mapper[Any], dict[Any, list[str]]] = {}
    objects: Iterable[Any] = [*session.new, *session.dirty]
    for obj in objects:
        state = inspect(obj)
        sources = _sources(state.mapper)
        if not sources or (state.has_identity and not session.is_modified(obj, include_collections=False)):
            continue
        for column_type, key in sources:
            added = state.attrs[key].history.added if state.has_identity else ()
            # SQLite computes a stored generated column again on any UPDATE of the row: an unchanged
            # source text (when loaded) is embedded again too, so it is read as well
            value = added[0] if added else state.dict.get(key)
            if isinstance(value, str):
                texts.setdefault(state.mapper, {}).setdefault(column_type, []).append(value)
    return texts


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    by_connection: dict[Any, tuple[Any, dict[Any, list[str]]]] = {}
    for mapper, groups in _texts(session).items():
        dialect = session.get_bind(mapper).dialect
        if not hasattr(dialect, "embed_flush_texts"):
            continue
        connection = session.connection(bind_arguments={"mapper": mapper})
        _, merged = by_connection.setdefault(id(connection), (connection, {}))
        for column_type, group in groups.items():
            merged.setdefault(column_type, []).extend(group)
    held = session.info.setdefault(_HELD, [])
    for connection, merged in by_connection.values():
        dbapi_connection = connection.connection.dbapi_connection
        connection.dialect.embed_flush_texts(dbapi_connection, merged)
        held.append((connection.dialect, id(dbapi_connection)))


def _release(session: Session, *_: Any) -> None:
    for dialect, dbapi_connection in session.info.pop(_HELD, []):
        dialect.embedding_service.release(dbapi_connection, "flush")


def install() -> None:
    """Listen to every Session's flushes (once per process)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush_postexec", _release)
        event.listen(Session, "after_soft_rollback", _release)
