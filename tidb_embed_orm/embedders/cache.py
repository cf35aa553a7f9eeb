"""Batching and a bounded cache in front of any embedder, so each text is embedded once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from ..catalog import get_model_or_none, requested_sizes
from ..codec import Float32Array
from ..exc import EmbeddingFailedError, TidbEmbedError
from ..options import ProviderOptions
from .base import Embedder, as_matrix, embed_batch
from .feed import Collected, HeldVectors, TextCollector


class ProgressCallback(Protocol):
    """``progress(model, done, total)``, called after each batch of a long embedding run
    (``create_engine(url, embedding_progress=...)``); any function of three positional arguments."""

    def __call__(self, model: str, done: int, total: int, /) -> None:
        """Report that ``done`` of ``total`` texts have been embedded with ``model``."""

CacheKey = tuple[str, str | None, str]


def expected_dim(model: str, options: ProviderOptions | None) -> int | None:
    """The size EMBED_TEXT(model, ..., options) must produce, when the registry knows it."""
    entry = get_model_or_none(model)
    if entry is None:
        return None
    for path, size in requested_sizes(entry, dict(options or {})):
        if path in entry.dim_paths and isinstance(size, int) and not isinstance(size, bool):
            return size
    return entry.dim


def _checked(options: Any) -> ProviderOptions | None:
    # A provider is only ever given options resolved for stored or query text, never a declared
    # column's options (with their k@search keys) or a bare JSON string.
    if options is not None and not isinstance(options, ProviderOptions):
        raise TypeError(
            f"embedding options must be ProviderOptions (column_type.stored_options() / .search_options()), "
            f"got {type(options).__name__}"
        )
    return options or None


class EmbeddingService:
    """Resolves an embedder per model and serves vectors in batches through an LRU cache.

    Columns are embedded through :meth:`embed_stored` (their stored texts) and :meth:`embed_query`
    (a query text): the column type decides the options, so every path (insert, update, rebuild,
    client mode, index and scan search) gives the same vectors for the same text.
    """

    def __init__(
        self,
        resolve: Callable[[str], Embedder],
        *,
        batch_size: int = 64,
        cache_size: int = 10_000,
        progress: ProgressCallback | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._resolve = resolve
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.progress = progress
        self._cache: OrderedDict[CacheKey, Float32Array] = OrderedDict()
        self._lock = threading.RLock()
        self._embedders: dict[str, Embedder] = {}
        #: per connection (by id): the vectors its current write will ask for (``feed.py``)
        self._held: dict[int, HeldVectors] = {}
        #: per connection (by id): the texts its statement's dry run asks for
        self._collectors: dict[int, TextCollector] = {}
        #: texts per call of embed() by prefetch_stored (each call's texts are sorted by length)
        self.window_batches = 32

    def embedder(self, model: str) -> Embedder:
        """The embedder that serves ``model`` (registered, local or the provider's API), created once."""
        with self._lock:
            found = self._embedders.get(model)
            if found is None:
                found = self._embedders[model] = self._resolve(model)
            return found

    def embed_stored(self, column_type: Any, texts: Sequence[str]) -> list[Float32Array]:
        """The vectors an auto-embedding column stores for ``texts`` (its stored options)."""
        return self.embed(column_type.model, texts, column_type.stored_options())

    def embed_query(self, column_type: Any, text: str) -> Float32Array:
        """The vector a query text is compared with, for an auto-embedding column (its search options)."""
        return self.embed(column_type.model, [text], column_type.search_options())[0]

    def prefetch_stored(self, column_type: Any, texts: Sequence[str]) -> None:
        """Embed a column's stored texts ahead of time, in batches, into the cache (callers without a statement)."""
        window = self.batch_size * self.window_batches
        for start in range(0, len(texts), window):
            self.embed_stored(column_type, texts[start : start + window])

    def embed(self, model: str, texts: Sequence[str], options: ProviderOptions | None = None) -> list[Float32Array]:
        """One vector per text; cached texts are not embedded again, the rest go in batches."""
        options = _checked(options)
        options_key = None if options is None else options.json
        known: dict[str, Float32Array] = {}
        with self._lock:
            for text in texts:
                key = (model, options_key, text)
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    known[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(self._embed_missing(model, options, missing))
        return [known[text] for text in texts]

    def embed_one(self, model: str, text: str, options: ProviderOptions | None = None) -> Float32Array:
        """One text's vector (cached, or embedded now)."""
        return self.embed(model, [text], options)[0]

    def vector_for_write(
        self, model: str, text: str, options: ProviderOptions | None, connection: int
    ) -> Float32Array | None:
        """What EMBED_TEXT stores for ``text`` in a write on ``connection``: the vector held for the write;
        during a dry run, a placeholder (None when the size is unknown) after noting the text; else embedded now."""
        options = _checked(options)
        key = (model, None if options is None else options.json, text)
        held = self._held.get(connection)
        vector = held.get(key) if held is not None else None
        if vector is not None:
            return vector
        collector = self._collectors.get(connection)
        if collector is None:
            return self.embed(model, [text], options)[0]
        with self._lock:
            vector = self._cache.get(key)
        if vector is not None:
            return vector
        collector.add(model, options, text)
        dim = expected_dim(model, options)
        return None if dim is None else np.zeros(dim, dtype=np.float32)

    @contextmanager
    def collecting(self, connection: int) -> Iterator[TextCollector]:
        """While the block runs, EMBED_TEXT on ``connection`` notes its texts instead of embedding them."""
        collector = self._collectors[connection] = TextCollector()
        try:
            yield collector
        finally:
            self._collectors.pop(connection, None)

    def hold(self, connection: int, layer: str, texts: Collected) -> None:
        """Embed ``texts`` now, in batches, and keep them for ``connection``'s write (``layer`` is replaced).

        Texts another layer of the connection already holds are not embedded again.
        """
        connection = self._connection_key(connection)
        held = self._held.get(connection)
        vectors: list[tuple[CacheKey, Float32Array]] = []
        for (model, options_key), (options, group) in texts.items():
            wanted = [t for t in dict.fromkeys(group) if held is None or held.get((model, options_key, t)) is None]
            if wanted:
                found = self.embed(model, wanted, options)
                vectors.extend(((model, options_key, t), v) for t, v in zip(wanted, found, strict=True))
        if held is None:
            held = self._held[connection] = HeldVectors()
        held.put(layer, vectors)

    def hold_stored(self, connection: int, layer: str, texts: Mapping[Any, Sequence[str]]) -> None:
        """:meth:`hold` for auto-embedding column types and their stored texts."""
        collected: Collected = {}
        for column_type, group in texts.items():
            if group:
                options = _checked(column_type.stored_options())
                key = (column_type.model, None if options is None else options.json)
                collected.setdefault(key, (options, []))[1].extend(group)
        if collected:
            self.hold(connection, layer, collected)
        else:
            self.release(connection, layer)

    def release(self, connection: int, layer: str) -> None:
        """Forget what ``layer`` holds for ``connection``."""
        connection = self._connection_key(connection)
        held = self._held.get(connection)
        if held is not None and held.drop(layer):
            self._held.pop(connection, None)

    def _connection_key(self, connection: int) -> int:
        return connection

    def _embed_missing(
        self, model: str, options: ProviderOptions | None, texts: list[str]
    ) -> dict[str, Float32Array]:
        embedder = self.embedder(model)
        dim = expected_dim(model, options)
        options_key = None if options is None else options.json
        fresh: dict[str, Float32Array] = {}
        # Texts of similar length share a batch: local models pad every text to the batch's longest.
        texts = sorted(texts, key=len)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                result = embed_batch(embedder, batch, options, model)
            except TidbEmbedError:
                raise
            except Exception as exc:
                raise EmbeddingFailedError(f"embedding {len(batch)} texts with {model!r} failed: {exc}") from exc
            matrix = as_matrix(result, len(batch), dim, model)
            with self._lock:
                for text, row in zip(batch, matrix, strict=False):
                    vector = row.copy()
                    fresh[text] = vector
                    self._remember((model, options_key, text), vector)
            if self.progress is not None and len(texts) > self.batch_size:
                self.progress(model, min(start + self.batch_size, len(texts)), len(texts))
        return fresh

    def _remember(self, key: CacheKey, vector: Float32Array) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = vector
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def forget_provider(self, provider: str) -> None:
        """Drop the embedders and cached vectors of ``provider``'s models (its key or endpoint changed)."""
        prefix = provider + "/"
        with self._lock:
            for model in [m for m in self._embedders if m.startswith(prefix)]:
                del self._embedders[model]
            for key in [k for k in self._cache if k[0].startswith(prefix)]:
                del self._cache[key]

    def clear_cache(self) -> None:
        """Drop every cached vector."""
        with self._lock:
            self._cache.clear()
