"""End to end: Python rows and Arrow items → local Delta, read back by independent readers."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import quiver
from tests.readers import delta_rows_deltalake, delta_rows_polars, delta_version

UTC = datetime.UTC


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "e2e") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


ROWS = [
    {
        "id": 1,
        "Name": "alpha",
        "amount": 10,
        "created": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "price": decimal.Decimal("19.99"),
        "geo": {"country": "PL", "lat": 52.25},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
    },
    {
        "id": 2,
        "Name": None,
        "amount": 12.5,
        # A non-UTC offset: stored as the same instant in UTC.
        "created": datetime.datetime(
            2024, 5, 1, 14, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "price": decimal.Decimal("0.01"),
        "geo": None,
        "items": [],
    },
    {
        "id": 3,
        "Name": "gamma",
        "amount": 7,
        "created": datetime.datetime(2024, 5, 2, 0, 0, tzinfo=UTC),
        "price": decimal.Decimal("100"),
        "geo": {"country": "DE", "lat": None},
        "items": [{"sku": "C-3", "qty": 5}],
        "late_key": "only here",
    },
]


def test_rows_to_delta_read_back_by_two_readers(pipelines_dir: str, bucket: Path) -> None:
    info = _pipeline(pipelines_dir, bucket).run(ROWS, table_name="Orders")
    assert info is not None and len(info.loads_ids) == 1
    root = bucket / "ds" / "orders"

    expected_root = [
        # id, name, amount (int+float → double), created (UTC), price, geo__country, geo__lat, late_key
        (
            1,
            "alpha",
            10.0,
            datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            decimal.Decimal("19.99"),
            "PL",
            52.25,
            None,
        ),
        (
            2,
            None,
            12.5,
            datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            decimal.Decimal("0.01"),
            None,
            None,
            None,
        ),
        (
            3,
            "gamma",
            7.0,
            datetime.datetime(2024, 5, 2, 0, 0, tzinfo=UTC),
            decimal.Decimal("100"),
            "DE",
            None,
            "only here",
        ),
    ]
    columns = ["id", "name", "amount", "created", "price", "geo__country", "geo__lat", "late_key"]
    for rows in (delta_rows_polars(root, "id"), delta_rows_deltalake(root, "id")):
        got = [tuple(row[c] for c in columns) for row in rows]
        assert got == expected_root
        assert {row["_dlt_load_id"] for row in rows} == {info.loads_ids[0]}
        assert len({row["_dlt_id"] for row in rows}) == 3

    parents = {row["id"]: row["_dlt_id"] for row in delta_rows_polars(root, "id")}
    items = delta_rows_polars(bucket / "ds" / "orders__items", ["_dlt_parent_id", "_dlt_list_idx"])
    linked = sorted(
        (
            next(i for i, pid in parents.items() if pid == row["_dlt_parent_id"]),
            row["_dlt_list_idx"],
            row["sku"],
            row["qty"],
        )
        for row in items
    )
    assert linked == [(1, 0, "A-1", 2), (1, 1, "B-2", 1), (3, 0, "C-3", 5)]
    assert len({row["_dlt_id"] for row in items}) == 3
    assert "_dlt_load_id" not in items[0]


def test_column_types_in_delta(pipelines_dir: str, bucket: Path) -> None:
    _pipeline(pipelines_dir, bucket).run(ROWS, table_name="orders")
    schema = pl.read_delta(str(bucket / "ds" / "orders")).schema
    assert schema["amount"] == pl.Float64
    assert schema["created"] == pl.Datetime("us", "UTC")
    assert schema["price"] == pl.Decimal(38, 9)
    assert schema["id"] == pl.Int64


def test_arrow_items_keep_exactly_their_columns(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table(
        {
            "Id": [1, 2],
            "point": pa.array([{"x": 1, "y": 2}, None]),
            "tags": pa.array([["a", "b"], []]),
            "ts": pa.array([datetime.datetime(2024, 1, 1), None], pa.timestamp("ns")),
        }
    )
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(table, table_name="arrow_t")
    pipeline.run(table.to_batches()[0], table_name="arrow_t")
    pipeline.run(pl.from_arrow(table), table_name="arrow_t")
    frame = pl.read_delta(str(bucket / "ds" / "arrow_t"))
    # Names are normalized; nested columns stay nested; no lineage columns (as in dlt).
    assert frame.columns == ["id", "point", "tags", "ts"]
    assert frame.height == 6
    assert frame.filter(pl.col("id") == 1)["point"].to_list() == [{"x": 1, "y": 2}] * 3
    assert frame.filter(pl.col("id") == 1)["tags"].to_list() == [["a", "b"]] * 3
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert not (bucket / "ds" / "arrow_t__tags").exists()


def test_generator_of_pages_and_resource_decorator(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(name="numbers", primary_key="n")
    def numbers(pages: int = 3):
        for page in range(pages):
            yield [{"n": page * 10 + i, "square": (page * 10 + i) ** 2} for i in range(10)]

    @quiver.source
    def maths():
        return numbers(pages=5)

    info = _pipeline(pipelines_dir, bucket).run(maths())
    assert info is not None
    rows = delta_rows_polars(bucket / "ds" / "numbers", "n")
    assert [(r["n"], r["square"]) for r in rows] == [(n, n * n) for n in range(50)]


def test_append_then_replace_with_child_tables(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(ROWS, table_name="orders")
    pipeline.run(ROWS, table_name="orders")
    assert len(delta_rows_polars(bucket / "ds" / "orders", "id")) == 6
    assert len(delta_rows_polars(bucket / "ds" / "orders__items", "sku")) == 6

    replacement = [{"id": 9, "items": [{"sku": "Z", "qty": 1}]}]
    pipeline.run(replacement, table_name="orders", write_disposition="replace")
    root = delta_rows_polars(bucket / "ds" / "orders", "id")
    assert [r["id"] for r in root] == [9]
    # Columns that vanished upstream are kept (null), not dropped.
    assert "late_key" in root[0] and root[0]["late_key"] is None
    items = delta_rows_polars(bucket / "ds" / "orders__items", "sku")
    assert [(r["sku"], r["_dlt_parent_id"]) for r in items] == [("Z", root[0]["_dlt_id"])]

    # A replace that yields nothing empties the table and its children.
    pipeline.run(quiver.resource([], name="orders", write_disposition="replace"))
    assert delta_rows_polars(bucket / "ds" / "orders", "id") == []
    assert delta_rows_polars(bucket / "ds" / "orders__items", "sku") == []


def test_loads_table_records_each_package(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    first = pipeline.run([{"a": 1}], table_name="t")
    second = pipeline.run([{"a": 2}], table_name="t")
    assert first is not None and second is not None
    loads = delta_rows_polars(bucket / "ds" / "_dlt_loads", "load_id")
    assert [r["load_id"] for r in loads] == [*first.loads_ids, *second.loads_ids]
    assert {r["status"] for r in loads} == {0}
    assert {r["schema_name"] for r in loads} == {"e2e"}
    # One Delta commit per table per package: versions 0 and 1.
    assert delta_version(bucket / "ds" / "t") == 1


def test_load_info_text(pipelines_dir: str, bucket: Path) -> None:
    info = _pipeline(pipelines_dir, bucket, name="infotext").run([{"a": 1}], table_name="t")
    text = str(info)
    assert text.startswith("Pipeline infotext load step completed in ")
    assert "1 load package(s) were loaded to destination filesystem and into dataset ds" in text
    assert f"The filesystem destination used file://{bucket} location to store data" in text
    assert f"Load package {info.loads_ids[0]} is LOADED and contains no failed jobs" in text


def test_run_with_nothing_returns_none(pipelines_dir: str, bucket: Path) -> None:
    assert _pipeline(pipelines_dir, bucket).run() is None


def test_run_without_destination_names_the_fix(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("nodest", pipelines_dir=pipelines_dir)
    with pytest.raises(quiver.QuiverError, match="destination"):
        pipeline.run([{"a": 1}], table_name="t")
