"""Shared fixtures of the model tests: one tiny random Qwen2.5-VL backbone per session."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the model group)")
pytest.importorskip("transformers", reason="transformers is not installed")

from ssr_ros.model.tiny import tiny_backbone  # noqa: E402


@pytest.fixture(scope="session")
def tiny():
    torch.set_num_threads(2)
    return tiny_backbone(seed=0)
