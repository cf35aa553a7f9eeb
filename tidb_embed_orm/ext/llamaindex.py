"""A LlamaIndex vector store on TiDB or the embedded engine (``pip install 'tidb-embed-orm[llamaindex]'``).

``TiDBVectorStore(engine=engine, table_name="nodes", dimensions=384)`` stores the vectors LlamaIndex's
embedding model computes; ``TiDBVectorStore(engine=engine, table_name="nodes", model="provider/name")``
lets the database embed node texts and query strings (Auto Embedding: LlamaIndex's own embeddings
are ignored and queries are sent as text). Nodes keep their metadata (a JSON column, filterable
with ``MetadataFilters``) and their document id (``delete(ref_doc_id)``). Query modes: ``default``
(vector), ``hybrid`` and ``text_search`` (with ``fulltext=True``) and ``mmr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from sqlalchemy.engine import Engine

from .document_table import DocumentTable, Hit, mmr_order

_OPERATORS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
}


def filters_spec(filters: MetadataFilters | MetadataFilter | None) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` as the filter dict ``document_table.metadata_filter`` compiles."""
    if filters is None:
        return None
    if isinstance(filters, MetadataFilter):
        op = _OPERATORS.get(filters.operator)
        if op is None:
            raise ValueError(f"metadata filter operator {filters.operator.value!r} is not supported here; "
                             f"use one of {sorted(o.value for o in _OPERATORS)}")
        return {filters.key: {op: filters.value}}
    parts = [p for p in (filters_spec(f) for f in filters.filters) if p is not None]
    if not parts:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.NOT:
        return {"$not": {"$and": parts}}
    return {"$or" if condition == FilterCondition.OR else "$and": parts}


def _with_ids(spec: dict[str, Any] | None, doc_ids: Sequence[str] | None) -> dict[str, Any] | None:
    if not doc_ids:
        return spec
    restriction = {"ref_doc_id": {"$in": list(doc_ids)}}
    return restriction if spec is None else {"$and": [spec, restriction]}


class TiDBVectorStore(BasePydanticVectorStore):
    """LlamaIndex's vector store over one table of this library: client vectors or Auto Embedding."""

    stores_text: bool = True
    flat_metadata: bool = False
    table_name: str = "llamaindex_nodes"
    _table: DocumentTable = PrivateAttr()

    def __init__(self, engine: Engine, table_name: str = "llamaindex_nodes", *, dimensions: int | None = None,
                 model: str | None = None, fulltext: bool = False, vector_index: bool = True) -> None:
        super().__init__(table_name=table_name, is_embedding_query=model is None)  # type: ignore[call-arg]
        self._table = DocumentTable(engine, table_name, model=model, dimensions=dimensions, fulltext=fulltext,
                                    vector_index=vector_index)

    @classmethod
    def class_name(cls) -> str:
        return "TiDBEmbedOrmVectorStore"

    @property
    def client(self) -> Any:
        """The SQLAlchemy engine."""
        return self._table.engine

    @property
    def table(self) -> DocumentTable:
        """The documents table behind the store."""
        return self._table

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Store nodes (replacing any with the same id): text, metadata, and the vector unless the database embeds."""
        ids = [node.node_id for node in nodes]
        texts = [node.get_content() for node in nodes]
        metadatas = [node_to_metadata_dict(node, remove_text=True, flat_metadata=False) for node in nodes]
        vectors = None if self._table.auto else [node.get_embedding() for node in nodes]
        self._table.upsert(ids, texts, metadatas, vectors)
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document ``ref_doc_id``."""
        self._table.delete(None, {"ref_doc_id": ref_doc_id})

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Delete nodes by id and/or metadata filter."""
        if node_ids is None and filters is None:
            raise ValueError("delete_nodes deletes by node_ids and/or filters; "
                             "the store's clear method deletes every node")
        self._table.delete(node_ids, filters_spec(filters))

    def clear(self) -> None:
        """Delete every node."""
        self._table.delete(None)

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes by id (in that order) and/or metadata filter."""
        return [self._node(hit) for hit in self._table.get(node_ids, filters_spec(filters))]

    def _node(self, hit: Hit) -> BaseNode:
        node = metadata_dict_to_node(hit.metadata, text=hit.content)
        node.set_content(hit.content)
        return node

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """A vector, hybrid, full-text or MMR query, with metadata filters and doc/node id restrictions.

        Empty ``node_ids`` / ``doc_ids`` restrict nothing (what ``VectorIndexRetriever`` sends by default).
        """
        k = query.similarity_top_k
        where = _with_ids(filters_spec(query.filters), query.doc_ids)
        text = query.query_str
        vector = query.query_embedding
        probe: str | list[float] | None = text if self._table.auto else vector
        mode = query.mode
        if mode in (VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.TEXT_SEARCH):
            if not text:
                raise ValueError(f"a {mode.value} query needs query_str")
            if mode == VectorStoreQueryMode.TEXT_SEARCH:
                hits = self._table.text(text, k, where=where)
            else:
                hits = self._table.hybrid(text, query.hybrid_top_k or k, vector=None if self._table.auto else vector,
                                          where=where)
            similarities = [h.score for h in hits]
        elif mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            if probe is None:
                raise ValueError("a vector query needs " + ("query_str" if self._table.auto else "query_embedding"))
            if mode == VectorStoreQueryMode.MMR:
                fetch_k = int(kwargs.get("mmr_prefetch_k") or max(20, 4 * k))
                found = self._table.search(probe, fetch_k, where=where, vectors=True, ids=query.node_ids or None)
                lambda_mult = query.mmr_threshold if query.mmr_threshold is not None else 0.5
                order = mmr_order([1 - h.score for h in found], [h.vector for h in found if h.vector is not None],
                                  k, lambda_mult)
                hits = [found[i] for i in order]
            else:
                hits = self._table.search(probe, k, where=where, ids=query.node_ids or None)
            similarities = [1.0 - h.score for h in hits]  # cosine similarity: higher is better, as LlamaIndex expects
        else:
            raise ValueError(f"query mode {mode.value!r} is not supported here: "
                             "use default, hybrid, text_search or mmr")
        return VectorStoreQueryResult(nodes=[self._node(h) for h in hits], similarities=similarities,
                                      ids=[h.id for h in hits])


__all__ = ["TiDBVectorStore", "filters_spec"]
