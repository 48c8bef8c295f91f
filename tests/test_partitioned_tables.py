"""Partitioned tables load through the files normalize split by partition value.

Checked against independent readers: each data file holds one partition value (read with
pyarrow), the value the table records for it equals pyiceberg's transform of the file's rows,
and deltalake, polars, pyiceberg and DuckDB read the rows back and prune files by a filter on
the partition column.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import quiver
from quiver.destinations.adapters import iceberg_adapter, iceberg_partition
from quiver.schema.partitions import PartitionField, transform_array
from tests.readers import Lake, duckdb_connection

UTC = datetime.UTC
KINDS = ["view", "click", "add to/cart", None]


def _events(start: int, count: int) -> pa.Table:
    ids = np.arange(start, start + count)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "kind": pa.array([KINDS[i % 4] for i in ids.tolist()], pa.string()),
            "created_at": pa.array(
                [
                    datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(hours=7 * i)
                    for i in ids.tolist()
                ],
                pa.timestamp("us", UTC),
            ),
        }
    )


# ------------------------------------------------------------------ transforms vs pyiceberg
def _iceberg_value(value: Any, source: str) -> Any:
    from pyiceberg.utils.datetime import date_to_days, datetime_to_micros

    if value is None:
        return None
    if source == "timestamptz":
        return datetime_to_micros(value)
    if source == "date":
        return date_to_days(value)
    return value


_RNG = np.random.default_rng(7)
_SOURCES: dict[str, pa.Array] = {
    "long": pa.array([*_RNG.integers(-(10**12), 10**12, 500).tolist(), None, 0, -1, 34]),
    "int": pa.array([*_RNG.integers(-(10**6), 10**6, 500).tolist(), None, 0, -7], pa.int32()),
    "string": pa.array(
        ["", "a", "ab", "abc", "abcd", "iceberg", "ünïcødé 😀 x", None]
        + [f"user-{n}" for n in _RNG.integers(0, 10**9, 300).tolist()]
    ),
    "binary": pa.array([b"", b"\x00\xff", b"abcde", None, b"0123456789"], pa.binary()),
    "timestamptz": pa.array(
        [
            datetime.datetime(1969, 12, 31, 23, 30, tzinfo=UTC),
            datetime.datetime(2024, 2, 29, 13, 5, 1, 7, tzinfo=UTC),
            None,
            datetime.datetime(1900, 1, 1, tzinfo=UTC),
            datetime.datetime(2038, 6, 30, 23, 59, 59, tzinfo=UTC),
        ],
        pa.timestamp("us", UTC),
    ),
    "date": pa.array(
        [datetime.date(1969, 12, 31), datetime.date(2024, 3, 1), None, datetime.date(1970, 1, 1)]
    ),
}
_TRANSFORMS = ["identity", "bucket[16]", "bucket[7]", "truncate[3]", "year", "month", "day", "hour"]


def _iceberg_types() -> dict[str, Any]:
    from pyiceberg.types import (
        BinaryType,
        DateType,
        IntegerType,
        LongType,
        StringType,
        TimestamptzType,
    )

    return {
        "long": LongType(),
        "int": IntegerType(),
        "string": StringType(),
        "binary": BinaryType(),
        "timestamptz": TimestamptzType(),
        "date": DateType(),
    }


def _valid_pairs() -> list[tuple[str, str]]:
    """(source type, transform) pairs Iceberg defines (no ``hour`` of a date, ...)."""
    from pyiceberg.transforms import parse_transform

    types = _iceberg_types()
    return [
        (source, transform)
        for source in _SOURCES
        for transform in _TRANSFORMS
        if parse_transform(transform).can_transform(types[source])
    ]


@pytest.mark.parametrize(("source", "transform"), _valid_pairs())
def test_transforms_agree_with_pyiceberg(source: str, transform: str) -> None:
    from pyiceberg.transforms import parse_transform

    iceberg_type = _iceberg_types()[source]
    iceberg_transform = parse_transform(transform)
    values = _SOURCES[source]
    ours = transform_array(PartitionField("c", transform), values)
    if ours is None:
        assert (source, transform) == ("binary", "identity")  # the one case left to the engine
        return
    expected_fn = iceberg_transform.transform(iceberg_type)
    expected = [expected_fn(_iceberg_value(v, source)) for v in values.to_pylist()]
    assert ours.to_pylist() == expected


# ------------------------------------------------------------------------ readers and pruning
def _data_files(lake: Lake, table: str) -> dict[str, pa.Table]:
    """Every data file of the table's current version, read with pyarrow, by path."""
    filesystem = lake._fsspec()
    if lake.table_format == "delta":
        from deltalake import DeltaTable

        uris = DeltaTable(lake.table_url("ds", table), storage_options=lake.delta_options)
        paths = [u.removeprefix("file://").removeprefix("s3://") for u in uris.file_uris()]
    else:
        paths = [
            p.removeprefix("file://").removeprefix("s3://")
            for p in _iceberg(lake, table).inspect.files().column("file_path").to_pylist()
        ]
    return {p: pq.read_table(p, filesystem=filesystem) for p in paths}


def _iceberg(lake: Lake, table: str) -> Any:
    from pyiceberg.table import StaticTable

    metadata = lake.newest_iceberg_metadata("ds", table)
    return StaticTable.from_metadata(metadata, properties=lake.iceberg_properties)


def _duckdb_scan(lake: Lake, table: str) -> str:
    if lake.table_format == "delta":
        return f"delta_scan('{lake.table_url('ds', table).removeprefix('file://')}')"
    return f"iceberg_scan('{lake.newest_iceberg_metadata('ds', table)}')"


def test_partitioned_append_registers_split_files_and_readers_prune(
    any_lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "parts")
    hints = {"kind": {"partition": True}}
    first = pipeline.run(_events(0, 60), table_name="events", columns=hints)
    pipeline.run(_events(60, 40), table_name="events", columns=hints)

    # Every file holds one partition value and was registered as normalize wrote it.
    files = _data_files(any_lake, "events")
    assert len(files) == 8  # 4 values x 2 loads
    for path, data in files.items():
        assert len(set(data.column("kind").to_pylist())) == 1, path
        assert re.match(r"\d+\.\d+\.\w+\.parquet$", path.rsplit("/", 1)[-1]), path
    first_load = first.loads_ids[0]
    assert sum(first_load in p for p in files) == 4

    expected = [(i, KINDS[i % 4]) for i in range(100)]
    rows = any_lake.rows("ds", "events", "id")
    assert [(r["id"], r["kind"]) for r in rows] == expected

    import polars as pl

    con = duckdb_connection(any_lake.endpoint_url)
    scan = _duckdb_scan(any_lake, "events")
    duck = con.execute(f"select id, kind from {scan} order by id").fetchall()
    assert [tuple(r) for r in duck] == expected
    plan = con.execute(f"explain analyze select id from {scan} where kind = 'click'").fetchall()
    clicks = [i for i in range(100) if i % 4 == 1]
    assert con.execute(f"select id from {scan} where kind = 'click' order by id").fetchall() == [
        (i,) for i in clicks
    ]
    con.close()
    if any_lake.table_format == "delta":
        from deltalake import DeltaTable

        table = DeltaTable(
            any_lake.table_url("ds", "events"), storage_options=any_lake.delta_options
        )
        pruned = table.file_uris(file_pruning_predicate=[("kind", "=", "click")])
        assert len(pruned) == 2 and all("kind=click/" in uri for uri in pruned)
        assert sum("kind=__HIVE_DEFAULT_PARTITION__/" in path for path in files) == 2
        assert sum("kind=add%20to%2Fcart/" in path for path in files) == 2
        assert "Scanning Files: 2/8" in plan[0][1]
        frame = pl.scan_delta(
            any_lake.table_url("ds", "events"), storage_options=any_lake.delta_options
        )
    else:
        from pyiceberg.expressions import EqualTo

        iceberg = _iceberg(any_lake, "events")
        tasks = list(iceberg.scan(row_filter=EqualTo("kind", "click")).plan_files())
        assert len(tasks) == 2
        assert {t.file.partition[0] for t in tasks} == {"click"}
        # polars plans Iceberg scans with pyiceberg (the polars_iceberg plugin is not installed).
        monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")
        frame = pl.scan_iceberg(iceberg)
    polars_clicks = frame.filter(pl.col("kind") == "click").select("id").collect()
    assert sorted(polars_clicks["id"].to_list()) == clicks


def test_iceberg_transform_partitions_hold_their_rows(pipelines_dir: str, tmp_path: Path) -> None:
    from pyiceberg.transforms import parse_transform
    from pyiceberg.types import LongType, TimestamptzType
    from pyiceberg.utils.datetime import datetime_to_micros

    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    events = iceberg_adapter(
        quiver.resource(_events(0, 200), name="events"),
        partition=[iceberg_partition.day("created_at"), iceberg_partition.bucket(4, "id")],
    )
    lake.pipeline(pipelines_dir, "parts").run(events)
    table = _iceberg(lake, "events")
    day = parse_transform("day").transform(TimestamptzType())
    bucket = parse_transform("bucket[4]").transform(LongType())
    entries = table.inspect.files().select(["file_path", "partition"]).to_pylist()
    assert len(entries) > 8
    seen = []
    for entry in entries:
        data = pq.read_table(entry["file_path"].removeprefix("file://"))
        recorded = entry["partition"]
        for row in data.select(["id", "created_at"]).to_pylist():
            days = datetime.date(1970, 1, 1) + datetime.timedelta(
                days=day(datetime_to_micros(row["created_at"]))
            )
            assert (days, bucket(row["id"])) == (
                recorded["created_at_day"],
                recorded["id_bucket_4"],
            )
            seen.append(row["id"])
    assert sorted(seen) == list(range(200))
    # A reader's pruning agrees: one day's files hold exactly that day's rows.
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    day_filter = And(
        GreaterThanOrEqual("created_at", "2024-01-02T00:00:00+00:00"),
        LessThan("created_at", "2024-01-03T00:00:00+00:00"),
    )
    tasks = list(table.scan(row_filter=day_filter).plan_files())
    january_2 = (datetime.date(2024, 1, 2) - datetime.date(1970, 1, 1)).days
    assert 0 < len(tasks) < len(entries)
    assert {task.file.partition[0] for task in tasks} == {january_2}


def test_nested_rows_partition_root_table(any_lake: Lake, pipelines_dir: str) -> None:
    rows = [
        {"id": i, "country": ["PL", "DE"][i % 2], "items": [{"sku": f"s{i}"}, {"sku": "x"}]}
        for i in range(50)
    ]
    pipeline = any_lake.pipeline(pipelines_dir, "nested")
    pipeline.run(rows, table_name="orders", columns={"country": {"partition": True}})
    files = _data_files(any_lake, "orders")
    assert len(files) == 2
    assert sorted(len(d) for d in files.values()) == [25, 25]
    got = any_lake.rows("ds", "orders", "id")
    assert [(r["id"], r["country"]) for r in got] == [(i, ["PL", "DE"][i % 2]) for i in range(50)]
    assert len(any_lake.rows("ds", "orders__items", "_dlt_id")) == 100


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_replace_overwrites_a_partitioned_table(
    pipelines_dir: str, tmp_path: Path, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "parts")
    hints = {"kind": {"partition": True}}
    pipeline.run(_events(0, 40), table_name="events", columns=hints)
    # The new load has only "click" and "add to/cart" rows (a filter drops nulls): replace still
    # removes the old "view" and null partitions.
    replacement = _events(100, 12).filter(pa.compute.field("kind") != "view")
    pipeline.run(replacement, table_name="events", columns=hints, write_disposition="replace")
    ids = sorted(r["id"] for r in lake.rows("ds", "events", "id"))
    assert ids == [i for i in range(100, 112) if i % 4 in (1, 2)]
    assert len(_data_files(lake, "events")) == 2


def test_delta_cannot_repartition_in_place(pipelines_dir: str, tmp_path: Path) -> None:
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "parts")
    pipeline.run(_events(0, 10), table_name="events")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(_events(10, 10), table_name="events", columns={"kind": {"partition": True}})
    message = str(failed.value)
    assert "cannot repartition" in message and "refresh='drop_resources'" in message
    # Nothing was lost: the table still has the first load, the package is not committed.
    assert sorted(r["id"] for r in lake.rows("ds", "events", "id")) == list(range(10))


def test_iceberg_partition_hint_evolves_the_spec(pipelines_dir: str, tmp_path: Path) -> None:
    from pyiceberg.expressions import EqualTo

    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "parts")
    pipeline.run(_events(0, 20), table_name="events")
    pipeline.run(_events(20, 20), table_name="events", columns={"kind": {"partition": True}})
    table = _iceberg(lake, "events")
    assert [str(f.transform) for f in table.spec().fields] == ["identity"]
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == list(range(40))
    tasks = list(table.scan(row_filter=EqualTo("kind", "click")).plan_files())
    # The unpartitioned file of the first load and the "click" file of the second.
    assert len(tasks) == 2


KILLED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow as pa
    import quiver

    pipelines_dir, bucket, table_format, stage = sys.argv[1:5]
    p = quiver.pipeline("crashy", pipelines_dir=pipelines_dir, dataset_name="ds",
        destination=quiver.destinations.filesystem(bucket_url=bucket, table_format=table_format))
    data = pa.table({"id": list(range(1000)), "kind": [["a", "b", "c"][i % 3] for i in range(1000)]})
    kill = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    p.extract(data, table_name="events", columns={"kind": {"partition": True}})
    p.normalize()
    if stage == "after_normalize":
        kill()
    import quiver.load.sidecars
    quiver.load.sidecars.loads_row = kill   # after every table committed, before _dlt_loads
    p.load()
    """
)


@pytest.mark.parametrize("stage", ["after_normalize", "before_loads_row"])
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_killed_partitioned_load_lands_exactly_once(
    pipelines_dir: str, tmp_path: Path, table_format: str, stage: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    result = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, pipelines_dir, lake.bucket_url, table_format, stage],
        capture_output=True,
    )
    assert result.returncode == -9, result.stderr.decode()
    pipeline = quiver.attach("crashy", pipelines_dir=pipelines_dir)
    assert pipeline.has_pending_data
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    rows = lake.rows("ds", "events", "id")
    assert [(r["id"], r["kind"]) for r in rows] == [(i, "abc"[i % 3]) for i in range(1000)]
    assert len(_data_files(lake, "events")) == 3
    assert pipeline.run() is None


# ------------------------------------------------------------------ the normalize-side writer
class _RecordingLane:
    """A lane that keeps what it was given (one file per lane), for the writer's bookkeeping."""

    def __init__(self, folder: Path, number: int) -> None:
        self.files = [folder / f"{number}.parquet"]
        self.parts: list[pa.Table] = []
        self.closed = False

    def write(self, table: pa.Table) -> None:
        assert not self.closed
        self.parts.append(table)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("ordered", [True, False], ids=["runs", "shuffled"])
def test_writer_splits_by_key_with_bounded_open_files(tmp_path: Path, ordered: bool) -> None:
    from quiver.normalize.partitioned_files import PartitionedTableWriter
    from quiver.schema.partitions import PARTITION_METADATA_KEY

    rng = np.random.default_rng(3)
    keys = np.repeat(np.arange(5), 400) if ordered else rng.integers(0, 5, 2000)
    kinds = pa.array([None if k == 4 else f"k{k}" for k in keys.tolist()])
    batch = pa.table({"id": np.arange(2000), "kind": kinds})
    lanes: list[_RecordingLane] = []

    def new_lane(table: pa.Table, executor: Any) -> _RecordingLane:
        assert table.num_rows == 1000  # encoding choices are made on the whole batch
        lanes.append(_RecordingLane(tmp_path, len(lanes)))
        return lanes[-1]

    writer = PartitionedTableWriter([PartitionField("kind")], new_lane, max_open_files=2)
    writer.write(batch.slice(0, 1000))
    writer.write(batch.slice(1000))
    writer.close()
    assert all(lane.closed for lane in lanes)
    seen: list[int] = []
    for lane in lanes:
        values = {v for part in lane.parts for v in part.column("kind").to_pylist()}
        assert len(values) == 1  # one key per file
        recorded = {part.schema.metadata[PARTITION_METADATA_KEY] for part in lane.parts}
        assert recorded == {f'[["kind", "identity", {json_value(values.pop())}]]'.encode()}
        seen.extend(i for part in lane.parts for i in part.column("id").to_pylist())
    assert sorted(seen) == list(range(2000))
    if ordered:
        assert len(lanes) == 5  # each key's rows come together: one file each
    else:
        assert len(lanes) > 5  # 5 keys cycling through 2 open files: rotation


def json_value(value: Any) -> str:
    import json

    return json.dumps(value)


def test_writer_rotates_big_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quiver.normalize import partitioned_files

    monkeypatch.setattr(partitioned_files, "MAX_FILE_ROWS", 300)
    lanes: list[_RecordingLane] = []

    def new_lane(table: pa.Table, executor: Any) -> _RecordingLane:
        lanes.append(_RecordingLane(tmp_path, len(lanes)))
        return lanes[-1]

    writer = partitioned_files.PartitionedTableWriter([PartitionField("kind")], new_lane)
    for start in range(0, 1000, 100):
        writer.write(pa.table({"id": np.arange(start, start + 100), "kind": ["a"] * 100}))
    writer.close()
    # 1000 rows of one key: files of 300, 300, 300 and 100 rows, each closed.
    assert [sum(p.num_rows for p in lane.parts) for lane in lanes] == [300, 300, 300, 100]
    assert all(lane.closed for lane in lanes)


_PARTITION_VALUES = {
    "date": pa.array([datetime.date(2024, 1, 1), datetime.date(1969, 12, 31), None] * 4),
    "timestamp": pa.array(
        [
            datetime.datetime(2024, 1, 1, 12, tzinfo=UTC),
            None,
            datetime.datetime(1960, 5, 5, tzinfo=UTC),
        ]
        * 4,
        pa.timestamp("us", UTC),
    ),
    "bool": pa.array([True, False, None] * 4),
    "int32": pa.array([1, -5, None] * 4, pa.int32()),
}


@pytest.mark.parametrize("kind", list(_PARTITION_VALUES))
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_identity_partition_types_round_trip(
    pipelines_dir: str, tmp_path: Path, table_format: str, kind: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    values = _PARTITION_VALUES[kind]
    data = pa.table({"id": list(range(12)), "p": values})
    lake.pipeline(pipelines_dir, "types").run(
        data, table_name="t", columns={"p": {"partition": True}}
    )
    assert lake.read("ds", "t").sort("id")["p"].to_list() == values.to_pylist()
    files = _data_files(lake, "t")
    assert len(files) == 3  # two values and null, one file each
    for data_file in files.values():
        assert len(set(data_file.column("p").to_pylist())) == 1
