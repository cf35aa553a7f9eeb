"""What every provider embedder shares: one httpx client, batches, retries, errors that say what to do.

Each provider module (``openai``, ``cohere``, ``jina``, ``gemini``, ``nvidia_nim``) only says how
TiDB's adapter for that provider builds its request and reads its answer
(pingcap/tidb ``pkg/inference/embedding/<provider>/<provider>.go`` and ``protocol.go``); this base
does the rest, the same way for all of them:

- texts go in batches of at most 16, as TiDB's batcher (``pkg/inference/embedding/batcher/batcher.go``,
  ``DefaultMaxBatchSize = 16``) sends them, or fewer where the provider's own limit is lower;
- a timeout per request, and retries with exponential backoff on 429, 5xx, timeouts and dropped
  connections, honouring ``Retry-After`` up to ``max_backoff`` (TiDB never retries; a client running a
  bulk load must); a refused connection fails at once (nothing is listening: offline, wrong port);
- 401/403 names the key variable, 404 the model, 400/422 the options; the server's own message is
  quoted (cut short, the key masked), the key itself never appears anywhere.

httpx rather than each provider's SDK: TiDB's adapters speak plain HTTP with a fixed body (for
example OpenAI's ``encoding_format: base64`` with options merged at top level, or Gemini's
``batchEmbedContents``); the SDKs (openai, cohere, google-genai) rebuild the body their own way,
add their own retries and fields, and are heavy. A small client over httpx sends byte for byte what
TiDB sends, and httpx is one light, well-kept dependency for all five providers.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..base_urls import check_url, is_loopback, mask_userinfo_in_http_logs
from ..catalog import PROVIDER_KEY_VARIABLES, PROVIDER_LABELS, get_model_or_none
from ..codec import Float32Array
from ..exc import (
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    InputTooLongError,
    ProviderAuthError,
    UnsupportedOptionsError,
)
from ..secrets import ApiKey, shown_url

#: TiDB's batcher seals a batch at 16 texts (pkg/inference/embedding/batcher/batcher.go).
TIDB_MAX_BATCH = 16
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
#: An answer larger than this is refused unread (a 16-text batch of 16383-d float vectors is ~5 MB).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_QUOTED_MESSAGE = 300


def check_base_url(provider: str, url: str, *, sends_key: bool) -> str:
    """A provider's base URL without its trailing ``/``, or a one-line refusal (``base_urls.check_url``)."""
    return check_url(
        f"the {provider} base URL", url, sends_key=sends_key, error=EmbeddingUnavailableError,
        example="https://api.openai.com/v1",
    )


def decode_base64_floats(value: Any) -> list[float] | None:
    """Little-endian float32 bytes in base64 (TiDB's base.DecodeFloat32ArrayBytes); None when it is not that."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) % 4:
        return None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).tolist()  # type: ignore[no-any-return]


def float_list(value: Any) -> list[float] | None:
    """A JSON list of numbers, or None."""
    if not isinstance(value, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        return None
    return [float(x) for x in value]


class ProviderEmbedder:
    """The shared half of a provider embedder; subclasses say how to build a request and read its answer."""

    #: provider name as in EMBED_TEXT (``openai``); set by each subclass
    provider = ""
    #: how many texts one request carries at most (TiDB's 16, or the provider's lower limit)
    max_batch = TIDB_MAX_BATCH
    #: where the provider is when no base URL is configured
    default_base_url = ""
    #: whether the request may go without a key (OpenAI-compatible servers on this machine)
    key_optional = False

    def __init__(
        self,
        model: str,
        *,
        api_key: ApiKey | str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: Any = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise EmbeddingUnavailableError(
                f"calling the {self.label} API needs httpx: pip install 'tidb-embed-orm[providers]'"
            ) from None

        self.model = model  # the provider's own model name, without the ``provider/`` prefix
        self._key = None if api_key is None else ApiKey(api_key)
        base = base_url or self.default_base_url
        self.base_url = check_base_url(self.label, base, sends_key=self._key is not None)
        if self._key is None and not self._may_go_without_key():
            raise EmbeddingUnavailableError(self.missing_key_message())
        self.timeout = timeout
        self.max_retries, self.backoff, self.max_backoff, self._sleep = max_retries, backoff, max_backoff, sleep
        mask_userinfo_in_http_logs()
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False)
        entry = get_model_or_none(f"{self.provider}/{model}")
        self.max_input_chars = entry.max_input_chars if entry is not None else None

    # -- what a provider module says --------------------------------------------------------------

    def url(self) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """TiDB's adapters send JSON with the key as a bearer token (Gemini overrides)."""
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = "Bearer " + self._key.reveal()
        return headers

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        """The vectors of a 200 answer, in text order; EmbeddingFailedError when the answer is not that."""
        raise NotImplementedError

    def error_message(self, answer: Any) -> str | None:
        """The provider's own error text in a non-200 answer (each protocol.go's ErrorResponse)."""
        if isinstance(answer, dict):
            error = answer.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return error["message"]
            for key in ("message", "detail", "error"):
                if isinstance(answer.get(key), str):
                    return answer[key]  # type: ignore[no-any-return]
        return None

    # -- shared ------------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def full_model(self) -> str:
        return f"{self.provider}/{self.model}"

    def _may_go_without_key(self) -> bool:
        return self.key_optional and is_loopback(urlsplit(self.base_url).hostname)

    def missing_key_message(self) -> str:
        variable = PROVIDER_KEY_VARIABLES.get(self.provider)
        from .provider_keys import ENV_KEYS

        env = ENV_KEYS[self.provider][0]
        return (
            f"{self.full_model!r} is embedded through the {self.label} API, and no {self.label} API key is set: "
            f"configure_provider(engine, {self.provider!r}, key), SET @@GLOBAL.{variable} = '<API_KEY>' on the "
            f"embedded engine, or the {env} environment variable"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, base_url={shown_url(self.base_url)!r}, api_key={self._key!r})"

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str], options: Mapping[str, Any] | None = None) -> Float32Array:
        """Embed ``texts`` as TiDB's adapter would, in batches of at most :attr:`max_batch` texts.

        ``options`` are EMBED_TEXT's options already resolved for stored or query text
        (``k@search`` keys handled by the caller, as TiDB does in pkg/expression/builtin_inference.go).
        """
        texts = list(texts)
        self._check_lengths(texts)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.max_batch):
            rows.extend(self._embed_batch(texts[start : start + self.max_batch], dict(options or {})))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        sizes = {len(row) for row in rows}
        if len(sizes) != 1:
            raise EmbeddingFailedError(
                f"{self.label} answered vectors of different sizes {sorted(sizes)} for {self.full_model!r}; "
                "refusing to store them"
            )
        return np.asarray(rows, dtype=np.float32)

    def _check_lengths(self, texts: list[str]) -> None:
        limit = self.max_input_chars
        if limit is None:
            return
        for text in texts:
            if len(text) > limit:
                raise InputTooLongError(
                    f"a text of {len(text)} characters is longer than {self.full_model!r} accepts ({limit} "
                    f"characters): shorten it before inserting; nothing was sent to {self.label}"
                )

    def _embed_batch(self, texts: list[str], options: dict[str, Any]) -> list[list[float]]:
        payload = json.dumps(self.body(texts, options), ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(payload, attempt)
            if isinstance(outcome, float):
                self._sleep(outcome)
                continue
            if isinstance(outcome, Exception):
                # Raised here, outside any except block: the httpx error (its request carries the
                # Authorization header) must not travel along as __context__.
                raise outcome
            status, answer = outcome
            return self._checked(self.vectors(answer, len(texts)), len(texts))

    def _attempt(self, payload: bytes, attempt: int) -> tuple[int, Any] | float | Exception:
        """(200, answer), a delay before the next attempt, or the error to raise."""
        import httpx

        try:
            with self._client.stream("POST", self.url(), content=payload, headers=self.headers()) as response:
                body = self._read(response)
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
        except httpx.TimeoutException:
            if attempt > self.max_retries:
                return EmbeddingFailedError(
                    f"{self.label} did not answer in time ({self.timeout:g}s) for {self.full_model!r} after "
                    f"{attempt} attempts; try again later or raise the timeout"
                )
            return self._delay(attempt, None)
        except (httpx.TransportError, httpx.StreamError) as exc:
            if isinstance(exc, httpx.ConnectError) or attempt > self.max_retries:
                return EmbeddingFailedError(
                    f"calling {self.label} at {shown_url(self.base_url)} for {self.full_model!r} failed: "
                    f"{self._mask(type(exc).__name__ + ': ' + str(exc))}"
                )
            return self._delay(attempt, None)
        except _TooLarge:
            return EmbeddingFailedError(
                f"{self.label} answered more than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB for {self.full_model!r}; "
                "refusing to read it"
            )
        if status == 200:
            try:
                return status, json.loads(body)
            except ValueError:
                return EmbeddingFailedError(
                    f"{self.label} answered 200 with something that is not JSON for {self.full_model!r}: "
                    f"{self._quote(body)}; refusing to store it"
                )
        if status in RETRYABLE and attempt <= self.max_retries:
            return self._delay(attempt, retry_after)
        return self._error(status, body, attempt)

    def _read(self, response: Any) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return max(0.0, min(float(retry_after), self.max_backoff))
            except ValueError:
                pass
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))

    def _error(self, status: int, body: bytes, attempts: int) -> Exception:
        try:
            said = self.error_message(json.loads(body))
        except ValueError:
            said = None
        quoted = f": {self._quote(said)}" if said else ""
        if status in (401, 403):
            variable = PROVIDER_KEY_VARIABLES.get(self.provider)
            from .provider_keys import ENV_KEYS

            env = ENV_KEYS[self.provider][0]
            return ProviderAuthError(
                f"{self.label} refused the API key ({status}) for {self.full_model!r}{quoted}; set a valid key with "
                f"configure_provider(engine, {self.provider!r}, key), SET @@GLOBAL.{variable} = '<API_KEY>' "
                f"or the {env} environment variable"
            )
        if status == 404:
            return EmbeddingUnavailableError(
                f"{self.label} at {shown_url(self.base_url)} does not know the model {self.model!r} (404){quoted}; "
                f"check the model name in EMBED_TEXT({self.full_model!r}, ...) (`tidb-embed-orm models --provider "
                f"{self.provider}` lists the known ones)"
            )
        if status in (400, 422):
            return UnsupportedOptionsError(
                f"{self.label} refused the request for {self.full_model!r} ({status}){quoted}; check the column's "
                "EMBED_TEXT options (they are sent to the provider as they are) and the input text"
            )
        if status in RETRYABLE:
            return EmbeddingFailedError(
                f"{self.label} kept failing for {self.full_model!r} ({status}{quoted}) after {attempts} attempts; "
                "try again later"
            )
        return EmbeddingFailedError(f"{self.label} answered {status} for {self.full_model!r}{quoted}")

    def _checked(self, rows: list[list[float]], count: int) -> list[list[float]]:
        if len(rows) != count:
            raise EmbeddingFailedError(
                f"{self.label} answered {len(rows)} vectors for {count} texts with {self.full_model!r}; "
                "refusing to store them"
            )
        return rows

    def malformed(self, what: str) -> EmbeddingFailedError:
        """The error for a 200 answer that is not what the protocol says."""
        return EmbeddingFailedError(
            f"{self.label} answered 200 without {what} for {self.full_model!r}; refusing to store it "
            f"(is {shown_url(self.base_url)} a {self.label} endpoint?)"
        )

    def _quote(self, text: str | bytes) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = " ".join(text.split())
        if len(text) > _QUOTED_MESSAGE:
            text = text[: _QUOTED_MESSAGE - 3] + "..."
        return self._mask(text)

    def _mask(self, text: str) -> str:
        return self._key.mask(text) if self._key is not None else text


class _TooLarge(Exception):
    pass


def indexed_vectors(embedder: ProviderEmbedder, answer: Any, count: int) -> list[list[float]]:
    """``{"data": [{"index": i, "embedding": ...}]}`` (OpenAI, Jina, NIM), placed by ``index`` as TiDB sorts them.

    TiDB asks for base64 and decodes it; an OpenAI-compatible server that ignores ``encoding_format``
    answers floats, which are taken too.
    """
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise embedder.malformed("a 'data' list")
    if len(data) != count:
        return [[] for _ in data]  # the count check names the mismatch
    placed: list[list[float] | None] = [None] * count
    for item in data:
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count or placed[index] is not None:
            raise embedder.malformed(f"distinct 'index' values 0..{count - 1} in 'data'")
        raw = item.get("embedding")
        vector = decode_base64_floats(raw)
        if vector is None:
            vector = float_list(raw)
        if vector is None or not vector:
            raise embedder.malformed(f"a base64 or float 'embedding' at index {index}")
        placed[index] = vector
    return [v for v in placed if v is not None]
