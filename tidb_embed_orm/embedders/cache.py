"""Batching and a bounded cache in front of any embedder, so each text is embedded once."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ..codec import Float32Array
from ..errors import EmbeddingFailedError, TidbEmbedError
from ..models import _REGISTRY
from .base import Embedder, as_matrix, embed_batch
from .feed import StatementFeed

#: progress(model, done, total) after each batch of a long embedding run.
ProgressCallback = Callable[[str, int, int], None]
CacheKey = tuple[str, str | None, str]


def expected_dim(model: str, options_json: str | None) -> int | None:
    """The size EMBED_TEXT(model, ..., options) must produce, when the registry knows it."""
    entry = _REGISTRY.get(model)
    if entry is None:
        return None
    if options_json and entry.dim_option:
        size = json.loads(options_json).get(entry.dim_option)
        if isinstance(size, int):
            return size
    return entry.dim


class EmbeddingService:
    """Resolves an embedder per model and serves vectors in batches through an LRU cache."""

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
        #: per connection (by id): the feeds of the statement it is executing
        self._feeds: dict[int, dict[tuple[str, str | None], StatementFeed]] = {}
        #: how many batches a statement's feed embeds at a time: texts of a window are sorted by
        #: length, so a wider window pads less (32 x 64 texts: within 1.5% of sorting the whole statement)
        self.window_batches = 32

    def embedder(self, model: str) -> Embedder:
        with self._lock:
            found = self._embedders.get(model)
            if found is None:
                found = self._embedders[model] = self._resolve(model)
            return found

    def embed(self, model: str, texts: Sequence[str], options_json: str | None = None) -> list[Float32Array]:
        """One vector per text; cached texts are not embedded again, the rest go in batches."""
        known: dict[str, Float32Array] = {}
        with self._lock:
            for text in texts:
                key = (model, options_json, text)
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    known[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(self._embed_missing(model, options_json, missing))
        return [known[text] for text in texts]

    def embed_one(self, model: str, text: str, options_json: str | None = None, *, connection: int = 0) -> Float32Array:
        """One text's vector; a text the connection's current statement announced comes from its feed."""
        feed = self._feeds.get(connection, {}).get((model, options_json)) if connection else None
        vector = feed.vector(text) if feed is not None else None
        return vector if vector is not None else self.embed(model, [text], options_json)[0]

    def start_statement(self, connection: int, texts: dict[tuple[str, str | None], Sequence[str]]) -> None:
        """Announce the texts a statement on ``connection`` will embed, in row order, per (model, options)."""
        window = self.batch_size * self.window_batches
        feeds = {
            (model, options): StatementFeed(
                announced, lambda batch, m=model, o=options: self.embed(m, batch, o), window
            )
            for (model, options), announced in texts.items()
            if announced
        }
        if feeds:
            self._feeds[connection] = feeds
        else:
            self._feeds.pop(connection, None)

    def end_statement(self, connection: int) -> None:
        self._feeds.pop(connection, None)

    def prefetch(self, model: str, texts: Sequence[str], options_json: str | None = None) -> None:
        """Embed texts ahead of time, in batches, into the cache (for callers without a statement)."""
        for start in range(0, len(texts), self.batch_size * self.window_batches):
            self.embed(model, texts[start : start + self.batch_size * self.window_batches], options_json)

    def _embed_missing(self, model: str, options_json: str | None, texts: list[str]) -> dict[str, Float32Array]:
        embedder = self.embedder(model)
        dim = expected_dim(model, options_json)
        fresh: dict[str, Float32Array] = {}
        # Texts of similar length share a batch: local models pad every text to the batch's longest.
        texts = sorted(texts, key=len)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                result = embed_batch(embedder, batch, options_json, model)
            except TidbEmbedError:
                raise
            except Exception as exc:
                raise EmbeddingFailedError(f"embedding {len(batch)} texts with {model!r} failed: {exc}") from exc
            matrix = as_matrix(result, len(batch), dim, model)
            with self._lock:
                for text, row in zip(batch, matrix, strict=False):
                    vector = row.copy()
                    fresh[text] = vector
                    self._remember((model, options_json, text), vector)
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

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
