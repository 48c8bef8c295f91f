"""Partitioned vs unpartitioned loads: time and peak RSS above the input (issue 17).

Each case runs in a fresh child process (``--case <json>``), which generates the input in memory
(the flat 10-column Arrow events of ``benches/workload.py`` in 100k-row batches, or the nested
dict pages), imports quiver and the engines, resets the kernel's RSS high-water mark
(``benches/measure.py``) and then times one ``run()`` into a new local table. Partitions: none,
``event_type`` (6 values, the ``partition`` column hint) and the day of ``created_at`` (Iceberg:
``iceberg_partition.day("created_at")``; Delta, which has identity partitions only: a
``created_day`` date column computed in the input; every case gets that column, so the data is
the same). The workload's ``created_at`` advances 3 s per id, so 10M rows span ~350 days.

Usage::

    python benches/bench_partitioned.py                      # 3M and 10M Arrow rows, 1M dicts
    python benches/bench_partitioned.py --rows 3000000 --formats delta --partitions none,day
    python benches/bench_partitioned.py --rows 30000000 --no-dicts
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PARTITIONS = ("none", "event_type", "day")


def _arrow_input(rows: int) -> list[Any]:
    import pyarrow as pa

    from benches.workload import ARROW_BATCH_SIZE, RowRange, flatten_events, iter_event_batches

    batches = []
    for batch in iter_event_batches(RowRange(0, rows), ARROW_BATCH_SIZE):
        flat = flatten_events(batch)
        day = flat.column("created_at").cast(pa.date32())
        batches.append(flat.append_column("created_day", day))
    return batches


def _dict_input(rows: int) -> list[Any]:
    from benches.workload import RowRange, event_pages

    return event_pages(RowRange(0, rows))


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One timed ``run()`` in this process; returns seconds and MiB."""
    data = _arrow_input(case["rows"]) if case["input"] == "arrow" else _dict_input(case["rows"])
    import deltalake  # noqa: F401  (imported before timing, as an engine the load needs)
    import pyiceberg.table  # noqa: F401

    import quiver
    from benches.measure import PeakRssMeter
    from quiver.destinations.adapters import iceberg_adapter, iceberg_partition

    folder = Path(tempfile.mkdtemp(prefix="bench-partitioned-"))
    pipeline = quiver.pipeline(
        "bench",
        pipelines_dir=str(folder / "pipelines"),
        destination=quiver.destinations.filesystem(
            bucket_url=str(folder / "lake"), table_format=case["format"]
        ),
        dataset_name="ds",
    )
    resource = quiver.resource(data, name="events")
    partition = case["partition"]
    if partition == "event_type":
        resource.apply_hints(columns={"event_type": {"partition": True}})
    elif partition == "day" and case["format"] == "delta":
        resource.apply_hints(columns={"created_day": {"partition": True}})
    elif partition == "day":
        resource = iceberg_adapter(resource, partition=[iceberg_partition.day("created_at")])
    gc.collect()
    gc.freeze()
    with PeakRssMeter() as meter:
        started, cpu_started = time.perf_counter(), time.process_time()
        pipeline.run(resource)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    files = sum(1 for _ in (folder / "lake" / "ds" / "events").rglob("*.parquet"))
    return {
        **case,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_delta_mb": meter.report.delta_mb,
        "files": files,
    }


def _child(case: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return {**case, "error": result.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| input | rows | format | partition | time | x unpartitioned | CPU time (all threads) "
        "| x unpartitioned | peak RSS Δ | files |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = {
        (r["input"], r["rows"], r["format"]): (r["seconds"], r["cpu_seconds"])
        for r in results
        if r["partition"] == "none" and "seconds" in r
    }
    for r in results:
        if "seconds" not in r:
            lines.append(
                f"| {r['input']} | {r['rows']:,} | {r['format']} | {r['partition']} | "
                f"failed: {r.get('error')} | | | | | |"
            )
            continue
        wall, cpu = base.get((r["input"], r["rows"], r["format"]), (r["seconds"], r["cpu_seconds"]))
        lines.append(
            f"| {r['input']} | {r['rows']:,} | {r['format']} | {r['partition']} | "
            f"{r['seconds']:.2f} s | {r['seconds'] / wall:.2f}x | {r['cpu_seconds']:.2f} s | "
            f"{r['cpu_seconds'] / cpu:.2f}x | +{r['rss_delta_mb']:,.0f} MB | {r['files']} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--rows", default="3000000,10000000", help="Arrow row counts")
    parser.add_argument("--formats", default="delta,iceberg")
    parser.add_argument("--partitions", default=",".join(PARTITIONS))
    parser.add_argument("--dict-rows", type=int, default=1_000_000)
    parser.add_argument("--no-dicts", action="store_true", help="skip the nested dicts cases")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    formats = args.formats.split(",")
    partitions = args.partitions.split(",")
    cases = [
        {"input": "arrow", "rows": int(rows), "format": f, "partition": p}
        for rows in args.rows.split(",")
        for f in formats
        for p in partitions
    ]
    if not args.no_dicts:
        cases += [
            {"input": "dicts", "rows": args.dict_rows, "format": f, "partition": p}
            for f in formats
            for p in ("none", "event_type")
        ]
    results = []
    for case in cases:
        results.append(_child(case))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
