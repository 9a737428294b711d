"""LocalCogMap insertion and spatial queries on a 500-object map, against rebuild baselines.

Measures (median over repeats, microseconds):
- inserting the 500th object into a 499-object LocalCogMap (``add``) and through
  ``sync`` with the full 500-object list, against rebuilding the whole chain from the
  500 objects (the baseline an implementation without incremental updates would pay);
- answering queries on the 500-object map (structured distance, nearest among four
  repeated categories, free-text question), against building a fresh QueryEngine for
  every query (the baseline without a kept index).
Goals: insertion <= 1 ms, query <= 1 ms median. Run: ``python benchmarks/cogmap_queries.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.queries import QueryEngine, QueryKind, QueryRequest
from ssr_ros.core.types import ObjectState
from ssr_ros.eval.adapter import most_observed

CATEGORIES = ("chair", "lamp", "plant", "cup", "bottle", "trash can", "cabinet", "stool",
              "bookshelf", "monitor", "laptop", "vase", "backpack", "armchair", "desk")
UNIQUE = ("sofa", "tv", "refrigerator", "bed")


def make_objects(n: int, seed: int = 0) -> list[ObjectState]:
    """``n`` objects scattered over a 40 m x 40 m floor; the unique categories come first."""
    rng = np.random.default_rng(seed)
    objects = []
    for i in range(1, n + 1):
        label = UNIQUE[i - 1] if i <= len(UNIQUE) else CATEGORIES[i % len(CATEGORIES)]
        xy = rng.uniform(-20.0, 20.0, 2)
        size = rng.uniform(0.2, 2.0, 3)
        objects.append(ObjectState(i, label, [xy[0], xy[1], 0.5 * size[2]], size,
                                   float(rng.uniform(-np.pi, np.pi)),
                                   observation_count=int(rng.integers(1, 20)),
                                   first_seen_order=i))
    return objects


def median_us(fn, repeats: int, setup=None) -> float:
    samples = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000.0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    n, repeats = args.objects, args.repeats
    objects = make_objects(n)
    last = objects[-1]

    cogmap = LocalCogMap()
    cogmap.sync(objects[:-1])

    def remove_last():
        if last.id in cogmap:
            cogmap.remove(last.id)

    add_us = median_us(lambda: cogmap.add_object(last), repeats, remove_last)
    sync_us = median_us(lambda: cogmap.sync(objects), repeats, remove_last)
    rebuild_us = median_us(lambda: LocalCogMap().sync(objects), max(5, repeats // 20))
    assert cogmap.check() == [], "chain invariants broken"

    engine = QueryEngine(objects, cogmap=cogmap, choose_instance=most_observed)
    queries = {
        "distance": QueryRequest(QueryKind.DISTANCE, target="sofa", reference="tv"),
        "nearest": QueryRequest(QueryKind.NEAREST, reference="sofa",
                                candidates=["chair", "lamp", "plant", "cup"]),
        "free text": QueryRequest(QueryKind.AUTO, question="How far is the couch from the TV?"),
    }
    rows = []
    for name, request in queries.items():
        answer = engine.answer(request)
        assert answer.success, answer.message
        query_us = median_us(lambda r=request: engine.answer(r), repeats)
        fresh_us = median_us(lambda r=request: QueryEngine(
            objects, cogmap=cogmap, choose_instance=most_observed).answer(r),
            max(5, repeats // 10))
        rows.append((name, query_us, fresh_us))

    print(f"# cogmap_queries: {n} objects, {platform.machine()} {platform.system()}, "
          f"python {platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"{'measure':34s} {'median us':>10s} {'baseline us':>12s} {'speed-up':>9s} goal")
    print(f"{'insert object %d (add)' % n:34s} {add_us:10.1f} {rebuild_us:12.1f} "
          f"{rebuild_us / add_us:8.1f}x {'ok' if add_us <= 1000 else 'MISSED'} (<= 1000 us)")
    print(f"{'insert object %d (sync, full list)' % n:34s} {sync_us:10.1f} {rebuild_us:12.1f} "
          f"{rebuild_us / sync_us:8.1f}x {'ok' if sync_us <= 1000 else 'MISSED'} (<= 1000 us)")
    for name, query_us, fresh_us in rows:
        print(f"{'query: ' + name:34s} {query_us:10.1f} {fresh_us:12.1f} "
              f"{fresh_us / query_us:8.1f}x {'ok' if query_us <= 1000 else 'MISSED'} "
              "(<= 1000 us)")
    print("baselines: insert = rebuilding the chain from all objects; query = a fresh "
          "QueryEngine per query")


if __name__ == "__main__":
    main()
