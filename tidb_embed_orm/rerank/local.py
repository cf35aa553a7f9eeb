"""A cross-encoder run on this machine through sentence-transformers, from files already on it.

``CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")`` finds the model where local
embedding models are found (``TIDB_EMBED_ORM_MODELS_DIR/<org>/<name>``, then the HuggingFace cache)
or takes a folder; it never downloads. Scores are the model's raw relevance (higher is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exc import RerankError
from .base import RerankScore, check_scores


def _model_folder(model: str | Path) -> Path:
    folder = Path(model)
    if folder.is_dir():
        return folder
    from ..embedders.local import MODELS_DIR_ENV, find_local_model

    found = find_local_model(str(model), {}) if isinstance(model, str) else None
    if found is None:
        raise RerankError(
            f"the cross-encoder {str(model)!r} is not on this machine (models are never downloaded here): "
            f"pass the folder holding its files, put it under ${MODELS_DIR_ENV}/<org>/<name>, "
            "or fetch it once with `hf download`"
        )
    return found


class CrossEncoderReranker:
    """A local sentence-transformers ``CrossEncoder`` (CPU unless ``device=``)."""

    def __init__(self, model: str | Path, *, device: str = "cpu", batch_size: int = 32,
                 max_length: int | None = None) -> None:
        try:
            from sentence_transformers import CrossEncoder
        except ImportError:
            raise RerankError(
                "a local cross-encoder needs sentence-transformers: pip install 'tidb-embed-orm[local]'"
            ) from None
        self.path = _model_folder(model)
        self.batch_size = batch_size
        self.model: Any = CrossEncoder(str(self.path), device=device, local_files_only=True, max_length=max_length)
        labels = getattr(self.model.config, "num_labels", 1)
        if labels != 1:
            raise RerankError(f"{self.path} classifies into {labels} labels; a reranking cross-encoder has one "
                              "relevance score (num_labels=1)")

    def __repr__(self) -> str:
        return f"CrossEncoderReranker({str(self.path)!r})"

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankScore]:
        """Every (query, document) pair scored by the model; the best ``top_n``, best first."""
        if not documents:
            return []
        scores = self.model.predict([(query, d) for d in documents], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True)
        pairs = [RerankScore(i, float(s)) for i, s in enumerate(scores.reshape(len(documents)))]
        return check_scores(pairs, len(documents), top_n, repr(self))
