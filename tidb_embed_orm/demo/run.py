"""``tidb-embed-orm demo``: migrate, insert the seed rows through the ORM, search, show TiDB's SQL."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from sqlalchemy import create_engine, delete, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from ..providers import configure_provider
from .models import SEED_QUERY, SEED_ROWS, Sample

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _progress(out: TextIO):
    def report(model: str, done: int, total: int) -> None:
        print(f"  embedding with {model}: {done}/{total}", file=out, flush=True)

    return report


def migrate(url: str, migrations: Path = MIGRATIONS) -> None:
    """``alembic upgrade head`` with the demo's Alembic environment."""
    from alembic import command
    from alembic.config import Config

    if not (migrations / "env.py").exists():
        raise SystemExit(f"the demo's Alembic environment was not found at {migrations}; run from a clone of the repo")
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def tidb_sql(search_text: str) -> list[str]:
    """The statements TiDB receives for the same ORM code, rendered for reading."""
    dialect = mysql.dialect()
    rows = [{"id": i, "content": c} for i, c in SEED_ROWS]
    query = select(Sample.id, Sample.content).order_by(Sample.embedding.cosine_distance(search_text)).limit(2)
    return [
        str(CreateTable(Sample.__table__).compile(dialect=dialect)).strip(),
        str(insert(Sample).values(rows).compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
    ]


def run_seed_flow(engine: Engine, out: TextIO) -> list[tuple[int, str, float]]:
    distance = Sample.embedding.cosine_distance(SEED_QUERY)
    with Session(engine) as session:
        session.execute(delete(Sample))
        session.add_all([Sample(id=i, content=c) for i, c in SEED_ROWS])
        started = time.perf_counter()
        session.commit()
        print(f"inserted {len(SEED_ROWS)} rows through the ORM in {time.perf_counter() - started:.2f}s", file=out)
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
        engine = create_engine(url, embedding_progress=_progress(out))
    else:
        print(f"database: {url.split('@')[-1]}", file=out)
        engine = create_engine(url)
        if api_key:
            configure_provider(engine, "huggingface", api_key)
    try:
        print("migrating: alembic upgrade head", file=out)
        migrate(url)
        hits = run_seed_flow(engine, out)
        print(f"\nquery: {SEED_QUERY!r}", file=out)
        for rank, (doc_id, content, distance) in enumerate(hits, 1):
            print(f"  {rank}. id={doc_id} distance={distance:.4f}  {content}", file=out)
        print("\nthe SQL TiDB receives for the same code:", file=out)
        for statement in tidb_sql(SEED_QUERY):
            print(f"\n{statement};", file=out)
    finally:
        engine.dispose()
        if workdir is not None:
            workdir.cleanup()
    return 0
