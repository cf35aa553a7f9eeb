"""Client-side embedders for every TiDB provider, against real HTTP servers on 127.0.0.1.

Each request is checked field by field against what TiDB's adapter sends
(pingcap/tidb pkg/inference/embedding/<provider>/<provider>_test.go: method, Content-Type,
Authorization / x-goog-api-key, the JSON body with options merged at top level) and each answer
decoded as the adapter decodes it (base64 float32 ordered by ``index``; Cohere's and Gemini's float
lists). Misbehaving servers (400/401/403/404/429/500, timeouts, non-JSON, short answers) give one
clear error naming the provider, the model and what to do, never the key.
"""

from __future__ import annotations

import numpy as np
import pytest

from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders.cohere import CohereEmbedder
from tidb_embed_orm.embedders.gemini import GeminiEmbedder
from tidb_embed_orm.embedders.jina import JinaEmbedder
from tidb_embed_orm.embedders.nvidia_nim import NvidiaNIMEmbedder
from tidb_embed_orm.embedders.openai import OpenAIEmbedder
from tidb_embed_orm.embedders.provider_http import decode_base64_floats
from tidb_embed_orm.exc import (
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    InputTooLongError,
    ProviderAuthError,
    UnsupportedOptionsError,
)
from tidb_embed_orm.testing.provider_server import ProviderServer

KEY = "test-api-key-SECRET-0123456789"
TEXTS = ["hello world", "test text", "sample input", "more text", "last item"]  # TiDB's adapter tests' texts

EMBEDDERS = {
    "openai": (OpenAIEmbedder, "text-embedding-3-small"),
    "cohere": (CohereEmbedder, "embed-v4.0"),
    "jina_ai": (JinaEmbedder, "jina-embeddings-v3"),
    "gemini": (GeminiEmbedder, "gemini-embedding-001"),
    "nvidia_nim": (NvidiaNIMEmbedder, "baai/bge-m3"),
}


@pytest.fixture(params=sorted(EMBEDDERS))
def provider(request):
    return request.param


@pytest.fixture
def server(provider):
    with ProviderServer(provider) as running:
        yield running


def make(provider, server, **kwargs):
    cls, model = EMBEDDERS[provider]
    kwargs.setdefault("sleep", lambda seconds: None)
    return cls(model, api_key=KEY, base_url=server.base_url, **kwargs)


# -- what is sent --------------------------------------------------------------------------------


def test_openai_request_is_tidbs():
    with ProviderServer("openai") as server:
        OpenAIEmbedder("text-embedding-3-small", api_key=KEY, base_url=server.base_url).embed(TEXTS)
        (request,) = server.requests
    # openai_test.go TestOpenAIEmbedder_Success
    assert request["path"] == "/v1/embeddings"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"] == {"model": "text-embedding-3-small", "input": TEXTS, "encoding_format": "base64"}


def test_options_are_merged_at_top_level_and_the_fixed_fields_win(provider, server):
    make(provider, server).embed(["test"], {"my_opt": "abc", "model": "other", "input": "x", "texts": "y"})
    body = server.requests[0]["body"]
    if provider == "gemini":  # gemini_test.go: each request of batchEmbedContents carries the options
        (request,) = body["requests"]
        assert request == {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "test"}]},
                           "my_opt": "abc", "input": "x", "texts": "y"}
        return
    expected = {
        "openai": {"model": "text-embedding-3-small", "input": ["test"], "encoding_format": "base64"},
        "cohere": {"model": "embed-v4.0", "texts": ["test"], "input": "x"},
        "jina_ai": {"model": "jina-embeddings-v3", "input": ["test"], "embedding_type": "base64"},
        "nvidia_nim": {"model": "baai/bge-m3", "input": ["test"], "encoding_format": "base64"},
    }[provider]
    leftovers = {k: v for k, v in {"texts": "y", "input": "x"}.items() if k not in expected}
    assert body == {**expected, "my_opt": "abc", **leftovers}


def test_gemini_sends_the_key_in_x_goog_api_key_and_the_model_in_the_path():
    with ProviderServer("gemini") as server:
        GeminiEmbedder("gemini-embedding-001", api_key=KEY, base_url=server.base_url).embed(["a", "b"])
        (request,) = server.requests
    assert request["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert request["headers"]["x-goog-api-key"] == KEY
    assert "Authorization" not in request["headers"]
    assert [r["content"]["parts"][0]["text"] for r in request["body"]["requests"]] == ["a", "b"]


def test_base64_is_decoded_as_tidb_decodes_it():
    # openai_test.go's first vector: base64 little-endian float32, decoded by base.DecodeFloat32ArrayBytes
    decoded = decode_base64_floats("oTwEP2H/Kz4Jwho/Gf2RPvl5lb3N1IU+z+t6Pb9Sej5h/6u+UXO5vQ==")
    expected = [0.5165501, 0.16796638, 0.60452324, 0.2851341, -0.07298655, 0.26138917, 0.06126004,
                0.24445628, -0.33593276, -0.09055198]
    assert np.array_equal(np.float32(decoded), np.float32(expected))
    assert decode_base64_floats("AAA=") is None  # 2 bytes: not float32s ("invalid embedding data")


def test_answers_are_placed_by_index_and_floats_are_taken_too(provider, server):
    embedder = make(provider, server)
    expected = embedder.embed(TEXTS)
    server.script[:] = ["shuffled"]
    assert np.array_equal(embedder.embed(TEXTS), expected)
    server.script[:] = ["floats"]  # an OpenAI-compatible server ignoring encoding_format
    assert np.allclose(embedder.embed(TEXTS), expected)


def test_batches_of_at_most_16_texts_as_tidbs_batcher(provider, server):
    texts = [f"text {i}" for i in range(40)]
    vectors = make(provider, server).embed(texts)
    assert vectors.shape[0] == 40
    key = "requests" if provider == "gemini" else ("texts" if provider == "cohere" else "input")
    assert [len(r["body"][key]) for r in server.requests] == [16, 16, 8]
    assert np.array_equal(vectors[20], make(provider, server).embed(["text 20"])[0])


# -- what goes wrong -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_refused_key_names_the_key_variable_and_never_the_key(provider, server, status):
    server.script[:] = [status]
    with pytest.raises(ProviderAuthError) as info:
        make(provider, server).embed(["x"])
    message = str(info.value)
    assert f"({status})" in message and f"configure_provider(engine, {provider!r}, key)" in message
    assert f"TIDB_EXP_EMBED_{provider.upper()}_API_KEY" in message
    assert "Incorrect API key provided: ***" in message  # the server quoted the key back: masked
    assert KEY not in message and KEY[:12] not in repr(info.value.__context__)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert len(server.requests) == 1  # not retried


def test_an_unknown_model_names_the_model(provider, server):
    server.script[:] = ["404"]
    with pytest.raises(EmbeddingUnavailableError, match=rf"does not know the model .*{EMBEDDERS[provider][1]}.*404"):
        make(provider, server).embed(["x"])


def test_a_refused_request_points_at_the_options(provider, server):
    server.script[:] = ["400"]
    with pytest.raises(UnsupportedOptionsError, match=r"refused the request .*\(400\): scripted 400; check the"):
        make(provider, server).embed(["x"], {"bogus": 1})
    assert len(server.requests) == 1


def test_429_and_5xx_are_retried_honouring_retry_after(provider, server):
    slept = []
    embedder = make(provider, server, sleep=slept.append)
    server.script[:] = ["429", "500", "503"]
    assert embedder.embed(["x"]).shape[0] == 1
    assert len(server.requests) == 4
    assert slept == [0.0, 1.0, 2.0]  # Retry-After: 0, then backoff 0.5 * 2**(attempt-1)


def test_a_server_that_keeps_failing_is_given_up_on(provider, server):
    server.script[:] = ["500"] * 3
    with pytest.raises(EmbeddingFailedError, match=r"kept failing .*\(500: scripted 500\) after 3 attempts"):
        make(provider, server, max_retries=2).embed(["x"])


def test_a_server_that_does_not_answer_in_time(provider, server):
    server.hang_seconds = 1.0
    server.script[:] = ["hang", "hang"]
    with pytest.raises(EmbeddingFailedError, match=r"did not answer in time \(0.2s\) .* after 2 attempts"):
        make(provider, server, timeout=0.2, max_retries=1).embed(["x"])


@pytest.mark.parametrize("action, message", [
    ("malformed", "not JSON"),
    ("short", "answered 1 vectors for 2 texts"),
])
def test_malformed_and_short_answers_are_refused(provider, server, action, message):
    server.script[:] = [action]
    with pytest.raises(EmbeddingFailedError, match=message):
        make(provider, server).embed(["a", "b"])


def test_nothing_is_listening(provider):
    cls, model = EMBEDDERS[provider]
    with ProviderServer(provider) as server:
        base = server.base_url
    with pytest.raises(EmbeddingFailedError, match=rf"calling .* at {base} .* failed: ConnectError"):
        cls(model, api_key=KEY, base_url=base, sleep=lambda s: None).embed(["x"])


# -- base URLs and keys --------------------------------------------------------------------------


def test_openai_base_urls_as_tidb_normalises_them():
    with ProviderServer("openai") as server:
        for base in (server.base_url, server.base_url + "/", server.base_url + "/embeddings"):
            OpenAIEmbedder("text-embedding-3-small", api_key=KEY, base_url=base).embed(["x"])
        assert {r["path"] for r in server.requests} == {"/v1/embeddings"}


def test_a_local_openai_compatible_server_needs_no_key():
    # Ollama / vLLM on this machine: no key, no Authorization header.
    with ProviderServer("openai") as server:
        OpenAIEmbedder("text-embedding-3-small", base_url=server.base_url).embed(["x"])
        assert "Authorization" not in server.requests[0]["headers"]
    with pytest.raises(EmbeddingUnavailableError, match="no OpenAI API key is set: configure_provider"):
        OpenAIEmbedder("text-embedding-3-small")  # api.openai.com always needs one


@pytest.mark.parametrize("base, problem", [
    ("ftp://example.com/v1", "not an absolute http"),
    ("api.openai.com/v1", "not an absolute http"),
    ("https://api.openai.com/v1?x=1", "query or fragment"),
    ("http://vllm.internal:8000/v1", "plain http to another machine"),
])
def test_bad_base_urls_are_refused_before_any_request(base, problem):
    with pytest.raises(EmbeddingUnavailableError, match=problem):
        OpenAIEmbedder("text-embedding-3-small", api_key=KEY, base_url=base)


def test_the_key_never_shows_in_a_repr():
    embedder = CohereEmbedder("embed-v4.0", api_key=KEY)
    assert KEY not in repr(embedder) and "ApiKey('***')" in repr(embedder)


def test_a_text_over_the_models_limit_is_refused_before_a_paid_call():
    register_model(EmbeddingModel("openai/limited-test-model", 16, max_input_chars=20))
    with ProviderServer("openai") as server:
        embedder = OpenAIEmbedder("limited-test-model", api_key=KEY, base_url=server.base_url)
        with pytest.raises(InputTooLongError, match="25 characters is longer than .* accepts \\(20 characters\\)"):
            embedder.embed(["short", "x" * 25])
        assert server.requests == []


# -- HuggingFace: the current adapter's contract (pingcap/tidb PR #69981), case by case ------------


def test_huggingface_options_go_beside_inputs_and_inputs_wins():
    from tidb_embed_orm.embedders.huggingface_api import HuggingFaceInferenceEmbedder

    from .hf_server import FeatureExtractionServer

    with FeatureExtractionServer() as server:
        embedder = HuggingFaceInferenceEmbedder("BAAI/bge-m3", api_key=KEY, base_url=server.base_url + "/")
        embedder.embed(["test"], {"normalize": True})  # TestHuggingFaceEmbedder_WithOptions
        embedder.embed(["test"], {"inputs": ["other"], "truncate": False})
        embedder.embed(["test"])
        embedder.embed([f"t{i}" for i in range(40)])
        first, clash, plain, *batches = server.requests
    assert first["path"] == "/models/BAAI/bge-m3/pipeline/feature-extraction"  # each segment escaped, base trimmed
    assert first["authorization"] == f"Bearer {KEY}"
    assert first["body"] == {"inputs": ["test"], "normalize": True}
    assert clash["body"] == {"inputs": ["test"], "truncate": False}
    assert plain["body"] == {"inputs": ["test"]}
    assert [len(b["inputs"]) for b in batches] == [16, 16, 8]


@pytest.mark.parametrize("base", ["ftp://hf.example/x", "router.huggingface.co/hf-inference", "http://hf.example"])
def test_huggingface_base_is_http_or_https_only(base):
    from tidb_embed_orm.embedders.huggingface_api import HuggingFaceInferenceEmbedder

    with pytest.raises(EmbeddingUnavailableError, match="HuggingFace base URL"):
        HuggingFaceInferenceEmbedder("BAAI/bge-m3", api_key=KEY, base_url=base)


def test_the_key_stays_out_of_every_log_line(provider, server, caplog):
    caplog.set_level("DEBUG")  # httpx and httpcore included
    embedder = make(provider, server)
    embedder.embed(["x"])
    server.script[:] = ["401"]
    with pytest.raises(ProviderAuthError):
        embedder.embed(["y"])
    assert caplog.records  # httpx did log the requests ...
    assert KEY not in caplog.text and KEY[:10] not in caplog.text  # ... without the key


def test_an_oversized_answer_is_refused_unread(provider, server, monkeypatch):
    from tidb_embed_orm.embedders import provider_http

    monkeypatch.setattr(provider_http, "MAX_RESPONSE_BYTES", 1024)
    with pytest.raises(EmbeddingFailedError, match="answered more than 0 MB .* refusing to read it"):
        make(provider, server).embed([f"text {i}" for i in range(16)])


SECRET = "hunter2-pasted-token"


@pytest.mark.parametrize("base, problem", [
    (f"https://user:{SECRET}@api.openai.com/v1", "carries credentials .* the API key is not sent"),
    (f"http://user:{SECRET}@127.0.0.1:8000/v1", "carries credentials .* the API key is not sent"),
    (f"http://user:{SECRET}@vllm.internal/v1", "carries credentials"),
    (f"https://{SECRET}@example.com/v1?x=1", "query or fragment"),
    (f"ftp://user:{SECRET}@example.com/v1", "not an absolute http"),
    (f"user:{SECRET}@api.openai.com/v1", "not an absolute http"),
])
def test_credentials_in_a_base_url_are_refused_beside_a_key_and_never_shown(base, problem):
    # httpx turns user:password@ into Basic auth, which replaces the Authorization: Bearer key
    with pytest.raises(EmbeddingUnavailableError, match=problem) as raised:
        OpenAIEmbedder("text-embedding-3-small", api_key=KEY, base_url=base)
    assert SECRET not in str(raised.value) and "***@" in str(raised.value)


def test_a_keyless_local_server_behind_basic_auth_never_shows_its_password(caplog):
    caplog.set_level("DEBUG")  # httpx logs each request's URL at INFO
    with ProviderServer("openai") as server:
        base = server.base_url.replace("http://", f"http://user:{SECRET}@")
        embedder = OpenAIEmbedder("text-embedding-3-small", base_url=base, max_retries=0)
        embedder.embed(["x"])
        assert server.requests[0]["headers"]["Authorization"].startswith("Basic ")
    assert SECRET not in repr(embedder) and "***@127.0.0.1" in repr(embedder)
    with pytest.raises(EmbeddingFailedError) as raised:
        embedder.embed(["y"])  # nothing listens there any more
    assert SECRET not in str(raised.value) and "***@127.0.0.1" in str(raised.value)
    assert "HTTP Request: POST http://***@127.0.0.1" in caplog.text  # httpx did log the URL, masked
    assert SECRET not in caplog.text
