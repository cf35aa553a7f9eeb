"""The rules every URL a key may travel to must pass: embedding providers, rerank APIs, ``configure_provider``.

One place, so an embedder, a reranker and ``SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE`` refuse the
same URLs with the same words (and the core's ``providers.py`` needs nothing from ``embedders/``).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from urllib.parse import urlsplit

from .secrets import shown_url


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses: where plain http keeps a key on this machine."""
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(
    what: str,
    url: object,
    *,
    sends_key: bool,
    error: type[Exception],
    example: str,
    base_only: bool = True,
) -> str:
    """``url`` (stripped, without a trailing ``/``), or ``error`` with one line saying what to change.

    http and https only, with a host; with ``base_only``, no query or fragment (as TiDB's
    NormalizeOpenAIEmbeddingAPIBase, pkg/sessionctx/variable/embedding_vars.go). TiDB itself takes
    only https; on the client, plain http is what a local server (Ollama, vLLM, TEI) speaks, so it
    is accepted, but a key is never sent unencrypted to another machine, and never beside
    ``user:password@`` (HTTP clients send Basic auth instead of the key). ``what`` names the URL in
    the message ("the openai base URL"); credentials in it are never shown.
    """
    if not isinstance(url, str):
        raise error(f"{what} must be a string, got {type(url).__name__}")
    parts, shown = urlsplit(url.strip()), shown_url(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise error(f"{what} {shown!r} is not an absolute http(s) URL (for example {example})")
    if base_only and (parts.query or parts.fragment):
        raise error(f"{what} {shown!r} has a query or fragment: give the base only (TiDB refuses them too)")
    if sends_key and (parts.username or parts.password):
        raise error(
            f"{what} {shown!r} carries credentials (user:password@): with them the API key is not sent "
            "(HTTP Basic auth replaces it); give the URL without them and the key as the key"
        )
    if parts.scheme.lower() == "http" and sends_key and not is_loopback(parts.hostname):
        raise error(
            f"{what} {shown!r} is plain http to another machine: the API key would travel unencrypted; "
            "use https, or a server on this machine (http://127.0.0.1:...)"
        )
    return url.strip().rstrip("/")


#: ``scheme://user:password@`` in any text: the userinfo is what must not be shown.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


class _UserinfoMask(logging.Filter):
    """Rewrites a record whose text holds ``scheme://user:password@`` to show ``scheme://***@`` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message and _USERINFO.search(message):
            record.msg, record.args = _USERINFO.sub(r"\1***@", message), ()
        return True


_MASKED_LOGGERS: set[str] = set()


def mask_userinfo_in_http_logs() -> None:
    """httpx logs each request's URL at INFO (``HTTP Request: POST https://user:pw@host/...``): a password
    in a base URL must not reach a log. Installed on httpx's loggers when the library first makes an
    HTTP client, never at import (the library touches no logger of a program that does not use it)."""
    for name in ("httpx", "httpcore"):
        if name not in _MASKED_LOGGERS:
            logging.getLogger(name).addFilter(_UserinfoMask())
            _MASKED_LOGGERS.add(name)
