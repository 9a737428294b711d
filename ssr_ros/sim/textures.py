"""Lookup tables that keep per-pixel work cheap: procedural surface textures and
quantised noise distributions.

Textures are 256 x 256 brightness factors (mean about 1) tiled over the world
coordinates (x + z, y + z) at ``TEXEL_M`` = 1 cm per texel (a 2.56 m period): that is
(x, y) on the floor and a 2D pattern on every vertical face. Kinds: 0 plain (ceiling), 1 floor
(wooden planks 16 cm wide with per-board tone and grain), 2 wall (faint plaster
mottling, +-2 %), 3 object (fine grain, +-4 %). They are built once from a fixed seed,
so every scene and run sees the same surfaces.

Noise banks: fixed buffers of samples (standard normal; standard normal truncated at
3 sigma), drawn once per process from a fixed seed. A frame's noise is a window of a
bank at an offset drawn from the frame's seeded generator (:func:`noise_window`), which
costs a slice instead of a million fresh draws; windows at different offsets are
independent samples wherever they do not overlap. Images larger than a bank draw their
noise directly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TEXEL_M = 0.01
TEXTURE_BITS = 8
TEXTURE_SIZE = 1 << TEXTURE_BITS
TEXTURE_KINDS = {"plain": 0, "floor": 1, "wall": 2, "object": 3}


def _smooth_noise(rng: np.random.Generator, size: int, cutoff: int) -> np.ndarray:
    """Periodic smooth noise (size, size), zero mean, unit std: random spectrum
    low-passed at ``cutoff`` cycles per tile."""
    spectrum = rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size) * size
    radius = np.hypot(fy[:, None], fy[None, :])
    spectrum *= np.exp(-0.5 * (radius / cutoff) ** 2)
    field = np.real(np.fft.ifft2(spectrum))
    return (field - field.mean()) / field.std()


@lru_cache(maxsize=1)
def texture_tables() -> np.ndarray:
    """Brightness factors (4, 256, 256) float32, indexed [kind, i, j]."""
    rng = np.random.default_rng(20260101)
    n = TEXTURE_SIZE
    tables = np.ones((4, n, n), dtype=np.float64)
    plank_w = 16
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    plank = j // plank_w
    board_len = 128
    offset = (plank * 53) % board_len
    board = (i + offset) // board_len
    tone = rng.uniform(0.86, 1.14, size=(n // plank_w, n // board_len + 2))
    grain = _smooth_noise(rng, n, 40)
    seam = ((j % plank_w) == 0) | (((i + offset) % board_len) == 0)
    floor = tone[plank, board] * (1.0 + 0.05 * grain)
    tables[1] = np.where(seam, 0.7, floor)
    tables[2] = 1.0 + 0.02 * _smooth_noise(rng, n, 12)
    tables[3] = 1.0 + 0.04 * _smooth_noise(rng, n, 60)
    return tables.astype(np.float32)


_BANK_SIZE = 1 << 22


class NoiseBankError(ValueError):
    """A noise bank name that does not exist."""


@lru_cache(maxsize=2)
def _bank(kind: str) -> np.ndarray:
    rng = np.random.default_rng(20260102)
    if kind == "normal":
        return rng.standard_normal(_BANK_SIZE, dtype=np.float32)
    if kind == "truncated_normal_3":
        values = rng.standard_normal(_BANK_SIZE, dtype=np.float32)
        outside = np.abs(values) > 3.0
        while outside.any():
            values[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
            outside = np.abs(values) > 3.0
        return values
    raise NoiseBankError(f"unknown noise bank {kind!r}; use 'normal' or 'truncated_normal_3'")


def noise_window(rng: np.random.Generator, kind: str, shape: tuple) -> np.ndarray:
    """Noise samples of ``shape`` (float32): "normal" = N(0, 1), "truncated_normal_3" =
    N(0, 1) restricted to [-3, 3]; a window of the bank at an offset from ``rng``."""
    count = int(np.prod(shape))
    bank = _bank(kind)
    if count > len(bank) // 2:
        fresh = rng.standard_normal(count, dtype=np.float32)
        outside = np.abs(fresh) > 3.0 if kind == "truncated_normal_3" else np.zeros(0, bool)
        while outside.any():
            fresh[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
            outside = np.abs(fresh) > 3.0
        return fresh.reshape(shape)
    offset = int(rng.integers(0, len(bank) - count + 1))
    return bank[offset:offset + count].reshape(shape)
