"""Counters for proving client behaviour: compiled-statement cache hits, bytes read from the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CountingCache(dict):  # type: ignore[type-arg]
    """A ``compiled_cache`` (``engine.execution_options(compiled_cache=...)``) that counts hits and misses."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found


@contextmanager
def received_bytes() -> Iterator[list[int]]:
    """Count the bytes PyMySQL reads from the server while the block runs (``counter[0]``)."""
    import pymysql

    counter = [0]
    original = pymysql.connections.Connection._read_bytes

    def counting(self: Any, num_bytes: int) -> bytes:
        data = original(self, num_bytes)
        counter[0] += len(data)
        return data  # type: ignore[no-any-return]

    pymysql.connections.Connection._read_bytes = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        pymysql.connections.Connection._read_bytes = original  # type: ignore[method-assign]
