"""TiDB full-text search: ``FULLTEXT INDEX ... WITH PARSER p`` and ``FTS_MATCH_WORD('q', col)``.

Backend-neutral, split by idea: ``parsers.py`` (STANDARD, MULTILINGUAL, NGRAM), ``index.py``
(``FulltextIndex``), ``search.py`` (``fts_match``, ``fulltext_search``, ``SearchableText``). TiDB's
DDL for the index is in ``dialects/tidb/ddl.py``; the embedded engine's FTS5 in
``dialects/embedded/fts5.py``. Every name is importable from here.
"""

from __future__ import annotations

from ...exc import FulltextError
from .index import DropFulltextIndexIfExists, FulltextBackend, FulltextIndex, fulltext_indexes
from .parsers import MULTILINGUAL, NGRAM, PARSERS, STANDARD, FulltextParser, as_parser
from .search import FtsMatchWord, FulltextJoin, SearchableText, SearchableTextComparator, fts_match, fulltext_search

__all__ = [
    "MULTILINGUAL",
    "NGRAM",
    "PARSERS",
    "STANDARD",
    "DropFulltextIndexIfExists",
    "FtsMatchWord",
    "FulltextBackend",
    "FulltextError",
    "FulltextIndex",
    "FulltextJoin",
    "FulltextParser",
    "SearchableText",
    "SearchableTextComparator",
    "as_parser",
    "fts_match",
    "fulltext_indexes",
    "fulltext_search",
]
