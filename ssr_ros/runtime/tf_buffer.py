"""A small transform buffer with tf2's lookup semantics, for machines without tf2_ros
(the PyPI route). No ROS here: :mod:`ssr_ros.ros.pose_source` feeds it from /tf and
/tf_static (``tf2_msgs/TFMessage``).

Frames form a tree: each child frame has one parent, set by the transforms it receives
(``T_parent_child``, 4x4, child -> parent). A lookup ``T_target_source`` at a stamp walks
both frames up to their common ancestor and composes the links on the way, as
``tf2::BufferCore::lookupTransform`` does. The semantics it keeps from tf2:

* **static vs dynamic**: a static link (/tf_static) holds at every stamp and is never
  pruned; a dynamic link (/tf) holds only between its oldest and newest samples, and a
  newer static or dynamic transform for the same child replaces the link's kind (a
  frame cannot be both).
* **interpolation**: between two samples of a dynamic link the transform is
  interpolated (translation linearly, rotation by slerp); a stamp equal to a sample
  takes it exactly. There is no extrapolation: a stamp before the oldest or after the
  newest sample of any dynamic link on the chain raises :class:`TfExtrapolationError`
  (tf2's "Lookup would require extrapolation into the past/future").
* **stamp zero** means "latest": the newest stamp at which every dynamic link of the
  chain has data (tf2's latest common time); a chain of static links only is valid then.
* **errors**: an unknown frame is :class:`TfLookupError`, two frames without a common
  ancestor :class:`TfConnectivityError`, both subclasses of :class:`TfError`.
* **cache**: dynamic samples older than ``cache_time_s`` (tf2's default 10 s) behind the
  newest sample of their link are pruned; a sample that goes back more than
  ``cache_time_s`` behind the link's newest one means the sender's clock restarted (a
  replayed bag), and the link's history restarts with it, as tf2 clears its buffer on a
  jump back of ROS time.

Not kept from tf2: a parent change of a dynamic frame applies to the whole link (tf2
keeps the parent per sample); ``lookup_transform_full`` (two stamps and a fixed frame);
and a frame whose link went stale stays connected (tf2 does the same until the cache
expires it).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ssr_ros.core.geometry import InvalidTransformError, check_pose, interpolate_pose

#: Longest chain walked before the tree is taken to contain a loop.
MAX_DEPTH = 1000


class TfError(Exception):
    """A lookup that cannot be answered; ``reason`` is a short counter key."""

    reason = "tf_lookup"


class TfLookupError(TfError):
    """A frame that the buffer has never received."""

    reason = "tf_unknown_frame"


class TfConnectivityError(TfError):
    """Two known frames without a common ancestor (two trees), or a loop."""

    reason = "tf_connectivity"


class TfExtrapolationError(TfError):
    """A stamp outside the span of a dynamic link on the chain."""

    reason = "tf_extrapolation"


@dataclass
class _Link:
    """The link ``parent <- child``: a static pose or time-sorted dynamic samples."""

    parent: str
    static: np.ndarray | None = None
    stamps: list[float] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)

    def at(self, stamp_s: float, child: str) -> np.ndarray:
        if self.static is not None:
            return self.static
        stamps = self.stamps
        if stamp_s < stamps[0] or stamp_s > stamps[-1]:
            side = "past" if stamp_s < stamps[0] else "future"
            raise TfExtrapolationError(
                f"lookup would require extrapolation into the {side}: {self.parent} <- "
                f"{child} at {stamp_s:.6f} s, data from {stamps[0]:.6f} to "
                f"{stamps[-1]:.6f} s")
        i = bisect.bisect_left(stamps, stamp_s)
        if stamps[i] == stamp_s:
            return self.poses[i]
        t0, t1 = stamps[i - 1], stamps[i]
        return interpolate_pose(self.poses[i - 1], self.poses[i], (stamp_s - t0) / (t1 - t0))


class TfBuffer:
    """Transforms over time with tf2's lookup semantics (see the module docstring).

    Thread-safe: the subscription callbacks add, the frame worker looks up (and may wait
    for a transform with :meth:`wait_lookup`).
    """

    def __init__(self, cache_time_s: float = 10.0) -> None:
        if not (cache_time_s > 0.0 and math.isfinite(cache_time_s)):
            raise ValueError(f"cache_time_s must be finite and > 0, got {cache_time_s}")
        self.cache_time_s = float(cache_time_s)
        self._links: dict[str, _Link] = {}
        self._cond = threading.Condition()
        #: Times a dynamic link restarted because its stamps jumped back.
        self.resets = 0

    # ------------------------------------------------------------------ input
    def set_transform(self, parent: str, child: str, stamp_s: float, T_parent_child,
                      static: bool) -> None:
        """Store ``T_parent_child`` (4x4) of ``child`` in ``parent`` at ``stamp_s`` [s].

        Raises ValueError for empty or equal frame names, a non-finite stamp or a
        non-rigid transform (the buffer is then unchanged)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"bad frame pair {parent!r} <- {child!r}")
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp {stamp_s!r} is not finite")
        try:
            T = check_pose(np.asarray(T_parent_child, dtype=np.float64), "transform")
        except InvalidTransformError as exc:
            raise ValueError(str(exc)) from exc
        with self._cond:
            link = self._links.get(child)
            if static:
                self._links[child] = _Link(parent, static=T)
            else:
                if link is None or link.static is not None or link.parent != parent:
                    link = self._links[child] = _Link(parent)
                self._add_sample(link, stamp_s, T)
            self._cond.notify_all()

    def _add_sample(self, link: _Link, stamp_s: float, T: np.ndarray) -> None:
        stamps = link.stamps
        if stamps and stamp_s < stamps[-1] - self.cache_time_s:
            stamps.clear()
            link.poses.clear()
            self.resets += 1
        i = bisect.bisect_left(stamps, stamp_s)
        if i < len(stamps) and stamps[i] == stamp_s:
            link.poses[i] = T
        else:
            stamps.insert(i, stamp_s)
            link.poses.insert(i, T)
        drop = bisect.bisect_left(stamps, stamps[-1] - self.cache_time_s)
        if drop > 0:
            del stamps[:drop]
            del link.poses[:drop]

    def clear(self) -> None:
        """Forget every transform, static ones included."""
        with self._cond:
            self._links.clear()

    def frames(self) -> list[str]:
        """Every frame known (as a child or a parent), sorted."""
        with self._cond:
            names = set(self._links) | {link.parent for link in self._links.values()}
        return sorted(names)

    # ------------------------------------------------------------------ lookups
    def lookup(self, target: str, source: str, stamp_s: float) -> np.ndarray:
        """``T_target_source`` (4x4, source -> target) at ``stamp_s`` [s] (0 = latest
        common time). Raises a :class:`TfError` subclass."""
        with self._cond:
            return self._lookup_locked(target.lstrip("/"), source.lstrip("/"), stamp_s)

    def can_transform(self, target: str, source: str, stamp_s: float) -> bool:
        try:
            self.lookup(target, source, stamp_s)
        except TfError:
            return False
        return True

    def wait_lookup(self, target: str, source: str, stamp_s: float,
                    timeout_s: float) -> np.ndarray:
        """Like :meth:`lookup`, waiting up to ``timeout_s`` [s] for transforms to arrive
        (an unknown frame, or a stamp after the newest sample); a stamp before the
        buffered data fails at once, as no later message can fill the past."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                try:
                    return self._lookup_locked(target.lstrip("/"), source.lstrip("/"),
                                               stamp_s)
                except TfError as exc:
                    remaining = deadline - time.monotonic()
                    past = isinstance(exc, TfExtrapolationError) and "past" in str(exc)
                    if past or remaining <= 0.0:
                        raise
                    self._cond.wait(remaining)

    def _chain(self, frame: str) -> list[str]:
        """``frame`` and its ancestors up to the root."""
        chain = [frame]
        while chain[-1] in self._links:
            chain.append(self._links[chain[-1]].parent)
            if len(chain) > MAX_DEPTH:
                raise TfConnectivityError(f"the tree above {frame!r} has a loop")
        return chain

    def _known(self, frame: str) -> bool:
        return frame in self._links or any(l.parent == frame for l in self._links.values())

    def _lookup_locked(self, target: str, source: str, stamp_s: float) -> np.ndarray:
        for frame in (target, source):
            if not frame or not self._known(frame):
                raise TfLookupError(f"frame {frame!r} does not exist")
        if target == source:
            return np.eye(4)
        up, down = self._chain(source), self._chain(target)
        common = next((f for f in up if f in set(down)), None)
        if common is None:
            raise TfConnectivityError(f"{target!r} and {source!r} are not part of the same "
                                      "tree")
        up = up[:up.index(common)]
        down = down[:down.index(common)]
        if stamp_s == 0.0:
            stamp_s = self._latest_common_locked(up + down)
        T_common_source = np.eye(4)
        for child in up:  # source -> ... -> common
            T_common_source = self._links[child].at(stamp_s, child) @ T_common_source
        T_common_target = np.eye(4)
        for child in down:
            T_common_target = self._links[child].at(stamp_s, child) @ T_common_target
        return np.linalg.inv(T_common_target) @ T_common_source

    def _latest_common_locked(self, children: list[str]) -> float:
        """Newest stamp with data on every dynamic link of ``children`` (any stamp works
        for static links: 0 is returned then)."""
        newest = [self._links[c].stamps[-1] for c in children
                  if self._links[c].static is None]
        oldest = [self._links[c].stamps[0] for c in children
                  if self._links[c].static is None]
        if not newest:
            return 0.0
        latest = min(newest)
        if latest < max(oldest):
            raise TfExtrapolationError("the chain's dynamic links have no common time")
        return latest
