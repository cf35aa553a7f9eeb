"""Full-text search: TiDB's FULLTEXT INDEX / FTS_MATCH_WORD SQL, and the embedded engine's FTS5 behind it."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, create_mock_engine, func, inspect, select
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.schema import CreateIndex, DropIndex

from tidb_embed_orm import (
    MULTILINGUAL,
    NGRAM,
    STANDARD,
    FulltextError,
    FulltextIndex,
    SearchableText,
    fts_match,
)
from tidb_embed_orm.dialects.embedded.fts5 import fts5_expression, reflect_fts5_indexes

NO_IX = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # a naming convention without index names


def docs_table(*indexes, metadata=None):
    return Table(
        "docs", metadata or MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("content", Text),
        Column("title", Text),
        *indexes,
    )


def mysql_statements(metadata, action="create_all"):
    statements = []
    engine = create_mock_engine(
        "mysql+pymysql://", lambda sql, *a, **k: statements.append(" ".join(str(sql.compile(dialect=engine.dialect)).split()))
    )
    getattr(metadata, action)(engine, checkfirst=False)
    return statements


# --- TiDB's DDL ------------------------------------------------------------------------------


@pytest.mark.parametrize("parser, sql", [
    (STANDARD, "STANDARD"),
    ("multilingual", "MULTILINGUAL"),
    (NGRAM, "NGRAM"),
    (NGRAM(min_gram=2, max_gram=4), "NGRAM(min_gram=2, max_gram=4)"),
    (NGRAM(granularity="char", lower_case=False), "NGRAM(granularity='char', lower_case=false)"),
])
def test_add_fulltext_index_to_an_existing_table(mysql_dialect, parser, sql):
    table = docs_table(FulltextIndex("ft_content", "content", parser=parser))
    index = next(iter(table.indexes))
    assert str(CreateIndex(index).compile(dialect=mysql_dialect)) == (
        f"ALTER TABLE docs ADD FULLTEXT INDEX ft_content (content) WITH PARSER {sql} ADD_COLUMNAR_REPLICA_ON_DEMAND"
    )
    assert str(DropIndex(index).compile(dialect=mysql_dialect)) == "DROP INDEX ft_content ON docs"


def test_create_fulltext_index_statement_when_the_replica_exists(mysql_dialect):
    table = docs_table(FulltextIndex("ft_name", "title", parser=STANDARD, add_columnar_replica_on_demand=False))
    assert str(CreateIndex(next(iter(table.indexes))).compile(dialect=mysql_dialect)) == (
        "CREATE FULLTEXT INDEX ft_name ON docs (title) WITH PARSER STANDARD"
    )


def test_unnamed_index_follows_the_naming_convention_or_tidbs_own_naming(mysql_dialect):
    table = docs_table(FulltextIndex(None, "content", parser=MULTILINGUAL))
    assert str(CreateIndex(next(iter(table.indexes))).compile(dialect=mysql_dialect)) == (
        "ALTER TABLE docs ADD FULLTEXT INDEX ix_docs_content (content) WITH PARSER MULTILINGUAL "
        "ADD_COLUMNAR_REPLICA_ON_DEMAND"
    )
    table = docs_table(FulltextIndex(None, "content", parser=MULTILINGUAL), metadata=MetaData(naming_convention=NO_IX))
    index = next(iter(table.indexes))
    assert str(CreateIndex(index).compile(dialect=mysql_dialect)) == (
        "ALTER TABLE docs ADD FULLTEXT INDEX (content) WITH PARSER MULTILINGUAL ADD_COLUMNAR_REPLICA_ON_DEMAND"
    )
    assert index.effective_name == "content"
    assert str(DropIndex(index).compile(dialect=mysql_dialect)) == "DROP INDEX content ON docs"


def test_create_all_writes_the_index_inside_create_table():
    class Base(DeclarativeBase):
        pass

    class Doc(Base):
        __tablename__ = "docs"
        __table_args__ = (FulltextIndex("ft_content", "content", "title", parser=MULTILINGUAL),)
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        content: Mapped[str] = mapped_column(Text)
        title: Mapped[str] = mapped_column(Text)

    expected = [
        "CREATE TABLE docs ( id INTEGER NOT NULL, content TEXT NOT NULL, title TEXT NOT NULL, PRIMARY KEY (id), "
        "FULLTEXT INDEX ft_content (content, title) WITH PARSER MULTILINGUAL )"
    ]
    assert mysql_statements(Base.metadata) == expected
    assert mysql_statements(Base.metadata) == expected  # and again: nothing is left over from the first run
    # TiDB refuses DROP TABLE while a FULLTEXT index exists: drop_all drops the index first.
    assert mysql_statements(Base.metadata, "drop_all") == [
        "ALTER TABLE docs DROP INDEX IF EXISTS ft_content", "DROP TABLE docs"
    ]


@pytest.mark.parametrize("make, message", [
    (lambda: NGRAM(min_gram=1), "2 <= min_gram <= max_gram <= 5"),
    (lambda: NGRAM(min_gram=4, max_gram=3), "2 <= min_gram <= max_gram <= 5"),
    (lambda: NGRAM(max_gram=6), "2 <= min_gram <= max_gram <= 5"),
    (lambda: NGRAM(granularity="line"), "'word' or 'char'"),
    (lambda: STANDARD(min_gram=2), "only NGRAM takes parameters"),
    (lambda: FulltextIndex("ft", "content", parser="porter"), "unknown full-text parser 'porter'"),
    (lambda: CreateIndex(next(iter(docs_table(FulltextIndex(None, "content", parser=NGRAM),
                                              metadata=MetaData(naming_convention=NO_IX)).indexes))).compile(
        dialect=mysql.dialect()), "needs a name for an NGRAM"),
    (lambda: FulltextIndex("ft"), "at least one text column"),
])
def test_what_tidb_would_refuse_is_refused_up_front(make, message):
    with pytest.raises(FulltextError, match=message):
        make()


# --- FTS_MATCH_WORD --------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        FulltextIndex("ft_body", "body", parser=STANDARD),
        FulltextIndex("ft_title", "title", parser=NGRAM),
        FulltextIndex("ft_both", "body", "summary", parser=MULTILINGUAL),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str | None] = mapped_column(SearchableText)
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)


def test_fts_match_word_in_where_and_order_by(mysql_dialect):
    stmt = (
        select(Article.id)
        .where(Article.body.fts_match("java programming"))
        .order_by(Article.body.fts_match("java programming").desc())
        .limit(10)
    )
    compiled = stmt.compile(dialect=mysql_dialect)
    assert " ".join(str(compiled).split()) == (
        "SELECT articles.id FROM articles WHERE FTS_MATCH_WORD(%s, articles.body) "
        "ORDER BY FTS_MATCH_WORD(%s, articles.body) DESC LIMIT %s"
    )
    assert "java" not in str(compiled)
    assert [v for v in compiled.params.values()] == ["java programming", "java programming", 10]


def test_score_in_select_several_columns_and_a_parser(mysql_dialect):
    score = fts_match(Article.body, "handle", Article.summary, parser="ngram").label("score")
    compiled = select(Article.id, score).compile(dialect=mysql_dialect)
    assert " ".join(str(compiled).split()) == (
        "SELECT articles.id, FTS_MATCH_WORD(%s WITH PARSER ngram, articles.body, articles.summary) AS score FROM articles"
    )


def test_fts_match_takes_text_queries_on_text_columns():
    with pytest.raises(FulltextError, match="a full-text query is a str"):
        fts_match(Article.body, 8200)
    with pytest.raises(FulltextError, match="text columns"):
        fts_match(Article.id, "x")


@pytest.mark.parametrize("text, parser, expected", [
    ("java programming", "STANDARD", '"java" OR "programming"'),
    ('x" OR * NEAR(a b) {title}: ^', "STANDARD", '"x" OR "OR" OR "NEAR" OR "a" OR "b" OR "title"'),
    ("error-8200", "MULTILINGUAL", '"error" OR "8200"'),
    ("  ?!  ", "STANDARD", '""'),
    ("handle an apple", "NGRAM", '"han" AND "and" AND "ndl" AND "dle" AND "app" AND "ppl" AND "ple"'),
    ("向量 a", NGRAM(min_gram=2), '"向量"'),  # a word shorter than min_gram has no gram
])
def test_user_text_becomes_quoted_fts5_words(text, parser, expected):
    assert fts5_expression(text, parser, None) == expected


# --- the embedded engine ---------------------------------------------------------------------

ARTICLES = [
    (1, "Java programming: object-oriented and cross-platform", "HandleRequest", "a language"),
    (2, "TiDB error 8200: a vector index cannot be added to a partitioned table", "RequestHandler", None),
    (3, "Java coffee: bold Indonesian beans", "handle_error", "café culture"),
    (4, "Solar panels convert sunlight into renewable energy", "panel", "energy"),
]


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'fts.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=i, body=b, title=t, summary=s) for i, b, t, s in ARTICLES])
        session.commit()
    yield engine
    engine.dispose()


def search(session, query, column=Article.body, **kw):
    match = fts_match(column, query, **kw)
    return list(session.scalars(select(Article.id).where(match).order_by(match.desc(), Article.id)))


def test_exact_terms_with_tidbs_or_of_words(engine):
    with Session(engine) as session:
        assert search(session, "error 8200") == [2]
        assert sorted(search(session, "JAVA")) == [1, 3]
        assert sorted(search(session, "coffee sunlight")) == [3, 4]
        assert search(session, "programming java")[0] == 1  # both words beat one
        assert search(session, "nothing matches this") == []
        assert search(session, "   ") == []


def test_score_is_bm25_higher_is_better(engine):
    with Session(engine) as session:
        score = Article.body.fts_match("java programming").label("score")
        rows = session.execute(
            select(Article.id, score).where(Article.body.fts_match("java programming")).order_by(score.desc())
        ).all()
    assert [r.id for r in rows] == [1, 3]
    assert rows[0].score > rows[1].score > 0


def test_fts5_syntax_in_user_text_is_just_words(engine):
    with Session(engine) as session:
        assert sorted(search(session, 'java" OR * NEAR(')) == [1, 3]
        assert sorted(search(session, "body: ^java")) == [1, 3]


def test_ngram_matches_substrings(engine):
    with Session(engine) as session:
        assert sorted(search(session, "handle", Article.title)) == [1, 2, 3]
        assert sorted(search(session, "request", Article.title)) == [1, 2]


def test_multilingual_folds_diacritics_and_searches_several_columns(engine):
    with Session(engine) as session:
        assert search(session, "cafe", Article.summary) == [3]
        both = fts_match(Article.body, "energy language", Article.summary)
        assert sorted(session.scalars(select(Article.id).where(both))) == [1, 4]


def test_a_column_without_a_full_text_index_is_refused(engine):
    table = docs_table()
    with engine.connect() as conn, pytest.raises(FulltextError, match="no full-text index on docs"):
        conn.execute(select(table.c.id).where(fts_match(table.c.content, "x")))


def test_index_follows_insert_update_delete_and_rollback(engine):
    with Session(engine) as session:
        session.add(Article(id=5, body="Kubernetes operator for TiDB clusters"))
        session.flush()
        assert search(session, "kubernetes") == [5]  # the transaction sees its own writes
        session.rollback()
        assert search(session, "kubernetes") == []

        session.get(Article, 4).body = "Wind turbines and hydroelectric dams"
        session.commit()
        assert search(session, "solar") == []
        assert search(session, "turbines") == [4]

        session.delete(session.get(Article, 2))
        session.flush()
        assert search(session, "8200") == []
        session.rollback()
        assert search(session, "8200") == [2]

        session.execute(Article.__table__.update().where(Article.id == 3).values(id=30))
        session.commit()
        assert search(session, "coffee") == [30]


def test_other_connections_see_committed_rows_only(engine):
    other = create_engine(engine.url)
    try:
        with Session(engine) as writer, Session(other) as reader:
            writer.add(Article(id=6, body="zeppelin airship"))
            writer.flush()
            assert search(reader, "zeppelin") == []
            writer.commit()
            assert search(reader, "zeppelin") == [6]
    finally:
        other.dispose()


def test_integrity_check_after_writes(engine):
    with engine.begin() as conn:
        conn.execute(Article.__table__.delete().where(Article.id == 1))
        conn.execute(Article.__table__.update().values(body=func.upper(Article.body)))
        for fts in ("_tidb_fts_articles_ft_body", "_tidb_fts_articles_ft_title", "_tidb_fts_articles_ft_both"):
            conn.exec_driver_sql(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


def test_index_on_a_table_with_rows_is_filled_and_drops_cleanly(engine):
    index = FulltextIndex("ft_summary", Article.__table__.c.summary, parser=STANDARD)
    try:
        index.create(engine)
        index.create(engine, checkfirst=True)  # already there: nothing to do
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            assert search(session, "energy", Article.summary, parser="standard") == [4]
        index.drop(engine)
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE '%ft_summary%'").scalars().all()
        assert names == []
    finally:
        Article.__table__.indexes.discard(index)


def test_indexes_are_reflected_with_their_parser_and_gone_after_drop_all(engine):
    with engine.connect() as conn:
        found = {(i.name, i.table, i.columns, i.parser) for i in reflect_fts5_indexes(conn, "articles")}
    assert found == {
        ("ft_body", "articles", ("body",), STANDARD),
        ("ft_title", "articles", ("title",), NGRAM),
        ("ft_both", "articles", ("body", "summary"), MULTILINGUAL),
    }
    Base.metadata.drop_all(engine)
    assert [t for t in inspect(engine).get_table_names()] == []


def test_a_score_compared_in_where_stays_a_score(engine):
    with Session(engine) as session:
        assert session.scalars(select(Article.id).where(Article.body.fts_match("coffee beans") > 0)).all() == [3]
        # the same element object in WHERE (a filter) and in ORDER BY (a score)
        match = Article.body.fts_match("programming cross platform coffee")
        assert session.scalars(select(Article.id).where(match).order_by(match.desc())).all() == [1, 3]


def test_fts5_tables_are_not_reported_as_tables(engine):
    assert sorted(inspect(engine).get_table_names()) == ["articles"]


def test_an_index_is_restored_after_its_table_is_replaced(engine):
    """What a table rebuild does on the embedded engine: copy, DROP, RENAME, then restore_statements."""
    from tidb_embed_orm.dialects.embedded.fts5 import restore_statements

    with engine.begin() as conn:
        saved = reflect_fts5_indexes(conn, "articles")
        conn.exec_driver_sql("CREATE TABLE articles_copy (id INTEGER PRIMARY KEY, body TEXT, title TEXT, summary TEXT)")
        conn.exec_driver_sql("INSERT INTO articles_copy SELECT id, body, title, summary FROM articles")
        conn.exec_driver_sql("DROP TABLE articles")
        conn.exec_driver_sql("ALTER TABLE articles_copy RENAME TO articles")
        for index in saved:
            for statement in restore_statements(index):
                conn.exec_driver_sql(statement)
    with Session(engine) as session:
        assert search(session, "8200") == [2]
        session.add(Article(id=7, body="fresh row after the rebuild"))
        session.commit()
        assert search(session, "fresh") == [7]


def test_fulltext_search_is_tidbs_query_and_joins_fts5_offline(engine, mysql_dialect):
    from tidb_embed_orm import fulltext_search

    stmt = fulltext_search(Article, Article.body.fts_match("java programming"), where=Article.id < 10, limit=5)
    assert " ".join(str(stmt.compile(dialect=mysql_dialect)).split()) == (
        "SELECT articles.id, articles.body, articles.title, articles.summary, FTS_MATCH_WORD(%s, articles.body) AS score "
        "FROM articles WHERE FTS_MATCH_WORD(%s, articles.body) AND articles.id < %s ORDER BY score DESC LIMIT %s"
    )
    offline = " ".join(str(stmt.compile(engine)).split())
    assert 'FROM articles JOIN "_tidb_fts_articles_ft_body" ON "_tidb_fts_articles_ft_body".rowid = articles.rowid' in offline
    with Session(engine) as session:
        rows = session.execute(stmt).all()
        assert [(article.id, score > 0) for article, score in rows] == [(1, True), (3, True)]
        plain = Article.body.fts_match("java programming").label("score")
        expected = session.execute(select(Article.id, plain).where(Article.body.fts_match("java programming"))
                                   .order_by(plain.desc())).all()
        assert [(a.id, pytest.approx(s)) for a, s in rows] == [tuple(r) for r in expected]  # the same scores
        assert session.scalars(fulltext_search(Article, fts_match(Article.title, "handle"), limit=2)).all()
    with pytest.raises(FulltextError, match="fulltext_search takes a full-text match"):
        fulltext_search(Article, Article.id == 1)
