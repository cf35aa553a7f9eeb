"""The local cross-encoder reranker loads a model from files on this machine (a tiny BERT built here), never downloads."""

from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tidb_embed_orm.exc import RerankError  # noqa: E402
from tidb_embed_orm.rerank import CrossEncoderReranker, Reranker  # noqa: E402

WORDS = ["how", "do", "i", "get", "my", "money", "back", "refund", "shipping", "password", "reset", "order"]


def tiny_cross_encoder(folder, labels=1):
    """A 1-layer BERT with random weights and a real tokenizer, saved as a HuggingFace model folder."""
    folder.mkdir()
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab))
    config = transformers.BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                                     num_labels=labels)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_local_cross_encoder_scores_every_pair(tmp_path):
    folder = tiny_cross_encoder(tmp_path / "tiny-reranker")
    reranker = CrossEncoderReranker(folder)
    assert isinstance(reranker, Reranker)
    documents = ["get my money back", "reset password", "refund order", "shipping"]
    found = reranker.rerank("how do i get a refund", documents, top_n=3)
    # the model's own logits, computed here with transformers directly
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        batch = tokenizer(["how do i get a refund"] * 4, documents, padding=True, return_tensors="pt")
        logits = model(**batch).logits.reshape(4)
    expected = sorted(range(4), key=lambda i: -float(torch.sigmoid(logits[i])))[:3]
    assert [s.index for s in found] == expected
    assert [s.score for s in found] == pytest.approx([float(torch.sigmoid(logits[i])) for i in expected], abs=1e-5)


def test_a_model_that_is_not_on_the_machine_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TIDB_EMBED_ORM_MODELS_DIR", str(tmp_path))
    with pytest.raises(RerankError, match="is not on this machine \\(models are never downloaded here\\)"):
        CrossEncoderReranker("nobody-here/no-such-reranker")


def test_a_folder_under_the_models_dir_is_found_by_name(tmp_path, monkeypatch):
    (tmp_path / "acme").mkdir()
    tiny_cross_encoder(tmp_path / "acme" / "tiny")
    monkeypatch.setenv("TIDB_EMBED_ORM_MODELS_DIR", str(tmp_path))
    assert CrossEncoderReranker("acme/tiny").rerank("money back", ["money back", "password"], top_n=1)[0].index in (0, 1)


def test_a_classifier_with_several_labels_is_refused(tmp_path):
    folder = tiny_cross_encoder(tmp_path / "three-labels", labels=3)
    with pytest.raises(RerankError, match="classifies into 3 labels"):
        CrossEncoderReranker(folder)
