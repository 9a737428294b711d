"""Spoken names -> map labels."""

import numpy as np
import pytest

from ssr_ros.core.names import NameMatcher, normalize_name, singular

LABELS = ["sofa", "tv", "refrigerator", "plant", "trash can", "chair", "dining table",
          "coffee table", "tv stand", "bookshelf"]


@pytest.mark.parametrize("spoken, label, method", [
    ("sofa", "sofa", "exact"),
    ("The Sofa", "sofa", "exact"),
    ("chairs", "chair", "plural"),
    ("chair(s)", "chair", "plural"),
    ("bookshelves", "bookshelf", "plural"),
    ("couch", "sofa", "synonym"),
    ("couches", "sofa", "synonym"),
    ("television", "tv", "synonym"),
    ("fridge", "refrigerator", "synonym"),
    ("potted plant", "plant", "synonym"),
    ("bin", "trash can", "synonym"),
    ("garbage can", "trash can", "synonym"),
    ("the red chair", "chair", "modifier"),
    ("big old couch", "sofa", "modifier"),
    ("tv stand", "tv stand", "exact"),
])
def test_rule_tiers(spoken, label, method):
    match = NameMatcher(LABELS).match(spoken)
    assert match is not None
    assert match.labels == (label,)
    assert match.method == method


def test_head_noun_returns_every_label_it_may_mean():
    match = NameMatcher(LABELS).match("table")
    assert set(match.labels) == {"dining table", "coffee table"}
    assert match.method == "head noun"


def test_unknown_and_empty_names_do_not_match():
    matcher = NameMatcher(LABELS)
    assert matcher.match("spaceship") is None
    assert matcher.match("") is None
    assert matcher.match("the") is None


def test_normalisation_and_singular():
    assert normalize_name("  The  Trash-Can! ") == "trash can"
    assert singular("dining tables") == "dining table"
    assert singular("glass") == "glass"
    assert singular("boxes") == "box"


def test_embedding_tier_uses_the_injected_embedder_with_a_threshold():
    vocab = {"sofa": [1, 0, 0], "tv": [0, 1, 0], "settee thing": [0.9, 0.1, 0],
             "gizmo": [0, 0, 1]}
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.array([vocab.get(t, [0, 0, 1]) for t in texts], dtype=float)

    matcher = NameMatcher(["sofa", "tv"], embedder=embed, threshold=0.8)
    match = matcher.match("settee thing")
    assert match.labels == ("sofa",) and match.method == "embedding"
    assert 0.8 <= match.score <= 1.0
    assert "similarity" in match.describe()
    assert matcher.match("gizmo") is None
    assert matcher.match("sofa").method == "exact"


def test_embedder_returning_the_wrong_shape_is_reported():
    matcher = NameMatcher(["sofa"], embedder=lambda texts: np.zeros(3))
    with pytest.raises(ValueError, match="array"):
        matcher.match("gizmo")
