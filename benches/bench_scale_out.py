"""Scale-out benchmark: partitions on 1 and 2 workers per executor, and the commit's cost.

``python benches/bench_scale_out.py`` runs both parts at the sizes of issue 16 (8 partitions x
250k nested dicts into Delta and Iceberg; 10k and 100k files in one commit); ``--rows``,
``--partitions``, ``--executors``, ``--formats``, ``--workers`` and ``--commit-files`` make it
smaller. Results are printed as Markdown tables and written to
``benches/results/<date>-scale-out.json``; docs/scale-out.md quotes them. Timings live here, never
in the test suite.

Each load is one ``pipeline.run(source, executor=...)`` into a fresh local lake (extract,
normalize and load, wall time). Rows are made in the workers (``event_pages`` of
``benches/workload.py``, what a paginated API client yields), so the Python work scales with the
workers. Dask runs a LocalCluster of N single-threaded worker processes on 127.0.0.1; Ray a
local instance with N CPUs; ``threads``/``processes`` N workers on this machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import quiver  # noqa: E402
from benches.workload import RowRange, event_pages  # noqa: E402
from quiver.scaleout.executors import (  # noqa: E402
    ProcessesExecutor,
    ThreadsExecutor,
    start_local_dask_cluster,
)


def events_source(partitions: int, rows: int) -> Any:
    @quiver.resource(name="events", primary_key="id", partitions=list(range(partitions)))
    def events(partition: int) -> Iterator[list[dict[str, Any]]]:
        yield from event_pages(RowRange(partition * rows, rows))

    return events


def _executor(kind: str, workers: int) -> tuple[Any, Any]:
    """The executor and a function that shuts it down."""
    if kind == "none":
        return None, lambda: None
    if kind == "threads":
        return ThreadsExecutor(workers), lambda: None
    if kind == "processes":
        return ProcessesExecutor(workers), lambda: None
    if kind == "dask":
        client, cluster = start_local_dask_cluster(workers)
        return client, lambda: (client.close(), cluster.close())
    if kind == "ray":
        import ray

        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
        return "ray", ray.shutdown
    raise SystemExit(f"unknown executor {kind!r}")


def time_load(kind: str, workers: int, table_format: str, partitions: int, rows: int) -> float:
    executor, shutdown = _executor(kind, workers)
    folder = Path(tempfile.mkdtemp(prefix="quiver-scale-"))
    try:
        # Warm up (imports; Ray starts its worker processes lazily): not timed.
        pipeline = _pipeline(folder / "warm", table_format)
        pipeline.run(events_source(workers, 10), executor=executor)
        pipeline = _pipeline(folder, table_format)
        started = time.perf_counter()
        pipeline.run(events_source(partitions, rows), executor=executor)
        elapsed = time.perf_counter() - started
        loaded = pipeline.dataset()["events"].arrow().num_rows
        assert loaded == partitions * rows, (loaded, partitions * rows)
        return elapsed
    finally:
        shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def _pipeline(folder: Path, table_format: str) -> Any:
    return quiver.pipeline(
        "scale_bench",
        pipelines_dir=str(folder / "pipelines"),
        destination=quiver.destinations.filesystem(
            bucket_url=str(folder / "lake"), table_format=table_format
        ),
        dataset_name="ds",
    )


def time_commit(table_format: str, files: int) -> dict[str, float]:
    """One commit of ``files`` one-row parquet files: what a coordinator commits after
    ``files`` workers (or partitions) each wrote one file."""
    from quiver.destinations.base import TableCommit, load_table_format
    from quiver.destinations.filesystem import FilesystemDestination

    folder = Path(tempfile.mkdtemp(prefix="quiver-commit-"))
    try:
        staged = folder / "staged"
        staged.mkdir()
        table = pa.table({"id": pa.array([0], pa.int64()), "value": pa.array(["x"])})
        paths = []
        for number in range(files):
            path = staged / f"events.{number:08d}.0.parquet"
            pq.write_table(table.set_column(0, "id", pa.array([number], pa.int64())), path)
            paths.append(path)
        destination = FilesystemDestination(bucket_url=str(folder / "lake"))
        dataset = destination.location().join("ds")
        options = destination.table_format_options(table_format)
        formatter = load_table_format(table_format, dataset, "bench", **options)
        commit = TableCommit("events", paths, table.schema, "append", "1700000000.000001")
        started = time.perf_counter()
        formatter.commit(commit)
        elapsed = time.perf_counter() - started
        assert formatter.row_count("events") == files
        return {"seconds": elapsed, "ms_per_file": 1000 * elapsed / files}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rows", type=int, default=250_000, help="rows per partition")
    parser.add_argument("--executors", default="none,threads,processes,dask,ray")
    parser.add_argument("--formats", default="delta,iceberg")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--commit-files", default="10000,100000")
    parser.add_argument("--skip-loads", action="store_true")
    parser.add_argument("--tag", default="scale-out", help="results/<date>-<tag>.json")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "partitions": args.partitions,
        "rows_per_partition": args.rows,
        "loads": [],
        "commits": [],
    }
    rows = args.partitions * args.rows
    if not args.skip_loads:
        print("| executor | format | workers | seconds | rows/s | speed-up 1 → 2 |")
        print("|---|---|---|---|---|---|")
        for kind in args.executors.split(","):
            for table_format in args.formats.split(","):
                one: float | None = None
                counts = [1] if kind == "none" else [int(w) for w in args.workers.split(",")]
                for workers in counts:
                    seconds = time_load(kind, workers, table_format, args.partitions, args.rows)
                    one = seconds if workers == 1 else one
                    speedup = f"{one / seconds:.2f}x" if one and workers > 1 else ""
                    print(
                        f"| {kind} | {table_format} | {workers} | {seconds:.1f} | "
                        f"{rows / seconds:,.0f} | {speedup} |",
                        flush=True,
                    )
                    load = {"executor": kind, "format": table_format, "workers": workers}
                    results["loads"].append({**load, "seconds": seconds})
    print("\n| format | files in one commit | seconds | ms per file |")
    print("|---|---|---|---|")
    for table_format in args.formats.split(","):
        for files in [int(f) for f in args.commit_files.split(",") if f]:
            measured = time_commit(table_format, files)
            print(
                f"| {table_format} | {files:,} | {measured['seconds']:.1f} | "
                f"{measured['ms_per_file']:.2f} |",
                flush=True,
            )
            results["commits"].append({"format": table_format, "files": files, **measured})
    out = ROOT / "benches" / "results" / f"{datetime.date.today()}-{args.tag}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
