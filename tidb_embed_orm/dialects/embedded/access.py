"""How the engine opens a database file: as the user's URL says, and never writing what must stay read-only.

The user's own connections open what the URL names. The engine also opens connections of its own
(the vector index's reader, ``vector_index/search.py``); those must honour the same URI flags
(``mode=ro``, ``immutable=1``), never create a database file that is gone (``mode=rw``, not
SQLite's default ``rwc``), and be read-only where the file or its folder is. One exception changes
the user's own connection: a WAL database in a folder the process cannot write (a read-only
volume, a shipped demo database) cannot be opened by SQLite at all unless its ``-shm`` and
``-wal`` files exist, so such a file is opened ``immutable=1`` (SQLite's documented way to read
it, https://sqlite.org/wal.html#readonly) with one INFO message.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

log = logging.getLogger("tidb_embed_orm.embedded")

#: URI parameters the engine's own connections carry over from the user's URL.
CARRIED = ("mode", "immutable", "nolock", "vfs")
_TRUE = {"1", "true", "yes", "on"}


def split_filename(filename: str, uri: bool) -> tuple[str, dict[str, str]]:
    """``(path, URI parameters)`` of a DBAPI filename (``file:`` URIs only when ``uri`` is set)."""
    if not (uri and filename.startswith("file:")):
        return filename, {}
    parts = urlsplit(filename)
    path = unquote(parts.path)
    return path, dict(parse_qsl(parts.query, keep_blank_values=True))


def is_read_only(params: dict[str, str]) -> bool:
    """Whether URI parameters open the database read-only."""
    return params.get("mode") == "ro" or params.get("immutable", "").lower() in _TRUE


def _unreadable_wal(path: str) -> bool:
    """A WAL database SQLite cannot open in place: its folder is not writable and it has no ``-wal``
    file (a cleanly closed database), so the ``-shm`` index cannot be created."""
    if not os.path.isfile(path) or os.access(os.path.dirname(os.path.abspath(path)) or ".", os.W_OK):
        return False
    if os.path.exists(path + "-wal"):
        return False
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    # bytes 18 and 19 of the header: file format read/write versions, 2 = WAL (https://sqlite.org/fileformat.html)
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def user_filename(filename: str, uri: bool) -> tuple[str, bool]:
    """The user's DBAPI filename, opened ``immutable=1`` when that is the only way SQLite can read it."""
    if filename in ("", ":memory:"):
        return filename, uri
    path, params = split_filename(filename, uri)
    if params.get("mode") in ("memory",) or params.get("immutable", "").lower() in _TRUE or not _unreadable_wal(path):
        return filename, uri
    log.info("%s is a WAL database in a folder this process cannot write: opened read-only (immutable=1); "
             "changes other processes make are seen after reconnecting", path)
    return to_uri(path, {**params, "mode": "ro", "immutable": "1"}), True


def to_uri(path: str, params: dict[str, str]) -> str:
    """A SQLite ``file:`` URI for an absolute or relative path."""
    query = urlencode(params)
    return "file:" + quote(path) + (f"?{query}" if query else "")


def engine_connection_uri(database_file: str, user_params: dict[str, str]) -> tuple[str, bool]:
    """``(URI, read_only)`` for a connection the engine opens on its own to ``database_file``.

    ``user_params``: the URI parameters the user opened that file with (``{}`` when unknown).
    Read-only when the user's URL says so or the file or its folder cannot be written.
    """
    params = {key: value for key, value in user_params.items() if key in CARRIED}
    folder = os.path.dirname(os.path.abspath(database_file)) or "."
    read_only = (is_read_only(params) or not os.access(database_file, os.W_OK) or not os.access(folder, os.W_OK))
    if read_only:
        params["mode"] = "ro"
        if _unreadable_wal(database_file):
            params["immutable"] = "1"
    else:
        params["mode"] = "rw"  # never "rwc": a database the user deleted is not created again
    return to_uri(database_file, params), read_only
