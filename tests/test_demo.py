"""The README's main job: the demo runs the seed page end to end on the embedded engine."""

from __future__ import annotations

import io
import re

import pytest

from tidb_embed_orm.cli import main as cli_main
from tidb_embed_orm.demo.run import main as run_demo
from tidb_embed_orm.demo.run import offline_migration_sql


@pytest.mark.real_model
def test_demo_finds_ids_1_and_4_and_shows_tidbs_sql():
    out = io.StringIO()
    assert run_demo(None, None, out) == 0
    text = out.getvalue()
    hits = re.findall(r"^\s+\d\. id=(\d+) distance=(\d\.\d+)", text, re.M)
    assert [int(i) for i, _ in hits] == [1, 4]
    assert "rebuilt: 5 rows kept" in text
    assert "ORDER BY VEC_EMBED_COSINE_DISTANCE(sample.embedding, 'How to start learning Java programming?')" in text


def test_offline_migrations_for_tidb():
    sql = " ".join(offline_migration_sql().split())
    assert (
        "CREATE TABLE sample ( id INTEGER NOT NULL, content TEXT, embedding VECTOR(384) GENERATED ALWAYS AS "
        "(EMBED_TEXT('huggingface/sentence-transformers/all-MiniLM-L6-v2', `content`)) STORED, PRIMARY KEY (id) );"
    ) in sql
    assert "INSERT INTO _tidb_embed_new_sample (id, content) SELECT id, content FROM sample;" in sql
    assert "RENAME TABLE sample TO _tidb_embed_old_sample, _tidb_embed_new_sample TO sample;" in sql


def test_models_command_lists_the_seed_models(capsys):
    assert cli_main(["models", "--provider", "huggingface"]) == 0
    out = capsys.readouterr().out
    assert "huggingface/sentence-transformers/all-MiniLM-L6-v2: 384 dims, cosine/l2" in out
    assert "huggingface/Qwen/Qwen3-Embedding-0.6B: 1024 dims, cosine/l2, max 512 tokens" in out


def test_alembic_command_line_prints_tidbs_ddl_offline():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(repo / "alembic.ini"), "-x", "url=mysql+pymysql://",
         "upgrade", "head", "--sql"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout
    assert "embedding VECTOR(384) GENERATED ALWAYS AS (EMBED_TEXT('huggingface/sentence-transformers/all-MiniLM-L6-v2', `content`)) STORED" in out
    assert "RENAME TABLE sample TO _tidb_embed_old_sample, _tidb_embed_new_sample TO sample;" in out


def test_alembic_command_line_migrates_the_embedded_engine(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import create_engine, inspect

    repo = Path(__file__).resolve().parents[1]
    url = f"sqlite+tidb_embed:///{tmp_path / 'cli.db'}"
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(repo / "alembic.ini"), "-x", f"url={url}",
                    "upgrade", "0001"], cwd=repo, check=True, capture_output=True)
    engine = create_engine(url)
    assert {c["name"] for c in inspect(engine).get_columns("sample")} == {"id", "content", "embedding"}
    engine.dispose()
