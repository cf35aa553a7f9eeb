"""Client-side OpenAI embedding: this library's httpx embedder beside the official ``openai`` SDK.

Both embed the same texts, 16 per request (TiDB's batch), from the same local server speaking
OpenAI's embeddings API (``tidb_embed_orm.testing.provider_server``), so the difference is the
client's own cost: building the request, reading and decoding the base64 answer. The vectors are
checked bit-exact between the two first. Milliseconds per 1,000 texts, best of 3.

    .venv/bin/python benchmarks/bench_providers.py [--texts 2000] [--dim 1536]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from openai import OpenAI

from tidb_embed_orm.embedders.openai import OpenAIEmbedder
from tidb_embed_orm.testing.provider_server import ProviderServer

MODEL = "bench-model"
KEY = "sk-bench-0123456789"


def timed(run: Callable[[], np.ndarray], count: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), np.empty(0)
    for _ in range(3):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best / count * 1000 * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=1536)
    args = parser.parse_args()
    texts = [f"document {i} about topic {i % 37}" for i in range(args.texts)]
    with ProviderServer("openai", dim=args.dim) as server:
        ours = OpenAIEmbedder(MODEL, api_key=KEY, base_url=server.base_url)
        sdk = OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)

        def with_sdk() -> np.ndarray:
            rows: list[list[float]] = []
            for start in range(0, len(texts), 16):
                answer = sdk.embeddings.create(model=MODEL, input=texts[start : start + 16])
                rows.extend(item.embedding for item in answer.data)
            return np.asarray(rows, dtype=np.float32)

        ms_ours, ours_vectors = timed(lambda: ours.embed(texts), args.texts)
        ms_sdk, sdk_vectors = timed(with_sdk, args.texts)
        exact = ours_vectors.tobytes() == sdk_vectors.tobytes()
        requests = len(server.requests)
    print(f"{args.texts} texts, {args.dim} dims, 16 per request; ms per 1,000 texts (best of 3)")
    print(f"{'client':<22} {'ms/1000':>9}")
    print(f"{'tidb-embed-orm (httpx)':<22} {ms_ours:>9.1f}")
    print(f"{'openai SDK':<22} {ms_sdk:>9.1f}")
    print(f"bit-exact: {exact}; requests served: {requests}")
    print(f"ratio ours / SDK: {ms_ours / ms_sdk:.2f}")


if __name__ == "__main__":
    main()
