"""A write's texts, embedded before the write takes SQLite's lock, and served to EMBED_TEXT during it.

SQLite computes a generated column one row at a time, inside the statement, while the database's
write lock is held: a model working there makes every other writer wait (``database is locked``
after the busy timeout). So the embedded engine learns a write's texts first, embeds them in
batches with nobody waiting, and keeps the vectors here; when SQLite evaluates ``EMBED_TEXT``
during the write, the vector is looked up, not computed. The texts are learnt in three ways:

- the ORM's flush: every pending and changed source text of the flush (``ext/flush.py``);
- a compiled statement's parameters, every parameter set of an executemany at once (the dialect's
  execution context);
- anything else (``INSERT ... SELECT``, ``UPDATE ... SET body = body || 'x'``, upserts, raw SQL):
  the statement is run once with ``EMBED_TEXT`` *collecting* its texts and rolled back (the lock is
  held only for the write itself, no model work), then the texts are embedded, then the statement runs
  for real (``dialects/embedded/pysqlite.py``).

Each way hands its texts to :class:`HeldVectors`; a text a write asks for that no way announced
(a concurrent writer changed the rows between the two runs) is embedded on the spot, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..codec import Float32Array

#: (model, canonical JSON of the stored options or None, text)
TextKey = tuple[str, str | None, str]
#: (model, canonical JSON of the stored options or None) -> (the options object, texts in order)
Collected = dict[tuple[str, str | None], tuple[Any, list[str]]]


class HeldVectors:
    """The vectors one connection's write will ask for, in layers (``"flush"``, ``"statement"``...)."""

    def __init__(self) -> None:
        self._layers: dict[str, dict[TextKey, Float32Array]] = {}

    def get(self, key: TextKey) -> Float32Array | None:
        for layer in self._layers.values():
            vector = layer.get(key)
            if vector is not None:
                return vector
        return None

    def put(self, layer: str, vectors: Iterable[tuple[TextKey, Float32Array]]) -> None:
        """Replace ``layer`` with ``vectors``."""
        self._layers[layer] = dict(vectors)

    def drop(self, layer: str) -> bool:
        """Forget ``layer``; True when nothing is held any more."""
        self._layers.pop(layer, None)
        return not self._layers


class TextCollector:
    """The texts a statement's dry run asked ``EMBED_TEXT`` for, grouped by (model, options)."""

    def __init__(self) -> None:
        self.texts: Collected = {}

    def add(self, model: str, options: Any, text: str) -> None:
        key = (model, None if options is None else options.json)
        self.texts.setdefault(key, (options, []))[1].append(text)

    def __len__(self) -> int:
        return sum(len(texts) for _, texts in self.texts.values())
