"""Extract of 1M nested dict rows against ``pa.array(rows)`` on the same rows.

``pa.array(rows)`` is the floor for turning Python dicts into Arrow: one C pass that infers one
struct type over all rows. quiver's extract does that conversion plus everything around it
(resource evaluation, per-table buffers, variant splitting, IPC files). The ratio is
``extract time / pa.array time``; the target is at most 1.3.

Run: ``.venv/bin/python benches/extract_vs_pa_array.py [rows] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import gc
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

import quiver

UTC = datetime.UTC
PAGE = 10_000


def make_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Nested event rows: scalars, tz-aware datetimes, decimals, a dict and a list of dicts."""
    rng = random.Random(seed)
    base = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    countries = ("PL", "DE", "US", "JP")
    rows = []
    for i in range(count):
        rows.append(
            {
                "id": i,
                "user_name": f"user_{i % 5000}",
                "amount": round(rng.random() * 100, 2),
                "is_active": i % 3 == 0,
                "created_at": base + datetime.timedelta(seconds=3 * i),
                "price": decimal.Decimal(i % 10_000) / 100,
                "geo": {"country": countries[i % 4], "lat": 52.2 + (i % 7), "lon": 21.0},
                "items": [
                    {"sku": f"S-{i % 97}", "qty": 1 + i % 3, "price": 9.5},
                    {"sku": f"S-{i % 89}", "qty": 2, "price": 3.25},
                ][: 1 + i % 2],
                "note": None if i % 4 else "customer said: gift",
            }
        )
    return rows


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, float]:
    """Best wall time and best CPU time (CPU time is steadier on a busy machine)."""
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = make_rows(args.rows)

    def pages() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(rows), PAGE):
            yield rows[start : start + PAGE]

    def floor() -> None:
        gc.disable()  # pa.array gets the same GC treatment as quiver's batcher
        try:
            pa.array(rows)
        finally:
            gc.enable()

    with tempfile.TemporaryDirectory() as tmp:

        def extract_list() -> None:
            pipeline = quiver.pipeline("bench_list", pipelines_dir=tmp, dev_mode=True)
            pipeline.extract(rows, table_name="events")

        def extract_pages() -> None:
            pipeline = quiver.pipeline("bench_pages", pipelines_dir=tmp, dev_mode=True)
            pipeline.extract(quiver.resource(pages, name="events"))

        def extract_incremental() -> None:
            pipeline = quiver.pipeline("bench_incremental", pipelines_dir=tmp, dev_mode=True)
            cursor = quiver.sources.incremental("created_at", primary_key="id")
            resource = quiver.resource(pages, name="events").apply_hints(incremental=cursor)
            pipeline.extract(resource)

        t_floor = best_of(args.repeat, floor)
        t_list = best_of(args.repeat, extract_list)
        t_pages = best_of(args.repeat, extract_pages)
        t_incremental = best_of(args.repeat, extract_incremental)
    print(f"rows: {args.rows:,} (best of {args.repeat}; ratio = time / pa.array time)")
    print(f"{'':28}{'wall s':>8}{'ratio':>8}{'cpu s':>8}{'ratio':>8}")
    for label, (wall, cpu) in (
        ("pa.array(rows)", t_floor),
        ("extract(list of rows)", t_list),
        ("extract(resource of pages)", t_pages),
        ("  + incremental on created_at", t_incremental),
    ):
        print(f"{label:28}{wall:8.3f}{wall / t_floor[0]:7.2f}x{cpu:8.3f}{cpu / t_floor[1]:7.2f}x")


if __name__ == "__main__":
    main()
