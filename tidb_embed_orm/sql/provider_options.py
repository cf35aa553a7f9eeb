"""What a column's EMBED_TEXT options mean to its provider, decided once, at declaration.

TiDB passes the options to the provider as they are (merged into the request body, the fixed fields
winning: pkg/inference/embedding/<provider>/protocol.go's ``OtherOptions ... json:",unknown"``). So:

- **Defaults.** Where the provider's docs (and TiDB's) say a column needs an option, the column
  type writes it when the declaration has neither ``k`` nor ``k@search`` (Cohere ``input_type`` =
  ``search_document`` / ``search_query``; Jina ``task``; Gemini ``task_type``; NIM ``input_type`` for
  the asymmetric models). It is in the generation expression, so TiDB gets it too and search stays
  symmetric with storage. Giving ``k`` alone keeps your choice (one type for both sides).
- **Refusals** (``InvalidOptionsError``): an option that makes the answer unreadable, so that every
  insert would fail on TiDB too (Cohere ``embedding_types`` changes ``embeddings`` from a list into an
  object that TiDB's Response cannot decode).
- **Warnings** (``ProviderOptionsWarning``): an option TiDB overrides or the provider ignores. The
  statement still works and gives the same vectors everywhere, so refusing would break a valid TiDB
  schema; but you probably meant something else, so it is said once, at declaration.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..catalog import defaults_for
from ..exc import InvalidOptionsError, ProviderOptionsWarning
from ..options import SEARCH_SUFFIX

#: Body fields each TiDB adapter always sets itself (its Request struct's named fields).
FIXED_FIELDS: dict[str, tuple[str, ...]] = {
    "openai": ("model", "input", "encoding_format"),
    "cohere": ("model", "texts"),
    "jina_ai": ("model", "input", "embedding_type"),
    "gemini": ("model", "content"),
    "nvidia_nim": ("model", "input", "encoding_format"),
    "huggingface": ("inputs",),
}

#: Options that make the provider's answer unreadable for TiDB's adapter: (provider, key) -> why.
REFUSED: dict[tuple[str, str], str] = {
    ("cohere", "embedding_types"): (
        "it turns Cohere's 'embeddings' list into an object keyed by type, which TiDB's Cohere adapter cannot "
        "read (every insert would fail there too); leave it out, floats are what TiDB stores"
    ),
}

#: Options the provider ignores or rejects although TiDB sends them: (provider, key) -> why.
WARNED: dict[tuple[str, str], str] = {
    ("gemini", "embedding_config"): (
        "the Gemini REST API (batchEmbedContents, which TiDB calls) takes 'output_dimensionality' and "
        "'task_type' at the top level; 'embedding_config' is the google-genai SDK's wrapper and the API may "
        "refuse it (400). TiDB's docs show both spellings; prefer {'output_dimensionality': N}"
    ),
}


def _base(key: str) -> str:
    return key[: -len(SEARCH_SUFFIX)] if key.endswith(SEARCH_SUFFIX) else key


def check_provider_options(model: str, options: dict[str, Any] | None) -> None:
    """Refuse or warn about options ``model``'s provider cannot use as TiDB sends them (see module docstring)."""
    if not options:
        return
    provider = model.split("/", 1)[0]
    fixed = FIXED_FIELDS.get(provider, ())
    for key in sorted(options):
        base = _base(key)
        why = REFUSED.get((provider, base))
        if why is not None:
            raise InvalidOptionsError(f"EMBED_TEXT option {key!r} cannot be used with {model!r}: {why}")
        if base in fixed:
            warnings.warn(
                f"EMBED_TEXT option {key!r} of {model!r} is ignored: TiDB's {provider} adapter sets {base!r} "
                "itself (its own field wins), and so does this library",
                ProviderOptionsWarning,
                stacklevel=4,
            )
        why = WARNED.get((provider, base))
        if why is not None:
            warnings.warn(f"EMBED_TEXT option {key!r} of {model!r}: {why}", ProviderOptionsWarning, stacklevel=4)


def with_provider_defaults(model: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """``options`` plus the defaults ``model`` needs, each only where neither ``k`` nor ``k@search`` is given."""
    defaults = defaults_for(model)
    if not defaults:
        return options
    merged = dict(options or {})
    for key, stored, search in defaults:
        if key not in merged and key + SEARCH_SUFFIX not in merged:
            merged[key] = stored
            merged[key + SEARCH_SUFFIX] = search
    return merged or None
