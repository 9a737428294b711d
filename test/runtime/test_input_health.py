"""The ROS-free input checks behind ssr_node's /diagnostics (issue 15)."""

from __future__ import annotations

import numpy as np

from ssr_ros.runtime.input_health import (ERROR, OK, WARN, Check, HealthBoard, InputMonitor,
                                          depth_unit_problem)


def _board(log=None) -> HealthBoard:
    return HealthBoard(window_s=2.0, min_rate_hz=5.0, timeout_s=2.0, log=log)


def test_silent_input_is_error_only_after_the_timeout_and_names_topic_and_fix() -> None:
    board = _board()
    board.open_input("color", "/ns/color/image_raw", 0.0, remap_from="color/image_raw",
                     synced=True)
    assert board.evaluate(1.9)[0] == OK
    level, message, values = board.evaluate(2.5, publishers=lambda t: 0,
                                            topics=["/ns/camera/color/image_raw", "/x"])
    assert level == ERROR
    assert "no message on /ns/color/image_raw" in message
    assert "-r color/image_raw:=/ns/camera/color/image_raw" in message
    assert values["input.color.stale_s"] == "never"
    assert values["input.color.topic"] == "/ns/color/image_raw"


def test_publishers_without_data_point_at_qos() -> None:
    board = _board()
    board.open_input("depth", "/depth/image_raw", 0.0)
    _, message, _ = board.evaluate(3.0, publishers=lambda t: 2, topics=[])
    assert "2 publisher(s) but nothing received" in message and "QoS" in message


def test_rate_staleness_and_a_low_rate_warn_that_clears() -> None:
    board = _board()
    board.open_input("color", "/color", 0.0)
    for k in range(40):  # 20 Hz for 2 s
        board.arrived("color", k * 0.05)
    level, _, values = board.evaluate(2.0)
    assert level == OK and abs(float(values["input.color.rate_hz"]) - 20.0) < 1.0
    assert float(values["input.color.stale_s"]) < 0.1
    for k in range(4):  # 2 Hz
        board.arrived("color", 2.0 + 0.5 * k)
    level, message, _ = board.evaluate(4.1)
    assert level == WARN and "below the expected 5 Hz" in message
    for k in range(60):
        board.arrived("color", 4.1 + k * 0.05)
    assert board.evaluate(7.1)[0] == OK


def test_input_that_goes_silent_is_error() -> None:
    board = _board()
    board.open_input("camera_info", "/info", 0.0)
    board.arrived("camera_info", 0.5)
    level, message, _ = board.evaluate(3.0)
    assert level == ERROR and "went silent" in message


def test_sync_names_the_missing_input() -> None:
    board = _board()
    for name in ("color", "depth", "camera_info"):
        board.open_input(name, f"/{name}", 0.0, synced=True)
    for k in range(30):
        board.arrived("color", k * 0.1)
        board.arrived("depth", k * 0.1)
    _, message, _ = board.evaluate(3.0)
    assert "camera_info (/camera_info) missing while color, depth arrive" in message


def test_pose_group_is_error_only_when_no_alternative_has_data() -> None:
    board = _board()
    board.open_input("camera_pose", "/camera_pose", 0.0, required=False)
    board.open_input("odom", "/odom", 0.0, required=False)
    board.require_one_of("pose", ("camera_pose", "odom"))
    level, message, _ = board.evaluate(3.0)
    assert level == ERROR and "/camera_pose or /odom" in message
    board.arrived("odom", 3.1)
    assert board.evaluate(3.2)[0] == OK


def test_events_expire_and_each_check_is_logged_once_when_it_starts_and_clears() -> None:
    logged: list[tuple[bool, str]] = []
    board = _board(log=lambda started, check: logged.append((started, check.key)))
    board.report(Check("invalid.unknown_label_error", WARN, "inputs dropped"), 0.0)
    for t in (0.1, 0.5, 1.0):
        assert board.evaluate(t)[0] == WARN
    board.report(Check("invalid.unknown_label_error", WARN, "inputs dropped"), 1.0)
    assert board.evaluate(2.9)[0] == WARN
    assert board.evaluate(3.1)[:2] == (OK, "")
    assert board.evaluate(4.0)[0] == OK
    assert logged == [(True, "invalid.unknown_label_error"),
                      (False, "invalid.unknown_label_error")]


def test_closed_inputs_are_not_judged() -> None:
    board = _board()
    board.open_input("color", "/color", 0.0)
    board.close_inputs()
    assert board.evaluate(10.0) == (OK, "", {})


def test_monitor_without_a_rate_floor_never_warns_for_rate() -> None:
    monitor = InputMonitor("odom", "/odom", 0.0, 2.0, 0.0, float("inf"))
    assert monitor.check(100.0) is None


def test_depth_units() -> None:
    wall_mm = np.full((60, 80), 1500, np.uint16)
    assert depth_unit_problem(wall_mm, "16UC1", 0.001) is None
    assert depth_unit_problem(wall_mm.astype(np.float32) / 1000.0, "32FC1", 0.001) is None
    message = depth_unit_problem(wall_mm.astype(np.float32), "32FC1", 0.001)
    assert message.startswith("depth looks like millimetres in 32FC1")
    message = depth_unit_problem(np.full((60, 80), 2, np.uint16), "16UC1", 0.001)
    assert message.startswith("depth looks like metres in 16UC1")
    # TUM depth (5000 per metre) at 5 m read with the millimetre scale: 25 m
    tum = np.full((60, 80), 25000, np.uint16)
    assert "depth_scale_m 0.0002 gives 5.00 m" in depth_unit_problem(tum, "16UC1", 0.001)
    assert depth_unit_problem(tum, "16UC1", 0.0002) is None
    # too few valid pixels, NaNs and zeros are not judged
    sparse = np.zeros((60, 80), np.float32)
    sparse[0, :50] = 1500.0
    assert depth_unit_problem(sparse, "32FC1", 0.001) is None
    holes = np.full((60, 80), np.nan, np.float32)
    holes[:, :40] = 2.0
    assert depth_unit_problem(holes, "32FC1", 0.001) is None
    assert depth_unit_problem(wall_mm, "8UC1", 0.001) is None
