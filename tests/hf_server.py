"""A real HTTP server on 127.0.0.1 speaking the HuggingFace feature-extraction contract.

``POST /models/{repo}/pipeline/feature-extraction`` with ``{"inputs": [...]}`` answers
``[[floats], ...]`` from the real local all-MiniLM-L6-v2 (the deterministic test embedder where
torch is not installed: the contract is the same, only the meaning of the vectors differs).
``script`` queues misbehaviours (status codes, wrong counts or sizes, a hang) for the next requests.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.embedders.local import find_local_model
from tidb_embed_orm.embedders.local_loading import load_local_model
from tidb_embed_orm.testing.http_reply import reply_json

from .conftest import real_model_available


class FeatureExtractionServer:
    def __init__(self) -> None:
        self.model = (
            load_local_model(find_local_model("sentence-transformers/all-MiniLM-L6-v2", {}))
            if real_model_available() else HashingTestEmbedder(384)
        )
        self.requests: list[dict] = []
        self.script: list[str] = []  # "401", "404", "429", "503", "wrong_count", "wrong_dim", "hang"
        self.hang_seconds = 3.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "inputs": body["inputs"], "body": body,
                                        "authorization": self.headers.get("Authorization")})
                action = server.script.pop(0) if server.script else "ok"
                if not self.path.endswith("/pipeline/feature-extraction"):
                    return self._send(404, {"error": "Not Found"})
                if action == "hang":
                    time.sleep(server.hang_seconds)
                    action = "ok"
                if action in ("401", "404", "503"):
                    return self._send(int(action), {"error": f"scripted {action}"})
                if action == "429":
                    return self._send(429, {"error": "rate limited"}, {"Retry-After": "0"})
                inputs = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
                vectors = server.model.embed(inputs).tolist()
                if action == "wrong_count":
                    vectors = vectors[:-1]
                if action == "wrong_dim":
                    vectors = [v[:100] for v in vectors]
                return self._send(200, vectors)

            def _send(self, status, payload, headers=None):
                reply_json(self, status, payload, headers)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = False  # server_close() waits for handlers (a "hang" one included)
        self._httpd.block_on_close = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeatureExtractionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
