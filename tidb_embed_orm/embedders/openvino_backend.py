"""A local sentence-transformers model run by OpenVINO: the same vectors, faster on a CPU.

The model is exported from its own PyTorch weights on first use (``openvino.convert_model`` of the
sentence-transformers modules up to pooling, or the Dense layers after it) and kept beside the
model (``export_cache.py``: keyed by the weights' digest and the libraries' versions, written
atomically, checked on load); nothing is downloaded. Tokenizing, prompts, batching by length,
truncation, normalizing and Matryoshka ``dimensions`` are sentence-transformers' own code or done
here the way its ``encode`` does them, so every EMBED_TEXT option means what it means with PyTorch.

OpenVINO picks the CPU's fastest precision: bf16 on CPUs with AVX512-BF16 or AMX, f32 otherwise
(``benchmarks/bench_local_backends.py`` measures the cosine to the PyTorch vectors and the speed).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import Float32Array
from ..exc import EmbeddingUnavailableError
from .base import UnsupportedOptionsError
from .export_cache import cached_export
from .local import BACKEND_EXTRAS, SentenceTransformerEmbedder

logger = logging.getLogger(__name__)

MODEL_XML = "model.xml"
#: The libraries whose versions can change an export (part of its cache key).
_EXPORTERS = ("openvino", "torch", "transformers", "sentence-transformers")


def _versions() -> dict[str, str]:
    found = {}
    for package in _EXPORTERS:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "none"
    return found


class OpenVINOEmbedder(SentenceTransformerEmbedder):
    """A local model whose forward pass runs as an OpenVINO export of its PyTorch weights.

    Loads the sentence-transformers model too (for its tokenizer, prompts and limits, and to export
    from); ``threads`` defaults to PyTorch's thread count, so both backends use the same cores.
    ``batch_size`` 16: OpenVINO ran 5-6% faster with 16 texts per inference than with 64 (MiniLM, 2 cores).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 16,
        name: str | None = None,
        threads: int | None = None,
    ) -> None:
        try:
            import openvino
        except ImportError:
            raise EmbeddingUnavailableError(
                f"the openvino backend for local models needs OpenVINO: {BACKEND_EXTRAS['openvino']}"
            ) from None
        super().__init__(path, batch_size=batch_size, name=name)
        import torch

        modules = list(self.model)
        #: The last module normalizes: done here on the export's output (``normalize: false`` needs no second export).
        self._normalizes = bool(modules) and type(modules[-1]).__name__ == "Normalize"
        self._exported_modules = modules[:-1] if self._normalizes else modules
        self._pooling_drops_prompt = any(getattr(m, "include_prompt", True) is False for m in modules)
        folder, self.exported_now = cached_export(
            self.path, "openvino", _versions(), self._export, self.name
        )
        #: Where the export is kept (``model.xml`` and its weights).
        self.export_folder = folder
        core = openvino.Core()
        config = {
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self.compiled: Any = core.compile_model(core.read_model(folder / MODEL_XML), "CPU", config)
        self._inputs = [port.get_any_name() for port in self.compiled.inputs]
        #: The precision OpenVINO runs in on this CPU (bf16 where the CPU has it, else f32).
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self._lock = threading.Lock()  # one compiled model's infer request serves one call at a time

    def _export(self, target: Path) -> None:
        """Convert the model's PyTorch modules (up to the embedding, before normalizing) into ``target``."""
        import openvino
        import torch

        logger.info("exporting %s to OpenVINO (once; kept in %s) ...", self.name, target.parent)
        started = time.perf_counter()
        example = self.model.preprocess(["an example sentence to trace the model with", "another"])
        names = [k for k, v in example.items() if isinstance(v, torch.Tensor) and k != "prompt_length"]

        class Embedding(torch.nn.Module):
            def __init__(self, modules: list[Any]) -> None:
                super().__init__()
                self.stack = torch.nn.ModuleList(modules)

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                features: dict[str, Any] = dict(zip(names, tensors, strict=True))
                for module in self.stack:
                    features = module(features)
                return features["sentence_embedding"]  # type: ignore[no-any-return]

        wrapper = Embedding(self._exported_modules).eval()
        inputs = tuple(example[k] for k in names)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracing warnings about shapes used as Python values
                converted = openvino.convert_model(wrapper, example_input=inputs)
        except Exception as e:
            raise EmbeddingUnavailableError(
                f"{self.name} could not be exported to OpenVINO ({type(e).__name__}: {e}); serve it with the "
                "default backend (backend='torch')"
            ) from e
        for port, name in zip(converted.inputs, names, strict=True):
            port.get_tensor().set_names({name})
        openvino.save_model(converted, str(target / MODEL_XML), compress_to_fp16=False)
        logger.info("exported %s to OpenVINO in %.1fs", self.name, time.perf_counter() - started)

    def encode(self, texts: list[str], *, normalize: bool = True, **options: Any) -> Float32Array:
        """``SentenceTransformer.encode``'s steps with the forward pass in OpenVINO (longest texts first, per batch)."""
        prompt = options.pop("prompt", None)
        prompt_name = options.pop("prompt_name", None)
        truncate_dim = options.pop("truncate_dim", None)
        if options:
            raise UnsupportedOptionsError(f"the openvino backend cannot honour {sorted(options)}")
        prompts = getattr(self.model, "prompts", {}) or {}
        if prompt is None and prompt_name is not None:
            prompt = prompts[prompt_name]
        elif prompt is None and getattr(self.model, "default_prompt_name", None):
            prompt = prompts.get(self.model.default_prompt_name)
        if prompt and self._pooling_drops_prompt:
            raise UnsupportedOptionsError(
                f"{self.name} leaves its prompt out of pooling, which the openvino backend does not do; "
                "serve it with backend='torch'"
            )
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            features = self.model.preprocess([texts[i] for i in batch], prompt=prompt)
            feed = {name: features[name].numpy() for name in self._inputs}
            with self._lock:
                vectors[batch] = next(iter(self.compiled(feed).values()))
        if normalize and self._normalizes:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        if truncate_dim is not None:
            vectors = np.ascontiguousarray(vectors[:, :truncate_dim])
        return vectors
