"""Search results in the shapes applications hand on: flat records and a pandas DataFrame.

A search (``nearest()``, ``fulltext_search()``, ``hybrid_search()``, a reranked list) yields rows
such as ``(Doc, distance)`` or ``(Doc, hybrid_score, vector_rank, fulltext_rank)``. An API response
model or a DataFrame wants one flat record per row: the entity's columns and the scores side by
side. ``records()`` makes them without touching the database again (deferred columns that were not
loaded, such as a deferred vector, are left out rather than loaded row by row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

if TYPE_CHECKING:
    import pandas as pd


def _entity_fields(value: Any) -> dict[str, Any] | None:
    """A mapped object's loaded column attributes, by attribute name; None for anything else."""
    state = inspect(value, raiseerr=False)
    mapper = getattr(state, "mapper", None)
    if mapper is None:
        return None
    loaded = state.dict
    return {attr.key: loaded[attr.key] for attr in mapper.column_attrs if attr.key in loaded}


def _fields(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    mapping = getattr(row, "_mapping", None)  # a SQLAlchemy Row
    if mapping is not None:
        return {str(key): mapping[key] for key in row._fields}
    if hasattr(row, "_asdict"):  # a namedtuple, such as a reranked hit
        return row._asdict()  # type: ignore[no-any-return]
    fields = _entity_fields(row)
    if fields is None:
        raise TypeError(f"records() takes result rows, mappings or mapped objects, got {type(row).__name__}")
    return {"": row}


def records(
    rows: Iterable[Any], *, vectors: bool = True, rename: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One flat dict per row: each mapped object's columns, then the row's other values by name.

    ``records(session.execute(nearest(Doc, ...)))`` is ``[{"id": 1, "content": ..., "distance": 0.12}, ...]``
    ready for ``Model.model_validate(record)`` or ``pandas.DataFrame(records)``. ``vectors=False``
    leaves out numpy arrays (vectors are large and rarely wanted in a response or a table).
    A score named like one of the object's columns (a ``Place.distance`` beside ``nearest()``'s
    ``distance``) is refused, never overwritten in silence: ``rename={"distance": "search_distance"}``
    gives the row's values other names.
    """
    rename = dict(rename or {})
    out: list[dict[str, Any]] = []
    for row in rows:
        flat: dict[str, Any] = {}
        scores: dict[str, Any] = {}
        for name, value in _fields(row).items():
            fields = _entity_fields(value)
            if fields is None:
                scores[rename.get(name, name)] = value
            else:
                flat.update(fields)
        clash = sorted(set(flat) & set(scores))
        if clash:
            raise ValueError(
                f"records(): the row's {clash} would overwrite the object's column(s) of the same name; "
                f"pass rename={{{clash[0]!r}: 'search_{clash[0]}'}} to keep both"
            )
        flat.update(scores)
        if not vectors:
            flat = {k: v for k, v in flat.items() if not hasattr(v, "__array__")}
        out.append(flat)
    return out


def to_dataframe(
    rows: Iterable[Any], *, vectors: bool = False, rename: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """``records(rows)`` as a pandas DataFrame (``pip install pandas``); vectors left out unless asked for.

    For a Core statement ``pandas.read_sql(stmt, engine)`` reads the same columns directly.
    """
    import pandas as pd

    return pd.DataFrame.from_records(records(rows, vectors=vectors, rename=rename))


__all__ = ["records", "to_dataframe"]
