"""The rerank APIs users have, each as its documentation writes the request and the answer.

- Cohere ``POST https://api.cohere.com/v2/rerank``: ``{model, query, documents, top_n}`` ->
  ``{"results": [{"index", "relevance_score"}]}``;
- Jina AI ``POST https://api.jina.ai/v1/rerank``: ``{model, query, documents, top_n,
  return_documents}`` -> ``{"results": [{"index", "relevance_score"}]}``;
- Voyage ``POST https://api.voyageai.com/v1/rerank``: ``{model, query, documents, top_k,
  return_documents, truncation}`` -> ``{"data": [{"index", "relevance_score"}]}``;
- a self-hosted ``/rerank`` server: the shape vLLM, Infinity and OpenAI-compatible gateways share
  (Cohere's/Jina's), or HuggingFace Text Embeddings Inference's ``{query, texts}`` ->
  ``[{"index", "score"}]`` with ``tei=True``.
"""

from __future__ import annotations

from typing import Any

from .http import HttpReranker


def _results(answer: Any, field: str = "results") -> list[tuple[Any, Any]]:
    return [(item["index"], item["relevance_score"]) for item in answer[field]]


class CohereReranker(HttpReranker):
    """Cohere's Rerank API (v2). Key: ``api_key=``, ``COHERE_API_KEY`` or ``CO_API_KEY`` (Cohere's SDK's)."""

    provider = "Cohere rerank API"
    default_url = "https://api.cohere.com/v2/rerank"
    key_env = ("COHERE_API_KEY", "CO_API_KEY")
    max_documents = 1000  # Cohere's recommended maximum per request

    def __init__(self, model: str = "rerank-v3.5", **kwargs: Any) -> None:
        super().__init__(model, **kwargs)

    def body(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": documents}
        if top_n is not None:
            body["top_n"] = top_n
        return body

    def scores(self, answer: Any) -> list[tuple[Any, Any]]:
        return _results(answer)


class JinaReranker(HttpReranker):
    """Jina AI's Reranker API. Key: ``api_key=`` or ``JINA_API_KEY``."""

    provider = "Jina AI rerank API"
    default_url = "https://api.jina.ai/v1/rerank"
    key_env = ("JINA_API_KEY",)

    def __init__(self, model: str = "jina-reranker-v2-base-multilingual", **kwargs: Any) -> None:
        super().__init__(model, **kwargs)

    def body(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": documents,
                                "return_documents": False}
        if top_n is not None:
            body["top_n"] = top_n
        return body

    def scores(self, answer: Any) -> list[tuple[Any, Any]]:
        return _results(answer)


class VoyageReranker(HttpReranker):
    """Voyage AI's Reranker API. Key: ``api_key=`` or ``VOYAGE_API_KEY``."""

    provider = "Voyage rerank API"
    default_url = "https://api.voyageai.com/v1/rerank"
    key_env = ("VOYAGE_API_KEY",)
    max_documents = 1000  # Voyage's documented maximum

    def __init__(self, model: str = "rerank-2.5", *, truncation: bool = True, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.truncation = truncation

    def body(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": documents,
                                "return_documents": False, "truncation": self.truncation}
        if top_n is not None:
            body["top_k"] = top_n
        return body

    def scores(self, answer: Any) -> list[tuple[Any, Any]]:
        return _results(answer, "data")


class RerankEndpoint(HttpReranker):
    """A self-hosted ``/rerank`` server: vLLM, Infinity, an OpenAI-compatible gateway, or HF TEI (``tei=True``).

    ``url`` is the endpoint itself (``http://localhost:8080/rerank``); the key is optional.
    TEI takes at most ``--max-client-batch-size`` texts per request (32 unless the server raises it):
    pass ``max_documents=`` to match the server.
    """

    provider = "rerank server"
    key_required = False
    max_documents = None

    def __init__(self, url: str, model: str | None = None, *, tei: bool = False, **kwargs: Any) -> None:
        super().__init__(model, url=url, **kwargs)
        self.tei = tei

    def body(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        if self.tei:  # TEI answers every text; the top_n cut is made here
            return {"query": query, "texts": documents, "raw_scores": False, "return_text": False}
        body: dict[str, Any] = {"query": query, "documents": documents, "return_documents": False}
        if self.model is not None:
            body["model"] = self.model
        if top_n is not None:
            body["top_n"] = top_n
        return body

    def scores(self, answer: Any) -> list[tuple[Any, Any]]:
        if self.tei:
            return [(item["index"], item["score"]) for item in answer]
        return _results(answer)
