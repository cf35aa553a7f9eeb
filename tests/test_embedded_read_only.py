"""A database opened read-only stays unchanged: searches work (the saved graph or one built in memory),
without an error or a warning per search, and nothing the engine opens on its own writes to it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, insert, select

from tidb_embed_orm import Vector, VectorIndex

ROOT = Path(__file__).resolve().parents[1]
DIM = 16


def table() -> Table:
    return Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
                 VectorIndex("ix_docs_v", "v"))


def make_database(path: Path, *, saved_graph: bool, rows: int = 1500) -> None:
    """A cleanly closed WAL database; with a saved graph and log entries after it, or with no graph at all."""
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs = table()
    docs.metadata.create_all(engine)
    rng = np.random.default_rng(1)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": i, "v": rng.standard_normal(DIM)} for i in range(rows)])
    if saved_graph:
        with engine.connect() as conn:
            conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(1)).all()
        with engine.begin() as conn:  # changes after the saved graph: a search must fold them from the log
            conn.execute(insert(docs), [{"id": rows + i, "v": rng.standard_normal(DIM)} for i in range(20)])
    engine.dispose()
    assert not Path(f"{path}-wal").exists()
    assert Path(f"{path}-tidb-vector").exists() == saved_graph


def fingerprint(path: Path) -> dict[str, str]:
    """The bytes of the database and its WAL, and the names and bytes in the graph folder.

    An empty ``-wal`` does not count: SQLite itself leaves one (and ``-shm``) beside a WAL database a
    ``mode=ro`` connection read, in a folder it can write (``sqlite3 'file:x.db?mode=ro'`` does too).
    """
    files = [path, Path(f"{path}-wal")]
    folder = Path(f"{path}-tidb-vector")
    if folder.is_dir():
        files += sorted(folder.iterdir())
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.exists() and f.stat().st_size}


def search_all(url: str) -> tuple[bool, int, list[str]]:
    """(indexed answers equal the scan's, row count, warnings) of 10 searches through ``url``."""
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logging.getLogger("tidb_embed_orm").addHandler(handler)
    try:
        engine = create_engine(url)
        docs = table()
        equal = True
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(docs)).scalar_one()
            for q in np.random.default_rng(2).standard_normal((10, DIM)):
                distance = docs.c.v.cosine_distance(q)
                indexed = conn.execute(select(docs.c.id).order_by(distance).limit(5)).scalars().all()
                scan = conn.execute(select(docs.c.id).order_by(distance + 0).limit(5)).scalars().all()
                equal = equal and indexed == scan and len(indexed) == 5
            assert "TIDB_EMBED_KNN" in str(select(docs.c.id).order_by(distance).limit(5).compile(engine))
        engine.dispose()
    finally:
        logging.getLogger("tidb_embed_orm").removeHandler(handler)
    return equal, count, warnings


URLS = {
    "mode=ro": "sqlite+tidb_embed:///file:{path}?mode=ro&uri=true",
    "immutable=1": "sqlite+tidb_embed:///file:{path}?immutable=1&uri=true",
}


@pytest.mark.parametrize("saved_graph", [True, False], ids=["with its saved graph", "without a graph folder"])
@pytest.mark.parametrize("how", list(URLS))
def test_a_database_opened_read_only_is_searched_and_never_written(tmp_path, how, saved_graph):
    path = tmp_path / "docs.db"
    make_database(path, saved_graph=saved_graph)
    before = fingerprint(path)
    equal, count, warnings = search_all(URLS[how].format(path=path))
    assert equal and count == (1520 if saved_graph else 1500)
    assert fingerprint(path) == before  # no graph saved, no log compacted, nothing checkpointed
    assert not Path(f"{path}-tidb-vector").exists() or saved_graph  # no folder created
    if saved_graph:
        assert warnings == []  # the saved graph is loaded and the log after it folded in memory
    else:  # one message, not one per search: the graph it built cannot be saved
        assert len(warnings) == 1 and "read-only" in warnings[0], warnings


def test_the_engine_reader_honours_mode_ro_while_another_engine_writes(tmp_path):
    path = tmp_path / "docs.db"
    make_database(path, saved_graph=True)
    writer = create_engine(f"sqlite+tidb_embed:///{path}")
    reader = create_engine(f"sqlite+tidb_embed:///file:{path}?mode=ro&uri=true")
    docs = table()
    q = np.ones(DIM)
    with writer.begin() as conn:  # enough for a read-write engine to save and compact at its next search
        conn.execute(insert(docs), [{"id": 10_000 + i, "v": np.random.default_rng(i).standard_normal(DIM)}
                                    for i in range(1200)])
        conn.execute(insert(docs).values(id=99_999, v=q))
    log_rows = "SELECT count(*) FROM _tidb_embed_vector_log"
    with writer.connect() as conn:
        logged = conn.exec_driver_sql(log_rows).scalar()
    with reader.connect() as conn:
        assert conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(1)).scalar() == 99_999
    with writer.connect() as conn:
        assert conn.exec_driver_sql(log_rows).scalar() == logged  # the read-only engine compacted nothing
    (reader_connection,) = [r.connection for r in reader.dialect.vector_indexes._readers.values()]
    with pytest.raises(Exception, match="readonly"):
        reader_connection.execute("CREATE TABLE t (x)")
    reader.dispose()
    writer.dispose()


CHILD = """
import json, os, sys
sys.path.insert(0, {tests!r})
from test_embedded_read_only import search_all
assert not os.access({folder!r}, os.W_OK), "this process can write the folder: the test would prove nothing"
print(json.dumps(search_all({url!r})))
"""


def unprivileged() -> list[str]:
    """A command prefix running a process as an ordinary user (root ignores a folder's permissions)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: root ignores the folder's permissions, so a read-only "
                    "folder cannot be tested")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("how", ["plain URL", "mode=ro", "immutable=1"])
def test_a_wal_database_in_a_read_only_folder(how):
    """A read-only volume: SQLite cannot create the -shm file beside a cleanly closed WAL database."""
    prefix = unprivileged()
    base = Path(tempfile.mkdtemp(prefix="tidb-embed-ro-"))
    try:
        base.chmod(0o755)
        folder = base / "volume"
        folder.mkdir()
        path = folder / "docs.db"
        make_database(path, saved_graph=True)
        before = fingerprint(path)
        folder.chmod(0o555)
        url = {"plain URL": "sqlite+tidb_embed:///{path}", **URLS}[how].format(path=path)
        script = CHILD.format(tests=str(ROOT / "tests"), url=url, folder=str(folder))
        done = subprocess.run([*prefix, sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        if prefix and done.returncode != 0 and "Permission denied" in done.stderr:
            pytest.skip(f"running as root, and an ordinary user cannot run this checkout's Python: root ignores "
                        f"the folder's permissions, so a read-only folder cannot be tested ({done.stderr[-300:]})")
        assert done.returncode == 0, done.stderr[-2000:]
        equal, count, warnings = json.loads(done.stdout.strip().splitlines()[-1])
        assert equal and count == 1520
        assert warnings == []
        assert fingerprint(path) == before
        assert sorted(p.name for p in folder.iterdir()) == ["docs.db", "docs.db-tidb-vector"]
    finally:
        for directory in (base, base / "volume"):
            if directory.exists():
                directory.chmod(0o755)
        shutil.rmtree(base)
