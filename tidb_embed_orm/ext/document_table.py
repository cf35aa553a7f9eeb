"""One table of documents for the LangChain and LlamaIndex vector stores: id, text, metadata, vector.

Both stores keep the same shape: ``id`` (the framework's string id), ``content`` (the text, full-text
searchable when ``fulltext=True``), ``metadata`` (JSON) and ``embedding``, with a cosine
``VectorIndex``. The vector comes from one of two places:

- **Auto Embedding** (``model="provider/name"``): an ``AutoEmbeddingVector`` generated from
  ``content``; the database embeds the texts and the queries (TiDB's EMBED_TEXT and VEC_EMBED_*, or
  the embedded engine's local model); the application sends only text;
- **client vectors** (``dimensions=n``): a ``Vector(n)`` the framework's embedding model fills.

Searches go through ``nearest()`` (metadata filters in TiDB's index-friendly outer-query form) and
``hybrid_search()``; metadata filters are written once here (``metadata_filter``).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import JSON, Column, MetaData, String, Table, and_, delete, not_, or_, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from ..sql.auto_embedding import AutoEmbeddingVector
from ..sql.fulltext import FulltextIndex, SearchableText, fulltext_search
from ..sql.hybrid import hybrid_search
from ..sql.nearest import nearest
from ..sql.vector import Vector
from ..sql.vector_index import VectorIndex

#: a metadata key: letters (any script), digits and _ — never a quote, dot or bracket of a JSON path
_FIELD = re.compile(r"[^\W\d]\w*")
_COMPARISONS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"}
#: each comparison built only when asked for (SQLAlchemy refuses ``>`` beside a bool at construction)
_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt,
    "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le,
}


def _typed(column: Column[Any], field: str, sample: Any) -> ColumnElement[Any]:
    """The JSON field ``field`` read as the type of the value it is compared with."""
    element = column[field]
    if isinstance(sample, bool):
        return element.as_boolean()
    if isinstance(sample, (int, float)):
        return element.as_float()
    if isinstance(sample, str):
        return element.as_string()
    raise ValueError(f"metadata filter on {field!r}: compare with a str, a number or a bool, got {sample!r}")


def _comparison(column: Column[Any], field: str, op: str, value: Any) -> ColumnElement[bool]:
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"metadata filter {{{field!r}: {{{op!r}: ...}}}} takes a non-empty list")
        element = _typed(column, field, value[0])
        return element.in_(list(value)) if op == "$in" else element.not_in(list(value))
    element = _typed(column, field, value)
    if isinstance(value, bool) and op not in ("$eq", "$ne"):
        raise ValueError(f"metadata filter {{{field!r}: {{{op!r}: {value!r}}}}}: "
                         "a bool is compared with $eq or $ne only")
    return _OPERATORS[op](element, value)


def json_metadata(position: int, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """A document's metadata as it is stored: JSON that TiDB, MySQL and SQLite all read back the same.

    Checked before anything is written, with one line naming the document and the key: a value JSON
    has no form for (a datetime, a UUID, bytes) or a number it cannot hold (NaN, infinity: SQLite
    would store JSON5 that TiDB refuses).
    """
    metadata = dict(meta or {})
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError):
        for key, value in metadata.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise ValueError(
                    f"metadata of document {position}, key {key!r}: {type(value).__name__} {value!r} is not JSON "
                    "(str, finite numbers, bool, None, lists and dicts of them); convert it first, e.g. "
                    "a datetime with .isoformat(), a UUID with str()"
                ) from None
        raise ValueError(f"metadata of document {position} is not JSON (str keys, JSON values)") from None
    return metadata


def metadata_filter(column: Column[Any], spec: Mapping[str, Any] | None) -> ColumnElement[bool] | None:
    """A metadata filter (the Chroma / MongoDB-style dict LangChain stores take) as a SQL condition.

    ``{"genre": "sf"}``, ``{"year": {"$gte": 2000}}``, ``{"tag": {"$in": ["a", "b"]}}``,
    ``{"$and": [...]}``, ``{"$or": [...]}``; several keys are AND-ed. Values are bound parameters.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(f"a metadata filter is a dict such as {{'genre': 'sf'}}, got {type(spec).__name__}")
    conditions: list[ColumnElement[bool]] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"metadata filter {key!r} takes a non-empty list of filters")
            parts = [metadata_filter(column, part) for part in value]
            conditions.append((and_ if key == "$and" else or_)(*(p for p in parts if p is not None)))
        elif key == "$not":
            inner = metadata_filter(column, value)
            conditions.append(not_(inner) if inner is not None else true())
        elif not isinstance(key, str) or not _FIELD.fullmatch(key):
            raise ValueError(f"metadata filter field {key!r}: a field name is letters, digits and _, "
                             "operators are $and, $or, $not")
        elif isinstance(value, Mapping):
            unknown = set(value) - _COMPARISONS
            if unknown or not value:
                raise ValueError(f"metadata filter on {key!r}: operators are {sorted(_COMPARISONS)}, "
                                 f"got {sorted(value)}")
            conditions.extend(_comparison(column, key, op, operand) for op, operand in value.items())
        else:
            conditions.append(_comparison(column, key, "$eq", value))
    return and_(*conditions) if conditions else None


@dataclass
class Hit:
    """One stored document found by a search, with the search's score."""

    id: str
    content: str
    metadata: dict[str, Any]
    #: cosine distance (vector search) or fused score (hybrid search)
    score: float
    vector: np.ndarray | None = None


class DocumentTable:
    """The documents table and every statement the framework adapters run on it."""

    def __init__(self, engine: Engine, table_name: str, *, model: str | None = None, dimensions: int | None = None,
                 fulltext: bool = False, vector_index: bool = True, create: bool = True) -> None:
        if (model is None) == (dimensions is None):
            raise ValueError("a document table embeds either in the database (model='provider/name', Auto Embedding) "
                             "or on the client (dimensions=n, from the framework's embedding model): give one")
        if not isinstance(table_name, str) or not _FIELD.fullmatch(table_name):
            raise ValueError(f"table_name is letters, digits and _, got {table_name!r}")
        self.engine = engine
        self.auto = model is not None
        self.fulltext = fulltext
        self.metadata = MetaData()
        vector_type: Any = AutoEmbeddingVector(model, source="content") if model is not None else Vector(dimensions)
        args: list[Any] = [
            Column("id", String(255), primary_key=True),
            Column("content", SearchableText, nullable=False),
            Column("metadata", JSON, nullable=False),
            Column("embedding", vector_type),
        ]
        if vector_index:
            args.append(VectorIndex(f"idx_{table_name}_embedding", "embedding"))
        if fulltext:
            args.append(FulltextIndex(f"ft_{table_name}_content", "content"))
        self.table = Table(table_name, self.metadata, *args)
        if create:
            self.metadata.create_all(engine)

    @property
    def c(self) -> Any:
        """The table's columns."""
        return self.table.c

    def drop(self) -> None:
        """Drop the table (and its indexes)."""
        self.metadata.drop_all(self.engine)

    def upsert(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]],
               vectors: Sequence[Sequence[float]] | None = None) -> None:
        """Insert or replace the documents by id, in one transaction."""
        if not (len(ids) == len(texts) == len(metadatas)) or (vectors is not None and len(vectors) != len(ids)):
            raise ValueError(f"{len(texts)} texts, {len(ids)} ids, {len(metadatas)} metadatas"
                             + ("" if vectors is None else f", {len(vectors)} vectors") + ": give one of each per text")
        if len(set(ids)) != len(ids):
            raise ValueError("the same id is given twice in one call: ids identify documents")
        if vectors is None and not self.auto:
            raise ValueError("this table holds client vectors: give one vector per text")
        rows = []
        for i, (id_, text, meta) in enumerate(zip(ids, texts, metadatas, strict=True)):
            if not isinstance(text, str):
                raise ValueError(f"text {i} is a {type(text).__name__}, not a str")
            row: dict[str, Any] = {"id": str(id_), "content": text, "metadata": json_metadata(i, meta)}
            if vectors is not None:
                row["embedding"] = np.asarray(vectors[i], dtype=np.float32)
            rows.append(row)
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.c.id.in_([r["id"] for r in rows])))
            conn.execute(self.table.insert(), rows)

    def _where(self, ids: Sequence[str] | None, where: Mapping[str, Any] | None) -> list[ColumnElement[bool]]:
        conditions = [] if ids is None else [self.c.id.in_([str(i) for i in ids])]
        condition = metadata_filter(self.c["metadata"], where)
        return conditions if condition is None else [*conditions, condition]

    def delete(self, ids: Sequence[str] | None, where: Mapping[str, Any] | None = None) -> None:
        """Delete these ids (absent ones are ignored) and/or the documents ``where`` matches; all when neither."""
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(*self._where(ids, where)))

    def get(self, ids: Sequence[str] | None, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The documents with these ids, in the order asked (absent ids left out), and/or matching ``where``."""
        if ids is not None and not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.c.id, self.c.content, self.c["metadata"])
                                .where(*self._where(ids, where)).order_by(self.c.id)).all()
        found = {row.id: Hit(row.id, row.content, row.metadata or {}, 0.0) for row in rows}
        return list(found.values()) if ids is None else [found[i] for i in map(str, ids) if i in found]

    def _distance(self, query: str | Sequence[float]) -> ColumnElement[float]:
        if isinstance(query, str) and not self.auto:
            raise ValueError("this table holds client vectors: search it with the query's vector")
        return self.c.embedding.cosine_distance(query if isinstance(query, str) else np.asarray(query, np.float32))

    def search(self, query: str | Sequence[float], k: int, *, where: Mapping[str, Any] | None = None,
               max_distance: float | None = None, vectors: bool = False, ids: Sequence[str] | None = None) -> list[Hit]:
        """The ``k`` nearest documents to a query text (Auto Embedding) or vector, nearest first."""
        columns = [self.c.id, self.c.content, self.c["metadata"], *([self.c.embedding] if vectors else [])]
        stmt = nearest(columns, self._distance(query), k=k, where=self._where(ids, where), max_distance=max_distance)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [Hit(r.id, r.content, r.metadata or {}, float(r.distance), r.embedding if vectors else None)
                for r in rows]

    def hybrid(self, text: str, k: int, *, vector: Sequence[float] | None = None,
               where: Mapping[str, Any] | None = None, candidates: int | None = None) -> list[Hit]:
        """Vector and full-text search fused (RRF) in one statement; ``score`` is the fused score."""
        if not self.fulltext:
            raise ValueError("hybrid search needs the full-text index: create the store with fulltext=True")
        distance = self._distance(text if vector is None else vector)
        stmt = hybrid_search(self.table, vector=distance, text=self.c.content.fts_match(text),
                             where=metadata_filter(self.c["metadata"], where), limit=k, candidates=candidates)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [Hit(r.id, r.content, r.metadata or {}, float(r.hybrid_score)) for r in rows]

    def text(self, text: str, k: int, *, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """Full-text search (BM25); ``score`` is the BM25 score."""
        if not self.fulltext:
            raise ValueError("full-text search needs the full-text index: create the store with fulltext=True")
        condition = metadata_filter(self.c["metadata"], where)
        stmt = fulltext_search(self.table, self.c.content.fts_match(text), where=condition, limit=k)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [Hit(r.id, r.content, r.metadata or {}, float(r.score)) for r in rows]


def mmr_order(query_similarity: Sequence[float], vectors: Iterable[np.ndarray], k: int,
              lambda_mult: float) -> list[int]:
    """Maximal marginal relevance: ``k`` candidate positions, each the most relevant and least redundant left.

    ``query_similarity`` is each candidate's cosine similarity to the query (``1 - distance``);
    redundancy is the highest cosine similarity to a candidate already chosen.
    """
    matrix = np.asarray(list(vectors), dtype=np.float64)
    if len(matrix) == 0 or k <= 0:
        return []
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    pairwise = unit @ unit.T
    relevance = np.asarray(query_similarity, dtype=np.float64)
    chosen = [int(np.argmax(relevance))]
    while len(chosen) < min(k, len(matrix)):
        redundancy = pairwise[:, chosen].max(axis=1)
        scores = lambda_mult * relevance - (1 - lambda_mult) * redundancy
        scores[chosen] = -np.inf
        chosen.append(int(np.argmax(scores)))
    return chosen
