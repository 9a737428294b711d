"""Pinhole camera model from K (and optional plumb-bob distortion): back-projection of a
depth image to a point map, and projection of points to pixels.

Frames: the camera optical frame (REP-103: x right, y down, z forward), metres. Pixel
coordinates ``(u, v)`` are column and row with the centre of the top-left pixel at
(0, 0), as in ``sensor_msgs/CameraInfo``. Depth images hold the z coordinate [m] of each
pixel's point, 0 where there is no measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class InvalidIntrinsicsError(ValueError):
    """K is not a finite 3x3 upper-triangular matrix with positive focal lengths, or the
    image size or the distortion coefficients are unusable."""


class InvalidDepthError(ValueError):
    """A depth image holds NaN, inf or negative values, has the wrong shape, or has no
    valid pixel at all."""


class ImageSizeMismatchError(ValueError):
    """Two images of one frame (RGB, depth, labels) or an image and the camera model
    disagree in size."""


def validate_K(K: np.ndarray) -> np.ndarray:
    """Return K as a float64 (3, 3) copy, or raise :class:`InvalidIntrinsicsError`."""
    arr = np.asarray(K, dtype=np.float64)
    if arr.shape == (9,):
        arr = arr.reshape(3, 3)
    if arr.shape != (3, 3):
        raise InvalidIntrinsicsError(f"K must be 3x3, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidIntrinsicsError("K contains NaN or inf")
    if arr[0, 0] <= 0.0 or arr[1, 1] <= 0.0:
        raise InvalidIntrinsicsError(
            f"focal lengths must be positive, got fx={arr[0, 0]}, fy={arr[1, 1]}")
    if not np.allclose(arr[2], [0.0, 0.0, 1.0]) or arr[1, 0] != 0.0:
        raise InvalidIntrinsicsError("K's last row must be [0, 0, 1] and K[1, 0] must be 0")
    return arr.copy()


def validate_depth(depth_m: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Check a depth image [m] (H, W): finite, non-negative, at least one pixel > 0, and of
    ``shape`` (H, W) when given. Returns it as float32 (no copy when already float32)."""
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise InvalidDepthError(f"depth must be (H, W), got shape {depth.shape}")
    if shape is not None and depth.shape != tuple(shape):
        raise ImageSizeMismatchError(f"depth is {depth.shape}, expected {tuple(shape)}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise InvalidDepthError(f"depth_m must be floating point metres, got {depth.dtype} "
                                "(convert integer millimetres with depth_from_millimetres)")
    depth = depth.astype(np.float32, copy=False)
    # Two reductions instead of three boolean images (every frame is checked): a NaN
    # makes min and max NaN, an inf shows in one of them.
    lo, hi = (float(depth.min()), float(depth.max())) if depth.size else (0.0, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidDepthError("depth contains NaN or inf (use 0 for no measurement)")
    if lo < 0.0:
        raise InvalidDepthError("depth contains negative values")
    if not hi > 0.0:
        raise InvalidDepthError("depth has no valid pixel (all zero)")
    return depth


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Depth (H, W) [m, 0 = none] as a ``16UC1`` image (H, W) uint16 [mm], rounded to the
    nearest millimetre and clipped to 65.535 m (what an RGB-D driver publishes)."""
    mm = np.asarray(depth_m, dtype=np.float32) * np.float32(1000.0) + np.float32(0.5)
    np.clip(mm, 0.0, 65535.0, out=mm)
    return mm.astype(np.uint16)


def depth_from_millimetres(depth_raw: np.ndarray, units_per_m: float = 1000.0) -> np.ndarray:
    """Convert an integer depth image (H, W) (e.g. uint16 ``16UC1``, 1000 units per metre;
    TUM uses 5000) into float32 metres, keeping 0 as "no measurement".

    Raises :class:`InvalidDepthError` when the image is not of an integer dtype (a float
    image is taken to be metres already and must not be divided again), holds negative
    values, or ``units_per_m`` is not a finite number > 0."""
    raw = np.asarray(depth_raw)
    if isinstance(units_per_m, (bool, np.bool_)):
        raise InvalidDepthError(f"units_per_m must be a number, got {units_per_m!r}")
    try:
        units = float(units_per_m)
    except (TypeError, ValueError) as exc:
        raise InvalidDepthError(f"units_per_m must be a number, got {units_per_m!r}") from exc
    # not (x > 0) rejects NaN as well.
    if not (math.isfinite(units) and units > 0.0):
        raise InvalidDepthError(f"units_per_m must be finite and > 0, got {units_per_m!r}")
    if not np.issubdtype(raw.dtype, np.integer) or raw.dtype == np.bool_:
        raise InvalidDepthError(f"raw depth must be an integer image (e.g. uint16), got "
                                f"{raw.dtype}; floating point depth is already in metres")
    if raw.ndim != 2:
        raise InvalidDepthError(f"raw depth must be (H, W), got shape {raw.shape}")
    if np.issubdtype(raw.dtype, np.signedinteger) and raw.size and raw.min() < 0:
        raise InvalidDepthError("raw depth contains negative values (0 means no measurement)")
    return raw.astype(np.float32) / np.float32(units)


@dataclass
class PinholeCamera:
    """A calibrated camera: K (3x3), image size [px] and optional plumb-bob distortion
    ``(k1, k2, p1, p2, k3)`` as in ``sensor_msgs/CameraInfo`` ``D``.

    Build it once per camera (``from_K``); the normalised ray grid is cached, so every
    back-projection after the first is a multiply."""

    K: np.ndarray
    width: int
    height: int
    distortion: np.ndarray | None = None
    _rays: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.K = validate_K(self.K)
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise InvalidIntrinsicsError(
                f"image size must be positive, got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)
        if self.distortion is not None:
            d = np.asarray(self.distortion, dtype=np.float64).ravel()
            if d.size == 0 or not np.any(d):
                d = None
            elif d.size not in (4, 5, 8) or not np.all(np.isfinite(d)):
                raise InvalidIntrinsicsError(
                    f"distortion must be 4, 5 or 8 finite plumb-bob coefficients, got {d}")
            elif d.size > 5:
                raise InvalidIntrinsicsError("rational polynomial (8 coefficients) is not "
                                             "supported; rectify the images first")
            else:
                d = np.concatenate([d, np.zeros(5 - d.size)])
            self.distortion = d

    @classmethod
    def from_K(cls, K: np.ndarray, width: int, height: int,
               distortion: np.ndarray | None = None) -> "PinholeCamera":
        """Camera from intrinsics K (3x3 or 9 values, row-major) and image size [px]."""
        return cls(np.asarray(K, dtype=np.float64), width, height, distortion)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (H, W) [px]."""
        return (self.height, self.width)

    def scaled(self, factor: float) -> "PinholeCamera":
        """The same camera for an image resized by ``factor`` (e.g. 0.5 for half size)."""
        K = self.K.copy()
        K[:2] *= factor
        # Pixel centres move with the resize: centre of pixel 0 maps to (factor - 1) / 2.
        K[0, 2] += 0.5 * factor - 0.5
        K[1, 2] += 0.5 * factor - 0.5
        return PinholeCamera(K, max(1, round(self.width * factor)),
                             max(1, round(self.height * factor)), self.distortion)

    # ------------------------------------------------------------------ distortion

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k1, k2, p1, p2, k3 = self.distortion
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return xd, yd

    def _undistort(self, xd: np.ndarray, yd: np.ndarray,
                   iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Invert the plumb-bob model by fixed-point iteration (converges for the moderate
        distortion of RGB-D cameras)."""
        k1, k2, p1, p2, k3 = self.distortion
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
            dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
            x = (xd - dx) / radial
            y = (yd - dy) / radial
        return x, y

    # ------------------------------------------------------------------ rays

    def pixel_rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Normalised rays ``(N, 2)`` (x/z, y/z) of pixels ``(u, v)`` [px]."""
        y = (np.asarray(v, dtype=np.float64) - self.cy) / self.fy
        x = (np.asarray(u, dtype=np.float64) - self.cx - self.K[0, 1] * y) / self.fx
        if self.distortion is not None:
            x, y = self._undistort(x, y)
        return np.stack([x, y], axis=-1)

    @property
    def rays(self) -> np.ndarray:
        """Normalised rays of every pixel, ``(H, W, 2)`` float32 (cached)."""
        if self._rays is None:
            v, u = np.mgrid[0:self.height, 0:self.width]
            self._rays = self.pixel_rays(u, v).astype(np.float32)
        return self._rays

    # ------------------------------------------------------------------ back-projection

    def backproject(self, depth_m: np.ndarray, stride: int = 1) -> np.ndarray:
        """Point map ``(H/stride, W/stride, 3)`` float32 in the camera optical frame [m]
        from a depth image (H, W) [m]; pixels without depth give (0, 0, 0).

        ``stride`` > 1 samples every stride-th row and column (for speed)."""
        if depth_m.shape != self.shape:
            raise ImageSizeMismatchError(
                f"depth is {depth_m.shape} but the camera is {self.shape}")
        z = np.asarray(depth_m, dtype=np.float32)[::stride, ::stride]
        rays = self.rays[::stride, ::stride]
        out = np.empty(z.shape + (3,), dtype=np.float32)
        out[..., 0] = rays[..., 0] * z
        out[..., 1] = rays[..., 1] * z
        out[..., 2] = z
        return out

    def backproject_pixels(self, u: np.ndarray, v: np.ndarray,
                           depth_m: np.ndarray) -> np.ndarray:
        """Points ``(N, 3)`` [m] in the camera frame of pixels ``(u, v)`` with depths [m]."""
        u_idx = np.asarray(u)
        v_idx = np.asarray(v)
        if np.issubdtype(u_idx.dtype, np.integer) and np.issubdtype(v_idx.dtype, np.integer):
            rays = self.rays[v_idx, u_idx].astype(np.float64)
        else:
            rays = self.pixel_rays(u_idx, v_idx)
        z = np.asarray(depth_m, dtype=np.float64)
        return np.stack([rays[..., 0] * z, rays[..., 1] * z, z], axis=-1)

    # ------------------------------------------------------------------ projection

    def project(self, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project ``(N, 3)`` camera-frame points [m] to pixels.

        Returns ``(uv (N, 2) float64 [px], in_front (N,) bool)``; points at or behind the
        camera (z <= 1 mm) get ``in_front = False`` and meaningless ``uv``."""
        pts = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        z = pts[:, 2]
        in_front = z > 1e-3
        safe_z = np.where(in_front, z, 1.0)
        x = pts[:, 0] / safe_z
        y = pts[:, 1] / safe_z
        if self.distortion is not None:
            x, y = self._distort(x, y)
        uv = np.stack([self.fx * x + self.K[0, 1] * y + self.cx, self.fy * y + self.cy], axis=1)
        return uv, in_front

    def in_image(self, uv: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
        """Boolean mask of pixel coordinates ``(N, 2)`` inside the image (with a margin)."""
        return ((uv[:, 0] >= -0.5 + margin_px) & (uv[:, 0] < self.width - 0.5 - margin_px)
                & (uv[:, 1] >= -0.5 + margin_px) & (uv[:, 1] < self.height - 0.5 - margin_px))
