"""EmbedText and SourceColumnRef take part in SQLAlchemy's traversal like built-in constructs."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, Text, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import ClauseAdapter

from tidb_embed_orm.sql.elements import EmbedText, SourceColumnRef

from .conftest import MINILM

docs = Table("docs", MetaData(), Column("id", Integer), Column("body", Text), Column("title", Text))


def test_cloned_traverse_sees_the_text_inside():
    expression = EmbedText(MINILM, docs.c.body, '{"a":1}')
    seen = []
    visitors.traverse(expression, {}, {"column": seen.append})
    assert seen == [docs.c.body]

    def swap(element, **kw):
        return docs.c.title if element is docs.c.body else None

    swapped = visitors.replacement_traverse(expression, {}, swap)
    assert swapped is not expression and swapped.text is docs.c.title
    assert (swapped.model, swapped.options_json) == (MINILM, '{"a":1}')
    cloned = visitors.cloned_traverse(expression, {}, {})
    assert cloned is not expression and cloned.compare(expression)


def test_clause_adapter_moves_the_text_to_an_alias():
    alias = docs.alias("d")
    adapted = ClauseAdapter(alias).traverse(EmbedText(MINILM, docs.c.body))
    assert adapted.text is alias.c.body
    sql = str(select(adapted).compile())
    assert "EMBED_TEXT('huggingface/sentence-transformers/all-MiniLM-L6-v2', d.body)" in sql


def test_cache_keys_follow_model_text_and_options():
    def key(element):
        return element._generate_cache_key().key

    base = EmbedText(MINILM, docs.c.body, '{"a":1}')
    assert key(base) == key(EmbedText(MINILM, docs.c.body, '{"a":1}'))
    assert key(base) != key(EmbedText(MINILM, docs.c.title, '{"a":1}'))
    assert key(base) != key(EmbedText("huggingface/BAAI/bge-m3", docs.c.body, '{"a":1}'))
    assert key(base) != key(EmbedText(MINILM, docs.c.body, None))
    assert key(SourceColumnRef("body")) == key(SourceColumnRef("body"))
    assert key(SourceColumnRef("body")) != key(SourceColumnRef("title"))
    assert base.compare(EmbedText(MINILM, docs.c.body, '{"a":1}'))
    assert not base.compare(EmbedText(MINILM, docs.c.title, '{"a":1}'))
