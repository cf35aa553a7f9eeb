"""A real HTTP server on 127.0.0.1 speaking one embedding provider's documented contract.

One server per provider (``openai``, ``cohere``, ``jina_ai``, ``gemini``, ``nvidia_nim``), answering
the requests TiDB's adapters send (pingcap/tidb ``pkg/inference/embedding/<provider>/protocol.go``)
the way the provider's API answers them: OpenAI / Jina / NIM ``{"data": [{"index", "embedding":
<base64 float32>}]}``, Cohere ``{"embeddings": [[...]]}``, Gemini ``{"embeddings": [{"values":
[...]}]}``, and each provider's error body. Vectors come from :class:`HashingTestEmbedder` (or any
embedder given), with the request's options salting them so that other options give other
vectors, as with a real model; a size option (``dimensions``, ``output_dimension``,
``output_dimensionality``) is honoured.

``requests`` records every request (path, headers, JSON body); ``script`` queues misbehaviours for
the next requests: ``"400"``, ``"401"``, ``"403"``, ``"404"``, ``"429"`` (with ``Retry-After: 0``),
``"500"``, ``"503"``, ``"hang"`` (answers after ``hang_seconds``), ``"malformed"`` (200, not JSON),
``"short"`` (one vector too few), ``"shuffled"`` (items in reverse order, indices kept),
``"floats"`` (float lists instead of base64). Use it to try an OpenAI-compatible setup offline,
as a stand-in for Ollama or vLLM: ``ProviderServer("openai").base_url`` is its ``/v1`` base.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from ..catalog import get_model_or_none
from ..embedders.deterministic import HashingTestEmbedder
from .http_reply import reply_json, reply_raw

#: Where each provider's base URL points on this server (what configure_provider(base_url=) takes).
BASE_PATHS = {
    "openai": "/v1",
    "cohere": "/v1/embed",
    "jina_ai": "/v1/embeddings",
    "gemini": "/v1beta/models",
    "nvidia_nim": "/v1/embeddings",
}
_SIZE_KEYS = ("dimensions", "output_dimension", "output_dimensionality")


def _error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "openai":
        return {"error": {"message": message, "type": "invalid_request_error", "code": str(status)}}
    if provider == "cohere":
        return {"id": "test", "message": message}
    if provider == "gemini":
        return {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}}
    return {"detail": message}  # Jina AI, NVIDIA NIM


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout being tested) is not an error worth a traceback on stderr."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class ProviderServer:
    """``with ProviderServer("openai") as server: ...`` — see the module docstring."""

    def __init__(self, provider: str, *, dim: int = 16, embedder: Any = None) -> None:
        if provider not in BASE_PATHS:
            raise ValueError(f"no test server for {provider!r}; one of {sorted(BASE_PATHS)}")
        self.provider = provider
        self.dim = dim
        self.embedder = embedder
        self.requests: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.hang_seconds = 2.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                server.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                action = server.script.pop(0) if server.script else "ok"
                if action == "hang":
                    time.sleep(server.hang_seconds)
                    action = "ok"
                if action.isdigit():
                    headers = {"Retry-After": "0"} if action == "429" else {}
                    message = f"scripted {action}"
                    if action in ("401", "403"):  # as OpenAI does: the key quoted back
                        sent = self.headers.get("Authorization") or self.headers.get("x-goog-api-key") or ""
                        message = f"Incorrect API key provided: {sent.removeprefix('Bearer ')}"
                    return self._send(int(action), _error_body(provider, int(action), message), headers)
                if action == "malformed":
                    return self._send_raw(200, b"<html>not json</html>")
                status, payload = server.answer(self.path, body, action)
                return self._send(status, payload)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                reply_json(self, status, payload, headers)

            def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                reply_raw(self, status, data, headers)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.base_url = self.root + BASE_PATHS[provider]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ProviderServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> ProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the contract ---------------------------------------------------------------------------

    def answer(self, path: str, body: Any, action: str) -> tuple[int, Any]:
        """(status, JSON payload) for a well-formed request; 404 for a path the provider does not serve."""
        if not isinstance(body, dict):
            return 400, _error_body(self.provider, 400, "body is not a JSON object")
        if self.provider == "gemini":
            return self._gemini(path, body, action)
        if path != BASE_PATHS[self.provider] + ("/embeddings" if self.provider == "openai" else ""):
            return 404, _error_body(self.provider, 404, f"no route {path}")
        texts = body.get("texts" if self.provider == "cohere" else "input")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return 400, _error_body(self.provider, 400, "input must be a list of strings")
        options = {k: v for k, v in body.items() if k not in ("model", "input", "texts")}
        vectors = self.vectors(body.get("model"), texts, options)
        if action == "short":
            vectors = vectors[:-1]
        if self.provider == "cohere":
            return 200, {"id": "test", "response_type": "embeddings_floats", "texts": texts,
                         "embeddings": vectors.tolist()}
        as_floats = action == "floats" or (
            options.get("encoding_format", options.get("embedding_type")) not in ("base64",)
        )
        items = [
            {"object": "embedding", "index": i,
             "embedding": row.tolist() if as_floats else base64.b64encode(row.astype("<f4").tobytes()).decode()}
            for i, row in enumerate(vectors)
        ]
        if action == "shuffled":
            items.reverse()
        return 200, {"object": "list", "data": items, "model": body.get("model"),
                     "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}

    def _gemini(self, path: str, body: dict[str, Any], action: str) -> tuple[int, Any]:
        prefix = BASE_PATHS["gemini"] + "/"
        if not (path.startswith(prefix) and path.endswith(":batchEmbedContents")):
            return 404, _error_body("gemini", 404, f"no route {path}")
        model = path[len(prefix) : -len(":batchEmbedContents")]
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return 400, _error_body("gemini", 400, "requests must be a non-empty list")
        rows = []
        for request in requests:
            if request.get("model") != f"models/{model}":
                return 400, _error_body("gemini", 400, "request model does not match the URL's")
            text = request["content"]["parts"][0]["text"]
            options = {k: v for k, v in request.items() if k not in ("model", "content")}
            rows.append(self.vectors(model, [text], options)[0])
        if action == "short":
            rows = rows[:-1]
        return 200, {"embeddings": [{"values": row.tolist()} for row in rows]}

    def vectors(self, model: Any, texts: list[str], options: dict[str, Any]) -> Any:
        """The model's vectors (its catalogue size, or ``dim``), cut to a size the options ask for."""
        size = next((options[k] for k in _SIZE_KEYS if isinstance(options.get(k), int)), None)
        salt = {k: v for k, v in options.items() if k not in ("encoding_format", "embedding_type", *_SIZE_KEYS)}
        if self.embedder is not None:
            matrix = np.asarray(self.embedder.embed(texts, options=salt or None), dtype=np.float32)
            return matrix[:, :size] if size else matrix
        entry = get_model_or_none(f"{self.provider}/{model}") if isinstance(model, str) else None
        embedder = HashingTestEmbedder(size or (entry.dim if entry is not None else self.dim))
        return embedder.embed(texts, options=salt or None)
