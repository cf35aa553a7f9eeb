"""``tidb-embed-orm demo``: migrate, insert the seed rows through the ORM, search, show TiDB's SQL."""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import create_engine, delete, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..providers import configure_provider
from .models import SECOND_MODEL, SEED_QUERY, SEED_ROWS, Sample

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _progress(out: TextIO):
    def report(model: str, done: int, total: int) -> None:
        print(f"  embedding with {model}: {done}/{total}", file=out, flush=True)

    return report


def migrate(engine: Engine, revision: str = "head", migrations: Path = MIGRATIONS) -> None:
    """``alembic upgrade <revision>`` with the demo's Alembic environment, on ``engine``."""
    from alembic import command
    from alembic.config import Config

    if not (migrations / "env.py").exists():
        raise SystemExit(f"the demo's Alembic environment was not found at {migrations}; run from a clone of the repo")
    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def second_model_embedder(out: TextIO) -> dict[str, Any]:
    """all-mpnet-base-v2 runs locally when its files are on this machine; say so plainly when not."""
    from ..embedders.deterministic import HashingTestEmbedder
    from ..embedders.local import find_local_model

    if find_local_model(SECOND_MODEL.split("/", 1)[1], {}) is not None:
        return {}
    print(
        f"note: {SECOND_MODEL} is not on this machine, so its column is filled by the NON-semantic "
        "HashingTestEmbedder (on TiDB Cloud, TiDB embeds it for real); the search below uses all-MiniLM-L6-v2",
        file=out,
    )
    return {SECOND_MODEL: HashingTestEmbedder(768)}


def offline_migration_sql(revisions: str = "head", migrations: Path = MIGRATIONS) -> str:
    """``alembic upgrade head --sql`` against a mysql URL: the DDL TiDB runs for the migrations."""
    from alembic import command
    from alembic.config import Config

    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", "mysql+pymysql://")
    command.upgrade(config, revisions, sql=True)
    return buffer.getvalue()


def tidb_sql(search_text: str) -> list[str]:
    """The statements TiDB receives for the same code, rendered for reading."""
    dialect = mysql.dialect()
    rows = [{"id": i, "content": c} for i, c in SEED_ROWS]
    query = select(Sample.id, Sample.content).order_by(Sample.embedding.cosine_distance(search_text)).limit(2)
    return [
        offline_migration_sql("0001").strip(),
        str(insert(Sample).values(rows).compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ";",
        offline_migration_sql("0001:head").strip(),
        str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ";",
    ]


def insert_seed_rows(engine: Engine, out: TextIO) -> None:
    with Session(engine) as session:
        session.execute(delete(Sample))
        session.add_all([Sample(id=i, content=c) for i, c in SEED_ROWS])
        started = time.perf_counter()
        session.commit()
        print(f"inserted {len(SEED_ROWS)} rows through the ORM in {time.perf_counter() - started:.2f}s", file=out)


def search(engine: Engine) -> list[tuple[int, str, float]]:
    distance = Sample.embedding.cosine_distance(SEED_QUERY)
    with Session(engine) as session:
        hits = session.execute(
            select(Sample.id, Sample.content, distance.label("distance")).order_by(distance).limit(2)
        ).all()
    return [(row.id, row.content, row.distance) for row in hits]


def main(url: str | None, api_key: str | None, out: TextIO = sys.stdout) -> int:
    workdir = None
    if url is None:
        workdir = tempfile.TemporaryDirectory(prefix="tidb-embed-orm-demo-")
        url = f"sqlite+tidb_embed:///{Path(workdir.name) / 'demo.db'}"
        print(f"embedded engine: {url}", file=out)
        engine = create_engine(url, embedding_progress=_progress(out), embedders=second_model_embedder(out))
    else:
        print(f"database: {url.split('@')[-1]}", file=out)
        engine = create_engine(url)
        if api_key:
            configure_provider(engine, "huggingface", api_key)
    try:
        print("migrating: alembic upgrade 0001 (the seed's sample table)", file=out)
        migrate(engine, "0001")
        insert_seed_rows(engine, out)
        print("migrating: alembic upgrade head (0002 adds an all-mpnet-base-v2 column to the filled table)", file=out)
        migrate(engine, "head")
        with Session(engine) as session:
            kept = session.scalars(select(Sample.id).where(Sample.embedding_mpnet.is_not(None))).all()
        print(f"  rebuilt: {len(kept)} rows kept, each embedded with the second model", file=out)
        hits = search(engine)
        print(f"\nquery: {SEED_QUERY!r}", file=out)
        for rank, (doc_id, content, distance) in enumerate(hits, 1):
            print(f"  {rank}. id={doc_id} distance={distance:.4f}  {content}", file=out)
        print("\nthe SQL TiDB receives for the same code:", file=out)
        for statement in tidb_sql(SEED_QUERY):
            print(f"\n{statement}", file=out)
    finally:
        engine.dispose()
        if workdir is not None:
            workdir.cleanup()
    return 0
