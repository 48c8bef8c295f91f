"""Types: inference, ISO timestamp detection, time zones, hints, per-value coercion, variants.

Pipelines run into local Delta tables read back by polars; the expected values are what dlt
produces for the same rows (observed with dlt 1.31's filesystem destination).
"""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.errors import CannotCoerceNullError, PipelineStepFailed
from quiver.normalize.coercions import coerce_values, parse_timestamps, to_json_text, to_text

UTC = datetime.UTC


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "types") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _rows(bucket: Path, table: str = "t") -> list[dict[str, Any]]:
    frame = pl.read_delta(str(bucket / "ds" / table))
    return frame.drop([c for c in frame.columns if c.startswith("_dlt")]).sort("id").to_dicts()


def test_iso_strings_become_timestamps_and_the_rest_a_text_variant(
    pipelines_dir: str, bucket: Path
) -> None:
    rows = [
        {"id": 1, "ts": "2024-01-01T00:00:00Z"},
        {"id": 2, "ts": "hello"},
        {"id": 3, "ts": "2024-01-01 10:00:00"},
        {"id": 4, "ts": "2024-01-01T12:00:00.5+02:00"},
    ]
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(rows, table_name="t")
    assert _rows(bucket) == [
        {"id": 1, "ts": datetime.datetime(2024, 1, 1, tzinfo=UTC), "ts__v_text": None},
        {"id": 2, "ts": None, "ts__v_text": "hello"},
        {"id": 3, "ts": datetime.datetime(2024, 1, 1, 10, tzinfo=UTC), "ts__v_text": None},
        {
            "id": 4,
            "ts": datetime.datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC),
            "ts__v_text": None,
        },
    ]
    columns = pipeline.default_schema.tables["t"]["columns"]
    assert columns["ts"]["data_type"] == "timestamp"
    assert columns["ts__v_text"] == {
        "name": "ts__v_text",
        "nullable": True,
        "data_type": "text",
        "variant": True,
    }
    assert pl.read_delta(str(bucket / "ds" / "t")).schema["ts"] == pl.Datetime("us", "UTC")


def test_detection_decides_on_the_first_value_like_dlt(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "s": "not a date"}, {"id": 2, "s": "2024-01-01T00:00:00Z"}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    assert _rows(bucket) == [{"id": 1, "s": "not a date"}, {"id": 2, "s": "2024-01-01T00:00:00Z"}]


def test_date_only_strings_stay_text(pipelines_dir: str, bucket: Path) -> None:
    _pipeline(pipelines_dir, bucket).run([{"id": 1, "d": "2024-01-01"}], table_name="t")
    assert pl.read_delta(str(bucket / "ds" / "t")).schema["d"] == pl.String


def test_naive_timestamps_are_utc_unless_the_column_says_timezone_false(
    pipelines_dir: str, bucket: Path
) -> None:
    row = {
        "id": 1,
        "naive": datetime.datetime(2024, 1, 1, 12),
        "local": datetime.datetime(2024, 1, 1, 12),
        "aware": datetime.datetime(
            2024, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "s": "2024-01-01T12:00:00+02:00",
        "ns": datetime.datetime(2024, 1, 1, 12, 0, 0, 123456),
    }
    resource = quiver.resource(
        [row],
        name="t",
        columns={
            "local": {"timezone": False},
            "aware": {"timezone": False},
            "s": {"data_type": "timestamp", "timezone": False},
        },
    )
    _pipeline(pipelines_dir, bucket).run(resource)
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame.schema["naive"] == pl.Datetime("us", "UTC")
    assert frame.schema["local"] == pl.Datetime("us")
    assert frame.schema["ns"] == pl.Datetime("us", "UTC")
    got = frame.to_dicts()[0]
    assert got["naive"] == datetime.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert got["local"] == datetime.datetime(2024, 1, 1, 12)
    # Aware values in a timezone=false column are converted to UTC, then stored naive.
    assert got["aware"] == datetime.datetime(2024, 1, 1, 10)
    assert got["s"] == datetime.datetime(2024, 1, 1, 10)
    assert got["ns"].microsecond == 123456


def test_values_coerce_one_by_one_into_existing_columns(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 0, "x": "a", "n": 1, "f": 1.5, "b": True}], table_name="t")
    pipeline.run(
        [
            {"id": 2, "x": 5, "n": "7", "f": "2.5", "b": "false"},
            {"id": 3, "x": True, "n": 2.0, "f": 3, "b": 1},
            {"id": 4, "x": datetime.datetime(2024, 1, 1, tzinfo=UTC), "n": 2.5, "b": "maybe"},
        ],
        table_name="t",
    )
    # Exactly dlt's result: only the values that do not coerce go to variant columns.
    assert _rows(bucket) == [
        {"id": 0, "x": "a", "n": 1, "f": 1.5, "b": True, "b__v_text": None, "n__v_double": None},
        {"id": 2, "x": "5", "n": 7, "f": 2.5, "b": False, "b__v_text": None, "n__v_double": None},
        {"id": 3, "x": "True", "n": 2, "f": 3.0, "b": True, "b__v_text": None, "n__v_double": None},
        {
            "id": 4,
            "x": "2024-01-01T00:00:00+00:00",
            "n": None,
            "f": None,
            "b": None,
            "b__v_text": "maybe",
            "n__v_double": 2.5,
        },
    ]
    columns = pipeline.default_schema.tables["t"]["columns"]
    assert columns["n__v_double"]["variant"] is True


def test_mixed_values_in_one_batch_match_dlt(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "amount": 10}, {"id": 2, "amount": "12"}, {"id": 3, "amount": "n/a"}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    # "12" coerces into the bigint column as dlt would; "n/a" becomes the text variant.
    assert [(r["amount"], r["amount__v_text"]) for r in _rows(bucket)] == [
        (10, None),
        (12, None),
        (None, "n/a"),
    ]


def test_column_hints_win_over_inference(pipelines_dir: str, bucket: Path) -> None:
    rows = [
        {"id": 1, "code": 7, "price": "19.999", "when": "2024-05-01", "flag": "yes", "ratio": 1},
        {"id": 2, "code": 8, "price": 3, "when": "2024-05-02", "flag": "no", "ratio": 2},
    ]
    hints = {
        "code": {"data_type": "text"},
        "price": {"data_type": "decimal", "precision": 10, "scale": 2},
        "when": {"data_type": "date", "partition": True},
        "flag": {"data_type": "bool", "nullable": False},
        "ratio": {"data_type": "double", "cluster": True},
        "id": {"unique": True, "dedup_sort": "desc", "hard_delete": False},
    }
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(quiver.resource(rows, name="t", columns=hints, primary_key="id", merge_key="code"))
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame.schema["code"] == pl.String
    assert frame.schema["price"] == pl.Decimal(10, 2)
    assert frame.schema["when"] == pl.Date
    assert frame.schema["flag"] == pl.Boolean
    assert frame.schema["ratio"] == pl.Float64
    assert _rows(bucket) == [
        {
            "id": 1,
            "code": "7",
            "price": decimal.Decimal("20.00"),
            "when": datetime.date(2024, 5, 1),
            "flag": True,
            "ratio": 1.0,
        },
        {
            "id": 2,
            "code": "8",
            "price": decimal.Decimal("3.00"),
            "when": datetime.date(2024, 5, 2),
            "flag": False,
            "ratio": 2.0,
        },
    ]
    columns = pipeline.default_schema.tables["t"]["columns"]
    assert columns["when"]["partition"] is True
    assert columns["ratio"]["cluster"] is True
    assert columns["flag"]["nullable"] is False
    assert columns["id"]["primary_key"] is True and columns["id"]["unique"] is True
    assert columns["id"]["dedup_sort"] == "desc"
    assert columns["code"]["merge_key"] is True


def test_none_into_a_not_nullable_column_fails_clearly(pipelines_dir: str, bucket: Path) -> None:
    resource = quiver.resource(
        [{"id": 1, "name": "a"}, {"id": 2, "name": None}],
        name="t",
        columns={"name": {"data_type": "text", "nullable": False}},
    )
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(resource)
    assert failed.value.step == "normalize"
    cause = failed.value.__context__.__context__
    assert isinstance(cause, CannotCoerceNullError)
    assert "`name`" in str(cause) and "`t`" in str(cause) and "1 row(s)" in str(cause)
    assert [f.load_id for f in pipeline.list_failed_packages()] == [failed.value.load_id]


def test_arrow_types_are_kept(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "price": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(6, 2)),
            "ts": pa.array([1, 2], pa.timestamp("ns")),
            "d": pa.array([datetime.date(2024, 1, 1), None]),
        }
    )
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(table, table_name="t")
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame.schema["id"] == pl.Int32
    assert frame.schema["price"] == pl.Decimal(6, 2)
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    columns = pipeline.default_schema.tables["t"]["columns"]
    assert columns["id"] == {"name": "id", "nullable": True, "data_type": "bigint", "precision": 32}


def test_a_second_batch_with_other_types_goes_to_variants(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "v": 1}], table_name="t")
    pipeline.run([{"id": 2, "v": "x"}, {"id": 3, "v": "3"}], table_name="t")
    assert [(r["v"], r["v__v_text"]) for r in _rows(bucket)] == [(1, None), (None, "x"), (3, None)]
    pipeline.run([{"id": 4, "v": "y"}], table_name="t")
    assert _rows(bucket)[-1]["v__v_text"] == "y"


# ------------------------------------------------------------- unit level
@pytest.mark.parametrize(
    ("values", "column", "target", "expected", "failed"),
    [
        (
            ["1", " 2 ", "x", None, "3.5"],
            {"data_type": "bigint"},
            pa.int64(),
            [1, 2, None, None, None],
            [False, False, True, False, True],
        ),
        (
            [1.0, 2.5, None],
            {"data_type": "bigint"},
            pa.int64(),
            [1, None, None],
            [False, True, False],
        ),
        ([300, 5], {"data_type": "bigint", "precision": 8}, pa.int8(), [None, 5], [True, False]),
        (
            ["1e3", ".5", "abc"],
            {"data_type": "double"},
            pa.float64(),
            [1000.0, 0.5, None],
            [False, False, True],
        ),
        (
            ["Yes", "f", "0", "maybe"],
            {"data_type": "bool"},
            pa.bool_(),
            [True, False, False, None],
            [False, False, False, True],
        ),
        ([0, 3], {"data_type": "bool"}, pa.bool_(), [False, True], [False, False]),
        (
            ["12:30", "12:30:01.5", "noon"],
            {"data_type": "time"},
            pa.time64("us"),
            [datetime.time(12, 30), datetime.time(12, 30, 1, 500000), None],
            [False, False, True],
        ),
        (
            ["0x0102", "AQI=", "%%"],
            {"data_type": "binary"},
            pa.binary(),
            [b"\x01\x02", b"\x01\x02", None],
            [False, False, True],
        ),
        (
            ["1.234", "x"],
            {"data_type": "decimal", "precision": 5, "scale": 2},
            pa.decimal128(5, 2),
            [decimal.Decimal("1.23"), None],
            [False, True],
        ),
        (
            [1_700_000_000],
            {"data_type": "timestamp"},
            pa.timestamp("us", "UTC"),
            [datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)],
            [False],
        ),
    ],
)
def test_coerce_values(
    values: list[Any],
    column: dict[str, Any],
    target: pa.DataType,
    expected: list[Any],
    failed: list[bool],
) -> None:
    result = coerce_values(pa.array(values), column, target, from_rows=True)
    assert result.values.type == target
    assert result.values.to_pylist() == expected
    got_failed = result.failed.to_pylist() if result.failed is not None else [False] * len(values)
    assert got_failed == failed


def test_parse_timestamps_handles_mixed_iso_forms() -> None:
    text = pa.array(
        [
            "2024-01-01T00:00:00Z",
            "2024-01-01 01:00",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00.123456789+01:00",
            None,
        ]
    )
    result = parse_timestamps(text, pa.timestamp("us", "UTC"))
    assert result.values.to_pylist() == [
        datetime.datetime(2024, 1, 1, tzinfo=UTC),
        datetime.datetime(2024, 1, 1, 1, tzinfo=UTC),
        None,
        datetime.datetime(2023, 12, 31, 23, 0, 0, 123456, tzinfo=UTC),
        None,
    ]
    assert result.failed is not None and result.failed.to_pylist() == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_json_and_text_encoding_follow_dlt() -> None:
    nested = pa.array([{"a": 1, "b": [1.5, None], "c": b"\x01"}, None])
    assert to_json_text(nested).to_pylist() == ['{"a":1,"b":[1.5,null],"c":"AQ=="}', None]
    assert to_text(pa.array([True, False, None])).to_pylist() == ["True", "False", None]
    assert to_text(pa.array([1.0, 2.5])).to_pylist() == ["1.0", "2.5"]
    assert to_text(pa.array([datetime.datetime(2024, 1, 1, tzinfo=UTC)])).to_pylist() == [
        "2024-01-01T00:00:00+00:00"
    ]


def test_optional_detections(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    pipeline.extract(
        [{"id": 1, "day": "2024-05-01", "seen": now.timestamp(), "count": 3}], table_name="t"
    )
    schema = pipeline.default_schema
    schema.settings["detections"] = ["iso_timestamp", "iso_date", "timestamp"]
    pipeline._save_schema(schema)
    pipeline.normalize()
    pipeline.load()
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame.schema["day"] == pl.Date
    assert frame.schema["seen"] == pl.Datetime("us", "UTC")
    assert frame.schema["count"] == pl.Int64  # far from now: not a timestamp
    assert frame["seen"].to_list() == [now]
