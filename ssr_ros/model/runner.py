"""On-robot model runner: one worker thread owns the backbone on its device, caches each
keyframe's embeddings and the KV cache of the interleaved frame prefix, and answers
questions over it.

API (what the node uses)::

    runner = load_runner(ModelConfig(path="/models/qwen2.5-vl-7b"))   # typed load errors
    runner.start()                                     # KV cache, worker thread
    runner.add_keyframe(rgb, T_map_cam, stamp_s, depth_m=depth_m, K=K)   # -> Future[int]
    text = runner.ask("Where is the lamp?", scaffold=cogmap.to_text(), timeout_s=5.0)
    parsed = runner.generate_cogmap(scaffold=cogmap.to_text(), timeout_s=10.0)
    runner.status()                                    # RunnerStatus (counters, timings)
    runner.close()                                     # stops the worker, frees GPU memory

- ``add_keyframe`` validates its inputs in the caller's thread (bad input raises
  :class:`SpatialInputError` and changes nothing) and returns at once; the worker runs the
  vision tower and the spatial encoder once per keyframe, keeps the frame's embeddings and
  extends the cached KV prefix by that frame only. Keyframes queued back to back (a
  burst) are encoded as one batch: one pass of the vision tower, one of the spatial
  encoder's MLP and one prefix extension for all of them (a device failure fails the
  whole batch). When the window of ``max_keyframes`` is full the oldest frame is evicted
  and the prefix is rebuilt from the cached embeddings when the worker is next idle (or
  before the next question).
- ``ask`` blocks its caller at most ``timeout_s`` (the work runs on the worker); it pays
  only for the question's tokens over the cached prefix plus decoding. Failures are typed:
  :class:`ModelTimeout` (the request is cancelled), :class:`ModelUnavailable` (not started
  or closed), :class:`ModelFailed` (device error; ``reason`` ``out_of_memory``,
  ``capacity``, ``prompt_too_long`` or ``runtime``). The runner keeps working after a
  failed request.
- Requests run in submission order: a question sees every keyframe added before it.
- Decoding is greedy over our static KV cache (:mod:`ssr_ros.model.engine`: fused
  projections); on CUDA eight decode steps are captured in one CUDA graph and replayed
  without host synchronisation (stop tokens are checked between replays); on the CPU it
  is a plain eager loop.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ssr_ros.core.cogmap_text import ParseResult, parse_cogmap_text
from ssr_ros.model.backbone import Backbone, is_out_of_memory, load_backbone
from ssr_ros.model.config import ModelConfig
from ssr_ros.model.engine import TextEngine
from ssr_ros.model.errors import (BadRequest, ModelError, ModelFailed, ModelTimeout,
                                  ModelUnavailable)
from ssr_ros.model.interleave import (SYSTEM_PROMPT, Segment, SequenceBuilder, frame_header,
                                      place)
from ssr_ros.model.lora import load_trained_adapter
from ssr_ros.model.spatial import (SpatialEncoder, SpatialEncoderConfig,
                                   check_keyframe_inputs, token_features)

COGMAP_INSTRUCTION = (
    "List the objects of this scene as LocalCogMap lines, one per line, in exactly the "
    "format of the scene map (for example: [3] lamp @ (7,2) | anchors [1] sofa (0,4), "
    "[2] table (9,4) | cell 0.40 m). Write only the lines.")
_HEADER_MARGIN_TOKENS = 16


@dataclass
class Answer:
    """A decoded answer with its timings [s] (measured on the worker)."""

    text: str
    token_ids: list[int]
    prompt_tokens: int
    prefix_tokens: int
    ttft_s: float
    decode_s: float
    total_s: float


@dataclass
class KeyframeTiming:
    """Work [s] of the last keyframe batch of ``frames`` keyframes (1 unless a burst was
    batched): image preprocessing (resize on the CPU, normalise and patchify on the
    device), vision tower, spatial encoder (back-projection, pooling, MLP), prefix update."""

    preprocess_s: float
    vision_s: float
    spatial_s: float
    prefix_s: float
    frames: int = 1


@dataclass
class RunnerStatus:
    """Snapshot of the runner for diagnostics."""

    state: str
    device: str
    dtype: str
    keyframes: int
    prefix_tokens: int
    capacity_tokens: int
    pending: int
    answered: int
    failed: int
    rebuilds: int
    last_error: str
    last_keyframe: KeyframeTiming | None = None
    totals_s: dict[str, float] = field(default_factory=dict)
    keyframe_batches: int = 0


@dataclass
class _Frame:
    index: int
    stamp_s: float
    segment: Segment


@dataclass
class _Job:
    """A request for the worker: ``fn(cancel)``, or a keyframe (``add_keyframe``'s
    arguments), which the worker batches with the keyframes queued right behind it."""

    fn: Callable[[threading.Event], Any] | None
    future: Future
    cancel: threading.Event
    keyframe: dict[str, Any] | None = None


class ModelRunner:
    """Runs the interleaved visual + spatial model for the node (see module docstring)."""

    def __init__(self, backbone: Backbone, config: ModelConfig,
                 spatial_encoder: SpatialEncoder | None = None,
                 system_prompt: str = SYSTEM_PROMPT, fused_weights: bool = True) -> None:
        """``fused_weights``: the engine fuses the text layers' q/k/v and gate/up weights
        (memory-neutral; see :mod:`ssr_ros.model.engine`); False keeps the backbone's
        separate projections (benchmarks compare the two)."""
        config.validate()
        self._fused_weights = bool(fused_weights)
        self.config = config
        self._bb = backbone
        if spatial_encoder is None:
            spatial_encoder = SpatialEncoder(SpatialEncoderConfig(backbone.hidden_size))
        if spatial_encoder.config.hidden_size != backbone.hidden_size:
            raise ModelFailed(f"spatial encoder width {spatial_encoder.config.hidden_size} != "
                              f"backbone width {backbone.hidden_size}", reason="architecture")
        self.spatial = spatial_encoder.to(backbone.device).train(False)
        self._builder = SequenceBuilder(backbone, system_prompt)
        self._stop_ids = self._collect_stop_ids()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._state = "stopped"
        self._lock = threading.Lock()
        self._frames: deque[_Frame] = deque()
        self._next_index = 0
        self._engine: TextEngine | None = None
        self._preamble: Segment | None = None
        self._prefix_len = 0
        self._next_pos = 0
        self._dirty = True
        self._rebuild_failed = False
        self._answered = 0
        self._failed = 0
        self._rebuilds = 0
        self._last_error = ""
        self._last_keyframe: KeyframeTiming | None = None
        self._keyframe_batches = 0
        self._current: _Job | None = None
        self._totals = {"preprocess_s": 0.0, "vision_s": 0.0, "spatial_s": 0.0,
                        "prefix_s": 0.0, "rebuild_s": 0.0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Allocate the KV cache and start the worker (idempotent while running)."""
        with self._lock:
            if self._state == "running":
                return
            if self._state == "closed":
                raise ModelUnavailable("runner is closed")
            bb = self._bb
            self._preamble = self._builder.preamble()
            worst_pose = np.eye(4)
            worst_pose[:3, 3] = -9999.99
            header = frame_header(999999, 9999999999.99, worst_pose)
            per_frame = len(self._builder.frame_ids(header, self.config.max_tokens_per_frame))
            capacity = (len(self._preamble) + self.config.max_keyframes
                        * (per_frame + _HEADER_MARGIN_TOKENS)
                        + self.config.max_prompt_tokens + self.config.max_new_tokens)
            try:
                self._engine = TextEngine(bb.language_model, bb.lm_head, capacity, bb.device,
                                          bb.dtype, use_cuda_graph=self.config.cuda_graph,
                                          fused=self._fused_weights)
            except Exception as exc:  # OOM while allocating the cache becomes typed
                if is_out_of_memory(exc):
                    raise ModelFailed(f"out of memory allocating a KV cache of {capacity} "
                                      f"tokens", reason="out_of_memory") from exc
                raise
            self._dirty = True
            self._thread = threading.Thread(target=self._work, name="ssr-model-runner",
                                            daemon=True)
            self._state = "running"
            self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the worker, fail queued requests with :class:`ModelUnavailable` and free
        the model, caches and device memory. The runner cannot be restarted."""
        with self._lock:
            if self._state == "closed":
                return
            was_running = self._state == "running"
            self._state = "closed"
            # Under the lock: no request can be queued behind the drain.
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None and job.future.set_running_or_notify_cancel():
                    job.future.set_exception(ModelUnavailable("runner closed"))
        current = self._current
        if current is not None:
            current.cancel.set()  # a decoding question stops at its next check
        if was_running and self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout_s)
        if self._engine is not None:
            self._engine.release()
        self._engine = None
        if self._bb is not None:
            self._bb.free_graphs()
        self._frames.clear()
        self._preamble = None
        device = self._bb.device if self._bb is not None else torch.device("cpu")
        self._bb = None
        self.spatial = None
        self._builder = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def __enter__(self) -> "ModelRunner":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def add_keyframe(self, rgb: np.ndarray, T_map_cam: np.ndarray, stamp_s: float,
                     depth_m: np.ndarray | None = None, K: np.ndarray | None = None,
                     points_map_m: np.ndarray | None = None,
                     valid: np.ndarray | None = None) -> Future:
        """Queue a keyframe: ``rgb`` (H, W, 3) uint8, ``T_map_cam`` (4, 4) optical frame ->
        map, ``stamp_s`` [s], and either ``depth_m`` (H, W) [m] with ``K`` (3, 3) or
        ``points_map_m`` (H, W, 3) map frame [m] with optional ``valid`` (H, W).

        Returns a Future of the keyframe's index in the sequence (its header number).
        """
        check_keyframe_inputs(rgb, T_map_cam, depth_m=depth_m, K=K, points_map_m=points_map_m,
                              valid=valid)
        if not np.isfinite(stamp_s):
            raise BadRequest(f"stamp_s must be finite, got {stamp_s}")
        args = dict(rgb=np.array(rgb, copy=True), T_map_cam=np.array(T_map_cam, np.float64),
                    stamp_s=float(stamp_s),
                    depth_m=None if depth_m is None else np.array(depth_m, np.float32),
                    K=None if K is None else np.array(K, np.float64),
                    points_map_m=None if points_map_m is None
                    else np.array(points_map_m, np.float32),
                    valid=None if valid is None else np.array(valid, bool))
        return self._submit_job(None, keyframe=args).future

    def submit_ask(self, question: str, scaffold: str = "", max_new_tokens: int | None = None,
                   stop_at_eos: bool = True) -> tuple[Future, threading.Event]:
        """Queue a question; returns its Future[:class:`Answer`] and its cancel event.
        ``stop_at_eos=False`` always decodes ``max_new_tokens`` (benchmarks)."""
        if not isinstance(question, str) or not question.strip():
            raise BadRequest("question must be a non-empty string")
        if not isinstance(scaffold, str):
            raise BadRequest("scaffold must be a string")
        limit = self.config.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if limit < 1:
            raise BadRequest(f"max_new_tokens must be >= 1, got {limit}")
        stop_ids = self._stop_ids if stop_at_eos else set()
        job = self._submit_job(
            lambda cancel: self._do_ask(question, scaffold, limit, stop_ids, cancel))
        return job.future, job.cancel

    def ask_detailed(self, question: str, scaffold: str = "", timeout_s: float | None = None,
                     max_new_tokens: int | None = None, stop_at_eos: bool = True) -> Answer:
        """Like :meth:`ask` but returns the :class:`Answer` with token ids and timings."""
        future, cancel = self.submit_ask(question, scaffold, max_new_tokens, stop_at_eos)
        return self._wait(future, cancel, timeout_s)

    def ask(self, question: str, scaffold: str = "", timeout_s: float | None = None,
            max_new_tokens: int | None = None) -> str:
        """Answer ``question`` over the keyframes with ``scaffold`` (the LocalCogMap text)
        as context; blocks at most ``timeout_s`` [s] (default ``config.timeout_s``)."""
        return self.ask_detailed(question, scaffold, timeout_s, max_new_tokens).text

    def generate_cogmap(self, scaffold: str = "", timeout_s: float | None = None,
                        max_new_tokens: int | None = None) -> ParseResult:
        """Ask the model for the scene as LocalCogMap lines and return the parser's
        ``ParseResult`` (accepted links and per-line errors) for that text."""
        text = self.ask(COGMAP_INSTRUCTION, scaffold, timeout_s, max_new_tokens)
        return parse_cogmap_text(text)

    def wait_idle(self, timeout_s: float | None = None) -> None:
        """Block until every request queued so far is done (raises ModelTimeout)."""
        self._wait(self._submit(lambda cancel: None), None, timeout_s)

    def status(self) -> RunnerStatus:
        """Counters and timings for /diagnostics (a snapshot; never blocks)."""
        bb = self._bb
        return RunnerStatus(
            state=self._state, device=str(bb.device) if bb else "", dtype=str(bb.dtype)
            if bb else "", keyframes=len(self._frames), prefix_tokens=self._prefix_len,
            capacity_tokens=self._engine.capacity if self._engine else 0,
            pending=self._jobs.qsize(), answered=self._answered, failed=self._failed,
            rebuilds=self._rebuilds, last_error=self._last_error,
            last_keyframe=self._last_keyframe, totals_s=dict(self._totals),
            keyframe_batches=self._keyframe_batches)

    # ------------------------------------------------------------------ test/bench hooks
    def question_logits(self, question: str, scaffold: str = "",
                        timeout_s: float | None = None) -> torch.Tensor:
        """Logits (n_question_tokens, vocab) float32 CPU of the question tokens, computed
        over the cached prefix (the incremental path)."""
        def run(cancel: threading.Event) -> torch.Tensor:
            self._ensure_prefix()
            seg = self._builder.question(question, scaffold)
            embeds, positions, _ = place([seg], self._next_pos)
            try:
                return self._engine.prefill(embeds, positions, all_logits=True)[0].cpu()
            finally:
                self._engine.truncate(self._prefix_len)
        return self._wait(self._submit_job(run).future, None, timeout_s)

    def sequence_inputs(self, question: str, scaffold: str = "",
                        timeout_s: float | None = None) -> dict[str, torch.Tensor]:
        """The whole current sequence for a from-scratch reference: ``input_ids`` (1, N),
        ``inputs_embeds`` (1, N, hidden), ``position_ids`` (3, 1, N), ``image_grid_thw``
        (k, 3) and ``n_question`` (the question's trailing token count)."""
        def run(cancel: threading.Event) -> dict[str, torch.Tensor]:
            segments = [self._preamble] + [f.segment for f in self._frames] \
                + [self._builder.question(question, scaffold)]
            embeds, positions, _ = place(segments)
            grids = [s.grid_thw for s in segments if s.grid_thw is not None]
            return {"input_ids": torch.cat([s.input_ids for s in segments])[None],
                    "inputs_embeds": embeds, "position_ids": positions,
                    "image_grid_thw": torch.cat(grids) if grids else None,
                    "n_question": len(segments[-1]), "segments": segments}
        return self._wait(self._submit_job(run).future, None, timeout_s)

    # ------------------------------------------------------------------ internals
    def _collect_stop_ids(self) -> set[int]:
        stop = {self._bb.token_id("<|im_end|>")}
        eos = self._bb.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        if isinstance(eos, int):
            stop.add(eos)
        gen = getattr(self._bb.model, "generation_config", None)
        for source in (getattr(gen, "eos_token_id", None),
                       self._bb.model.config.get_text_config().eos_token_id):
            if isinstance(source, int):
                stop.add(source)
            elif isinstance(source, (list, tuple)):
                stop.update(int(s) for s in source)
        return stop

    def _submit(self, fn: Callable[[threading.Event], Any]) -> Future:
        return self._submit_job(fn).future

    def _submit_job(self, fn: Callable[[threading.Event], Any] | None,
                    keyframe: dict[str, Any] | None = None) -> _Job:
        job = _Job(fn, Future(), threading.Event(), keyframe)
        with self._lock:
            if self._state != "running":
                raise ModelUnavailable(f"model runner is {self._state}")
            self._jobs.put(job)
        return job

    def _wait(self, future: Future, cancel: threading.Event | None,
              timeout_s: float | None) -> Any:
        limit = self.config.timeout_s if timeout_s is None else float(timeout_s)
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            if cancel is not None:
                cancel.set()
            future.cancel()
            raise ModelTimeout(f"no answer within {limit:.3f} s") from None

    def _work(self) -> None:
        torch.set_grad_enabled(False)
        # A job taken from the queue while collecting a keyframe burst runs next.
        taken: deque[_Job | None] = deque()
        while True:
            if taken:
                job = taken.popleft()
            else:
                try:
                    idle_rebuild = (self._dirty and bool(self._frames)
                                    and not self._rebuild_failed)
                    job = self._jobs.get(timeout=0.05 if idle_rebuild else None)
                except queue.Empty:
                    # A failed idle rebuild is retried with the next request, not in a loop.
                    self._rebuild_failed = True
                    self._run_guarded(self._ensure_prefix)
                    self._rebuild_failed = self._dirty
                    continue
            self._rebuild_failed = False
            if job is None:
                return
            if job.keyframe is None:
                self._run_jobs([job], lambda jobs: [jobs[0].fn(jobs[0].cancel)])
                continue
            batch = [job]
            while len(batch) < self.config.max_keyframes:
                try:
                    follower = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if follower is None or follower.keyframe is None:
                    taken.append(follower)
                    break
                batch.append(follower)
            self._run_jobs(batch, lambda jobs: self._do_keyframes([j.keyframe for j in jobs]))

    def _run_jobs(self, jobs: list[_Job], run: Callable[[list[_Job]], list[Any]]) -> None:
        """Run the jobs that are still wanted as one unit; ``run`` returns one result per
        job. A failure fails every job of the unit."""
        live = []
        for job in jobs:
            if not job.future.set_running_or_notify_cancel():
                continue
            if job.cancel.is_set():
                job.future.set_exception(ModelTimeout("cancelled before it ran"))
            elif self._state == "closed":  # taken from the queue before close() drained it
                job.future.set_exception(ModelUnavailable("runner closed"))
            else:
                live.append(job)
        if not live:
            return
        self._current = live[0]
        try:
            results = self._run_guarded(lambda: run(live), raise_errors=True)
        except ModelError as exc:
            self._failed += len(live)
            self._last_error = str(exc)
            for job in live:
                job.future.set_exception(exc)
        else:
            for job, result in zip(live, results):
                job.future.set_result(result)
        finally:
            self._current = None

    def _run_guarded(self, fn: Callable[[], Any], raise_errors: bool = False) -> Any:
        """Run ``fn`` on the worker turning device failures into :class:`ModelFailed`."""
        try:
            return fn()
        except ModelError as exc:
            if raise_errors:
                raise
            self._last_error = str(exc)
        except Exception as exc:  # the worker must survive any failure of one request
            self._recover()
            reason = "out_of_memory" if is_out_of_memory(exc) else "runtime"
            error = ModelFailed(f"{type(exc).__name__}: {exc}", reason=reason)
            if raise_errors:
                raise error from exc
            self._last_error = str(error)
        return None

    def _recover(self) -> None:
        """After a device failure: drop anything beyond the prefix; rebuild it if unsure."""
        if self._engine is not None:
            if self._engine.length >= self._prefix_len:
                self._engine.truncate(self._prefix_len)
            else:
                self._dirty = True
        if self._bb is not None and self._bb.device.type == "cuda":
            torch.cuda.empty_cache()

    def _do_keyframes(self, frames: list[dict[str, Any]]) -> list[int]:
        """Encode a batch of keyframes (``add_keyframe``'s arguments) and append them to
        the window and the cached prefix; returns their indices."""
        bb = self._bb
        sync = torch.cuda.synchronize if bb.device.type == "cuda" else (lambda: None)
        t_start = time.perf_counter()
        prepared = [bb.preprocess(frame["rgb"], self.config.image_side) for frame in frames]
        sync()
        t0 = time.perf_counter()
        grids = [grid for _, grid in prepared]
        visuals = bb.encode_images(torch.cat([pixels for pixels, _ in prepared]),
                                   torch.cat(grids), cuda_graph=self.config.cuda_graph)
        sync()
        t1 = time.perf_counter()
        with torch.inference_mode():
            feats = [token_features((int(grid[0, 1]) // bb.merge, int(grid[0, 2]) // bb.merge),
                                    frame["T_map_cam"], bb.device, depth_m=frame["depth_m"],
                                    K=frame["K"], points_map_m=frame["points_map_m"],
                                    valid=frame["valid"], token_px=bb.token_px)
                     for frame, grid in zip(frames, grids)]
            spatial = self.spatial(torch.cat(feats)).split([len(f) for f in feats])
        sync()
        t2 = time.perf_counter()
        indices, segments = [], []
        for frame, grid, visual, spatial_i in zip(frames, grids, visuals, spatial):
            index = self._next_index
            header = frame_header(index, frame["stamp_s"], frame["T_map_cam"])
            segment = self._builder.frame(header, visual, grid, spatial_i)
            self._next_index += 1
            self._frames.append(_Frame(index, frame["stamp_s"], segment))
            indices.append(index)
            segments.append(segment)
        while len(self._frames) > self.config.max_keyframes:
            self._frames.popleft()
            self._dirty = True
        if not self._dirty:
            self._dirty = True  # stays set if the extension fails half-way
            self._engine.truncate(self._prefix_len)
            embeds, positions, next_pos = place(segments, self._next_pos)
            self._engine.prefill(embeds, positions)
            self._prefix_len, self._next_pos = self._engine.length, next_pos
            self._dirty = False
        sync()
        t3 = time.perf_counter()
        self._last_keyframe = KeyframeTiming(t0 - t_start, t1 - t0, t2 - t1, t3 - t2,
                                             len(frames))
        self._keyframe_batches += 1
        self._totals["preprocess_s"] += t0 - t_start
        self._totals["vision_s"] += t1 - t0
        self._totals["spatial_s"] += t2 - t1
        self._totals["prefix_s"] += t3 - t2
        return indices

    def _ensure_prefix(self) -> None:
        """Rebuild the KV prefix from the cached frame embeddings if it is stale."""
        if not self._dirty:
            return
        t0 = time.perf_counter()
        self._engine.reset()
        segments = [self._preamble] + [f.segment for f in self._frames]
        embeds, positions, next_pos = place(segments)
        self._engine.prefill(embeds, positions)
        self._prefix_len, self._next_pos = self._engine.length, next_pos
        self._dirty = False
        self._rebuilds += 1
        self._totals["rebuild_s"] += time.perf_counter() - t0

    def _do_ask(self, question: str, scaffold: str, max_new_tokens: int, stop_ids: set[int],
                cancel: threading.Event) -> Answer:
        t0 = time.perf_counter()
        self._ensure_prefix()
        seg = self._builder.question(question, scaffold)
        if len(seg) > self.config.max_prompt_tokens:
            raise ModelFailed(f"scaffold + question take {len(seg)} tokens, more than "
                              f"max_prompt_tokens {self.config.max_prompt_tokens}",
                              reason="prompt_too_long")
        engine = self._engine
        try:
            embeds, positions, next_pos = place([seg], self._next_pos)
            logits = engine.prefill(embeds, positions)
            first = int(logits.argmax(dim=-1))
            t1 = time.perf_counter()
            result = engine.decode(first, next_pos, max_new_tokens, stop_ids, cancel)
        finally:
            engine.truncate(self._prefix_len)
        t2 = time.perf_counter()
        self._answered += 1
        text = self._bb.tokenizer.decode(result.token_ids, skip_special_tokens=True).strip()
        return Answer(text, result.token_ids, len(seg), self._prefix_len, t1 - t0, t2 - t1,
                      t2 - t0)


def load_runner(config: ModelConfig, start: bool = False) -> ModelRunner:
    """Load the backbone from ``config.path`` (offline) and the adapter, if any.

    Errors: :class:`~ssr_ros.model.errors.ModelPathError`,
    :class:`~ssr_ros.model.errors.ModelArchitectureError`,
    :class:`~ssr_ros.model.errors.ModelOutOfMemory`,
    :class:`~ssr_ros.model.errors.AdapterError`, :class:`ModelUnavailable` (empty path).
    """
    config.validate()
    if not config.enabled:
        raise ModelUnavailable("no model configured (model.path is empty)")
    backbone = load_backbone(config)
    # A trained adapter (ssr-train) may carry LoRA weights: merged into the backbone here.
    encoder = load_trained_adapter(config.adapter, backbone) if config.adapter else None
    runner = ModelRunner(backbone, config, encoder)
    if start:
        runner.start()
    return runner
