"""TiDB's full-text parsers: ``STANDARD``, ``MULTILINGUAL``, ``NGRAM`` and ``NGRAM(min_gram=2, ...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...exc import FulltextError

_NGRAM_OPTIONS = ("min_gram", "max_gram", "granularity", "lower_case")


@dataclass(frozen=True)
class FulltextParser:
    """A TiDB full-text parser: ``STANDARD``, ``MULTILINGUAL``, ``NGRAM`` or ``NGRAM(min_gram=2, ...)``."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def __call__(
        self,
        *,
        min_gram: int | None = None,
        max_gram: int | None = None,
        granularity: str | None = None,
        lower_case: bool | None = None,
    ) -> FulltextParser:
        if self.name != "NGRAM":
            raise FulltextError(f"only NGRAM takes parameters; write WITH PARSER {self.name} as {self.name}")
        given = {"min_gram": min_gram, "max_gram": max_gram, "granularity": granularity, "lower_case": lower_case}
        low, high = min_gram if min_gram is not None else 3, max_gram if max_gram is not None else 3
        if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high <= 5):
            raise FulltextError(f"NGRAM needs 2 <= min_gram <= max_gram <= 5, got min_gram={low}, max_gram={high}")
        if granularity not in (None, "word", "char"):
            raise FulltextError(f"NGRAM granularity is 'word' or 'char', got {granularity!r}")
        if lower_case is not None and not isinstance(lower_case, bool):
            raise FulltextError(f"NGRAM lower_case is True or False, got {lower_case!r}")
        return FulltextParser("NGRAM", tuple((k, v) for k, v in given.items() if v is not None))

    def normalized(self) -> FulltextParser:
        """The same parser with TiDB's defaults spelled out, for comparing two definitions."""
        if self.name != "NGRAM":
            return self
        options = {"min_gram": 3, "max_gram": 3, "granularity": "word", "lower_case": True, **self.option_dict}
        return FulltextParser("NGRAM", tuple((k, options[k]) for k in _NGRAM_OPTIONS))

    @property
    def option_dict(self) -> dict[str, Any]:
        """The options given, as a dict (``NGRAM(min_gram=2).option_dict == {'min_gram': 2}``)."""
        return dict(self.options)

    def sql(self) -> str:
        """The parser as TiDB writes it after ``WITH PARSER``."""
        if not self.options:
            return self.name
        rendered = []
        for key, value in self.options:
            text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
            rendered.append(f"{key}={text}")
        return f"{self.name}({', '.join(rendered)})"

    def __repr__(self) -> str:
        if not self.options:
            return self.name
        return f"NGRAM({', '.join(f'{k}={v!r}' for k, v in self.options)})"


STANDARD = FulltextParser("STANDARD")
"""TiDB's ``STANDARD`` parser: words split at spaces and punctuation, lower-cased (English text)."""
MULTILINGUAL = FulltextParser("MULTILINGUAL")
"""TiDB's ``MULTILINGUAL`` parser: language-aware words (Chinese, Japanese, Korean too), case-insensitive."""
NGRAM = FulltextParser("NGRAM")
"""TiDB's ``NGRAM`` parser (3-grams); call it for others: ``NGRAM(min_gram=2, max_gram=3, granularity="char")``."""
PARSERS = {p.name: p for p in (STANDARD, MULTILINGUAL, NGRAM)}


def as_parser(parser: FulltextParser | str) -> FulltextParser:
    """``STANDARD`` or ``"standard"`` (any case) -> the parser; anything else is refused."""
    if isinstance(parser, FulltextParser):
        return parser
    if isinstance(parser, str) and parser.upper() in PARSERS:
        return PARSERS[parser.upper()]
    raise FulltextError(
        f"unknown full-text parser {parser!r}: TiDB has STANDARD, MULTILINGUAL and NGRAM(min_gram=, max_gram=)"
    )
