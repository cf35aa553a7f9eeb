"""EMBED_TEXT's JSON options, read as TiDB reads them.

TiDB (``pkg/expression/builtin_inference.go``): the options must be a JSON object ("EMBED_TEXT
expects options in JSON format" otherwise; empty or NULL means none). A key ``k@search`` is
reserved for query embedding: when VEC_EMBED_* embeds a query text its value replaces ``k``;
when stored text is embedded it is dropped. The provider then receives the remaining options
merged into its request body.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import TidbEmbedError

SEARCH_SUFFIX = "@search"


class EmbedOptionsError(TidbEmbedError, ValueError):
    """EMBED_TEXT options that are not a JSON object (TiDB's error message)."""


def parse_options(options_json: str | None) -> dict[str, Any] | None:
    """The options object, or None for none; anything but a JSON object is TiDB's error."""
    if options_json is None or options_json == "":
        return None
    try:
        options = json.loads(options_json)
    except (TypeError, ValueError):
        raise EmbedOptionsError(f"EMBED_TEXT expects options in JSON format, got {options_json!r}") from None
    if not isinstance(options, dict):
        raise EmbedOptionsError(f"EMBED_TEXT expects options in JSON format (an object), got {options_json!r}")
    return options


def resolve_options(options: dict[str, Any] | None, *, search: bool) -> dict[str, Any] | None:
    """The options a provider receives: ``k@search`` replaces ``k`` for a query, and is dropped otherwise."""
    if not options:
        return None
    resolved = {k: v for k, v in options.items() if not k.endswith(SEARCH_SUFFIX)}
    if search:
        for key, value in options.items():
            if key.endswith(SEARCH_SUFFIX):
                resolved[key[: -len(SEARCH_SUFFIX)]] = value
    return resolved or None


def to_json(options: dict[str, Any] | None) -> str | None:
    """Canonical JSON (sorted keys, no spaces): one cache key per meaning."""
    return None if not options else json.dumps(options, sort_keys=True, separators=(",", ":"))


def stored_options_json(options_json: str | None) -> str | None:
    """Options for embedding stored text (``@search`` keys dropped), validated."""
    return to_json(resolve_options(parse_options(options_json), search=False))


def search_options_json(options_json: str | None) -> str | None:
    """Options for embedding a query text (``@search`` keys applied), validated."""
    return to_json(resolve_options(parse_options(options_json), search=True))
