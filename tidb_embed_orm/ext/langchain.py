"""A LangChain ``VectorStore`` on TiDB or the embedded engine (``pip install 'tidb-embed-orm[langchain]'``).

``TiDBVectorStore(engine, "docs", model="tidbcloud_free/amazon/titan-embed-text-v2")`` lets the
database embed (TiDB's Auto Embedding; the embedded engine's local model for a local model name):
LangChain sends texts, never vectors. ``TiDBVectorStore(engine, "docs", embedding=OpenAIEmbeddings())``
embeds on the client instead. Either way: documents with metadata (a JSON column) and ids,
similarity search with distances, metadata filters, MMR, hybrid (vector + full-text) search with
``fulltext=True``, ``get_by_ids``, ``delete``, the async variants and ``as_retriever()``, whose
``search_type`` may also be ``"hybrid"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
from sqlalchemy.engine import Engine

from .document_table import DocumentTable, Hit, mmr_order

HYBRID = "hybrid"


def _document(hit: Hit) -> Document:
    return Document(id=hit.id, page_content=hit.content, metadata=dict(hit.metadata))


class TiDBVectorStore(VectorStore):
    """LangChain's vector store over one table of this library: Auto Embedding or client vectors."""

    def __init__(self, engine: Engine, table_name: str = "langchain_documents", *, embedding: Embeddings | None = None,
                 model: str | None = None, fulltext: bool = False, vector_index: bool = True) -> None:
        if embedding is None and model is None:
            raise ValueError("give model='provider/name' for Auto Embedding (the database embeds), "
                             "or embedding=<a LangChain Embeddings> to embed on the client")
        if embedding is not None and model is not None:
            raise ValueError("give model= (the database embeds) or embedding= (the client embeds), not both")
        self.embedding = embedding
        dimensions = None if embedding is None else len(embedding.embed_query("dimension probe"))
        self.store = DocumentTable(engine, table_name, model=model, dimensions=dimensions, fulltext=fulltext,
                                   vector_index=vector_index)

    @property
    def embeddings(self) -> Embeddings | None:
        """The client-side embedding model, or None when the database embeds."""
        return self.embedding

    def _select_relevance_score_fn(self) -> Any:
        return self._cosine_relevance_score_fn  # the distances are cosine distances

    # writes
    def add_texts(self, texts: Iterable[str], metadatas: list[dict[Any, Any]] | None = None, *,
                  ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Store texts (replacing any with the same id); the vectors come from the database or ``embedding``."""
        texts = list(texts)
        given: list[str | None] = list(ids) if ids is not None else [None] * len(texts)
        ids = [str(i) if i is not None else str(uuid.uuid4()) for i in given]
        metadatas = metadatas if metadatas is not None else [{} for _ in texts]
        vectors = None if self.embedding is None else self.embedding.embed_documents(texts)
        self.store.upsert(ids, texts, metadatas, vectors)
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete these ids (unknown ones are ignored); every document when ``ids`` is None."""
        self.store.delete(ids)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order given; unknown ids are left out."""
        return [_document(hit) for hit in self.store.get(list(ids))]

    # vector search
    def _query(self, query: str) -> str | list[float]:
        return query if self.embedding is None else self.embedding.embed_query(query)

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents with their cosine distance (lower is nearer).

        ``filter`` is a metadata filter such as ``{"genre": "sf", "year": {"$gte": 2000}}``;
        ``max_distance=`` drops documents farther than it.
        """
        hits = self.store.search(self._query(query), k, where=filter, max_distance=kwargs.get("max_distance"))
        return [(_document(hit), hit.score) for hit in hits]

    def similarity_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                          **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to ``query``, nearest first."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None,
                                    **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to a vector (of the store's embedding model)."""
        return [_document(hit) for hit in self.store.search(embedding, k, where=filter)]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict[str, Any] | None = None, **kwargs: Any) -> list[Document]:
        """``k`` documents among the ``fetch_k`` nearest, chosen for relevance and diversity (MMR)."""
        return self._mmr(self._query(query), k, fetch_k, lambda_mult, filter)

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict[str, Any] | None = None,
                                                **kwargs: Any) -> list[Document]:
        """MMR around a query vector."""
        return self._mmr(embedding, k, fetch_k, lambda_mult, filter)

    def _mmr(self, query: str | list[float], k: int, fetch_k: int, lambda_mult: float,
             filter: dict[str, Any] | None) -> list[Document]:
        hits = self.store.search(query, max(fetch_k, k), where=filter, vectors=True)
        order = mmr_order([1.0 - h.score for h in hits], [h.vector for h in hits if h.vector is not None], k,
                          lambda_mult)
        return [_document(hits[i]) for i in order]

    # hybrid search
    def hybrid_search_with_score(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                                 **kwargs: Any) -> list[tuple[Document, float]]:
        """Vector and full-text search fused in one statement (needs ``fulltext=True``); higher scores first."""
        vector = None if self.embedding is None else self.embedding.embed_query(query)
        hits = self.store.hybrid(query, k, vector=vector, where=filter, candidates=kwargs.get("candidates"))
        return [(_document(hit), hit.score) for hit in hits]

    def hybrid_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                      **kwargs: Any) -> list[Document]:
        """The ``k`` best documents of a hybrid search."""
        return [doc for doc, _ in self.hybrid_search_with_score(query, k, filter, **kwargs)]

    async def ahybrid_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                             **kwargs: Any) -> list[Document]:
        """``hybrid_search`` off the event loop."""
        return await run_in_executor(None, self.hybrid_search, query, k, filter, **kwargs)

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """LangChain's search types, plus ``"hybrid"``."""
        if search_type == HYBRID:
            return self.hybrid_search(query, **kwargs)
        return super().search(query, search_type, **kwargs)

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """LangChain's search types, plus ``"hybrid"``, off the event loop."""
        if search_type == HYBRID:
            return await self.ahybrid_search(query, **kwargs)
        return await super().asearch(query, search_type, **kwargs)

    def as_retriever(self, **kwargs: Any) -> VectorStoreRetriever:
        """A retriever: ``search_type`` is ``similarity``, ``similarity_score_threshold``, ``mmr`` or ``hybrid``."""
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return TiDBRetriever(vectorstore=self, tags=tags, **kwargs)

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings | None = None,
                   metadatas: list[dict[Any, Any]] | None = None, *, ids: list[str] | None = None,
                   engine: Engine | None = None, **kwargs: Any) -> TiDBVectorStore:
        """A store on ``engine`` holding ``texts``: ``from_texts(texts, embedding, engine=engine, table_name=...)``."""
        if engine is None:
            raise ValueError("from_texts needs the engine the table lives on: engine=create_engine(...)")
        store = cls(engine, embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store


class TiDBRetriever(VectorStoreRetriever):
    """LangChain's vector-store retriever with one more search type: ``"hybrid"``."""

    allowed_search_types: ClassVar[tuple[str, ...]] = ("similarity", "similarity_score_threshold", "mmr", HYBRID)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        if self.search_type == HYBRID:
            return self.vectorstore.search(query, HYBRID, **(self.search_kwargs | kwargs))
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        if self.search_type == HYBRID:
            return await self.vectorstore.asearch(query, HYBRID, **(self.search_kwargs | kwargs))
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)


__all__ = ["TiDBRetriever", "TiDBVectorStore"]
