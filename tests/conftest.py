from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import mysql

SEED = Path(__file__).parent / "data" / "seed_huggingface_embeddings.md"
MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
SEED_ROWS = [
    (1, "Java: Object-oriented language for cross-platform development."),
    (2, "Java coffee: Bold Indonesian beans with low acidity."),
    (3, "Java island: Densely populated, home to Jakarta."),
    (4, "Java's syntax is used in Android apps."),
    (5, "Dark roast Java beans enhance espresso blends."),
]
SEED_QUERY = "How to start learning Java programming?"


def normalize_sql(sql: str) -> str:
    """Compare SQL modulo whitespace, quoting style and INT/INTEGER."""
    sql = sql.replace("`", "").replace('"', "'")
    sql = re.sub(r"\bINTEGER\b", "INT", sql)
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(r"\(\s+", "(", sql)
    sql = re.sub(r"\s+\)", ")", sql)
    sql = re.sub(r"\s*,\s*", ", ", sql)
    return sql.strip().rstrip(";").strip()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def mysql_dialect():
    return mysql.dialect()


@pytest.fixture
def embedded_engine(tmp_path):
    """An embedded engine on a file, with the real all-MiniLM-L6-v2 model."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """A real MySQL-protocol server on 127.0.0.1 (Debian's MariaDB), with its general query log."""
    server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not os.path.exists(server) or install is None:
        pytest.skip("MariaDB is not installed (apt-get install mariadb-server)")
    base = tmp_path_factory.mktemp("mariadb")
    datadir, log = base / "data", base / "general.log"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal", *user],
        check=True, capture_output=True,
    )
    port = _free_port()
    process = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
         f"--socket={base / 'mysqld.sock'}", "--skip-grant-tables", "--general-log=1",
         f"--general-log-file={log}", *user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"mysql+pymysql://root@127.0.0.1:{port}/mysql"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.skip("MariaDB did not start")
            time.sleep(0.2)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE DATABASE IF NOT EXISTS test")
    engine.dispose()
    yield {"url": url.replace("/mysql", "/test"), "general_log": log}
    process.terminate()
    process.wait(timeout=30)
