"""ssr_node's services and map file: ``spatial_query``, ``save_map``, ``load_map``,
``clear_map``, and the map file at configure.

:class:`MapServices` is a mixin of :class:`~ssr_ros.ros.node.SsrNode`; it reads the
node's ``keeper``, ``config``, ``model``, ``stats``, ``_save_lock``,
``_questions_lock`` / ``_questions_waiting`` and the publishing
mixin's ``_publish_map`` / ``_publish_marker_reset``.

The map file is always ``map_path`` (a parameter): the save/load services are
``std_srvs/Trigger`` and take no name from the caller, so no caller-given path reaches
the file system. At configure, temp files of saves that crashed are removed from the
map's directory and an unusable map file is quarantined (``<name>.corrupt-<UTC time>``,
never overwriting an earlier one) so the node starts empty without destroying it.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, Callable, TypeVar

import rclpy.logging
from rclpy.task import Future

from ssr_ros.core import store
from ssr_ros.core.query_types import ErrorCode, QueryAnswer, QueryKind
from ssr_ros.ros import messages
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.runtime.map_state import error_answer
from ssr_ros.ros.pipeline_factory import query_request

T = TypeVar("T")
# Model questions waiting for the runner at once; more get ERROR_MODEL_UNAVAILABLE
# ("model busy") instead of piling up threads behind a slow model.
MAX_MODEL_QUESTIONS = 8


class ModelBusy(Exception):
    """Too many model questions are already waiting."""


class MapServices:
    """Query and map-file services of the node (see the module docstring)."""

    async def _on_query(self, request: Any, response: Any) -> Any:
        """``spatial_query``. A coroutine: a model question waits for its answer on a
        thread of its own (:meth:`_off_executor`) while the executor goes on serving
        geometric queries, camera frames and timers; everything else answers at once."""
        keeper = self.keeper
        if keeper is None:
            return messages.error_response(response, int(ErrorCode.INTERNAL),
                                           "node is not configured")
        try:
            fields = messages.request_fields(request)
            query = query_request(fields)
            model = self.model
            if query.kind == QueryKind.FREE and model is not None and model.ready:
                reply = await self._ask_model(model, query.question,
                                              keeper.snapshot.cogmap.to_text())
                answer = (QueryAnswer(True, ErrorCode.NONE, reply.text, answered_by="model")
                          if reply.ok else
                          QueryAnswer(False, reply.error, reply.message, answered_by="model"))
            else:
                answer = keeper.answer(query)
        except ModelBusy as exc:
            answer = QueryAnswer(False, ErrorCode.MODEL_UNAVAILABLE, f"model busy: {exc}",
                                 answered_by="model")
        except InvalidMessage as exc:
            answer = error_answer(ErrorCode.INVALID_REQUEST, exc.detail)
        except ValueError as exc:
            answer = error_answer(ErrorCode.INVALID_REQUEST, str(exc))
        except Exception as exc:  # a query must never take the node down
            self.get_logger().error(f"spatial_query failed: {exc!r}")
            answer = error_answer(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}")
        self.stats.count_query(int(answer.error_code))
        return messages.fill_response(response, answer, keeper.snapshot.objects_by_id)

    async def _ask_model(self, model: Any, question: str, scaffold: str) -> Any:
        """The model's answer, awaited off the executor; at most ``MAX_MODEL_QUESTIONS``
        wait at once, more are refused as busy (no pile of threads behind a slow model).
        """
        with self._questions_lock:
            if self._questions_waiting >= MAX_MODEL_QUESTIONS:
                raise ModelBusy(f"{MAX_MODEL_QUESTIONS} model questions are already "
                                "waiting; ask again later")
            self._questions_waiting += 1
        try:
            return await self._off_executor("model-question", model.ask_free, question,
                                            scaffold)
        finally:
            with self._questions_lock:
                self._questions_waiting -= 1

    async def _off_executor(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a short-lived thread, awaited by the calling coroutine.

        The node spins a single-threaded executor (see :func:`ssr_ros.ros.node.main`), so
        a blocking call inside a callback (a model answer, writing a large map file)
        would hold up every query behind it. The result comes back through an rclpy
        Future bound to the node's executor; its (empty) done callback makes
        ``set_result`` from the thread wake the executor, which then resumes the
        awaiting coroutine."""
        future: Future = Future(executor=self.executor)
        future.add_done_callback(lambda _done: None)

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the awaiting coroutine
                future.set_exception(exc)

        threading.Thread(target=run, name=f"ssr-{name}", daemon=True).start()
        return await future

    async def _autosave(self) -> None:
        """Timer callback: save a changed map off the executor; skipped while a save is
        still being written."""
        if not self._save_lock.locked():
            await self._off_executor("autosave", self.save_map_now, "autosave", True)

    def save_map_now(self, reason: str, only_dirty: bool = False) -> tuple[bool, str]:
        """Save the map to ``map_path`` (atomic); returns (ok, message). Never raises.

        At process shutdown the node's logger can no longer reach /rosout, so that save
        logs through a plain rclpy logger."""
        logger = (rclpy.logging.get_logger("ssr_node.persistence") if reason == "shutdown"
                  else self.get_logger())
        keeper, config = self.keeper, self.config
        if keeper is None or config is None:
            return False, "node is not configured"
        if not config.map_path:
            return False, "map_path is empty: persistence is disabled"
        if only_dirty and not keeper.dirty:
            return True, "map unchanged"
        with self._save_lock:
            try:
                revision = keeper.save(config.map_path)
            except (store.MapFileError, store.MapEncodeError, OSError, ValueError) as exc:
                self.stats.save_failures += 1
                logger.error(f"saving the map ({reason}) failed: {exc}")
                return False, f"save failed: {exc}"
        self.stats.saves += 1
        message = (f"saved {len(keeper.snapshot.objects)} objects (revision {revision}) to "
                   f"{config.map_path}")
        if reason != "autosave":
            logger.info(f"{message} ({reason})")
        return True, message

    async def _on_save(self, request: Any, response: Any) -> Any:
        # encoding and fsync-ing a large map takes 100+ ms: off the executor
        response.success, response.message = await self._off_executor(
            "save", self.save_map_now, "save_map")
        return response

    async def _on_load(self, request: Any, response: Any) -> Any:
        keeper, config = self.keeper, self.config
        if keeper is None or not config.map_path:
            response.success = False
            response.message = "node is not configured or map_path is empty"
            return response
        try:
            count = await self._off_executor("load", keeper.load, config.map_path)
        except (store.MapFileError, OSError) as exc:
            response.success = False
            response.message = f"load failed, map unchanged: {exc}"
            return response
        self._publish_marker_reset()
        response.success = True
        response.message = f"loaded {count} objects from {config.map_path}"
        return response

    def _on_clear(self, request: Any, response: Any) -> Any:
        keeper = self.keeper
        if keeper is None:
            response.success = False
            response.message = "node is not configured"
            return response
        keeper.clear()
        self._last_frame_stamp_s = -math.inf
        self._publish_marker_reset()
        response.success = True
        response.message = "map cleared (the file is replaced at the next save)"
        return response

    def _load_map_at_start(self) -> None:
        """Remove stale temp files next to the map, then load it; an unusable file is
        quarantined and the node starts empty."""
        path = self.config.map_path
        if not path:
            return
        logger = self.get_logger()
        removed = store.remove_stale_temp_files(os.path.dirname(path) or ".")
        if removed:
            logger.warning(f"removed {len(removed)} temp file(s) of interrupted saves: "
                           f"{', '.join(p.name for p in removed)}")
        if not os.path.lexists(path):
            return
        try:
            count = self.keeper.load(path)
            logger.info(f"loaded {count} objects from {path}")
        except (store.MapFileError, OSError) as exc:
            try:
                aside = store.quarantine(path)
                logger.error(f"map file {path} unusable ({exc}); moved to {aside}, "
                             "starting with an empty map")
            except OSError as move_exc:
                logger.error(f"map file {path} unusable ({exc}) and could not be moved "
                             f"aside ({move_exc}); starting empty")
