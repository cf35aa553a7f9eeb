"""Alembic and full-text indexes: autogenerate round trip offline, TiDB's DDL in --sql mode."""

from __future__ import annotations

import textwrap

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, inspect, select

import tidb_embed_orm.alembic  # noqa: F401  (the one line users add to env.py)
from tidb_embed_orm import MULTILINGUAL, NGRAM, STANDARD, FulltextIndex, SearchableText, fts_match
from tidb_embed_orm.alembic.fulltext import parse_tidb_fulltext_indexes

from .test_alembic import ENV_PY, REPO, diffs, revision, upgrade


def schema(*, title_parser=None, with_title_index=True) -> MetaData:
    title_parser = NGRAM(min_gram=2) if title_parser is None else title_parser
    metadata = MetaData()
    indexes = [FulltextIndex("ft_content", "content", parser=MULTILINGUAL)]
    if with_title_index:
        indexes.append(FulltextIndex("ft_title", "title", parser=title_parser))
    Table("docs", metadata, Column("id", Integer, primary_key=True, autoincrement=False), Column("content", SearchableText),
          Column("title", Text), *indexes)
    return metadata


@pytest.fixture
def alembic_env(tmp_path):
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ENV_PY)
    (directory / "script.py.mako").write_text((REPO / "migrations" / "script.py.mako").read_text())
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'alembic_fts.db'}")
    yield engine
    engine.dispose()


def matches(conn, metadata, column, query):
    docs = metadata.tables["docs"]
    return sorted(conn.execute(select(docs.c.id).where(fts_match(docs.c[column], query))).scalars())


def test_autogenerate_round_trip(engine, alembic_env):
    with engine.connect() as conn:
        script = revision(alembic_env, conn, schema(), "create docs")
        assert "op.create_fulltext_index('ft_content', 'docs', ['content'], parser='MULTILINGUAL')" in script
        assert "op.create_fulltext_index('ft_title', 'docs', ['title'], parser=tidb_embed_orm.NGRAM(min_gram=2))" in script
        assert "import tidb_embed_orm" in script
        assert "op.create_index(" not in script
        assert "sa.Column('content', sa.Text(), nullable=True)" in script  # SearchableText is TEXT
        assert "op.drop_fulltext_index('ft_title', 'docs')" in script  # the downgrade
        upgrade(alembic_env, conn, schema())
        assert diffs(conn, schema()) == []  # FTS5 tables are not reported as tables, the indexes compare equal
        assert "pass" in revision(alembic_env, conn, schema(), "nothing to do").split("def upgrade")[1][:120]
        upgrade(alembic_env, conn, schema())

        conn.execute(schema().tables["docs"].insert(), [
            {"id": 1, "content": "Café au lait", "title": "HandleRequest"},
            {"id": 2, "content": "error 8200 on a partitioned table", "title": "other"},
        ])
        conn.commit()
        assert matches(conn, schema(), "content", "cafe 8200") == [1, 2]  # filled by the triggers

        changed = schema(title_parser=STANDARD)
        script = revision(alembic_env, conn, changed, "title parser")
        assert "op.drop_fulltext_index('ft_title', 'docs')" in script
        assert "op.create_fulltext_index('ft_title', 'docs', ['title'], parser='STANDARD')" in script
        upgrade(alembic_env, conn, changed)
        assert diffs(conn, changed) == []
        assert matches(conn, changed, "title", "handlerequest") == [1]  # rebuilt from the rows already there
        assert matches(conn, changed, "title", "handle") == []  # STANDARD matches words, not substrings

        command.downgrade(alembic_env, "-1")
        conn.commit()
        assert diffs(conn, schema()) == []
        assert matches(conn, schema(), "title", "handle") == [1]

        command.downgrade(alembic_env, "base")
        conn.commit()
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}


def test_dropping_an_index_from_the_model(engine, alembic_env):
    with engine.connect() as conn:
        revision(alembic_env, conn, schema(), "create")
        upgrade(alembic_env, conn, schema())
        script = revision(alembic_env, conn, schema(with_title_index=False), "drop ft_title")
        assert "op.drop_fulltext_index('ft_title', 'docs')" in script
        assert "op.create_fulltext_index('ft_title', 'docs', ['title'], parser=tidb_embed_orm.NGRAM(min_gram=2))" in script
        upgrade(alembic_env, conn, schema(with_title_index=False))
        assert diffs(conn, schema(with_title_index=False)) == []
        leftovers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE '%ft_title%'").scalars().all()
        assert leftovers == []


def test_offline_sql_is_tidbs_ddl(alembic_env, tmp_path, capsys):
    (tmp_path / "migrations" / "versions" / "0001_fts.py").write_text(textwrap.dedent('''
        import sqlalchemy as sa
        from alembic import op
        import tidb_embed_orm

        revision = "0001"
        down_revision = None

        def upgrade():
            op.create_fulltext_index("ft_content", "docs", ["content"], parser="MULTILINGUAL")
            op.create_fulltext_index("ft_title", "docs", ["title", "summary"],
                                     parser=tidb_embed_orm.NGRAM(min_gram=2, max_gram=3),
                                     add_columnar_replica_on_demand=False)
            op.drop_fulltext_index("ft_old", "docs")

        def downgrade():
            pass
    '''))
    alembic_env.set_main_option("sqlalchemy.url", "mysql+pymysql://u@localhost/db")
    alembic_env.attributes["metadata"] = MetaData()
    command.upgrade(alembic_env, "head", sql=True)
    out = capsys.readouterr().out
    sql = "\n".join(line for line in out.splitlines() if not line.startswith("--"))
    statements = [" ".join(s.split()) for s in sql.split(";") if s.strip() and "alembic_version" not in s]
    assert statements == [
        "ALTER TABLE docs ADD FULLTEXT INDEX ft_content (content) WITH PARSER MULTILINGUAL ADD_COLUMNAR_REPLICA_ON_DEMAND",
        "CREATE FULLTEXT INDEX ft_title ON docs (title, summary) WITH PARSER NGRAM(min_gram=2, max_gram=3)",
        "DROP INDEX ft_old ON docs",
    ]


def test_tidbs_show_create_table_is_read_in_both_syntaxes():
    ddl = """CREATE TABLE `t` (
      `id` int(11) NOT NULL AUTO_INCREMENT,
      PRIMARY KEY (`id`),
      FULLTEXT KEY `ft_content` (`content`) WITH PARSER standard,
      FULLTEXT KEY `ft_title` (`title`) WITH PARSER NGRAM(min_gram=2, max_gram=3),
      FULLTEXT KEY `idx_fts_multi` (`content_text` WITH (multilingual), `description` WITH (multilingual), `path` WITH (exact, path_hierarchy), `name` WITH (exact)),
      FULLTEXT KEY `ft_code` (`code` WITH (ngram(min_gram=3, max_gram=3, granularity='char')))
    )"""
    assert parse_tidb_fulltext_indexes(ddl) == {
        "ft_content": (("content",), STANDARD),
        "ft_title": (("title",), NGRAM(min_gram=2, max_gram=3)),
        "idx_fts_multi": (("content_text", "description"), MULTILINGUAL),  # filter columns are not scored
        "ft_code": (("code",), NGRAM(min_gram=3, max_gram=3, granularity="char")),
    }
    assert NGRAM.normalized() == NGRAM(min_gram=3, max_gram=3).normalized()
