"""A model name stays where it belongs: under {base}/models/ for the HF API, under the models folder locally."""

from __future__ import annotations

import shutil
from urllib.parse import unquote

import pytest

from tidb_embed_orm import EmbeddingFailedError, EmbeddingUnavailableError, UnknownModelError
from tidb_embed_orm.embedders.huggingface_api import HuggingFaceAuthError, HuggingFaceInferenceEmbedder
from tidb_embed_orm.embedders.local import MODELS_DIR_ENV, find_local_model
from tidb_embed_orm.embedders.registry import resolve_embedder

from .hf_server import FeatureExtractionServer

KEY = "hf_paths_SECRET_0123456789abcdef"


@pytest.fixture(scope="module")
def server():
    with FeatureExtractionServer() as running:
        yield running


@pytest.fixture
def fresh(server):
    server.requests.clear()
    server.script.clear()
    return server


def embedder(server, repo: str, prefix: str = "/hf-inference") -> HuggingFaceInferenceEmbedder:
    return HuggingFaceInferenceEmbedder(repo, api_key=KEY, base_url=server.base_url + prefix, max_retries=0)


@pytest.mark.parametrize("repo", ["x/../../admin", "../admin", "acme/..", "acme/.", "acme//x", "a/b/c", "acme"])
def test_a_repo_that_could_leave_models_is_refused_before_any_request(fresh, repo):
    with pytest.raises(EmbeddingUnavailableError, match="not a HuggingFace repo name"):
        embedder(fresh, repo).embed(["hello"])
    assert fresh.requests == []


def test_url_path_segments_are_escaped(fresh):
    repo = "acme/mini lm?x=1#frag%2F..;@"
    vectors = embedder(fresh, repo).embed(["hello"])
    assert vectors.shape == (1, 384)
    (request,) = fresh.requests
    path = request["path"]
    assert path.startswith("/hf-inference/models/") and path.endswith("/pipeline/feature-extraction")
    segments = path[len("/hf-inference/models/") : -len("/pipeline/feature-extraction")].split("/")
    assert [unquote(s) for s in segments] == repo.split("/")
    assert "?" not in path and "#" not in path and " " not in path
    assert request["authorization"] == f"Bearer {KEY}"


def test_http_errors_do_not_carry_the_request_as_context(fresh):
    fresh.script.append("401")
    with pytest.raises(HuggingFaceAuthError) as info:
        embedder(fresh, "acme/remote-minilm").embed(["hello"])
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_connection_errors_do_not_carry_the_driver_error_as_context():
    unreachable = HuggingFaceInferenceEmbedder("acme/x", api_key=KEY, base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(EmbeddingFailedError) as info:
        unreachable.embed(["hello"])
    assert KEY not in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """$TIDB_EMBED_ORM_MODELS_DIR with one model in it, and a model folder next to it, outside."""
    minilm = find_local_model("sentence-transformers/all-MiniLM-L6-v2", {})
    root = tmp_path / "models"
    shutil.copytree(minilm, root / "acme" / "inside")
    shutil.copytree(minilm, tmp_path / "outside")
    monkeypatch.setenv(MODELS_DIR_ENV, str(root))
    return root


def test_a_model_inside_the_models_folder_is_found(models_dir):
    assert find_local_model("acme/inside", {}) == models_dir / "acme" / "inside"


@pytest.mark.parametrize("repo", ["x/../../outside", "../outside", "acme/../../outside", "acme/..", "./acme"])
def test_a_name_never_resolves_outside_the_models_folder(models_dir, repo):
    assert find_local_model(repo, {}) is None


def test_such_a_name_is_refused_before_any_lookup(models_dir):
    with pytest.raises(UnknownModelError, match="malformed model name"):
        resolve_embedder("huggingface/x/../../outside")
