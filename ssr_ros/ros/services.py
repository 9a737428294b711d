"""ssr_node's services: ``spatial_query`` (:class:`QueryService`) and ``save_map``,
``load_map``, ``clear_map`` with the autosave timer and the map file at configure
(:class:`MapFileService`).

The map file is always ``map_path`` (a parameter): the save/load services are
``std_srvs/Trigger`` and take no name from the caller, so no caller-given path reaches
the file system. At configure, temp files of saves that crashed are removed from the
map's directory and an unusable map file is quarantined (``<name>.corrupt-<UTC time>``,
never overwriting an earlier one) so the node starts empty without destroying it.

The node spins a single-threaded executor (see :func:`ssr_ros.ros.node.main`), so a
blocking call inside a callback (a model answer, writing a large map file) would hold up
every query behind it: those run on a short-lived thread (:func:`off_executor`) that the
callback, a coroutine, awaits while the executor goes on.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

import rclpy.logging
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.service import Service
from rclpy.task import Future
from rclpy.timer import Timer
from std_srvs.srv import Trigger

from ssr_ros.core import store
from ssr_ros.core.query_types import ErrorCode, QueryAnswer, QueryKind
from ssr_ros.model.bridge import ModelBridge
from ssr_ros.ros import messages, topics
from ssr_ros.ros.diagnostics import NodeStats
from ssr_ros.ros.pipeline_factory import query_request
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.runtime.map_state import MapKeeper, error_answer
from ssr_ros.srv import SpatialQuery

T = TypeVar("T")
# Model questions waiting for the runner at once; more get ERROR_MODEL_UNAVAILABLE
# ("model busy") instead of piling up threads behind a slow model.
MAX_MODEL_QUESTIONS = 8
# Requests that arrive in a burst from several clients wait in this queue instead of
# being overwritten (the default service QoS keeps only the last 10).
QUERY_SERVICE_QOS = QoSProfile(depth=256, reliability=ReliabilityPolicy.RELIABLE,
                               history=HistoryPolicy.KEEP_LAST)


async def off_executor(node: Node, name: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a short-lived thread, awaited by the calling coroutine. The result
    comes back through an rclpy Future bound to the node's executor; its (empty) done
    callback makes ``set_result`` from the thread wake the executor, which then resumes
    the awaiting coroutine."""
    future: Future = Future(executor=node.executor)
    future.add_done_callback(lambda _done: None)

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the awaiting coroutine
            future.set_exception(exc)

    threading.Thread(target=run, name=f"ssr-{name}", daemon=True).start()
    return await future


class ModelBusy(Exception):
    """Too many model questions are already waiting."""


class QueryService:
    """``spatial_query``: geometric answers from ``keeper`` at once; free questions to the
    ``model`` when one is loaded, awaited off the executor (at most
    ``MAX_MODEL_QUESTIONS`` at a time). ``model`` is an attribute so the node (and tests)
    can set it."""

    def __init__(self, node: Node, keeper: MapKeeper, model: ModelBridge | None,
                 stats: NodeStats, group: CallbackGroup) -> None:
        self._node = node
        self._keeper = keeper
        self.model = model
        self._stats = stats
        self._questions_lock = threading.Lock()
        self._questions_waiting = 0
        self._service: Service | None = node.create_service(
            SpatialQuery, topics.SPATIAL_QUERY, self._on_query,
            qos_profile=QUERY_SERVICE_QOS, callback_group=group)

    def destroy(self) -> None:
        if self._service is not None:
            self._node.destroy_service(self._service)
            self._service = None

    async def _on_query(self, request: Any, response: Any) -> Any:
        keeper = self._keeper
        try:
            query = query_request(messages.request_fields(request))
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
            self._node.get_logger().error(f"spatial_query failed: {exc!r}")
            answer = error_answer(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}")
        self._stats.count_query(int(answer.error_code))
        return messages.fill_response(response, answer, keeper.snapshot.objects_by_id)

    async def _ask_model(self, model: ModelBridge, question: str, scaffold: str) -> Any:
        with self._questions_lock:
            if self._questions_waiting >= MAX_MODEL_QUESTIONS:
                raise ModelBusy(f"{MAX_MODEL_QUESTIONS} model questions are already "
                                "waiting; ask again later")
            self._questions_waiting += 1
        try:
            return await off_executor(self._node, "model-question", model.ask_free, question,
                                      scaffold)
        finally:
            with self._questions_lock:
                self._questions_waiting -= 1


def earlier_json_map(path: str) -> str | None:
    """For a binary map path ``X.ssrmap``, ``X.json`` when that exists: the file of the
    same name an earlier version wrote (its default ``map_path`` was ``map.json``), which
    a node loads while its own file does not exist yet. None otherwise."""
    stem, suffix = os.path.splitext(path)
    legacy = stem + ".json"
    if suffix.lower() != ".ssrmap" or not os.path.isfile(legacy):
        return None
    return legacy


class MapFileService:
    """``save_map``, ``load_map``, ``clear_map`` and the autosave timer over ``keeper`` and
    the file ``map_path`` ("" = persistence off: save and load answer failure).

    ``on_replaced`` runs after a load or a clear (reset the markers, accept earlier
    stamps); ``stats`` counts saves and failed saves.
    """

    def __init__(self, node: Node, keeper: MapKeeper, map_path: str, autosave_period_s: float,
                 stats: NodeStats, on_replaced: Callable[[bool], None],
                 group: CallbackGroup) -> None:
        self._node = node
        self._keeper = keeper
        self.map_path = map_path
        self._stats = stats
        self._on_replaced = on_replaced
        self._save_lock = threading.Lock()
        self._services: list[Service] = [
            node.create_service(Trigger, topics.SAVE_MAP, self._on_save, callback_group=group),
            node.create_service(Trigger, topics.LOAD_MAP, self._on_load, callback_group=group),
            node.create_service(Trigger, topics.CLEAR_MAP, self._on_clear,
                                callback_group=group)]
        self._timer: Timer | None = None
        if autosave_period_s > 0.0 and map_path:
            # in the services' group: a save, a load and a clear never overlap
            self._timer = node.create_timer(autosave_period_s, self._autosave,
                                            callback_group=group)

    def destroy(self) -> None:
        for service in self._services:
            self._node.destroy_service(service)
        self._services.clear()
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None

    def save_now(self, reason: str, only_dirty: bool = False) -> tuple[bool, str]:
        """Save the map to ``map_path`` (atomic); returns (ok, message). Never raises.

        At process shutdown the node's logger can no longer reach /rosout, so that save
        logs through a plain rclpy logger."""
        logger = (rclpy.logging.get_logger("ssr_node.persistence") if reason == "shutdown"
                  else self._node.get_logger())
        if not self.map_path:
            return False, "map_path is empty: persistence is disabled"
        if only_dirty and not self._keeper.dirty:
            return True, "map unchanged"
        with self._save_lock:
            try:
                revision = self._keeper.save(self.map_path)
            except (store.MapFileError, store.MapEncodeError, OSError, ValueError) as exc:
                self._stats.save_failures += 1
                logger.error(f"saving the map ({reason}) failed: {exc}")
                return False, f"save failed: {exc}"
        self._stats.saves += 1
        message = (f"saved {len(self._keeper.snapshot.objects)} objects (revision "
                   f"{revision}) to {self.map_path}")
        if reason != "autosave":
            logger.info(f"{message} ({reason})")
        return True, message

    def load_at_start(self) -> None:
        """Remove stale temp files next to the map, then load it; an unusable file is
        quarantined and the node starts empty."""
        path = self.map_path
        if not path:
            return
        logger = self._node.get_logger()
        removed = store.remove_stale_temp_files(os.path.dirname(path) or ".")
        if removed:
            logger.warning(f"removed {len(removed)} temp file(s) of interrupted saves: "
                           f"{', '.join(p.name for p in removed)}")
        if not os.path.lexists(path):
            path = earlier_json_map(path)
            if path is None:
                return
            logger.info(f"{self.map_path} does not exist yet: loading {path}, saved by an "
                        f"earlier version, once (saves go to {self.map_path})")
        try:
            count = self._keeper.load(path)
            logger.info(f"loaded {count} objects from {path}")
        except (store.MapFileError, OSError) as exc:
            try:
                aside = store.quarantine(path)
                logger.error(f"map file {path} unusable ({exc}); moved to {aside}, "
                             "starting with an empty map")
            except OSError as move_exc:
                logger.error(f"map file {path} unusable ({exc}) and could not be moved "
                             f"aside ({move_exc}); starting empty")

    async def _autosave(self) -> None:
        """Timer callback: save a changed map off the executor; skipped while a save is
        still being written."""
        if not self._save_lock.locked():
            await off_executor(self._node, "autosave", self.save_now, "autosave", True)

    async def _on_save(self, request: Any, response: Any) -> Any:
        response.success, response.message = await off_executor(
            self._node, "save", self.save_now, "save_map")
        return response

    async def _on_load(self, request: Any, response: Any) -> Any:
        if not self.map_path:
            response.success = False
            response.message = "map_path is empty: persistence is disabled"
            return response
        try:
            count = await off_executor(self._node, "load", self._keeper.load, self.map_path)
        except (store.MapFileError, OSError) as exc:
            response.success = False
            response.message = f"load failed, map unchanged: {exc}"
            return response
        self._on_replaced(False)
        response.success = True
        response.message = f"loaded {count} objects from {self.map_path}"
        return response

    def _on_clear(self, request: Any, response: Any) -> Any:
        self._keeper.clear()
        self._on_replaced(True)
        response.success = True
        response.message = "map cleared (the file is replaced at the next save)"
        return response
