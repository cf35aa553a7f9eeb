"""Vector codec: encode and decode of N vectors at 384, 1024 and 3072 dimensions, in us per vector.

Beside ``tidb-vector``'s and ``pytidb``'s own encode/decode functions, in the same process on the
same data (pip install -e '.[bench]'). Each path is checked bit-exact for float32 first.
Goals: decode >= 1.5x faster than the faster of the two, encode >= 3x faster.

    .venv/bin/python benchmarks/bench_codec.py [--count 10000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from pytidb.orm.vector import decode_vector as pytidb_decode
from pytidb.orm.vector import encode_vector as pytidb_encode
from tidb_vector.utils import decode_vector as tidb_vector_decode
from tidb_vector.utils import encode_vector as tidb_vector_encode

from tidb_embed_orm.codec import decode_text, encode_text

CODECS: dict[str, tuple[Callable, Callable]] = {
    "tidb-embed-orm": (encode_text, decode_text),
    "tidb-vector": (tidb_vector_encode, tidb_vector_decode),
    "pytidb": (pytidb_encode, pytidb_decode),
}


def per_vector_us(function: Callable, items: list) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    print(f"{args.count} vectors per size; microseconds per vector (best of 2)")
    print(f"{'dims':>5} {'codec':<15} {'encode':>9} {'decode':>9} {'exact':>6}")
    for dim in (384, 1024, 3072):
        vectors = list(rng.standard_normal((args.count, dim)).astype(np.float32))
        server_texts = [encode_text(v) for v in vectors]  # TiDB-style shortest float32 text
        results = {}
        for name, (encode, decode) in CODECS.items():
            exact = all(
                np.asarray(decode(encode(v)), dtype=np.float32).tobytes() == v.tobytes() for v in vectors[:200]
            )
            results[name] = (per_vector_us(encode, vectors), per_vector_us(decode, server_texts), exact)
            enc, dec, _ = results[name]
            print(f"{dim:>5} {name:<15} {enc:>9.1f} {dec:>9.1f} {str(exact):>6}")
        ours = results["tidb-embed-orm"]
        best_encode = min(results[n][0] for n in ("tidb-vector", "pytidb"))
        best_decode = min(results[n][1] for n in ("tidb-vector", "pytidb"))
        print(f"{dim:>5} speed-up vs the faster alternative: encode {best_encode / ours[0]:.1f}x (goal 3x), "
              f"decode {best_decode / ours[1]:.1f}x (goal 1.5x)")


if __name__ == "__main__":
    main()
