"""Where a provider embedder's key and base URL come from on the client, in TiDB's order of places.

1. ``configure_provider(engine, provider, key, base_url=...)`` or, on the embedded engine,
   ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY`` / ``TIDB_EXP_EMBED_OPENAI_API_BASE``: kept per
   engine (providers.py), exactly the variables TiDB reads (pkg/inference/sqlembed.go, NewEmbedFn).
2. Environment variables, for client mode and CI: each provider's usual one (``OPENAI_API_KEY``,
   ``COHERE_API_KEY``, ...) and TiDB's variable name as an environment variable.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..catalog import PROVIDER_KEY_VARIABLES
from ..secrets import ApiKey

if TYPE_CHECKING:
    from ..providers import ProviderCredentials

#: Environment variables holding each provider's key, first found wins.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY", "TIDB_EXP_EMBED_OPENAI_API_KEY"),
    "cohere": ("COHERE_API_KEY", "CO_API_KEY", "TIDB_EXP_EMBED_COHERE_API_KEY"),
    "jina_ai": ("JINA_API_KEY", "JINAAI_API_KEY", "TIDB_EXP_EMBED_JINA_AI_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY", "TIDB_EXP_EMBED_GEMINI_API_KEY"),
    "nvidia_nim": ("NVIDIA_API_KEY", "NVIDIA_NIM_API_KEY", "TIDB_EXP_EMBED_NVIDIA_NIM_API_KEY"),
    "huggingface": ("HF_TOKEN", "TIDB_EXP_EMBED_HUGGINGFACE_API_KEY"),
}
#: Environment variable pointing the HuggingFace Inference API client at another endpoint.
HF_BASE_URL_ENV = "TIDB_EMBED_ORM_HF_BASE_URL"
#: Environment variables pointing a provider at another endpoint (TiDB has one only for OpenAI).
ENV_BASES: dict[str, tuple[str, ...]] = {
    "openai": ("TIDB_EXP_EMBED_OPENAI_API_BASE", "OPENAI_BASE_URL"),
    "cohere": ("TIDB_EMBED_ORM_COHERE_BASE_URL",),
    "jina_ai": ("TIDB_EMBED_ORM_JINA_AI_BASE_URL",),
    "gemini": ("TIDB_EMBED_ORM_GEMINI_BASE_URL",),
    "nvidia_nim": ("TIDB_EMBED_ORM_NVIDIA_NIM_BASE_URL",),
    "huggingface": (HF_BASE_URL_ENV,),
}
assert set(ENV_KEYS) == {p for p, v in PROVIDER_KEY_VARIABLES.items() if v}


def env_key(provider: str) -> ApiKey | None:
    """The first non-empty key among the provider's environment variables (surrounding whitespace dropped)."""
    for name in ENV_KEYS.get(provider, ()):
        value = os.environ.get(name, "").strip()
        if value:
            return ApiKey(value)
    return None


def env_base(provider: str) -> str | None:
    for name in ENV_BASES.get(provider, ()):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def credentials_for(provider: str, configured: ProviderCredentials | None) -> tuple[ApiKey | None, str | None]:
    """(key, base URL) for ``provider``: what the engine was given first, then the environment."""
    key = configured.key if configured is not None else None
    base = configured.base_url if configured is not None else None
    return (key or env_key(provider)), (base or env_base(provider))
