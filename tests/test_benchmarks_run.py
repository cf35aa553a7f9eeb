"""Every benchmark still runs (tiny sizes) and prints its comparison: figures are never asserted."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    "script, args, expected",
    [
        ("bench_orm_bulk_insert.py", ["--rows", "100"], "ORM [torch]"),
        ("bench_write_lock.py", ["--quick"], "lock errors in total"),
        ("bench_async_stall.py", ["--quick"], "longest event-loop stall"),
        ("bench_vector_index.py", ["--rows", "3000", "--dim", "32", "--queries", "10", "--engines", "ours",
                                  "--data", "hard"], "setting tuned to recall >= 0.95"),
        ("bench_codec.py", ["--count", "50"], "speed-up vs the faster alternative"),
        ("bench_graph_open.py", ["--rows", "3000", "--dim", "32", "--trials", "3"], "of which the xxh3-128 digest"),
        ("bench_hybrid_search.py", ["--rows", "500", "--searches", "2", "--skip-quality"], "ratio hybrid / vector-only"),
        ("bench_tidb_path.py", ["--rows", "200", "--searches", "20", "--search-rows", "200"], "compiled cache: 1 compile(s)"),
        ("bench_providers.py", ["--texts", "64", "--dim", "64"], "ratio ours / SDK"),
    ],
)
def test_benchmark_runs(script, args, expected):
    # find_spec, not import: pytidb registers its own global SQLAlchemy hooks when imported.
    if script in ("bench_codec.py", "bench_tidb_path.py") and importlib.util.find_spec("pytidb") is None:
        pytest.skip("benchmark-only dependency: pip install -e '.[bench]'")
    if script == "bench_providers.py" and importlib.util.find_spec("openai") is None:
        pytest.skip("benchmark-only dependency: pip install -e '.[bench]'")
    if script == "bench_tidb_path.py":
        from tidb_embed_orm.testing.mariadb import MariaDBUnavailable, running_mariadb

        try:
            with running_mariadb(general_log=False):
                pass
        except MariaDBUnavailable as exc:
            pytest.skip(str(exc))
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
