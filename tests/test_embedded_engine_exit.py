"""An application that ends without ``engine.dispose()`` leaves its database as SQLite leaves a closed one:
the write-ahead log copied in and removed, so the next process does not read it all before its first
statement. Each case runs in a process of its own, which simply exits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APPLICATION = """
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
"""


def run_application(path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", APPLICATION, f"sqlite+tidb_embed:///{path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def rows(path: Path) -> list[tuple[str]]:
    with sqlite3.connect(path) as plain:  # SQLite itself
        return plain.execute("SELECT body FROM notes").fetchall()


def test_an_engine_left_open_at_exit_leaves_no_write_ahead_log(tmp_path):
    path = tmp_path / "app.db"
    run_application(path)
    assert not Path(f"{path}-wal").exists()
    assert rows(path) == [("kept",)]


def test_closing_at_exit_leaves_connections_in_use_alone(tmp_path):
    """What runs at exit closes the pool's idle connections only: one a thread still holds keeps working, and a
    ``:memory:`` engine (whose pool gives each thread its connection for good) is not touched at all."""
    from sqlalchemy import create_engine

    from tidb_embed_orm.dialects.embedded import shutdown

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'app.db'}")
    memory = create_engine("sqlite+tidb_embed://")
    held, in_memory = engine.connect(), memory.connect()
    with engine.begin() as conn:  # a second connection, idle in the pool after this
        conn.exec_driver_sql("CREATE TABLE notes (body TEXT)")
        conn.exec_driver_sql("INSERT INTO notes VALUES ('kept')")
    in_memory.exec_driver_sql("CREATE TABLE scratch (x)")
    assert engine in shutdown._ENGINES and memory not in shutdown._ENGINES
    idle = engine.pool.checkedin()
    shutdown._close_engines()
    assert idle >= 1 and engine.pool.checkedin() == 0  # the idle ones were closed
    assert held.exec_driver_sql("SELECT body FROM notes").scalar() == "kept"
    assert in_memory.exec_driver_sql("SELECT count(*) FROM scratch").scalar() == 0
    held.close()
    in_memory.close()
    engine.dispose()
    memory.dispose()
