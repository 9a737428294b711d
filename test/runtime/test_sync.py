"""The in-package approximate-time synchroniser follows message_filters' policy."""

from __future__ import annotations

import pytest
from std_msgs.msg import Header

from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.runtime.sync import ApproximateTimeSync


class Stamped:
    """A minimal stamped message (a header and a tag to recognise it)."""

    def __init__(self, t_s: float, tag: str) -> None:
        self.header = Header()
        ns = int(round(t_s * 1e9))
        self.header.stamp.sec, self.header.stamp.nanosec = ns // 10**9, ns % 10**9
        self.tag = tag


def _collector():
    out: list[tuple[str, ...]] = []
    return out, lambda *msgs: out.append(tuple(m.tag for m in msgs))


def test_exact_stamps_match_in_input_order() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(3, queue_size=5, slop_s=0.01, callback=cb)
    sync.add(2, Stamped(1.0, "info1"))
    sync.add(0, Stamped(1.0, "rgb1"))
    assert out == []
    sync.add(1, Stamped(1.0, "depth1"))
    assert out == [("rgb1", "depth1", "info1")]
    assert sync.pending() == [0, 0, 0]


def test_stamps_within_slop_match_and_beyond_do_not() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(2, queue_size=5, slop_s=0.02, callback=cb)
    sync.add(0, Stamped(1.000, "rgb"))
    sync.add(1, Stamped(1.030, "far"))
    assert out == []
    sync.add(1, Stamped(1.012, "near"))
    assert out == [("rgb", "near")]
    assert sync.pending() == [0, 1]


def test_closest_partner_is_chosen() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(2, queue_size=5, slop_s=0.05, callback=cb)
    sync.add(1, Stamped(0.96, "d_early"))
    sync.add(1, Stamped(1.01, "d_close"))
    sync.add(0, Stamped(1.00, "rgb"))
    assert out == [("rgb", "d_close")]


def test_full_queue_drops_oldest_and_counts_it() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(2, queue_size=2, slop_s=0.01, callback=cb)
    for i in range(4):
        sync.add(0, Stamped(float(i), f"rgb{i}"))
    assert sync.dropped == 2 and sync.pending() == [2, 0]
    sync.add(1, Stamped(0.0, "depth0"))
    assert out == []
    sync.add(1, Stamped(3.0, "depth3"))
    assert out == [("rgb3", "depth3")] and sync.matched == 1


def test_queue_size_one_with_older_message_does_not_raise() -> None:
    # The newcomer is older than the one queued, so the trim evicts the newcomer itself;
    # it must be counted as dropped, not matched (message_filters returns early too).
    out, cb = _collector()
    sync = ApproximateTimeSync(3, queue_size=1, slop_s=0.02, callback=cb)
    sync.add(0, Stamped(5.0, "rgb5"))
    sync.add(1, Stamped(3.0, "depth3"))
    sync.add(2, Stamped(3.0, "info3"))
    sync.add(0, Stamped(3.0, "rgb3"))
    assert out == [] and sync.matched == 0
    assert sync.dropped == 1 and sync.pending() == [1, 1, 1]
    # The streams keep working once stamps pass the stranded one.
    sync.add(1, Stamped(5.0, "depth5"))
    sync.add(2, Stamped(5.0, "info5"))
    assert out == [("rgb5", "depth5", "info5")] and sync.pending() == [0, 0, 0]


def test_backwards_jump_with_a_full_queue_does_not_raise() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(2, queue_size=3, slop_s=0.02, callback=cb)
    for t in (100.0, 100.1, 100.2):
        sync.add(0, Stamped(t, f"rgb{t}"))
    sync.add(1, Stamped(1.0, "depth1"))    # the sender restarted at t = 1 s
    sync.add(0, Stamped(1.0, "rgb1"))      # evicted on arrival: older than the queue
    assert out == [] and sync.dropped == 1 and sync.pending() == [3, 1]
    sync.add(1, Stamped(100.1, "depth100.1"))
    assert out == [("rgb100.1", "depth100.1")]


def test_streams_at_30_hz_with_jitter_all_match() -> None:
    out, cb = _collector()
    sync = ApproximateTimeSync(3, queue_size=10, slop_s=0.01, callback=cb)
    for i in range(90):
        t = i / 30.0
        sync.add(0, Stamped(t, f"c{i}"))
        sync.add(2, Stamped(t, f"i{i}"))
        sync.add(1, Stamped(t + 0.003, f"d{i}"))
    assert len(out) == 90 and sync.dropped == 0
    assert out[45] == ("c45", "d45", "i45")


def test_message_without_stamp_is_rejected() -> None:
    sync = ApproximateTimeSync(2, queue_size=2, slop_s=0.01, callback=lambda *m: None)
    with pytest.raises(InvalidMessage, match="stamp"):
        sync.add(0, object())
    assert sync.pending() == [0, 0]


@pytest.mark.parametrize("kwargs", [dict(n_inputs=1, queue_size=2, slop_s=0.1),
                                    dict(n_inputs=2, queue_size=0, slop_s=0.1),
                                    dict(n_inputs=2, queue_size=2, slop_s=0.0)])
def test_bad_configuration_is_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        ApproximateTimeSync(callback=lambda *m: None, **kwargs)
