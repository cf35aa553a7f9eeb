"""A throwaway MariaDB server on 127.0.0.1: a real MySQL-protocol peer for tests and benchmarks.

It has no VECTOR type and no VEC_* functions, so it proves what the client sends (statements,
parameters, bytes on the wire), not what TiDB computes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class MariaDBUnavailable(RuntimeError):
    """MariaDB is not installed here, or did not start."""


@dataclass(frozen=True)
class MariaDB:
    url: str
    general_log: Path
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_mariadb(base: Path | None = None, *, general_log: bool = True, timeout: float = 60) -> Iterator[MariaDB]:
    """Start MariaDB in a fresh data directory, yield its URL (database ``test``), stop it after."""
    server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not os.path.exists(server) or install is None:
        raise MariaDBUnavailable("MariaDB is not installed (apt-get install mariadb-server)")
    with tempfile.TemporaryDirectory(prefix="tidb-embed-mariadb-", dir=base) as workdir:
        root = Path(workdir)
        datadir, log = root / "data", root / "general.log"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [install, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal", *user],
            check=True, capture_output=True,
        )
        port = _free_port()
        logging_args = [f"--general-log={int(general_log)}", f"--general-log-file={log}"]
        process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
             f"--socket={root / 'mysqld.sock'}", "--skip-grant-tables", "--max-allowed-packet=64M",
             *logging_args, *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise MariaDBUnavailable("MariaDB did not start") from None
                    time.sleep(0.2)
            import pymysql

            connection = pymysql.connect(host="127.0.0.1", port=port, user="root")
            try:
                connection.cursor().execute("CREATE DATABASE IF NOT EXISTS test")
            finally:
                connection.close()
            yield MariaDB(f"mysql+pymysql://root@127.0.0.1:{port}/test", log, port)
        finally:
            process.terminate()
            process.wait(timeout=30)


#: Non-semantic stand-ins for TiDB's distance functions, so the exact SQL our ORM sends to TiDB also
#: runs on MariaDB (a deterministic number per row and query: enough to order by, nothing more).
STANDIN_FUNCTIONS = [
    "CREATE FUNCTION IF NOT EXISTS VEC_EMBED_COSINE_DISTANCE(v LONGTEXT, q TEXT) RETURNS DOUBLE DETERMINISTIC "
    "RETURN CRC32(CONCAT(LEFT(v, 32), q)) / 4294967296",
    "CREATE FUNCTION IF NOT EXISTS VEC_COSINE_DISTANCE(v LONGTEXT, q LONGTEXT) RETURNS DOUBLE DETERMINISTIC "
    "RETURN CRC32(CONCAT(LEFT(v, 32), LEFT(q, 32))) / 4294967296",
]


def create_sample_table(connection: object, name: str = "sample") -> None:
    """The seed's ``sample`` table as MariaDB can hold it (the vector kept in TiDB's text form)."""
    execute = connection.exec_driver_sql  # type: ignore[attr-defined]
    execute(f"DROP TABLE IF EXISTS {name}")
    execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, content TEXT, embedding LONGTEXT)")
    for statement in STANDIN_FUNCTIONS:
        execute(statement)
