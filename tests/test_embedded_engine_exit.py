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
import sys, threading
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
if sys.argv[2] == "hold":  # a connection still checked out when the interpreter exits
    held = engine.connect()
    held.exec_driver_sql("SELECT count(*) FROM notes").all()
    threading.Thread(target=threading.Event().wait, daemon=True).start()
"""


def run_application(path: Path, *, hold: bool = False) -> None:
    done = subprocess.run([sys.executable, "-c", APPLICATION, f"sqlite+tidb_embed:///{path}",
                           "hold" if hold else "-"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def rows(path: Path) -> list[tuple[str]]:
    with sqlite3.connect(path) as plain:  # SQLite itself
        return plain.execute("SELECT body FROM notes").fetchall()


def test_an_engine_left_open_at_exit_leaves_no_write_ahead_log(tmp_path):
    path = tmp_path / "app.db"
    run_application(path)
    assert not Path(f"{path}-wal").exists()
    assert rows(path) == [("kept",)]


def test_a_connection_still_checked_out_at_exit_is_not_closed_under_its_holder(tmp_path):
    """Only idle connections are closed: the exit is clean, and what was committed is there."""
    path = tmp_path / "app.db"
    run_application(path, hold=True)
    assert rows(path) == [("kept",)]
