"""Embedded engines close their idle connections when the interpreter exits.

SQLite removes a database's write-ahead log when its last connection closes, after copying the log
into the database. A process that exits with its pool's connections still open leaves the log behind,
and the next process to open the file reads all of it first to rebuild its index: after a bulk load
whose graph was built in the background (a reader held its snapshot for minutes, so the log could not
restart), that was a 109 MB log and 21 ms added to the next process's first statement. ``dispose``
closes only the connections the pool holds idle (and the engine's own vector-index readers), never
one another thread has checked out, and only in the process that created the engine: a forked
child's copies are not its to close. Async engines close theirs with ``await engine.dispose()``:
their connections close on the event loop, which is gone at exit. Disposing also asks the
engine's background builds to stop (between slices); a build's own connection closes as its thread
ends, within the exit wait of ``vector_index/background.py``, and a build that outlasts it leaves the
log for the next process to read, as a killed process does.
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import Any

from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)

#: engine -> the process that created it
_ENGINES: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def close_at_exit(engine: Any) -> None:
    """Have ``engine``'s idle connections closed when this process exits: a file database's queue of pooled
    connections (``:memory:`` databases have no log, and their pools hand one connection to a thread for
    good: disposing those would close connections in use)."""
    if not engine.dialect.is_async and isinstance(engine.pool, QueuePool):
        _ENGINES[engine] = os.getpid()


@atexit.register
def _close_engines() -> None:
    here = os.getpid()
    for engine, created_in in list(_ENGINES.items()):
        if created_in != here:
            continue
        try:
            engine.dispose()
        except Exception:  # exiting: a connection that will not close is closed by the OS instead
            log.debug("could not close %r at exit", engine, exc_info=True)
