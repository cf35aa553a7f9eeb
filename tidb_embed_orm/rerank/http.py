"""What every rerank API client shares: one POST per batch over httpx, retries, errors without the key.

429 and 5xx are retried with exponential backoff (``Retry-After`` honoured), as is a timeout;
401/403 fail at once with ``RerankAuthError``; other answers fail with the server's own message.
The key travels only in the ``Authorization`` header: it is masked out of every error message, and
errors are raised outside the ``except`` block so the failed request (which carries the header)
never rides along as ``__context__``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..base_urls import check_url, mask_userinfo_in_http_logs
from ..exc import RerankAuthError, RerankError
from ..secrets import ApiKey, shown_url
from .base import RerankScore, check_scores

RETRYABLE = {429, 500, 502, 503, 504}
#: Characters of a failed answer's body quoted in the error (the server's reason, masked).
QUOTED = 300


@dataclass(frozen=True)
class _Retry:
    delay: float


class HttpReranker:
    """A rerank API reached over HTTP: subclasses say where, the request body and how to read the answer."""

    #: shown in errors and reprs
    provider = "rerank API"
    default_url = ""
    #: the environment variables read (first set wins) when no ``api_key`` is given
    key_env: tuple[str, ...] = ()
    key_required = True
    #: the most documents the API takes in one request (larger lists go in several)
    max_documents: int | None = 1000

    def __init__(self, model: str | None, *, api_key: ApiKey | str | None = None, url: str | None = None,
                 timeout: float = 30.0, max_retries: int = 2, backoff: float = 0.5, max_backoff: float = 10.0,
                 max_documents: int | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        if api_key is None:
            api_key = next((os.environ[name] for name in self.key_env if os.environ.get(name)), None)
        if api_key is None and self.key_required:
            raise RerankAuthError(f"the {self.provider} needs an API key: pass api_key=... "
                                  f"or set the {' or '.join(self.key_env)} environment variable")
        self.model = model
        self._key = None if api_key is None else ApiKey(api_key)
        self.url = self._checked_url(url or self.default_url)
        self.timeout = timeout
        self.max_retries, self.backoff, self.max_backoff, self._sleep = max_retries, backoff, max_backoff, sleep
        if max_documents is not None:
            self.max_documents = max_documents
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        mask_userinfo_in_http_logs()
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def _checked_url(self, url: str) -> str:
        """An absolute http(s) URL; plain http only to this machine when a key goes along (as the embedders)."""
        check_url(
            f"the {self.provider} URL", url, sends_key=self._key is not None, error=RerankError,
            example="https://api.cohere.com/v2/rerank", base_only=False,
        )
        return url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, url={shown_url(self.url)!r}, api_key={self._key!r})"

    def close(self) -> None:
        """Close the HTTP connections this client keeps open."""
        self._client.close()

    # what a subclass writes: the API's request and answer
    def body(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        """The JSON request body the API documents, for one batch of documents."""
        raise NotImplementedError

    def scores(self, answer: Any) -> list[tuple[Any, Any]]:
        """``(index, score)`` pairs read from the API's answer."""
        raise NotImplementedError

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankScore]:
        """The ``top_n`` most relevant documents (all when None), best first: one request per ``max_documents``."""
        texts = list(documents)
        if not texts:
            return []
        size = self.max_documents or len(texts)
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        found: list[RerankScore] = []
        for start, batch in zip(range(0, len(texts), size), batches, strict=True):
            # several batches: each answers every score, so that the best of all can be chosen
            asked = top_n if len(batches) == 1 else None
            answer = self._post(self.body(query, batch, asked))
            try:
                pairs = self.scores(answer)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise RerankError(f"the {self.provider} answered a body that is not its documented rerank "
                                  "answer; refusing to guess the order") from None
            checked = check_scores(pairs, len(batch), asked, self.provider)
            found.extend(RerankScore(start + s.index, s.score) for s in checked)
        found.sort(key=lambda s: (-s.score, s.index))
        return found if top_n is None else found[:top_n]

    def _post(self, body: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(body, attempt)
            if isinstance(outcome, _Retry):
                self._sleep(outcome.delay)
                continue
            if isinstance(outcome, Exception):
                raise outcome  # out of the except block: no __context__ holding the request
            return outcome

    def _attempt(self, body: dict[str, Any], attempt: int) -> Any:
        import httpx

        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            if attempt <= self.max_retries:
                return _Retry(self._delay(attempt, None))
            return RerankError(f"the {self.provider} did not answer within {self.timeout}s "
                               f"({attempt} attempts); try again later or raise timeout=")
        except httpx.HTTPError as exc:
            return RerankError(f"calling the {self.provider} at {shown_url(self.url)} failed: {self._mask(exc)}")
        status = response.status_code
        if status in RETRYABLE and attempt <= self.max_retries:
            return _Retry(self._delay(attempt, response.headers.get("Retry-After")))
        if status in (401, 403):
            return RerankAuthError(f"the {self.provider} refused the API key ({status}): pass a valid api_key=" +
                                   (f" or set {self.key_env[0]}" if self.key_env else ""))
        if status == 429:
            return RerankError(f"the {self.provider} kept rate-limiting the request (429) after {attempt} attempts; "
                               "slow down or raise max_retries=")
        if status >= 300:
            reason = self._mask(response.text[:QUOTED])
            return RerankError(f"the {self.provider} answered {status}"
                               + (f" after {attempt} attempts" if status in RETRYABLE else "") + f": {reason}")
        try:
            return response.json()
        except ValueError:
            return RerankError(f"the {self.provider} answered {status} with a body that is not JSON")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff)
            except ValueError:
                pass
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))

    def _mask(self, value: Any) -> str:
        text = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else str(value)
        return self._key.mask(text) if self._key else text
