"""The embedding-model registry: what TiDB's EMBED_TEXT accepts, and what each model produces.

Names are ``provider/model`` exactly as EMBED_TEXT takes them. The HuggingFace entries are the
models of TiDB's "HuggingFace Embeddings" page; the others are the providers TiDB documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .exc import DimensionError, UnknownModelError

#: Providers EMBED_TEXT knows, and the global variable that holds each one's API key.
PROVIDER_KEY_VARIABLES: dict[str, str | None] = {
    "huggingface": "TIDB_EXP_EMBED_HUGGINGFACE_API_KEY",
    "openai": "TIDB_EXP_EMBED_OPENAI_API_KEY",
    "cohere": "TIDB_EXP_EMBED_COHERE_API_KEY",
    "jina_ai": "TIDB_EXP_EMBED_JINA_AI_API_KEY",
    "gemini": "TIDB_EXP_EMBED_GEMINI_API_KEY",
    "nvidia_nim": "TIDB_EXP_EMBED_NVIDIA_NIM_API_KEY",
    "tidbcloud_free": None,  # hosted by TiDB Cloud: no key
}

#: TiDB's VECTOR type holds at most this many dimensions.
MAX_VECTOR_DIMENSIONS = 16383

#: One segment of a model name: ASCII letters, digits, ``_ . -``; never ``.`` or ``..`` alone.
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+", re.ASCII)
#: How many ``/``-separated segments follow the provider (HuggingFace repos are always org/name).
_MODEL_SEGMENTS: dict[str, tuple[int, int]] = {"huggingface": (2, 2), "tidbcloud_free": (2, 2), "nvidia_nim": (2, 2)}
_DEFAULT_SEGMENTS = (1, 2)


@dataclass(frozen=True)
class EmbeddingModel:
    """One model EMBED_TEXT can call."""

    name: str
    dim: int
    #: Other output sizes the provider can produce (Matryoshka models); empty when fixed.
    dims: tuple[int, ...] = ()
    metrics: tuple[str, ...] = ("cosine", "l2")
    max_input_tokens: int | None = None
    #: The key of EMBED_TEXT's JSON options that asks the provider for another size.
    dim_option: str | None = None
    hosted_by_tidb: bool = False
    notes: str = field(default="", compare=False)

    @property
    def provider(self) -> str:
        """The provider part of the name: ``huggingface`` for ``huggingface/BAAI/bge-m3``."""
        return self.name.split("/", 1)[0]

    @property
    def provider_model(self) -> str:
        """The name the provider itself uses, without the ``provider/`` prefix."""
        return self.name.split("/", 1)[1]

    @property
    def key_variable(self) -> str | None:
        """The TiDB global variable holding the provider key (None for TiDB-hosted models)."""
        return PROVIDER_KEY_VARIABLES[self.provider]

    def supports_dim(self, dim: int) -> bool:
        """Whether the model makes vectors of ``dim`` dimensions (its default or a selectable size)."""
        return dim == self.dim or dim in self.dims


def _range(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


_MODELS: tuple[EmbeddingModel, ...] = (
    # The seed page: HuggingFace Inference API, bring your own key.
    EmbeddingModel("huggingface/intfloat/multilingual-e5-large", 1024, max_input_tokens=512),
    EmbeddingModel("huggingface/BAAI/bge-m3", 1024, max_input_tokens=8192),
    EmbeddingModel("huggingface/sentence-transformers/all-MiniLM-L6-v2", 384, max_input_tokens=256),
    EmbeddingModel("huggingface/sentence-transformers/all-mpnet-base-v2", 768, max_input_tokens=384),
    EmbeddingModel(
        "huggingface/Qwen/Qwen3-Embedding-0.6B",
        1024,
        max_input_tokens=512,
        notes="The HuggingFace Inference API may be unstable for this model.",
    ),
    # Hosted by TiDB Cloud, free, no key.
    EmbeddingModel(
        "tidbcloud_free/amazon/titan-embed-text-v2",
        1024,
        dims=(512, 256),
        max_input_tokens=8192,
        dim_option="dimensions",
        hosted_by_tidb=True,
    ),
    EmbeddingModel("tidbcloud_free/cohere/embed-english-v3", 1024, max_input_tokens=512, hosted_by_tidb=True),
    EmbeddingModel(
        "tidbcloud_free/cohere/embed-multilingual-v3", 1024, max_input_tokens=512, hosted_by_tidb=True
    ),
    # OpenAI.
    EmbeddingModel(
        "openai/text-embedding-3-small", 1536, dims=_range(512, 1536, 1), max_input_tokens=8191,
        dim_option="dimensions",
    ),
    EmbeddingModel(
        "openai/text-embedding-3-large", 3072, dims=_range(256, 3072, 1), max_input_tokens=8191,
        dim_option="dimensions",
    ),
    EmbeddingModel("openai/text-embedding-ada-002", 1536, max_input_tokens=8191),
    # Cohere.
    EmbeddingModel(
        "cohere/embed-v4.0", 1536, dims=(256, 512, 1024), max_input_tokens=128000,
        dim_option="output_dimension",
    ),
    EmbeddingModel("cohere/embed-english-v3.0", 1024, max_input_tokens=512),
    EmbeddingModel("cohere/embed-multilingual-v3.0", 1024, max_input_tokens=512),
    EmbeddingModel("cohere/embed-english-light-v3.0", 384, max_input_tokens=512),
    EmbeddingModel("cohere/embed-multilingual-light-v3.0", 384, max_input_tokens=512),
    # Jina AI.
    EmbeddingModel(
        "jina_ai/jina-embeddings-v4", 2048, dims=(128, 256, 512, 1024), max_input_tokens=32768,
        dim_option="dimensions",
    ),
    EmbeddingModel(
        "jina_ai/jina-embeddings-v3", 1024, dims=(32, 64, 128, 256, 512, 768), max_input_tokens=8192,
        dim_option="dimensions",
    ),
    # Google Gemini.
    EmbeddingModel(
        "gemini/gemini-embedding-001", 3072, dims=_range(128, 3072, 1), max_input_tokens=2048,
        dim_option="output_dimensionality",
    ),
    # NVIDIA NIM.
    EmbeddingModel("nvidia_nim/baai/bge-m3", 1024, max_input_tokens=8192),
    EmbeddingModel(
        "nvidia_nim/nvidia/llama-3.2-nv-embedqa-1b-v2", 2048, dims=(384, 512, 768, 1024),
        max_input_tokens=8192, dim_option="dimensions",
    ),
)

_REGISTRY: dict[str, EmbeddingModel] = {m.name: m for m in _MODELS}


def parse_model_name(name: str) -> tuple[str, str]:
    """Split ``provider/model`` and check it has the shape EMBED_TEXT accepts.

    The name ends up in URL paths (the HuggingFace API) and folder paths (local models), so a
    segment is never empty, ``.`` or ``..``, and nothing but ASCII letters, digits, ``_ . -``.
    """
    if not isinstance(name, str):
        raise UnknownModelError(f"model name must be a string like 'huggingface/BAAI/bge-m3', got {name!r}")
    provider, _, model = name.partition("/")
    segments = model.split("/") if model else []
    problem = _name_problem(provider, segments)
    if problem is not None:
        raise UnknownModelError(
            f"malformed model name {name!r}: {problem}; expected 'provider/org/name' "
            "(for example 'huggingface/BAAI/bge-m3') or 'provider/name' (for example 'openai/text-embedding-3-small')"
        )
    if provider not in PROVIDER_KEY_VARIABLES:
        raise UnknownModelError(
            f"unknown provider {provider!r} in model name {name!r}; "
            f"TiDB knows: {', '.join(sorted(PROVIDER_KEY_VARIABLES))}"
        )
    low, high = _MODEL_SEGMENTS.get(provider, _DEFAULT_SEGMENTS)
    if not low <= len(segments) <= high:
        shape = "org/name" if low == high == 2 else "name or org/name"
        raise UnknownModelError(
            f"malformed model name {name!r}: {provider} models are named '{provider}/{shape}', "
            f"this one has {len(segments)} part(s) after the provider"
        )
    return provider, model


def _name_problem(provider: str, segments: list[str]) -> str | None:
    if not re.fullmatch(r"[a-z_]+", provider, re.ASCII):
        return "the provider must be lowercase letters and '_'"
    if not segments:
        return "no model after the provider"
    for segment in segments:
        if segment in ("", ".", ".."):
            return f"empty, '.' or '..' part {segment!r}"
        if not _SEGMENT.fullmatch(segment):
            return f"part {segment!r} has characters other than ASCII letters, digits, '_', '.' and '-'"
    return None


def get_model(name: str) -> EmbeddingModel:
    """The registry entry of ``name``, or a clear error listing similar known models."""
    parse_model_name(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        provider = name.split("/", 1)[0]
        known = [m.name for m in _MODELS if m.provider == provider]
        raise UnknownModelError(
            f"model {name!r} is not in the registry, so its dimension is unknown; "
            f"pass dim=N explicitly or use a known {provider} model: {', '.join(known)}"
        ) from None


def list_models(provider: str | None = None) -> list[EmbeddingModel]:
    """Every registered model, optionally of one provider."""
    return [m for m in _MODELS if provider is None or m.provider == provider]


def register_model(model: EmbeddingModel) -> EmbeddingModel:
    """Add a model (for example a new HuggingFace repo) so that ``dim`` can be left out."""
    parse_model_name(model.name)
    check_dimensions(model.dim)
    _REGISTRY[model.name] = model
    return model


def check_dimensions(dim: int) -> int:
    """A VECTOR(N) dimension TiDB accepts."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise DimensionError(f"dimension must be an int, got {dim!r}")
    if not 1 <= dim <= MAX_VECTOR_DIMENSIONS:
        raise DimensionError(f"dimension {dim} is out of range: TiDB vectors have 1 to {MAX_VECTOR_DIMENSIONS}")
    return dim


def resolve_dim(name: str, dim: int | None) -> tuple[int, EmbeddingModel | None]:
    """The column dimension for ``name``: the registry's, or ``dim`` checked against it."""
    parse_model_name(name)
    known = _REGISTRY.get(name)
    if known is None:
        if dim is None:
            get_model(name)  # raises the "not in the registry" error
        return check_dimensions(dim), None  # type: ignore[arg-type]
    if dim is None:
        return known.dim, known
    check_dimensions(dim)
    if not known.supports_dim(dim):
        sizes = f"{known.dim}" + (f" (or one of its other sizes: {_describe(known.dims)})" if known.dims else "")
        raise DimensionError(f"model {name!r} produces {sizes}-dimensional vectors, not {dim}")
    return dim, known


def _describe(dims: tuple[int, ...]) -> str:
    if len(dims) > 8 and dims == tuple(range(dims[0], dims[-1] + 1)):
        return f"{dims[0]}..{dims[-1]}"
    return ", ".join(map(str, dims))
