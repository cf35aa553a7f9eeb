"""Embedding work off the event loop: with an async engine, the model runs in a worker thread.

SQLAlchemy's asyncio extension runs the synchronous engine code inside a greenlet on the event
loop's thread; anything slow done there (a model encoding a batch, an HTTP call to a provider)
would stall every other coroutine. ``off_loop`` hands such work to the loop's default executor
and waits for it the way SQLAlchemy's async drivers wait for their I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine.interfaces import Dialect

T = TypeVar("T")


def _await() -> Callable[[Any], Any]:
    from sqlalchemy import util

    return getattr(util, "await_", None) or util.await_only  # await_only: SQLAlchemy 2.0's name


def _in_greenlet() -> bool:
    try:
        from sqlalchemy.util.concurrency import in_greenlet
    except ImportError:  # SQLAlchemy 2.0
        from sqlalchemy.util._concurrency_py3k import in_greenlet  # type: ignore[no-redef]
    return bool(in_greenlet())


def off_loop(dialect: Dialect, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; on an async engine, in a worker thread while the event loop keeps running."""
    if not getattr(dialect, "is_async", False) or not _in_greenlet():
        return fn(*args)
    loop = asyncio.get_running_loop()
    return _await()(loop.run_in_executor(None, partial(fn, *args)))  # type: ignore[no-any-return]
