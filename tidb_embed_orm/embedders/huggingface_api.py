"""The HuggingFace Inference API (feature extraction) with your own key, through ``huggingface_hub``.

``POST {base_url}/models/{repo}/pipeline/feature-extraction`` with ``{"inputs": [...]}`` (plus
EMBED_TEXT's options as top-level fields, as TiDB sends them), answered
by ``[[floats], ...]``. 429 and 5xx are retried with exponential backoff (``Retry-After`` honoured);
a timeout is retried the same way; 401, 404 and malformed answers fail at once with a clear error.
The key is sent as a bearer token and never appears in an error, a repr or a log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np

from ..codec import Float32Array
from ..exc import EmbeddingFailedError, EmbeddingUnavailableError, HuggingFaceAuthError
from ..secrets import ApiKey, shown_url
from .provider_http import TIDB_MAX_BATCH

DEFAULT_BASE_URL = "https://router.huggingface.co/hf-inference"
RETRYABLE = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class _Retry:
    delay: float


def repo_path(repo: str) -> str:
    """``org/name`` as URL path segments: each escaped, none empty, ``.`` or ``..``.

    The bearer token goes wherever this path points, so it can never leave ``{base}/models/``.
    """
    segments = repo.split("/") if isinstance(repo, str) else []
    if len(segments) != 2 or any(s in ("", ".", "..") or s.strip() != s for s in segments):
        raise EmbeddingUnavailableError(
            f"{repo!r} is not a HuggingFace repo name: expected 'org/name', with no empty, '.' or '..' part"
        )
    return "/".join(quote(segment, safe="") for segment in segments)


class HuggingFaceInferenceEmbedder:
    """Embeds with a model served by the HuggingFace Inference API (or a compatible endpoint)."""

    def __init__(
        self,
        repo: str,
        *,
        api_key: ApiKey | str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            from huggingface_hub import InferenceClient
        except ImportError:
            raise EmbeddingUnavailableError(
                "the HuggingFace Inference API needs huggingface_hub: pip install 'tidb-embed-orm[huggingface]'"
            ) from None
        from .provider_http import check_base_url

        self.repo = repo
        # http/https with a host only, as the current TiDB adapter validates its base (PR #69981).
        self.base_url = check_base_url("HuggingFace", base_url or DEFAULT_BASE_URL, sends_key=api_key is not None)
        self.url = f"{self.base_url}/models/{repo_path(repo)}/pipeline/feature-extraction"
        self._key = None if api_key is None else ApiKey(api_key)
        self.max_retries, self.backoff, self.max_backoff, self._sleep = max_retries, backoff, max_backoff, sleep
        # token=False: send no token at all (not even one stored by `hf auth login`).
        token = self._key.reveal() if self._key else False
        self._client = InferenceClient(token=token, timeout=timeout)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        base = shown_url(self.base_url)
        return f"HuggingFaceInferenceEmbedder({self.repo!r}, base_url={base!r}, api_key={self._key!r})"

    def embed(self, texts: Sequence[str], options: Mapping[str, Any] | None = None) -> Float32Array:
        """Embed ``texts``; EMBED_TEXT's options go into the request body beside ``inputs``, as TiDB sends them.

        At most 16 texts a request, as TiDB's batcher sends them (pkg/inference/embedding/batcher/batcher.go).
        """
        texts = list(texts)
        if len(texts) <= TIDB_MAX_BATCH:
            return self._embed_batch(texts, options)
        starts = range(0, len(texts), TIDB_MAX_BATCH)
        return np.concatenate([self._embed_batch(texts[i : i + TIDB_MAX_BATCH], options) for i in starts])

    def _embed_batch(self, texts: Sequence[str], options: Mapping[str, Any] | None) -> Float32Array:
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(texts, attempt, options)
            if isinstance(outcome, _Retry):
                self._sleep(outcome.delay)
                continue
            if isinstance(outcome, Exception):
                # Raised here, out of any except block: the HTTP error (its request carries the
                # Authorization header) must not travel along as __context__.
                raise outcome
            return self._check(outcome, len(texts))

    def _attempt(self, texts: Sequence[str], attempt: int, options: Mapping[str, Any] | None) -> Any:
        """The answer, a _Retry, or the error to raise."""
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        try:
            return self._request(list(texts), options)
        except InferenceTimeoutError:
            if attempt > self.max_retries:
                return EmbeddingFailedError(
                    f"the HuggingFace Inference API did not answer for {self.repo!r} in time "
                    f"({attempt} attempts); try again later or raise the timeout"
                )
            return _Retry(self._delay(attempt, None))
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in RETRYABLE and attempt <= self.max_retries:
                return _Retry(self._delay(attempt, exc.response.headers.get("Retry-After")))
            return self._error(status, attempt)
        except Exception as exc:  # connection refused, offline mode, bad JSON...
            return EmbeddingFailedError(
                f"calling the HuggingFace Inference API for {self.repo!r} failed: {self._mask(exc)}"
            )

    def _request(self, texts: list[str], options: Mapping[str, Any] | None) -> Any:
        if not options:
            return self._client.feature_extraction(texts, model=self.url)
        # TiDB merges every option into the body and ``inputs`` wins a clash; feature_extraction()
        # takes only named parameters, so the request is prepared by the same provider helper it uses.
        from huggingface_hub.inference._providers import get_provider_helper

        helper = get_provider_helper(self._client.provider, task="feature-extraction", model=self.url)
        request = helper.prepare_request(
            inputs=texts,
            parameters={key: value for key, value in options.items() if key != "inputs"},
            headers=self._client.headers,
            model=self.url,
            api_key=self._client.token,
        )
        return helper.get_response(self._client._inner_post(request))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)

    def _check(self, result: Any, count: int) -> Float32Array:
        matrix = np.asarray(result, dtype=np.float32)
        if matrix.ndim == 3:
            raise EmbeddingFailedError(
                f"{self.repo!r} answered token embeddings (shape {matrix.shape}), not one vector per text: "
                "it is not a sentence-embedding model; refusing to store them"
            )
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise EmbeddingFailedError(
                f"the HuggingFace Inference API answered {matrix.shape[0] if matrix.ndim else 0} vectors "
                f"for {count} texts with {self.repo!r}; refusing to store them"
            )
        return matrix

    def _error(self, status: int | None, attempts: int) -> Exception:
        if status in (401, 403):
            return HuggingFaceAuthError(
                f"the HuggingFace Inference API refused the API key ({status}) for {self.repo!r}: set a valid key "
                "with configure_provider(engine, 'huggingface', key), SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY "
                "= '<API_KEY>' or the HF_TOKEN environment variable"
            )
        if status == 404:
            return EmbeddingUnavailableError(
                f"{self.repo!r} is not served by the HuggingFace Inference API at {shown_url(self.base_url)} (404): "
                "check the model name, or serve it locally with register_local_model()"
            )
        if status in RETRYABLE:
            return EmbeddingFailedError(
                f"the HuggingFace Inference API kept failing for {self.repo!r} ({status}) after {attempts} attempts"
            )
        return EmbeddingFailedError(f"the HuggingFace Inference API answered {status} for {self.repo!r}")

    def _mask(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        return self._key.mask(text) if self._key else text
