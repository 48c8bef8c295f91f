"""One conformance suite for every table format and filesystem: dispositions, nesting, schema
evolution, sidecars and exactly-once, read back with independent readers (polars, pyiceberg,
DuckDB)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import quiver
from quiver.load import sidecars as sidecars_module
from tests.readers import Lake, duckdb_rows

UTC = datetime.UTC


@pytest.fixture
def lake(any_lake: Lake) -> Lake:
    return any_lake


def _pipeline(lake: Lake, pipelines_dir: str, name: str = "conf") -> quiver.Pipeline:
    return lake.pipeline(pipelines_dir, name)  # type: ignore[no-any-return]


def _orders(start: int, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "customer": f"c{i % 3}",
            "total": i * 1.5,
            "placed_at": datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(hours=i),
            "lines": [{"sku": f"s{i}-{j}", "qty": j + 1} for j in range(i % 3)],
            **extra,
        }
        for i in range(start, start + count)
    ]


def test_append_nested_and_schema_evolution(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    first = pipeline.run(_orders(0, 6), table_name="orders")
    second = pipeline.run(_orders(6, 3, channel="web"), table_name="orders")
    assert first is not None and second is not None

    orders = lake.rows("ds", "orders", "id")
    assert [r["id"] for r in orders] == list(range(9))
    assert [r["total"] for r in orders] == [i * 1.5 for i in range(9)]
    assert [r["placed_at"] for r in orders] == [
        datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(hours=i) for i in range(9)
    ]
    # A column that appears in the second load: null for the first load's rows.
    assert [r["channel"] for r in orders] == [None] * 6 + ["web"] * 3

    lines = lake.rows("ds", "orders__lines", ["_dlt_parent_id", "_dlt_list_idx"])
    by_parent = {r["_dlt_id"]: r["id"] for r in orders}
    linked = sorted((by_parent[r["_dlt_parent_id"]], r["_dlt_list_idx"], r["sku"]) for r in lines)
    assert linked == sorted((i, j, f"s{i}-{j}") for i in range(9) for j in range(i % 3))

    # DuckDB, a third reader, agrees on the rows.
    duck = duckdb_rows(lake, "ds", "orders", "id")
    assert [row[0] for row in duck] == list(range(9))

    loads = lake.rows("ds", "_dlt_loads", "load_id")
    assert [r["load_id"] for r in loads] == first.loads_ids + second.loads_ids
    versions = lake.rows("ds", "_dlt_version", "version")
    assert len(versions) == len({v["version_hash"] for v in versions}) >= 1
    assert {v["schema_name"] for v in versions} == {"conf"}


def test_replace_keeps_vanished_columns_and_empties_children(
    lake: Lake, pipelines_dir: str
) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    pipeline.run(_orders(0, 5, channel="web"), table_name="orders")
    pipeline.run(
        [{"id": 100, "customer": "new", "lines": [{"sku": "only", "qty": 9}]}],
        table_name="orders",
        write_disposition="replace",
    )
    orders = lake.rows("ds", "orders", "id")
    assert [(r["id"], r["customer"], r["channel"]) for r in orders] == [(100, "new", None)]
    lines = lake.rows("ds", "orders__lines", "sku")
    assert [(r["sku"], r["_dlt_parent_id"]) for r in lines] == [("only", orders[0]["_dlt_id"])]


def test_skip_disposition_loads_nothing(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    pipeline.run(quiver.resource([{"a": 1}], name="skipped", write_disposition="skip"))
    assert not lake.exists("ds", "skipped")


def test_retry_after_failure_before_loads_row_is_exactly_once(
    lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(lake, pipelines_dir)

    def crash(schema: Any, load_id: str) -> None:
        raise ConnectionError(f"network down after table commits of {load_id}")

    with monkeypatch.context() as patch:  # every table committed, then the _dlt_loads row fails
        patch.setattr(sidecars_module, "loads_row", crash)
        with pytest.raises(quiver.PipelineStepFailed):
            pipeline.run(_orders(0, 4), table_name="orders")
    assert pipeline.has_pending_data
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    assert [r["id"] for r in lake.rows("ds", "orders", "id")] == [0, 1, 2, 3]
    assert len(lake.rows("ds", "orders__lines", "sku")) == 0 + 1 + 2 + 0
    assert [r["load_id"] for r in lake.rows("ds", "_dlt_loads", "load_id")] == info.loads_ids


def test_arrow_items(lake: Lake, pipelines_dir: str) -> None:
    import pyarrow as pa

    table = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "value": pa.array([i / 4 for i in range(1000)]),
            "label": pa.array([None if i % 7 == 0 else f"l{i}" for i in range(1000)]),
        }
    )
    pipeline = _pipeline(lake, pipelines_dir)
    pipeline.run(table, table_name="measurements")
    pipeline.run(table.slice(0, 10), table_name="measurements")
    frame = lake.read("ds", "measurements")
    assert frame.columns == ["id", "value", "label"]
    assert frame.height == 1010
    assert frame["id"].sum() == sum(range(1000)) + sum(range(10))
    assert frame["label"].null_count() == len(range(0, 1000, 7)) + len(range(0, 10, 7))


WRITER = """
import sys
import quiver
from quiver.load import loader as loader_module

bucket, table_format, pipelines_dir, index = sys.argv[1:5]
pipeline = quiver.pipeline(
    f"writer{index}",
    pipelines_dir=pipelines_dir,
    destination=quiver.destinations.filesystem(bucket_url=bucket, table_format=table_format),
    dataset_name="ds",
)
start = int(index) * 100
pipeline.run([{"id": i, "writer": int(index)} for i in range(start, start + 100)], table_name="shared")
"""


def test_concurrent_writers_each_land_once(lake: Lake, pipelines_dir: str) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                lake.bucket_url,
                lake.table_format,
                pipelines_dir,
                str(i),
            ],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()[-2000:]
    ids = lake.read("ds", "shared")["id"].sort().to_list()
    assert ids == list(range(400))
