"""A real HTTP server on 127.0.0.1 speaking the rerank APIs' documented contracts.

One ``RerankServer(flavor)`` per API: ``cohere`` (``POST /v2/rerank``: ``model``, ``query``,
``documents``, ``top_n`` -> ``{"results": [{index, relevance_score}]}``), ``jina`` (``POST
/v1/rerank``, the same fields plus ``return_documents``), ``voyage`` (``POST /v1/rerank``: ``top_k``
-> ``{"data": [...]}``), ``common`` (``POST /rerank``: vLLM / Infinity's Cohere-like shape) and
``tei`` (``POST /rerank``: ``query``, ``texts`` -> ``[{index, score}]``, at most ``max_batch``
texts). Relevance is real, if simple: the share of the query's words a document holds. A key, when
set, is checked as a bearer token (401 otherwise, quoting the token as some servers do). ``script``
queues misbehaviours for the next requests: "401", "429", "503", "hang", "bad_index", "partial".
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tidb_embed_orm.testing.http_reply import reply_json

PATHS = {"cohere": "/v2/rerank", "jina": "/v1/rerank", "voyage": "/v1/rerank", "common": "/rerank", "tei": "/rerank"}
REQUIRED = {
    "cohere": ("model", "query", "documents"),
    "jina": ("model", "query", "documents"),
    "voyage": ("query", "documents", "model"),
    "common": ("query", "documents"),
    "tei": ("query", "texts"),
}
MAX_DOCUMENTS = {"cohere": 1000, "jina": 2048, "voyage": 1000, "common": 10_000}


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def relevance(query: str, document: str) -> float:
    asked, held = words(query), words(document)
    return len(asked & held) / (len(asked) or 1) + 1e-3 / (1 + len(held))  # ties: the shorter document


class RerankServer:
    def __init__(self, flavor: str, key: str | None = "secret-rerank-key-0123456789", max_batch: int = 32) -> None:
        self.flavor, self.key, self.max_batch = flavor, key, max_batch
        self.requests: list[dict] = []
        self.script: list[str] = []
        self.hang_seconds = 2.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                server.requests.append({"path": self.path, "body": body, "authorization": auth})
                action = server.script.pop(0) if server.script else "ok"
                if self.path != PATHS[server.flavor]:
                    return self._send(404, {"message": f"no route {self.path}"})
                if action == "hang":
                    time.sleep(server.hang_seconds)
                if action == "401" or (server.key is not None and auth != f"Bearer {server.key}"):
                    token = (auth or "").removeprefix("Bearer ")
                    return self._send(401, {"message": f"invalid api token {token[:14]}..."})
                if action == "429":
                    return self._send(429, {"message": "too many requests"}, {"Retry-After": "0"})
                if action == "503":
                    return self._send(503, {"message": "overloaded"})
                missing = [f for f in REQUIRED[server.flavor] if f not in body]
                if missing:
                    return self._send(422 if server.flavor == "tei" else 400, {"message": f"missing field {missing[0]}"})
                texts = body["texts" if server.flavor == "tei" else "documents"]
                if server.flavor == "tei" and len(texts) > server.max_batch:
                    return self._send(413, {"error": f"batch size {len(texts)} > maximum allowed batch size "
                                                     f"{server.max_batch}", "error_type": "validation"})
                if server.flavor != "tei" and len(texts) > MAX_DOCUMENTS[server.flavor]:
                    return self._send(400, {"message": f"too many documents: {len(texts)}"})
                ranked = sorted(((relevance(body["query"], t), i) for i, t in enumerate(texts)), key=lambda p: (-p[0], p[1]))
                top = body.get("top_k" if server.flavor == "voyage" else "top_n")
                if top is not None and server.flavor != "tei":
                    ranked = ranked[:top]
                if action == "bad_index":
                    ranked = [(s, i + len(texts)) for s, i in ranked]
                if action == "partial":
                    ranked = ranked[:1]
                if server.flavor == "tei":
                    return self._send(200, [{"index": i, "score": s} for s, i in ranked])
                results = [{"index": i, "relevance_score": s} for s, i in ranked]
                if server.flavor == "voyage":
                    return self._send(200, {"object": "list", "data": results, "model": body["model"],
                                            "usage": {"total_tokens": 10}})
                return self._send(200, {"id": "r1", "results": results, "meta": {"billed_units": {"search_units": 1}}})

            def _send(self, status, payload, headers=None):
                reply_json(self, status, payload, headers)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{PATHS[flavor]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> RerankServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
