"""``tidb-embed-orm demo``: migrate, insert the seed rows through the ORM, search, show TiDB's SQL.

On a fresh embedded database (the default) the demo works on the page's ``sample`` table. With
``--url`` it is a guest in someone's database: it says what it will create, uses a uniquely named
table and its own Alembic version table (the user's tables and ``alembic_version`` are never
read or written), and drops both at the end, even after a failure.
"""

from __future__ import annotations

import io
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import URL, create_engine, insert, make_url, select, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from ..providers import configure_provider
from .models import SECOND_MODEL, SEED_QUERY, SEED_ROWS, TABLE, TABLE_ATTRIBUTE, VERSION_TABLE_ATTRIBUTE, demo_model

#: The demo's Alembic environment ships inside the package (the repo's migrations/ points here).
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class DemoTables:
    """Where the demo writes: its table and its Alembic version table."""

    table: str = TABLE
    version_table: str = "alembic_version"

    @classmethod
    def unique(cls) -> DemoTables:
        name = f"tidb_embed_demo_{secrets.token_hex(4)}"
        return cls(name, f"{name}_version")

    def leftovers(self) -> list[str]:
        """Everything the demo may have created, the rebuild's copies included."""
        return [self.table, f"_tidb_embed_new_{self.table}", f"_tidb_embed_old_{self.table}", self.version_table]


def _progress(err: TextIO):
    def report(model: str, done: int, total: int) -> None:
        print(f"  embedding with {model}: {done}/{total}", file=err, flush=True)

    return report


def _config(migrations: Path, tables: DemoTables) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes[TABLE_ATTRIBUTE] = tables.table
    config.attributes[VERSION_TABLE_ATTRIBUTE] = tables.version_table
    return config


def migrate(
    engine: Engine, revision: str = "head", migrations: Path = MIGRATIONS, tables: DemoTables = DemoTables()
) -> None:
    """``alembic upgrade <revision>`` with the demo's Alembic environment, on ``engine``."""
    from alembic import command

    config = _config(migrations, tables)
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


def offline_migration_sql(
    revisions: str = "head", migrations: Path = MIGRATIONS, tables: DemoTables = DemoTables()
) -> str:
    """``alembic upgrade head --sql`` against a mysql URL: the DDL TiDB runs for the migrations."""
    from alembic import command

    buffer = io.StringIO()
    config = _config(migrations, tables)
    config.output_buffer = buffer
    config.set_main_option("sqlalchemy.url", "mysql+pymysql://")
    command.upgrade(config, revisions, sql=True)
    return buffer.getvalue()


def tidb_sql(search_text: str, tables: DemoTables = DemoTables()) -> list[str]:
    """The statements TiDB receives for the same code on ``tables`` (the ones the run used), for reading."""
    dialect = mysql.dialect()
    sample = demo_model(tables.table)
    rows = [{"id": i, "content": c} for i, c in SEED_ROWS]
    query = select(sample.id, sample.content).order_by(sample.embedding.cosine_distance(search_text)).limit(2)
    return [
        offline_migration_sql("0001", tables=tables).strip(),
        str(insert(sample).values(rows).compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ";",
        offline_migration_sql("0001:head", tables=tables).strip(),
        str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ";",
    ]


def insert_seed_rows(engine: Engine, sample: Any, out: TextIO) -> None:
    with Session(engine) as session:
        session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
        started = time.perf_counter()
        session.commit()
        print(f"inserted {len(SEED_ROWS)} rows through the ORM in {time.perf_counter() - started:.2f}s", file=out)


def search(engine: Engine, sample: Any) -> list[tuple[int, str, float]]:
    distance = sample.embedding.cosine_distance(SEED_QUERY)
    with Session(engine) as session:
        hits = session.execute(
            select(sample.id, sample.content, distance.label("distance")).order_by(distance).limit(2)
        ).all()
    return [(row.id, row.content, row.distance) for row in hits]


def drop_demo_tables(engine: Engine, tables: DemoTables) -> list[str]:
    """Drop what the demo may have created, by the names it generated itself (nothing else is looked at)."""
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        for name in tables.leftovers():
            conn.execute(text(f"DROP TABLE IF EXISTS {preparer.quote(name)}"))
    return [tables.table, tables.version_table]


def run(engine: Engine, tables: DemoTables, out: TextIO) -> None:
    sample = demo_model(tables.table)
    print(f"migrating: alembic upgrade 0001 (creates {tables.table}, the seed's sample table)", file=out)
    migrate(engine, "0001", tables=tables)
    insert_seed_rows(engine, sample, out)
    print("migrating: alembic upgrade head (0002 adds an all-mpnet-base-v2 column to the filled table)", file=out)
    migrate(engine, "head", tables=tables)
    with Session(engine) as session:
        kept = session.scalars(select(sample.id).where(sample.embedding_mpnet.is_not(None))).all()
    print(f"  rebuilt: {len(kept)} rows kept, each embedded with the second model", file=out)
    hits = search(engine, sample)
    print(f"\nquery: {SEED_QUERY!r}", file=out)
    for rank, (doc_id, content, distance) in enumerate(hits, 1):
        print(f"  {rank}. id={doc_id} distance={distance:.4f}  {content}", file=out)
    print("\nthe SQL TiDB receives for the same code:", file=out)
    for statement in tidb_sql(SEED_QUERY, tables):
        print(f"\n{statement}", file=out)


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:  # the URL itself is not repeated: it may hold a password
        raise ArgumentError(
            "--url is not a database URL: pass a TiDB URL such as mysql+pymysql://user:password@host:4000/test, "
            "or leave --url out to run on a fresh embedded database"
        ) from None


def main(url: str | None, api_key: str | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the demo; with ``url``, as a guest in that database (nothing is said before it is reachable)."""
    workdir = None
    if url is None:
        workdir = tempfile.TemporaryDirectory(prefix="tidb-embed-orm-demo-")
        url = f"sqlite+tidb_embed:///{Path(workdir.name) / 'demo.db'}"
        tables = DemoTables()
    else:
        tables = DemoTables.unique()
    embedded = _parse_url(url).drivername == "sqlite+tidb_embed"
    options = {"embedding_progress": _progress(err), "embedders": second_model_embedder(out)} if embedded else {}
    engine = create_engine(url, **options)
    began = False  # once the first migration starts, the demo's tables may exist and are dropped at the end
    try:
        if workdir is not None:
            print(f"embedded engine: {url}", file=out)
        else:
            with engine.connect():  # unreachable or refused: fail before announcing anything
                pass
            print(f"database: {url.split('@')[-1]}", file=out)
            print(
                f"the demo will create the table {tables.table} and its Alembic version table "
                f"{tables.version_table}, and drop both when it ends; nothing else in this database is read or changed",
                file=out,
            )
        if api_key:
            configure_provider(engine, "huggingface", api_key)
        began = True
        run(engine, tables, out)
    finally:
        if workdir is None and began:
            try:
                dropped = drop_demo_tables(engine, tables)
                print(f"\ncleaned up: dropped {', '.join(dropped) or 'nothing'}", file=out)
            except Exception as exc:  # never hide the demo's own error behind this one
                print(f"could not drop {', '.join(tables.leftovers())}: {exc}", file=err)
        engine.dispose()
        if workdir is not None:
            workdir.cleanup()
    return 0
