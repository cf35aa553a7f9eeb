"""Local sentence-transformers models other than all-MiniLM-L6-v2: from files already on the machine."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, select

from tidb_embed_orm import AutoEmbeddingVector, use_client_embedding
from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders import register_local_model
from tidb_embed_orm.embedders.local import MODELS_DIR_ENV, find_local_model
from tidb_embed_orm.exc import EmbeddingUnavailableError

MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"


def copy_of_minilm(target):
    """A sentence-transformers folder on disk that is not the packaged one (as a user's would be)."""
    shutil.copytree(find_local_model(MINILM_REPO, {}), target, ignore=shutil.ignore_patterns(".tidb-embed-orm"))
    return target


def embed_one(model: str, text: str) -> np.ndarray:
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                  Column("v", AutoEmbeddingVector(model, source="body")))
    engine = create_engine("sqlite+tidb_embed://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, body=text))
        vector = conn.execute(select(table.c.v)).scalar_one()
    engine.dispose()
    return vector


def reference(text: str) -> np.ndarray:
    return embed_one("huggingface/sentence-transformers/all-MiniLM-L6-v2", text)


@pytest.mark.real_model
def test_a_model_folder_registered_by_path(tmp_path):
    model = "huggingface/acme/minilm-by-path"
    register_model(EmbeddingModel(model, 384))
    register_local_model(model, copy_of_minilm(tmp_path / "minilm"))
    assert np.allclose(embed_one(model, "hello world"), reference("hello world"), atol=1e-5)


@pytest.mark.real_model
def test_a_models_directory_from_the_environment(tmp_path, monkeypatch):
    model = "huggingface/acme/minilm-in-dir"
    register_model(EmbeddingModel(model, 384))
    copy_of_minilm(tmp_path / "acme" / "minilm-in-dir")
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    assert np.allclose(embed_one(model, "vectors"), reference("vectors"), atol=1e-5)


def test_registering_a_folder_that_is_not_a_model_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        register_local_model("huggingface/acme/empty", tmp_path)
    with pytest.raises(ValueError, match="only huggingface/ models run locally"):
        register_local_model("openai/text-embedding-3-small", tmp_path)


def test_an_unknown_backend_is_refused_listing_the_choices(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    choices = "unknown local model backend 'onnx': choose one of 'torch', 'openvino'"
    with pytest.raises(ValueError, match=choices):
        register_local_model("huggingface/acme/some-model", tmp_path, backend="onnx")
    with pytest.raises(ValueError, match=choices):
        create_engine("sqlite+tidb_embed://", local_model_backend="onnx")
    with pytest.raises(ValueError, match=choices):
        use_client_embedding(create_engine("mysql+pymysql://u@127.0.0.1/db"), local_model_backend="onnx")


def test_a_backend_whose_library_is_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as on a machine without the openvino extra
    (tmp_path / "config.json").write_text("{}")
    fix = r"the openvino backend for local models needs openvino: pip install 'tidb-embed-orm\[openvino\]'"
    with pytest.raises(EmbeddingUnavailableError, match=fix):
        register_local_model("huggingface/acme/some-model", tmp_path, backend="openvino")
    with pytest.raises(EmbeddingUnavailableError, match=fix):
        create_engine("sqlite+tidb_embed://", local_model_backend="openvino")
