"""Bad declarations fail at declaration time, with a message that says how to fix them."""

from __future__ import annotations

import pytest

from tidb_embed_orm import AutoEmbeddingVector, DimensionError, UnknownModelError, Vector
from tidb_embed_orm.models import EmbeddingModel, register_model


def test_dim_is_taken_from_the_registry():
    assert AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content").dim == 1024


def test_dim_contradicting_the_registry_is_refused():
    with pytest.raises(DimensionError, match=r"'huggingface/BAAI/bge-m3' produces 1024-dimensional vectors, not 768"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", dim=768)


def test_unknown_model_without_dim_is_refused():
    with pytest.raises(UnknownModelError, match=r"not in the registry.*pass dim=N explicitly.*huggingface/BAAI/bge-m3"):
        AutoEmbeddingVector("huggingface/acme/secret-model", source="content")


def test_unknown_model_with_dim_is_accepted():
    assert AutoEmbeddingVector("huggingface/acme/secret-model", source="content", dim=256).dim == 256


@pytest.mark.parametrize("name", ["bge-m3", "huggingface/", "/BAAI/bge-m3", "hugging face/x", "", "huggingface/a b"])
def test_malformed_model_names_are_refused(name):
    with pytest.raises(UnknownModelError, match="malformed model name"):
        AutoEmbeddingVector(name, source="content")


def test_unknown_provider_is_refused_listing_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"unknown provider 'acme'.*huggingface.*openai"):
        AutoEmbeddingVector("acme/model", source="content")


def test_selectable_dimensions_send_the_provider_option():
    column_type = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="content", dim=512)
    assert column_type.dim == 512
    assert column_type.options == {"dimensions": 512}
    with pytest.raises(DimensionError, match="1024 .or one of its other sizes: 512, 256."):
        AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="content", dim=300)


def test_openai_range_of_dimensions():
    column_type = AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=768)
    assert column_type.options == {"dimensions": 768}
    with pytest.raises(DimensionError, match="512..1536"):
        AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=100)


@pytest.mark.parametrize("dim", [0, -3, 16384, 2.5, True])
def test_vector_dimension_bounds(dim):
    with pytest.raises(DimensionError):
        Vector(dim)


def test_options_must_be_json():
    with pytest.raises(TypeError, match="JSON"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options={"x": object()})


def test_options_are_read_only():
    column_type = AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options={"a": 1})
    with pytest.raises(TypeError, match="read-only"):
        column_type.options["a"] = 2


def test_source_is_required():
    with pytest.raises(TypeError, match="source must be the name"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="")


def test_registering_a_model_lets_dim_be_left_out():
    register_model(EmbeddingModel("huggingface/acme/registered-model", 64))
    assert AutoEmbeddingVector("huggingface/acme/registered-model", source="body").dim == 64
