"""How the local API servers of the tests answer: one JSON (or raw) reply, written the same way by each."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def reply_json(
    handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    """Answer ``payload`` as JSON with ``status`` and any extra ``headers``."""
    reply_raw(handler, status, json.dumps(payload).encode(), headers)


def reply_raw(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str] | None = None
) -> None:
    """Answer ``data`` as it is, labelled JSON (a malformed answer is a JSON endpoint's bad day too).

    A client that gave up waiting (a timeout test's "hang") has closed the socket: that is no error here.
    """
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    try:
        handler.wfile.write(data)
    except BrokenPipeError:
        pass
