"""What the node owns of the model path: a ROS-free bridge from parameters, keyframes and
questions to the :class:`~ssr_ros.model.runner.ModelRunner`, with failures turned into the
``SpatialQuery`` error codes and a plain ``dict[str, str]`` for ``/diagnostics``.

Node wiring (:mod:`ssr_ros.ros.parts`; every call returns, none raises on a model
failure)::

    bridge = ModelBridge(config.model)           # ModelConfigError on a bad model.* value
    ok, reason = bridge.configure()              # on_configure: load (path "" = disabled)
    bridge.on_keyframe(frame)                    # per mapped keyframe (PosedFrame), async
    reply = bridge.ask_free(question, cogmap.to_text())       # spatial_query KIND_FREE
    bridge.compare_cogmap("", objects)           # the model's own cogmap vs the map
                                                 # (ssr_ros.runtime.cogmap_check, timer)
    bridge.status()                              # dict[str, str] for /diagnostics
    bridge.cleanup()                             # on_cleanup / on_shutdown: free the GPU

torch is imported only when a model path is configured, so a node without the model
requirements runs with the rule-based reader.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ssr_ros.core.cogmap import ParseResult, check_text_against_objects
from ssr_ros.core.cogmap_text import sanitize_label
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.query_types import ErrorCode
from ssr_ros.core.triplets import local_axes, to_map
from ssr_ros.core.types import ObjectState
from ssr_ros.model.config import ModelConfig
from ssr_ros.model.errors import (BadRequest, ModelConfigError, ModelError, ModelFailed,
                                  ModelLoadError, ModelTimeout, ModelUnavailable)

__all__ = ["BridgeAnswer", "ModelBridge", "cogmap_agreement"]

#: States of a bridge: ``unconfigured`` (before :meth:`ModelBridge.configure`),
#: ``disabled`` (empty ``model.path``), ``failed`` (the load failed; see ``reason``),
#: ``ready`` (the runner is running), ``closed`` (after :meth:`ModelBridge.cleanup`).
STATES = ("unconfigured", "disabled", "failed", "ready", "closed")


@dataclass(frozen=True)
class BridgeAnswer:
    """The model's answer to a free question.

    ``text``: the decoded answer ("" on error); ``answered_by``: always ``"model"``;
    ``error``: None on success, else the ``SpatialQuery`` error code; ``message``: why it
    failed (with the runner's reason tag), "" on success; ``elapsed_s``: wall time of the
    call [s].
    """

    text: str
    answered_by: str = "model"
    error: ErrorCode | None = None
    message: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class ModelBridge:
    """The node's handle on the model runner (see the module docstring).

    ``max_pending_keyframes``: keyframes waiting for the worker beyond this many are
    dropped (and counted), so a model slower than the mapping rate never builds an
    unbounded backlog; questions still see every keyframe the worker accepted.
    Thread-safe: keyframes, questions, diagnostics and cleanup may come from different
    executor threads.
    """

    def __init__(self, config: ModelConfig, max_pending_keyframes: int = 4) -> None:
        config.validate()
        if isinstance(max_pending_keyframes, bool) or not isinstance(max_pending_keyframes, int) \
                or max_pending_keyframes < 1:
            raise ModelConfigError(
                f"max_pending_keyframes must be an integer >= 1, got {max_pending_keyframes!r}")
        self.config = config
        self.max_pending_keyframes = max_pending_keyframes
        # _life serialises configure/cleanup; _lock guards the counters only and is never
        # held while the runner works (its done-callbacks take it from the worker).
        self._life = threading.Lock()
        self._lock = threading.Lock()
        self._runner: Any = None
        self._state = "unconfigured"
        self._reason = ""
        self._pending = 0
        self._keyframes_sent = 0
        self._keyframes_dropped = 0
        self._keyframes_failed = 0
        self._last_error = ""
        self._last_agreement = math.nan

    # ------------------------------------------------------------------ lifecycle
    @property
    def state(self) -> str:
        """One of :data:`STATES`."""
        return self._state

    @property
    def ready(self) -> bool:
        """True when a model is loaded and answers questions."""
        return self._state == "ready"

    @property
    def reason(self) -> str:
        """Why the bridge is not ready ("" when it is)."""
        return self._reason

    def configure(self) -> tuple[bool, str]:
        """Load the model (offline) and start its worker; a loaded one is freed first.

        Returns ``(True, "")`` when loaded, ``(True, "disabled: ...")`` for an empty
        ``model.path``, and ``(False, "<reason tag>: <details>")`` when loading failed
        (tags: ``missing_path``, ``wrong_architecture``, ``out_of_memory``,
        ``bad_adapter``, ``load_failed``, ``missing_dependency``). Never raises."""
        with self._life:
            self._close_runner()
            if not self.config.enabled:
                self._set_state("disabled", "disabled: model.path is empty")
                return True, self._reason
            try:
                from ssr_ros.model.runner import load_runner
                runner = load_runner(self.config)
                try:
                    runner.start()
                except Exception:
                    runner.close()  # frees the loaded weights when the KV cache did not fit
                    raise
            except ImportError as exc:
                # transformers' backend errors start with a blank line: keep the text.
                detail = " ".join(str(exc).split())
                self._set_state("failed", f"missing_dependency: {detail} (install "
                                f"requirements/model.txt)")
            except (ModelLoadError, ModelFailed) as exc:
                self._set_state("failed", f"{exc.reason}: {exc}")
            except ModelError as exc:
                self._set_state("failed", f"load_failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - the contract is (False, reason)
                # The lifecycle node must answer FAILURE with a reason, not crash.
                self._set_state("failed", f"load_failed: {type(exc).__name__}: {exc}")
            else:
                self._runner = runner
                self._set_state("ready", "")
                return True, ""
            return False, self._reason

    def cleanup(self) -> None:
        """Stop the worker and free the model and device memory (idempotent). Questions
        asked afterwards answer ``MODEL_UNAVAILABLE``; :meth:`configure` loads again."""
        with self._life:
            self._close_runner()

    def _close_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()
        if self._state in ("ready", "failed", "disabled"):
            self._set_state("closed", "closed: cleaned up")

    def _set_state(self, state: str, reason: str) -> None:
        self._state = state
        self._reason = reason

    # ------------------------------------------------------------------ keyframes
    def on_keyframe(self, frame: PosedFrame) -> bool:
        """Hand a mapped keyframe to the model without waiting for it: its ``rgb``,
        ``depth_m`` with ``K`` (the spatial features), ``T_map_cam`` and ``stamp_s``.
        Returns True when queued, False when no model is loaded or the backlog is full
        (the frame is dropped and counted). Malformed input raises
        :class:`~ssr_ros.model.errors.SpatialInputError` or :class:`BadRequest` and
        queues nothing."""
        runner = self._runner
        if runner is None:
            return False
        with self._lock:
            if self._pending >= self.max_pending_keyframes:
                self._keyframes_dropped += 1
                return False
            self._pending += 1
        try:
            future = runner.add_keyframe(frame.rgb, frame.T_map_cam, frame.stamp_s,
                                         depth_m=frame.depth_m, K=frame.K)
        except ModelUnavailable:
            self._keyframe_done(None)
            return False
        except (ModelError, ValueError):
            self._keyframe_done(None)
            raise
        with self._lock:
            self._keyframes_sent += 1
        future.add_done_callback(self._keyframe_done)
        return True

    def _keyframe_done(self, future: Any) -> None:
        with self._lock:
            self._pending -= 1
            if future is None or future.cancelled():
                return
            error = future.exception()
            # Frames still queued when the runner closes fail as unavailable: not a fault.
            if error is not None and not isinstance(error, ModelUnavailable):
                self._keyframes_failed += 1
                self._last_error = f"keyframe: {error}"

    # ------------------------------------------------------------------ questions
    def ask_free(self, question: str, scaffold_text: str = "",
                 timeout_s: float | None = None) -> BridgeAnswer:
        """Ask the model ``question`` with ``scaffold_text`` (the LocalCogMap text) as
        context, waiting at most ``timeout_s`` [s] (default ``model.timeout_s``).

        Errors come back in the answer: ``TIMEOUT`` (no answer in time; the request is
        cancelled), ``MODEL_UNAVAILABLE`` (no model, cleaned up, or a device failure
        such as out of memory or a prompt over ``max_prompt_tokens``),
        ``INVALID_REQUEST`` (empty question or scaffold not text)."""
        t0 = time.perf_counter()
        if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(
                timeout_s, (int, float)) or not math.isfinite(timeout_s) or timeout_s <= 0):
            return self._failed(ErrorCode.INVALID_REQUEST, "timeout_s must be a positive "
                                f"number of seconds, got {timeout_s!r}", t0)
        runner = self._runner
        if runner is None:
            return self._failed(ErrorCode.MODEL_UNAVAILABLE,
                                f"model unavailable: {self._reason or self._state}", t0)
        try:
            text = runner.ask(question, scaffold_text, timeout_s)
        except ModelTimeout as exc:
            return self._failed(ErrorCode.TIMEOUT, f"model timeout: {exc}", t0)
        except ModelUnavailable as exc:
            return self._failed(ErrorCode.MODEL_UNAVAILABLE, f"model unavailable: {exc}", t0)
        except ModelFailed as exc:
            return self._failed(ErrorCode.MODEL_UNAVAILABLE,
                                f"model failed ({exc.reason}): {exc}", t0)
        except BadRequest as exc:
            return self._failed(ErrorCode.INVALID_REQUEST, f"invalid question: {exc}", t0)
        except ModelError as exc:
            return self._failed(ErrorCode.MODEL_UNAVAILABLE, f"model failed: {exc}", t0)
        return BridgeAnswer(text, elapsed_s=time.perf_counter() - t0)

    def _failed(self, code: ErrorCode, message: str, t0: float) -> BridgeAnswer:
        self._last_error = message
        return BridgeAnswer("", error=code, message=message,
                            elapsed_s=time.perf_counter() - t0)

    def compare_cogmap(self, scaffold_text: str, objects: Iterable[ObjectState],
                       timeout_s: float | None = None) -> dict[str, float | int | str]:
        """Ask the model to write the scene as LocalCogMap lines and score them against
        the metric map (see :func:`cogmap_agreement` for the keys). ``scaffold_text`` ""
        asks the model for its own view of the keyframes; the map's text asks whether it
        reads the scaffold back. On a model failure the dict has ``agreement`` NaN and
        ``error`` set."""
        runner = self._runner
        if runner is None:
            return {"agreement": math.nan, "triplets": 0,
                    "error": f"model unavailable: {self._reason or self._state}"}
        try:
            parsed = runner.generate_cogmap(scaffold_text, timeout_s)
        except ModelError as exc:
            self._last_error = f"cogmap: {exc}"
            return {"agreement": math.nan, "triplets": 0, "error": str(exc)}
        result = cogmap_agreement(parsed, objects)
        self._last_agreement = float(result["agreement"])
        return result

    # ------------------------------------------------------------------ diagnostics
    def status(self) -> dict[str, str]:
        """Key/values for ``/diagnostics`` (never blocks on the model)."""
        values = {"model.state": self._state, "model.reason": self._reason,
                  "model.path": self.config.path,
                  "model.keyframes_sent": str(self._keyframes_sent),
                  "model.keyframes_dropped": str(self._keyframes_dropped),
                  "model.keyframes_failed": str(self._keyframes_failed),
                  "model.last_error": self._last_error,
                  "model.cogmap_agreement": "" if math.isnan(self._last_agreement)
                  else f"{self._last_agreement:.3f}"}
        runner = self._runner
        if runner is not None:
            st = runner.status()
            values.update({"model.device": st.device, "model.dtype": st.dtype,
                           "model.keyframes": str(st.keyframes),
                           "model.prefix_tokens": str(st.prefix_tokens),
                           "model.capacity_tokens": str(st.capacity_tokens),
                           "model.pending": str(st.pending),
                           "model.answered": str(st.answered),
                           "model.failed": str(st.failed)})
            if st.last_keyframe is not None:
                kf = st.last_keyframe
                values["model.last_keyframe_ms"] = (
                    f"{1e3 * (kf.preprocess_s + kf.vision_s + kf.spatial_s + kf.prefix_s):.1f}")
        return values


def cogmap_agreement(result: ParseResult, objects: Iterable[ObjectState],
                     slack_m: float = 0.0) -> dict[str, float | int | str]:
    """How far a written LocalCogMap (typically the model's) agrees with the metric map.

    Each accepted non-root link is one triplet. It is *consistent* when its target and
    anchors are map objects, its target label matches the map's, and its local position
    (exact ``xy`` when written, else the centre of its cell relative to anchor A's cell)
    placed in the frame of the map's own anchor positions lies within half a cell
    diagonal (+ ``slack_m``) of the map's target: the bound a correct cell guarantees.
    Judging each triplet in the map's anchor frame keeps one wrong line from condemning
    every line after it.

    Keys: ``agreement`` (consistent / triplets; 0.0 when there is no triplet),
    ``triplets``, ``consistent``, ``parse_errors``, ``label_mismatches``,
    ``unknown_ids``, ``missing_ids`` (map objects the text left out), ``max_chain_error_m``
    (the whole chain walked from its root, :func:`check_text_against_objects`).
    """
    objs = list(objects)
    by_id = {o.id: o for o in objs}
    check = check_text_against_objects(result, objs)
    triplets = consistent = 0
    for link in result.links:
        if link.is_root:
            continue
        triplets += 1
        ids = (link.target, *link.anchors)
        if not all(i in by_id for i in ids):
            continue
        if sanitize_label(by_id[link.target].label) != result.labels.get(link.target):
            continue
        a_xy = by_id[link.anchor_a].center_m[:2]
        ex, ey = local_axes(a_xy, by_id[link.anchor_b].center_m[:2], link.axis)
        local = np.asarray(link.local_xy_m, np.float64) if link.exact \
            else link.grid_local_xy_m()
        error_m = float(np.hypot(*(to_map(local, a_xy, ex, ey)
                                   - by_id[link.target].center_m[:2])))
        if error_m <= link.cell_size_m * math.sqrt(2.0) / 2.0 + slack_m + 1e-9:
            consistent += 1
    return {"agreement": consistent / triplets if triplets else 0.0,
            "triplets": triplets, "consistent": consistent,
            "parse_errors": len(result.errors),
            "label_mismatches": len(check.label_mismatches),
            "unknown_ids": len(check.unknown_ids), "missing_ids": len(check.missing_ids),
            "max_chain_error_m": check.max_error_m}
