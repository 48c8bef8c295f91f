"""How long restoring a pipeline's state takes when ``_dlt_pipeline_state`` holds 10,000 rows.

Writes 10,000 state rows (and their ``_dlt_loads`` rows) in 100 commits of 100 rows to a local
Delta and a local Iceberg dataset, then times finding and reading the newest state of one
pipeline (``SidecarStore.newest_state``), the read that ``run()``/``attach()`` make. Half the rows
belong to other pipelines. Usage: ``python benches/restore_state.py``.
"""

from __future__ import annotations

import datetime
import tempfile
import time

import pyarrow as pa

from quiver.destinations.base import load_table_format
from quiver.destinations.location import resolve_location
from quiver.load.sidecars import TableSidecars
from quiver.pipeline.state import compress_state

ROWS, COMMITS = 10_000, 100


def fill(table_format_name: str) -> TableSidecars:
    dataset = resolve_location(tempfile.mkdtemp()).join("ds")
    table_format = load_table_format(table_format_name, dataset, "bench")
    blob = compress_state(
        {
            "sources": {
                "s": {
                    "resources": {
                        "r": {
                            "incremental": {
                                "c": {"last_value": 1, "unique_hashes": ["x" * 20] * 10}
                            }
                        }
                    }
                }
            }
        }
    )
    now = datetime.datetime.now(datetime.UTC)
    per_commit = ROWS // COMMITS
    for commit in range(COMMITS):
        ids = [f"{1_800_000_000 + commit * per_commit + i}.5" for i in range(per_commit)]
        names = ["p" if i % 2 else f"other_{i % 7}" for i in range(per_commit)]
        states = pa.table(
            {
                "version": pa.array(range(per_commit), pa.int64()),
                "engine_version": pa.array([4] * per_commit, pa.int64()),
                "pipeline_name": names,
                "state": [blob] * per_commit,
                "created_at": pa.array([now] * per_commit, pa.timestamp("us", "UTC")),
                "version_hash": ["h"] * per_commit,
                "_dlt_load_id": ids,
                "_dlt_id": [f"id{i}" for i in range(per_commit)],
            }
        )
        loads = pa.table(
            {
                "load_id": ids,
                "schema_name": ["s"] * per_commit,
                "status": pa.array([0] * per_commit, pa.int64()),
                "inserted_at": pa.array([now] * per_commit, pa.timestamp("us", "UTC")),
                "schema_version_hash": ["h"] * per_commit,
            }
        )
        table_format.append_rows("_dlt_pipeline_state", states, f"{commit}.0")
        table_format.append_rows("_dlt_loads", loads, f"{commit}.0")
    return TableSidecars(table_format)


for name in ("delta", "iceberg"):
    store = fill(name)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        row = store.newest_state("p")
        timings.append(time.perf_counter() - started)
    assert row is not None and row["_dlt_load_id"] == f"{1_800_000_000 + ROWS - 1}.5"
    print(
        f"{name}: newest state of 10,000 rows in {min(timings) * 1000:.0f} ms (best of 5), "
        f"median {sorted(timings)[2] * 1000:.0f} ms"
    )
