"""Shared fixtures of the curriculum tests: one small data set per session."""

from __future__ import annotations

import pytest

from ssr_ros.train.data import SimDataConfig, write_sim_dataset

TRAIN_SEEDS = [0, 1, 2]
HELDOUT_SEEDS = [1000]
DATA_CONFIG = SimDataConfig(keyframes=2, width=112, height=84, stage1_frames=4, sequences=3,
                            ground_per_sequence=8, vsi_per_sequence=2)


@pytest.fixture(scope="session")
def data_setup():
    """(config, train seeds, held-out seeds) of the :func:`dataset` fixture."""
    return DATA_CONFIG, TRAIN_SEEDS, HELDOUT_SEEDS


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A written data set (two train rooms, one held-out room); tests must not change it."""
    root = tmp_path_factory.mktemp("ssr_data")
    write_sim_dataset(root, TRAIN_SEEDS, HELDOUT_SEEDS, DATA_CONFIG)
    return root
