"""EMBED_TEXT's JSON options as one value: validated once, resolved for stored or query text by method.

TiDB (``pkg/expression/builtin_inference.go``, ``pkg/inference/sqlembed.go``): the options must be
a JSON object ("EMBED_TEXT expects options in JSON format" otherwise; empty or NULL means none).
A key ``k@search`` is reserved for query embedding: when VEC_EMBED_* embeds a query text its value
replaces ``k``; when stored text is embedded it is dropped. The provider then receives the
remaining options merged into its request body.

Options used to travel as three bare JSON strings (declared, stored, search), so any caller could
hand a provider the wrong one. Now a column's options are an :class:`EmbedOptions` (what the
generation expression says), and the only things a provider is ever given are what
:meth:`EmbedOptions.stored` and :meth:`EmbedOptions.search` return: a :class:`ProviderOptions`.
Both serialise through :func:`canonical_json`, the one JSON spelling of options in the library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from .exc import EmbedOptionsError

SEARCH_SUFFIX = "@search"


def canonical_json(options: Mapping[str, Any]) -> str:
    """The one JSON spelling of options: sorted keys, no spaces, non-ASCII as it is.

    Non-ASCII stays as is: a ``\\uXXXX`` escape is one more backslash for the database's string
    literal to carry (TiDB restores generation expressions without escaping backslashes).
    """
    return json.dumps(dict(options), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only, hashable dict (SQLAlchemy types and cache keys must be hashable)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("EMBED_TEXT options are read-only; declare a new column type instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        # Equal dicts (1 == 1.0 == True) must hash alike: the keys, which equal options share.
        return hash(tuple(sorted(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle / copy rebuild a dict subclass item by item, which a read-only dict refuses.
        return (type(self), (dict(self),))

    @property
    def json(self) -> str:
        """:func:`canonical_json` of these options."""
        return canonical_json(self)

    def to_json(self) -> str:
        return self.json


class ProviderOptions(_FrozenDict):
    """Options resolved for one purpose (stored or query text): what a provider's request receives.

    Built only by :meth:`EmbedOptions.stored` / :meth:`EmbedOptions.search`; never holds ``@search`` keys.
    """


class EmbedOptions(_FrozenDict):
    """A column's EMBED_TEXT options as declared (``k@search`` keys included).

    A read-only dict, so a column type holding one stays hashable and compares to a plain dict.
    """

    @classmethod
    def parse(cls, options_json: str | None) -> EmbedOptions | None:
        """The options written in SQL (a JSON object, or NULL / '' for none); anything else is TiDB's error."""
        if options_json is None or options_json == "":
            return None
        try:
            options = json.loads(options_json)
        except (TypeError, ValueError):
            raise EmbedOptionsError(f"EMBED_TEXT expects options in JSON format, got {options_json!r}") from None
        if not isinstance(options, dict):
            raise EmbedOptionsError(f"EMBED_TEXT expects options in JSON format (an object), got {options_json!r}")
        return cls(options) if options else None

    def stored(self) -> ProviderOptions | None:
        """For embedding stored text: ``k@search`` keys dropped (as TiDB does)."""
        resolved = {k: v for k, v in self.items() if not k.endswith(SEARCH_SUFFIX)}
        return ProviderOptions(resolved) if resolved else None

    def search(self) -> ProviderOptions | None:
        """For embedding a query text: ``k@search`` replaces ``k`` (as TiDB rewrites VEC_EMBED_*)."""
        resolved = {k: v for k, v in self.items() if not k.endswith(SEARCH_SUFFIX)}
        for key, value in self.items():
            if key.endswith(SEARCH_SUFFIX):
                resolved[key[: -len(SEARCH_SUFFIX)]] = value
        return ProviderOptions(resolved) if resolved else None


def stored_options(options_json: str | None) -> ProviderOptions | None:
    """What EMBED_TEXT(model, text, 'options') written in SQL gives its provider (stored text)."""
    options = EmbedOptions.parse(options_json)
    return None if options is None else options.stored()


def json_of(options: Mapping[str, Any] | None) -> str | None:
    """:func:`canonical_json`, or None for no options."""
    return None if not options else canonical_json(options)
