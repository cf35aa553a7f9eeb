"""The embedding-model registry: what TiDB's EMBED_TEXT accepts, and what each model produces.

Names are ``provider/model`` exactly as EMBED_TEXT takes them. Every entry is a model of TiDB's
docs (pingcap/docs ``ai/integrations/vector-search-auto-embedding-*.md`` and
``ai/integrations/embedding-huggingface.md``) unless ``verified=False`` says the provider documents it
but TiDB's pages do not. Besides its size, an entry records what TiDB's docs say a column needs:
the options a provider requires (Cohere's ``input_type``...), applied as defaults at declaration so
that TiDB receives them too, and hard input limits, enforced before a paid call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

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

#: How each provider is called in messages.
PROVIDER_LABELS: dict[str, str] = {
    "huggingface": "HuggingFace",
    "openai": "OpenAI",
    "cohere": "Cohere",
    "jina_ai": "Jina AI",
    "gemini": "Gemini",
    "nvidia_nim": "NVIDIA NIM",
    "tidbcloud_free": "TiDB Cloud",
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
    #: Hard input limit in characters, where the docs give one (checked before any call is made).
    max_input_chars: int | None = None
    #: False: the provider documents the model, TiDB's pages do not (TiDB passes any name through).
    verified: bool = True
    #: Options the docs say a column of this model needs: (key, for stored text, for query text),
    #: written into the declaration as ``key`` and ``key@search`` when the user gives neither.
    defaults: tuple[tuple[str, Any, Any], ...] = ()
    #: For a TiDB-hosted model: the bring-your-own-key model giving the same vectors, if any.
    byok: str | None = None

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

    @property
    def dim_paths(self) -> tuple[str, ...]:
        """Where a size can be asked for in the options: ``key`` or ``outer.inner`` (Gemini's nested config)."""
        if self.dim_option is None:
            return ()
        return (self.dim_option, *_NESTED_SIZE_PATHS.get(self.provider, ()))


def _range(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


#: Sizes asked for by a nested option: Gemini's docs show {"embedding_config": {"output_dimensionality": N}}.
_NESTED_SIZE_PATHS: dict[str, tuple[str, ...]] = {"gemini": ("embedding_config.output_dimensionality",)}

_COHERE_INPUT_TYPE = (("input_type", "search_document", "search_query"),)
_JINA_TASK = (("task", "retrieval.passage", "retrieval.query"),)
_GEMINI_TASK = (("task_type", "RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"),)
_NIM_INPUT_TYPE = (("input_type", "passage", "query"),)
#: Provider-wide defaults (every Cohere v3/v4 and Gemini embedding model takes them); others are per model.
PROVIDER_DEFAULTS: dict[str, tuple[tuple[str, Any, Any], ...]] = {"cohere": _COHERE_INPUT_TYPE, "gemini": _GEMINI_TASK}

_HF = "huggingface/"
_MODELS: tuple[EmbeddingModel, ...] = (
    # HuggingFace Inference API, bring your own key (vector-search-auto-embedding-huggingface.md).
    EmbeddingModel(_HF + "intfloat/multilingual-e5-large", 1024, max_input_tokens=512),
    EmbeddingModel(_HF + "BAAI/bge-m3", 1024, max_input_tokens=8192),
    EmbeddingModel(_HF + "sentence-transformers/all-MiniLM-L6-v2", 384, max_input_tokens=256),
    EmbeddingModel(_HF + "sentence-transformers/all-mpnet-base-v2", 768, max_input_tokens=384),
    EmbeddingModel(
        _HF + "Qwen/Qwen3-Embedding-0.6B",
        1024,
        max_input_tokens=512,
        notes="The HuggingFace Inference API may be unstable for this model.",
    ),
    # ... and the further models of embedding-huggingface.md (bert-base-uncased and
    # distilbert-base-uncased are left out: they are not sentence-embedding models, so the
    # feature-extraction API answers token vectors, which no VECTOR column can hold).
    EmbeddingModel(_HF + "sentence-transformers/all-MiniLM-L12-v2", 384, max_input_tokens=256),
    EmbeddingModel(_HF + "BAAI/bge-small-en-v1.5", 384, max_input_tokens=512),
    EmbeddingModel(_HF + "BAAI/bge-base-en-v1.5", 768, max_input_tokens=512),
    EmbeddingModel(_HF + "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", 384, max_input_tokens=256),
    EmbeddingModel(_HF + "sentence-transformers/paraphrase-multilingual-mpnet-base-v2", 768, max_input_tokens=384),
    # Hosted by TiDB Cloud, free, no key (vector-search-auto-embedding-amazon-titan.md, -cohere.md).
    EmbeddingModel(
        "tidbcloud_free/amazon/titan-embed-text-v2",
        1024,
        dims=(512, 256),
        max_input_tokens=8192,
        max_input_chars=50000,
        dim_option="dimensions",
        hosted_by_tidb=True,
    ),
    EmbeddingModel(
        "tidbcloud_free/cohere/embed-english-v3", 1024, max_input_tokens=512, max_input_chars=2048,
        hosted_by_tidb=True, defaults=_COHERE_INPUT_TYPE, byok="cohere/embed-english-v3.0",
    ),
    EmbeddingModel(
        "tidbcloud_free/cohere/embed-multilingual-v3", 1024, max_input_tokens=512, max_input_chars=2048,
        hosted_by_tidb=True, defaults=_COHERE_INPUT_TYPE, byok="cohere/embed-multilingual-v3.0",
    ),
    # OpenAI: `dimensions` takes any size from 1 to the model's (OpenAI's API reference); TiDB's
    # docs show 512-1536 and 256-3072 as examples and pass the option through unchecked.
    EmbeddingModel(
        "openai/text-embedding-3-small", 1536, dims=_range(1, 1536, 1), max_input_tokens=8191,
        dim_option="dimensions",
    ),
    EmbeddingModel(
        "openai/text-embedding-3-large", 3072, dims=_range(1, 3072, 1), max_input_tokens=8191,
        dim_option="dimensions",
    ),
    EmbeddingModel("openai/text-embedding-ada-002", 1536, max_input_tokens=8191, verified=False),
    # Cohere (vector-search-auto-embedding-cohere.md): v3 and v4 need input_type.
    EmbeddingModel(
        "cohere/embed-v4.0", 1536, dims=(256, 512, 1024), max_input_tokens=128000,
        dim_option="output_dimension",
    ),
    EmbeddingModel("cohere/embed-english-v3.0", 1024, max_input_tokens=512),
    EmbeddingModel("cohere/embed-multilingual-v3.0", 1024, max_input_tokens=512),
    EmbeddingModel("cohere/embed-english-light-v3.0", 384, max_input_tokens=512, verified=False),
    EmbeddingModel("cohere/embed-multilingual-light-v3.0", 384, max_input_tokens=512, verified=False),
    # Jina AI (vector-search-auto-embedding-jina-ai.md): v4 is documented at 2048 only.
    EmbeddingModel("jina_ai/jina-embeddings-v4", 2048, max_input_tokens=32768, defaults=_JINA_TASK),
    EmbeddingModel(
        "jina_ai/jina-embeddings-v3", 1024, dims=(32, 64, 128, 256, 512, 768), max_input_tokens=8192,
        dim_option="dimensions", defaults=_JINA_TASK,
    ),
    # Google Gemini (vector-search-auto-embedding-gemini.md).
    EmbeddingModel(
        "gemini/gemini-embedding-001", 3072, dims=_range(128, 3072, 1), max_input_tokens=2048,
        dim_option="output_dimensionality",
    ),
    # NVIDIA NIM (vector-search-auto-embedding-nvidia-nim.md).
    EmbeddingModel("nvidia_nim/baai/bge-m3", 1024, max_input_tokens=8192),
    EmbeddingModel("nvidia_nim/nvidia/nv-embed-v1", 4096, defaults=_NIM_INPUT_TYPE),
    EmbeddingModel(
        "nvidia_nim/nvidia/llama-3.2-nv-embedqa-1b-v2", 2048, dims=(384, 512, 768, 1024),
        max_input_tokens=8192, dim_option="dimensions", verified=False, defaults=_NIM_INPUT_TYPE,
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


def normalize_model_name(name: str) -> str:
    """``name`` with its provider trimmed and lower-cased, as TiDB reads it (``OpenAI/x`` is ``openai/x``)."""
    if not isinstance(name, str) or "/" not in name:
        return name
    provider, _, model = name.partition("/")
    return f"{provider.strip().lower()}/{model}"


def get_model_or_none(name: str) -> EmbeddingModel | None:
    """The registry entry of ``name`` (provider normalised), or None."""
    return _REGISTRY.get(normalize_model_name(name))


def defaults_for(name: str) -> tuple[tuple[str, Any, Any], ...]:
    """The options a column of ``name`` needs when declared without them (see EmbeddingModel.defaults)."""
    entry = get_model_or_none(name)
    if entry is not None and entry.defaults:
        return entry.defaults
    return PROVIDER_DEFAULTS.get(normalize_model_name(name).split("/", 1)[0], ())


def requested_sizes(entry: EmbeddingModel | None, options: Any) -> list[tuple[str, Any]]:
    """Every (path, value) in ``options`` that asks a provider for a size: top-level size keys and nested paths."""
    if not isinstance(options, dict):
        return []
    found = [(key, options[key]) for key in sorted(SIZE_OPTION_KEYS & set(options))]
    paths = set(entry.dim_paths if entry is not None else ()) | {p for ps in _NESTED_SIZE_PATHS.values() for p in ps}
    for path in sorted(paths):
        outer, _, inner = path.partition(".")
        nested = options.get(outer) if inner else None
        if isinstance(nested, dict) and inner in nested:
            found.append((path, nested[inner]))
    return found


#: EMBED_TEXT option keys that ask a provider for another output size (the registry's dim_option values).
SIZE_OPTION_KEYS = frozenset({"dimensions", "output_dimension", "output_dimensionality"})


def get_model(name: str) -> EmbeddingModel:
    """The registry entry of ``name``, or a clear error listing similar known models."""
    name = normalize_model_name(name)
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
    name = normalize_model_name(name)
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
