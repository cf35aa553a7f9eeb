"""TiDB's ``MULTILINGUAL`` and ``NGRAM`` parsers as Python tokenizers for the embedded engine's FTS5 tables.

SQLite's own tokenizers cannot do what these parsers do (``unicode61`` makes a whole CJK run one token;
``trigram`` only makes 3-grams), and Python's sqlite3 cannot register an FTS5 tokenizer. So the text is
tokenized here, by the SQL function :data:`TOKENS_FUNCTION` called from the index's triggers, and the
FTS5 table (contentless) stores the tokens joined by spaces under FTS5's ``ascii`` tokenizer, which
splits only on ASCII non-alphanumerics: every token we emit is lower-case ASCII alphanumerics and
non-ASCII characters (anything else is hex-escaped by :func:`fts_token`), so FTS5 sees our tokens
exactly. A query is tokenized the same way (:func:`match_expression`), so BM25 ranking stays FTS5's.

``MULTILINGUAL`` (pingcap/docs ``ai/reference/full-text-search-index.md``: language-aware, complete
tokens, case-insensitive) splits text into script runs: Latin/other words, Han, kana, Hangul and
emoji (each emoji one token, so they are searchable). Han runs are cut into words by **jieba** when
it is installed (``pip install 'tidb-embed-orm[cjk]'``); jieba's cut reproduces TiDB's documented
``蓝牙耳机`` result over the stock_items rows (it leaves ``游戏耳机电竞`` as 耳/机电/竞, as TiDB does).
Without jieba, and for kana and Hangul always (jieba has no Japanese or Korean dictionary), a run is
indexed as overlapping character bigrams and a query word as the *phrase* of its bigrams, the classic
CJK-bigram scheme (Lucene's CJKAnalyzer): ``イヤホン`` must appear as consecutive イヤ·ヤホ·ホン, so
``オンイヤーヘッドホン`` does not match it. Documents are cut with jieba's search mode (long words also
give their dictionary sub-words: 数据库 → 数据, 数据库) and queries with its precise mode.

The segmenter an index was built with is part of its spec: baked into its triggers, and kept in its
``CREATE VIRTUAL TABLE`` text, from which a query reads it (:data:`MATCH_FUNCTION`), so documents and
queries are always cut alike, whatever is installed later. Writing to an index built with jieba where
jieba is missing is refused with the command that installs it.

``NGRAM(min_gram, max_gram, granularity, lower_case)`` indexes exactly the grams asked for: every
length from min_gram to max_gram, inside each word (``granularity='word'``) or over the whole text,
spaces and symbols included (``'char'``). A query word is the AND of its grams of length
``min(max_gram, len(word))``; words shorter than min_gram have no gram and match nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from ...exc import FulltextError
from ...sql.fulltext.parsers import FulltextParser
from ...sql.scanner import quote_identifier

TOKENS_FUNCTION = "tidb_fts_tokens"
"""The SQL function ``tidb_fts_tokens(spec, text)`` the triggers call (registered in ``udf.py``)."""
MATCH_FUNCTION = "tidb_fts_match"
"""The SQL function ``tidb_fts_match(fts_table_sql, columns_json, query)``: a query as the FTS5 MATCH
expression of the index whose ``CREATE VIRTUAL TABLE`` text is given (``fts5.py`` passes it from
``sqlite_master``), so a query is always cut with the segmenter the index was built with."""
#: The index's description, kept in a comment of its CREATE VIRTUAL TABLE text.
META = re.compile(r"/\* tidb_embed_orm fulltext (?P<json>\{.*?\}) \*/", re.DOTALL)
_WORD = re.compile(r"[^\W_]+")

_HAN = "\u3005\u3007\u3021-\u3029\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_KANA = "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_RUNS = re.compile(
    rf"(?P<han>[{_HAN}]+)|(?P<kana>[{_KANA}]+)|(?P<hangul>[{_HANGUL}]+)"
    rf"|(?P<word>[^\W_{_HAN}{_KANA}{_HANGUL}]+)|(?P<other>\S)"
)
_NGRAM_WORD = re.compile(r"[^\W_]+|\S")
_SAFE = re.compile(r"[a-z0-9\u0080-\udfff\ue001-\U0010ffff]+")
_ESCAPE = "\ue000"


def jieba_available() -> bool:
    """True when jieba (the ``cjk`` extra) can be imported."""
    return _jieba() is not None


@functools.lru_cache(maxsize=1)
def _jieba() -> Any:
    try:
        import jieba
    except ImportError:
        return None
    # A private tokenizer with the default dictionary only: what an index holds must not depend on
    # words some other code added to jieba's global one. Loaded now, with jieba's own debug lines
    # ("Building prefix dict ...") held back for the moment: they would land on the user's stderr.
    tokenizer = jieba.Tokenizer()
    jieba_logger = logging.getLogger("jieba")
    previous = jieba_logger.level
    jieba_logger.setLevel(logging.WARNING)
    try:
        tokenizer.initialize()
    finally:
        jieba_logger.setLevel(previous)
    return tokenizer


def spec(parser: FulltextParser) -> str:
    """What an index's triggers pass to :data:`TOKENS_FUNCTION`: parser, options and segmenter, as
    ``parser=NGRAM min_gram=3 ...`` (no colons: the triggers also run as Alembic ``op.execute`` text,
    where ``:name`` would be a bind parameter)."""
    parser = parser.normalized()
    data: dict[str, Any] = {"parser": parser.name, **parser.option_dict}
    if parser.name == "MULTILINGUAL":
        data["segmenter"] = "jieba" if jieba_available() else "bigram"
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(data.items()))


def is_tokenized(parser: FulltextParser) -> bool:
    """Parsers served by this module (STANDARD stays FTS5's own ``unicode61``)."""
    return parser.name in ("MULTILINGUAL", "NGRAM")


def fts_token(token: str) -> str:
    """A token as FTS5's ``ascii`` tokenizer will keep it whole (hex-escaped when it would not)."""
    if _SAFE.fullmatch(token):
        return token
    return _ESCAPE + token.encode("utf-8").hex()


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) < 2 else [run[i:i + 2] for i in range(len(run) - 1)]


def _fold(word: str) -> str:
    # case-insensitive and accent-insensitive, as the old unicode61 remove_diacritics 2 was
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _multilingual(text: str, segmenter: str, query: bool) -> Iterator[list[str]]:
    """Units of ``text``: each a list of tokens that must appear consecutively (a phrase of one or more)."""
    for match in _RUNS.finditer(unicodedata.normalize("NFKC", text)):
        kind, run = match.lastgroup, match.group()
        if kind == "word":
            yield [_fold(run)]
        elif kind == "other":
            if unicodedata.category(run) == "So":  # emoji and other pictographs: one token each
                yield [run]
        elif kind == "han" and segmenter == "jieba":
            jieba = _jieba()
            if jieba is None:
                raise FulltextError(
                    "this MULTILINGUAL full-text index was built with jieba Chinese word segmentation, which is "
                    "not installed here: pip install 'tidb-embed-orm[cjk]'"
                )
            words = jieba.cut(run) if query else jieba.cut_for_search(run)
            yield from ([w] for w in words if w.strip())
        elif query:
            yield _bigrams(run)
        else:
            yield from ([gram] for gram in _bigrams(run))


def _grams(word: str, low: int, high: int) -> Iterator[str]:
    for n in range(low, high + 1):
        for i in range(len(word) - n + 1):
            yield word[i:i + n]


def _ngram_words(text: str, options: dict[str, Any]) -> list[str]:
    if options.get("lower_case", True):
        text = text.lower()
    if options.get("granularity", "word") == "char":
        return [text]
    return _NGRAM_WORD.findall(text)


def document_tokens(spec_text: str, text: str) -> str:
    """The tokens of one stored value, space-separated, as the FTS5 table holds them."""
    options = _options(spec_text)
    if options["parser"] == "NGRAM":
        low, high = options["min_gram"], options["max_gram"]
        tokens = [g for w in _ngram_words(text, options) for g in _grams(w, low, high)]
    else:
        tokens = [t for unit in _multilingual(text, options["segmenter"], query=False) for t in unit]
    return " ".join(fts_token(t) for t in tokens)


def query_units(spec_text: str, text: str) -> tuple[list[list[str]], str]:
    """A query's units (each a phrase of tokens) and how FTS5 combines them: ``OR`` (MULTILINGUAL, TiDB's
    OR of words) or ``AND`` (NGRAM: every gram of the query must be there)."""
    options = _options(spec_text)
    if options["parser"] == "NGRAM":
        low, high = options["min_gram"], options["max_gram"]
        units: list[list[str]] = []
        for word in _ngram_words(text, options):
            if len(word) >= low:
                n = min(high, len(word))
                units.extend([g] for g in dict.fromkeys(_grams(word, n, n)))
        return units, "AND"
    return list(_multilingual(text, options["segmenter"], query=True)), "OR"


def combine(phrases: list[str], operator: str, columns: tuple[str, ...] | None) -> str:
    """Phrases as one FTS5 query: each quoted (user text never becomes FTS5 syntax), joined by
    ``operator``, limited to ``columns`` when given."""
    if not phrases:
        return '""'  # an empty phrase: matches nothing, as a query without words does on TiDB
    # an FTS5 phrase (and column name) is quoted as a SQLite identifier is: "..." with " doubled
    joined = f" {operator} ".join(quote_identifier(p) for p in dict.fromkeys(phrases))
    if columns:
        return "{" + " ".join(quote_identifier(c) for c in columns) + "} : (" + joined + ")"
    return joined


def tokenized_query(spec_text: str, text: str, columns: tuple[str, ...] | None) -> str:
    """A query as the FTS5 MATCH expression of an index with this spec."""
    units, operator = query_units(spec_text, text)
    return combine([" ".join(fts_token(t) for t in unit) for unit in units], operator, columns)


@functools.lru_cache(maxsize=256)
def _table_meta(table_sql: str) -> tuple[str | None, str | None]:
    match = META.search(table_sql)
    if match is None:
        return None, None
    meta = json.loads(match["json"])
    return meta.get("parser"), meta.get("spec")


def match_expression(table_sql: str | None, columns_json: str | None, text: str) -> str:
    """:data:`MATCH_FUNCTION`: ``text`` as the MATCH expression of the index created by ``table_sql``.

    An index made before its spec was recorded (by unicode61 or trigram) gets the words of the query,
    OR-ed (NGRAM: those of 3+ characters, AND-ed), as it was searched then.
    """
    columns = tuple(json.loads(columns_json)) if columns_json else None
    parser, spec_text = _table_meta(table_sql or "")
    if spec_text is not None:
        return tokenized_query(spec_text, text, columns)
    words = _WORD.findall(text)
    if parser == "NGRAM":
        return combine([w for w in words if len(w) >= 3], "AND", columns)
    return combine(words, "OR", columns)


@functools.lru_cache(maxsize=64)
def _options(spec_text: str) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in (item.split("=", 1) for item in spec_text.split())}


__all__ = ["MATCH_FUNCTION", "META", "TOKENS_FUNCTION", "combine", "document_tokens", "match_expression",
           "tokenized_query", "fts_token", "is_tokenized", "jieba_available", "query_units",
           "spec"]
