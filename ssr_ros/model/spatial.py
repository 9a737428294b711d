"""Spatial encoder: a keyframe's 3D geometry pooled on the vision-token grid, encoded to
the LLM width and added to the visual tokens through a gate that starts at zero.

Grid: Qwen2.5-VL cuts the (resized) image into 14 px patches and merges 2 x 2 of them into
one LLM token, so a token covers a 28 x 28 px block of the resized image, in row-major
order over ``(grid_h / 2, grid_w / 2)`` (``grid_thw`` from the image processor). The
point map is sampled at the resized pixels' centres (nearest source pixel: depth must not
be blurred across object edges) and pooled over exactly those blocks.

Per token, from the valid pixels of its block (9 numbers):
mean xyz in the map frame [m] (3), standard deviation of xyz [m] (3), mean and standard
deviation of depth along the optical axis [m] (2), valid fraction (1).
Encoding: Fourier features (sin, cos at wavelengths ``min_wavelength_m * 2**k``) of mean
xyz and mean depth, concatenated with the raw features scaled to about unit range, then a
two-layer MLP to the LLM hidden size, times a per-channel gate initialised at zero (so an
untrained encoder leaves the backbone exactly as it was). Tokens without valid depth get
no spatial embedding.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ssr_ros.model.errors import AdapterError, SpatialInputError

N_TOKEN_FEATURES = 9
ADAPTER_FORMAT = "ssr_ros.spatial_adapter"
ADAPTER_VERSION = 1
#: Metadata key of the LoRA part of a trained adapter (:mod:`ssr_ros.model.lora`).
LORA_METADATA_KEY = "lora"
# Raw features are divided by this before the MLP: indoor scenes span a few metres.
_COORD_SCALE_M = 10.0


def check_keyframe_inputs(rgb: np.ndarray, T_map_cam: np.ndarray,
                          depth_m: np.ndarray | None = None, K: np.ndarray | None = None,
                          points_map_m: np.ndarray | None = None,
                          valid: np.ndarray | None = None) -> None:
    """Validate one keyframe (raises :class:`SpatialInputError`; changes nothing).

    ``rgb`` (H, W, 3) uint8; ``T_map_cam`` (4, 4) camera optical frame -> map; either
    ``depth_m`` (H, W) floating-point [m], finite and >= 0 (0 = invalid) with ``K``
    (3, 3), or ``points_map_m`` (H, W, 3) floating-point in the map frame [m]
    (non-finite = invalid) with an optional ``valid`` (H, W) bool mask. Integer depth
    (e.g. 16UC1 millimetres) is refused rather than guessed at: convert it to metres first.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SpatialInputError(f"rgb must be an (H, W, 3) array, got {_shape(rgb)}")
    if rgb.dtype != np.uint8:
        raise SpatialInputError(f"rgb must be uint8, got {rgb.dtype}")
    height, width = rgb.shape[:2]
    if height < 28 or width < 28:
        raise SpatialInputError(f"rgb must be at least 28 x 28 px, got {width} x {height}")
    T = np.asarray(T_map_cam)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise SpatialInputError(f"T_map_cam must be a finite (4, 4) matrix, got {_shape(T)}")
    rot = T[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0.0:
        raise SpatialInputError("T_map_cam rotation is not orthonormal with det +1")
    if (depth_m is None) == (points_map_m is None):
        raise SpatialInputError("give exactly one of depth_m (with K) or points_map_m")
    if depth_m is not None:
        if not isinstance(depth_m, np.ndarray) or depth_m.shape != (height, width):
            raise SpatialInputError(
                f"depth_m must be ({height}, {width}) like rgb, got {_shape(depth_m)}")
        _check_depth_m(depth_m)
        K_arr = np.asarray(K) if K is not None else None
        if K_arr is None or K_arr.shape != (3, 3) or not np.all(np.isfinite(K_arr)) \
                or K_arr[0, 0] <= 0.0 or K_arr[1, 1] <= 0.0:
            raise SpatialInputError(f"K must be a finite (3, 3) matrix with fx, fy > 0, "
                                    f"got {_shape(K_arr)}")
    else:
        if not isinstance(points_map_m, np.ndarray) or points_map_m.shape != (height, width, 3):
            raise SpatialInputError(
                f"points_map_m must be ({height}, {width}, 3), got {_shape(points_map_m)}")
        if not np.issubdtype(points_map_m.dtype, np.floating):
            raise SpatialInputError(
                f"points_map_m must be floating-point metres, got {points_map_m.dtype}")
        if valid is not None and (not isinstance(valid, np.ndarray)
                                  or valid.shape != (height, width)):
            raise SpatialInputError(f"valid must be ({height}, {width}), got {_shape(valid)}")


def _check_depth_m(depth_m: np.ndarray) -> None:
    """Depth must already be metres: a uint16 millimetre image would pass every shape
    check and silently scale all geometry by 1000."""
    if not np.issubdtype(depth_m.dtype, np.floating):
        raise SpatialInputError(f"depth_m must be floating-point metres, got {depth_m.dtype} "
                                f"(convert integer depth, e.g. millimetres, to metres)")
    if not np.all(np.isfinite(depth_m)):
        raise SpatialInputError("depth_m must be finite (use 0 for invalid pixels)")
    if np.any(depth_m < 0.0):
        raise SpatialInputError("depth_m must be >= 0 [m] (use 0 for invalid pixels)")


def _shape(value: object) -> str:
    return str(getattr(value, "shape", type(value).__name__))


def _nearest_indices(n_src: int, n_dst: int, device: torch.device) -> torch.Tensor:
    """Source index of each destination pixel centre under a uniform resize."""
    centres = (torch.arange(n_dst, device=device, dtype=torch.float64) + 0.5) * (n_src / n_dst)
    return centres.floor().long().clamp_(0, n_src - 1)


def token_features(grid_hw: tuple[int, int], T_map_cam: np.ndarray, device: torch.device,
                   depth_m: np.ndarray | None = None, K: np.ndarray | None = None,
                   points_map_m: np.ndarray | None = None, valid: np.ndarray | None = None,
                   token_px: int = 28) -> torch.Tensor:
    """Geometric features per vision token, shape (grid_h * grid_w, 9) float32.

    ``grid_hw`` is the merged token grid (rows, cols) = ``grid_thw[1:] / merge``; the image
    the vision tower saw is ``(rows * token_px, cols * token_px)`` pixels and covers the
    whole source frame. Inputs as in :func:`check_keyframe_inputs` (integer, negative or
    non-finite ``depth_m`` raises :class:`SpatialInputError`).
    """
    rows_tok, cols_tok = int(grid_hw[0]), int(grid_hw[1])
    if rows_tok < 1 or cols_tok < 1:
        raise SpatialInputError(f"token grid must be at least 1 x 1, got {grid_hw}")
    T = np.asarray(T_map_cam, dtype=np.float64)
    # Statistics are taken relative to the camera position (small numbers, float32 is
    # exact enough); the position is added back to the means in float64 at the end.
    rot = torch.as_tensor(T[:3, :3], dtype=torch.float32, device=device)
    trans = torch.as_tensor(T[:3, 3], dtype=torch.float64, device=device)
    source = depth_m if depth_m is not None else points_map_m
    height, width = source.shape[:2]
    rows = _nearest_indices(height, rows_tok * token_px, device)
    cols = _nearest_indices(width, cols_tok * token_px, device)
    if depth_m is not None:
        _check_depth_m(np.asarray(depth_m))
        depth = torch.as_tensor(np.ascontiguousarray(depth_m, dtype=np.float32), device=device)
        depth = depth[rows][:, cols]
        ok = torch.isfinite(depth) & (depth > 0.0)
        depth = torch.where(ok, depth, torch.zeros_like(depth))
        fx, fy, cx, cy, skew = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
                                float(K[0, 1]))
        # Pixel centres at integer coordinates (OpenCV convention for K).
        y_n = ((rows.float() - cy) / fy)[:, None]
        x_n = (cols.float()[None, :] - cx - skew * y_n) / fx
        rel = torch.stack((x_n * depth, y_n * depth, depth), dim=-1) @ rot.T
    else:
        pts = torch.as_tensor(np.ascontiguousarray(points_map_m, dtype=np.float32),
                              device=device)[rows][:, cols]
        ok = torch.isfinite(pts).all(dim=-1)
        if valid is not None:
            ok &= torch.as_tensor(np.ascontiguousarray(valid), device=device)[rows][:, cols] \
                .bool()
        rel = torch.where(ok[..., None], pts - trans.float(), torch.zeros_like(pts))
        depth = rel @ rot[:, 2]
        ok &= depth > 0.0
    channels = torch.cat((rel, depth[..., None]), dim=-1)  # (h_px, w_px, 4)
    blocks = channels.reshape(rows_tok, token_px, cols_tok, token_px, 4) \
        .transpose(1, 2).reshape(rows_tok * cols_tok, token_px * token_px, 4)
    weights = ok.reshape(rows_tok, token_px, cols_tok, token_px) \
        .transpose(1, 2).reshape(rows_tok * cols_tok, token_px * token_px, 1).float()
    count = weights.sum(dim=1)
    mean = (blocks * weights).sum(dim=1) / count.clamp(min=1.0)
    var = (((blocks - mean[:, None, :]) * weights) ** 2).sum(dim=1) / count.clamp(min=1.0)
    std = var.sqrt()
    frac = count / float(token_px * token_px)
    xyz = (mean[:, :3].double() + trans) * (count > 0)
    feats = torch.cat((xyz.float(), std[:, :3], mean[:, 3:], std[:, 3:], frac), dim=-1)
    return feats


@dataclass(frozen=True)
class SpatialEncoderConfig:
    """Shape of the encoder: LLM width, Fourier bands, shortest wavelength [m], MLP width."""

    hidden_size: int
    num_bands: int = 8
    min_wavelength_m: float = 0.1
    mlp_width: int = 512

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.num_bands < 1 or self.mlp_width < 1:
            raise ValueError(f"bad spatial encoder shape {self}")
        if not self.min_wavelength_m > 0.0:
            raise ValueError(f"min_wavelength_m must be > 0, got {self.min_wavelength_m}")


class SpatialEncoder(nn.Module):
    """Token features (N, 9) -> gated spatial embeddings (N, hidden_size) float32."""

    def __init__(self, config: SpatialEncoderConfig) -> None:
        super().__init__()
        self.config = config
        wavelengths = config.min_wavelength_m * 2.0 ** torch.arange(config.num_bands)
        self.register_buffer("angular_freq", 2.0 * math.pi / wavelengths, persistent=False)
        n_in = 4 * 2 * config.num_bands + N_TOKEN_FEATURES
        self.mlp = nn.Sequential(nn.Linear(n_in, config.mlp_width), nn.SiLU(),
                                 nn.Linear(config.mlp_width, config.hidden_size))
        self.gate = nn.Parameter(torch.zeros(config.hidden_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != N_TOKEN_FEATURES:
            raise SpatialInputError(
                f"features must be (N, {N_TOKEN_FEATURES}), got {tuple(features.shape)}")
        features = features.float()
        where = torch.cat((features[:, 0:3], features[:, 6:7]), dim=-1)  # mean xyz, depth
        angles = where[:, :, None] * self.angular_freq[None, None, :]
        fourier = torch.cat((angles.sin(), angles.cos()), dim=-1).flatten(1)
        raw = torch.cat((features[:, :3] / _COORD_SCALE_M, features[:, 3:6],
                         features[:, 6:7] / _COORD_SCALE_M, features[:, 7:9]), dim=-1)
        encoded = self.mlp(torch.cat((fourier, raw), dim=-1))
        has_depth = (features[:, 8:9] > 0.0).float()
        return self.gate * encoded * has_depth


def save_adapter(encoder: SpatialEncoder, path: str,
                 extra_tensors: dict[str, torch.Tensor] | None = None,
                 extra_metadata: dict[str, str] | None = None) -> None:
    """Write the encoder's weights and shape apart from the backbone.

    ``*.safetensors`` uses safetensors (metadata in the header); any other suffix writes
    ``torch.save`` of a plain dict of tensors and strings (loaded with weights_only).
    ``extra_tensors`` / ``extra_metadata`` ride along in the same file (the trained
    adapter's LoRA weights, :mod:`ssr_ros.model.lora`); their names must not collide with
    the encoder's.
    """
    meta = {"format": ADAPTER_FORMAT, "version": str(ADAPTER_VERSION),
            "config": json.dumps(asdict(encoder.config))}
    state = {k: v.detach().float().cpu().contiguous() for k, v in encoder.state_dict().items()}
    for source, target in ((extra_metadata or {}, meta), (extra_tensors or {}, state)):
        clash = set(source) & set(target)
        if clash:
            raise AdapterError(f"extra adapter entries {sorted(clash)} collide with the "
                               f"encoder's")
    meta.update(extra_metadata or {})
    state.update({k: v.detach().float().cpu().contiguous()
                  for k, v in (extra_tensors or {}).items()})
    tmp = f"{path}.tmp"
    if path.endswith(".safetensors"):
        try:
            from safetensors.torch import save_file
        except ImportError as exc:
            raise AdapterError("safetensors is not installed; use a .pt adapter path") from exc
        save_file(state, tmp, metadata=meta)
    else:
        torch.save({"metadata": meta, "state_dict": state}, tmp)
    os.replace(tmp, path)


def read_adapter_file(path: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(metadata, tensors) of an adapter file, format and version checked."""
    if not os.path.isfile(path):
        raise AdapterError(f"adapter file not found: {path}")
    try:
        if path.endswith(".safetensors"):
            from safetensors import SafetensorError, safe_open
            try:
                with safe_open(path, framework="pt") as handle:
                    meta = dict(handle.metadata() or {})
                    state = {k: handle.get_tensor(k) for k in handle.keys()}
            except SafetensorError as exc:  # not an OSError: a truncated or foreign file
                raise ValueError(str(exc)) from exc
        else:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            meta, state = dict(blob["metadata"]), dict(blob["state_dict"])
    except (OSError, KeyError, TypeError, RuntimeError, ValueError, ImportError, EOFError,
            pickle.UnpicklingError) as exc:
        raise AdapterError(f"cannot read adapter {path}: {exc}") from exc
    if meta.get("format") != ADAPTER_FORMAT or meta.get("version") != str(ADAPTER_VERSION):
        raise AdapterError(f"{path} is not a version-{ADAPTER_VERSION} spatial adapter "
                           f"(format={meta.get('format')!r}, version={meta.get('version')!r})")
    return meta, state


def encoder_from_state(path: str, meta: dict[str, str], state: dict[str, torch.Tensor],
                       hidden_size: int) -> SpatialEncoder:
    """The encoder described by an adapter file's metadata and tensors (``path`` names
    the file in errors)."""
    try:
        config = SpatialEncoderConfig(**json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterError(f"{path}: bad encoder config: {exc}") from exc
    if config.hidden_size != hidden_size:
        raise AdapterError(f"{path} was made for hidden size {config.hidden_size}, "
                           f"the backbone has {hidden_size}")
    encoder = SpatialEncoder(config)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise AdapterError(f"{path}: weights do not fit the encoder: {exc}") from exc
    return encoder


def load_adapter(path: str, hidden_size: int) -> SpatialEncoder:
    """Read an adapter written by :func:`save_adapter` for a backbone of ``hidden_size``.

    An adapter that also carries LoRA weights for the language model (written by
    ``ssr-train``) is refused here: loading only its encoder would silently drop half of
    the training; :func:`ssr_ros.model.lora.load_trained_adapter` loads both."""
    meta, state = read_adapter_file(path)
    if LORA_METADATA_KEY in meta:
        raise AdapterError(f"{path} carries LoRA weights for the language model; load it "
                           f"with ssr_ros.model.lora.load_trained_adapter")
    return encoder_from_state(path, meta, state, hidden_size)
