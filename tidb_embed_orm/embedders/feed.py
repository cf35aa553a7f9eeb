"""A statement's texts, embedded a window ahead of SQLite as it evaluates EMBED_TEXT row by row.

SQLite computes a generated column one row at a time. Before the statement runs, the embedded
engine hands the statement's source texts (in row order) to a ``StatementFeed``; when SQLite
asks for a text the feed does not have yet, it embeds the next window of distinct texts in
batches. Every distinct text is embedded once, memory is bounded by the window (plus texts that
will be asked for again), and the embedding cache is an optimisation, not what batching relies on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from ..codec import Float32Array

EmbedMany = Callable[[list[str]], list[Float32Array]]


class StatementFeed:
    """Serves one (model, options) column's vectors for one statement."""

    def __init__(self, texts: Sequence[str], embed: EmbedMany, window: int) -> None:
        self._texts = texts
        self._embed = embed
        self._window = max(1, window)
        self._next = 0
        self._remaining = Counter(texts)
        self._ready: dict[str, Float32Array] = {}

    def vector(self, text: str) -> Float32Array | None:
        """The vector of ``text``, or None when this statement did not announce it."""
        if self._remaining.get(text, 0) <= 0:
            return None
        if text not in self._ready:
            self._fill(text)
        vector = self._ready[text]
        self._remaining[text] -= 1
        if self._remaining[text] <= 0:
            del self._ready[text]
        return vector

    def _fill(self, wanted: str) -> None:
        batch: dict[str, None] = {}
        while self._next < len(self._texts) and len(batch) < self._window:
            text = self._texts[self._next]
            self._next += 1
            if text not in self._ready:
                batch[text] = None
        batch.setdefault(wanted, None)  # asked out of row order (e.g. an UPSERT's second pass)
        texts = list(batch)
        self._ready.update(zip(texts, self._embed(texts), strict=True))
