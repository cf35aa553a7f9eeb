"""A real HTTP server on 127.0.0.1 speaking the part of the Hugging Face Hub API that downloads use.

``GET /api/models/{repo}[/revision/{rev}]`` (model info with file sizes), ``GET
/api/models/{repo}/tree/{rev}`` (the file listing newer huggingface_hub reads) and ``HEAD``/``GET
/{repo}/resolve/{rev}/{file}`` (a file, with the ``X-Repo-Commit`` and ``ETag`` headers the client
needs), serving the files of local folders. Point huggingface_hub at it with ``HF_ENDPOINT``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SHA = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        #: repos answered as the Hub answers a gated repo to a token without access (401, GatedRepo)
        self.gated: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):  # noqa: N802
                self._serve(head=True)

            def do_GET(self):  # noqa: N802
                self._serve(head=False)

            def _serve(self, head):
                path = unquote(urlsplit(self.path).path)
                server.requests.append((self.command, path))
                if path.startswith("/api/models/"):
                    return self._api(path[len("/api/models/"):])
                for repo, folder in server.repos.items():
                    prefix = f"/{repo}/resolve/"
                    if path.startswith(prefix):
                        _, _, filename = path[len(prefix):].partition("/")
                        file = folder / filename
                        if file.is_file():
                            data = b"" if head else file.read_bytes()
                            return self._send(200, data, {
                                "X-Repo-Commit": SHA, "ETag": f'"{_etag(file)}"',
                                "Content-Length": str(file.stat().st_size)}, length_set=True)
                return self._send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})

            def _api(self, rest):
                if any(rest == repo or rest.startswith(repo + "/") for repo in server.gated):
                    return self._send(401, b'{"error": "Access to this model is restricted"}',
                                      {"X-Error-Code": "GatedRepo"})
                for repo, folder in server.repos.items():
                    if rest == repo or rest.startswith(repo + "/revision/"):
                        siblings = [{"rfilename": name, "size": size, "blobId": _etag(folder / name)}
                                    for name, size in _files(folder)]
                        return self._json({"id": repo, "modelId": repo, "sha": SHA, "siblings": siblings,
                                           "private": False, "disabled": False, "gated": False})
                    if rest.startswith(repo + "/tree/"):
                        return self._json([{"type": "file", "path": name, "size": size, "oid": _etag(folder / name)}
                                           for name, size in _files(folder)])
                return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})

            def _json(self, payload):
                self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

            def _send(self, status, data, headers, length_set=False):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if not length_set:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _files(folder: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def _etag(file: Path) -> str:
    return hashlib.sha1(f"{file}:{file.stat().st_size}".encode()).hexdigest()
