"""One loaded copy of each local model per process and backend (PyTorch, or an OpenVINO export of it).

Apart from ``local.py`` because it picks between ``SentenceTransformerEmbedder`` and the backends
built on it (``openvino_backend.OpenVINOEmbedder`` subclasses it): the choice sits above both.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .local import SentenceTransformerEmbedder, check_backend

logger = logging.getLogger("tidb_embed_orm.embedders.local")


_LOADED: dict[tuple[Path, str], SentenceTransformerEmbedder] = {}


def load_local_model(path: Path, name: str | None = None, backend: str = "torch") -> SentenceTransformerEmbedder:
    """One loaded copy of each local model per process and backend: loading takes seconds, engines are many."""
    path = Path(path).resolve()
    check_backend(backend)
    if (path, backend) not in _LOADED:
        label = name or str(path)
        logger.info("loading the local model %s (%s) ...", label, backend)
        started = time.perf_counter()
        if backend == "openvino":
            from .openvino_backend import OpenVINOEmbedder

            _LOADED[path, backend] = OpenVINOEmbedder(path, name=name)
        else:
            _LOADED[path, backend] = SentenceTransformerEmbedder(path, name=name)
        logger.info("loaded %s in %.1fs", label, time.perf_counter() - started)
    return _LOADED[path, backend]
