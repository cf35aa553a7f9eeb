"""``tidb-embed-orm models pull huggingface/<org>/<name>``: a model's files into the HuggingFace cache.

The embedded engine never downloads (embedders/local.py reads local files only); this is the one
explicit step that does, while the machine is online, so that the engine then finds the model
offline. The files are listed first and their total size announced, then fetched through
huggingface_hub (``HF_ENDPOINT``, ``HF_HOME`` and ``HF_TOKEN`` honoured, its progress bars on stderr).
Only what sentence-transformers loads is fetched: other frameworks' weights (ONNX, OpenVINO,
TensorFlow, Flax, Rust) are skipped, and ``pytorch_model.bin`` when ``model.safetensors`` is there.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path
from typing import TextIO

from ..catalog import PROVIDER_LABELS, normalize_model_name, parse_model_name
from ..exc import EmbeddingUnavailableError, UnknownModelError

#: Files no sentence-transformers model needs: the same weights for other runtimes.
SKIPPED = ("onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "rust_model*")
#: How long to wait for the Hub before saying the machine is offline.
TIMEOUT_SECONDS = 10.0


def human_size(size: int) -> str:
    """``1.2 GB``-style sizes, as the announcement shows them."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def select_files(files: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """The files sentence-transformers needs, of a repo's (name, size) list."""
    names = {name for name, _ in files}
    kept = [(n, s) for n, s in files if not any(fnmatch.fnmatch(n, pattern) for pattern in SKIPPED)]
    if "model.safetensors" in names:
        kept = [(n, s) for n, s in kept if n != "pytorch_model.bin"]
    return kept


def pull_model(name: str, *, out: TextIO | None = None, progress: bool = True) -> Path:
    """Download ``huggingface/<org>/<name>``'s files into the HuggingFace cache; the folder they are in.

    Raises EmbeddingUnavailableError at once when the Hub cannot be reached (offline, ``HF_HUB_OFFLINE``).
    """
    out = out or sys.stderr
    name = normalize_model_name(name)
    provider, repo = parse_model_name(name)
    if provider != "huggingface":
        label = PROVIDER_LABELS.get(provider, provider)
        raise UnknownModelError(
            f"{name!r} runs at {label}, not on this machine: there are no files to pull; set its API key instead "
            f"(configure_provider(engine, {provider!r}, key)). Only huggingface/<org>/<name> models can be pulled"
        )
    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    except ImportError:
        raise EmbeddingUnavailableError(
            "pulling a model needs huggingface_hub: pip install 'tidb-embed-orm[huggingface]'"
        ) from None
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise EmbeddingUnavailableError(f"HF_HUB_OFFLINE is set: {repo} cannot be downloaded; unset it while online")
    api = HfApi()
    try:
        info = api.model_info(repo, files_metadata=True, timeout=TIMEOUT_SECONDS)
    except Exception as exc:  # offline, unknown repo, gated repo: huggingface_hub raises one of several errors
        raise _model_info_error(repo, api.endpoint, exc) from None
    files = select_files([(s.rfilename, s.size) for s in info.siblings or []])
    if not any(n == "config.json" for n, _ in files):
        raise EmbeddingUnavailableError(f"{repo} has no config.json: it is not a model sentence-transformers can load")
    total = sum(size or 0 for _, size in files)
    print(f"pulling {repo}: {len(files)} files, {human_size(total)} from {api.endpoint}", file=out, flush=True)
    (enable_progress_bars if progress else disable_progress_bars)()
    try:
        # The default revision ("main"), not info.sha: the cache then records refs/main, which is how the
        # engine's local-files-only lookup (embedders/local.py, find_local_model) finds the snapshot.
        folder = snapshot_download(repo, allow_patterns=[n for n, _ in files])
    except Exception as exc:
        raise EmbeddingUnavailableError(f"downloading {repo} failed ({_reason(exc)}); run the command again") from None
    print(f"{repo} is in {folder}", file=out, flush=True)
    return Path(folder)


def _model_info_error(repo: str, endpoint: str, exc: BaseException) -> EmbeddingUnavailableError:
    """What the Hub's answer means for the user: a gated or unknown repo is not a machine offline."""
    from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError

    if isinstance(exc, GatedRepoError):
        return EmbeddingUnavailableError(
            f"{repo} is gated on the Hugging Face Hub at {endpoint}: accept its terms on its page, then set "
            "HF_TOKEN to a token of that account and run the command again"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return EmbeddingUnavailableError(
            f"the Hugging Face Hub at {endpoint} has no model {repo} (or it is private: set HF_TOKEN); check the "
            "name, given as huggingface/<org>/<name>"
        )
    return EmbeddingUnavailableError(
        f"cannot reach {repo} on the Hugging Face Hub at {endpoint} ({_reason(exc)}); "
        "run this where the machine is online, or copy the model folder and use register_local_model()"
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
