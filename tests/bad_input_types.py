"""Bad-input cases (issue 14) about Arrow types, hints, merge keys, incremental cursors and
locations. Expected rows are written by hand from dlt's rules (see tests/bad_input_model.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from tests.bad_input_model import (
    ABOVE_INT64,
    AWARE,
    AWARE_AS_UTC,
    NAIVE,
    NAIVE_AS_UTC,
    UTC,
    Case,
    arrow,
    incremental_resource,
    keeps,
    one_row_per_key,
    rows,
)


def arrow_type_cases() -> list[Case]:
    return [
        Case(
            "arrow_duration",
            arrow(id=pa.array([1]), v=pa.array([dt.timedelta(seconds=90)], pa.duration("us"))),
            check=keeps(dt.timedelta(seconds=90), 90_000_000),
            error=("t", "v", "duration"),
            fast=True,
        ),
        Case(
            "arrow_union",
            lambda: pa.table(
                {
                    "id": pa.array([1, 2]),
                    "v": pa.UnionArray.from_sparse(
                        pa.array([0, 1], pa.int8()),
                        [pa.array([1, 2], pa.int64()), pa.array(["a", "b"])],
                    ),
                }
            ),
            error=("t", "v", "sparse_union"),
            absent=("t",),
        ),
        Case(
            "arrow_decimal256_fits",
            arrow(id=pa.array([1]), v=pa.array([Decimal("12345.67")], pa.decimal256(20, 2))),
            tables={"t": [{"id": 1, "v": Decimal("12345.67")}]},
        ),
        Case(
            "arrow_decimal256_wide",
            arrow(
                id=pa.array([1]),
                v=pa.array(
                    [Decimal("1234567890123456789012345678901234567890.5")], pa.decimal256(50, 1)
                ),
            ),
            check=keeps(Decimal("1234567890123456789012345678901234567890.5")),
            error=("t", "v", "decimal256"),
        ),
        Case(
            "arrow_dictionary",
            arrow(id=pa.array([1, 2, 3]), v=pa.array(["a", "b", "a"]).dictionary_encode()),
            tables={"t": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "a"}]},
        ),
        Case(
            "arrow_fixed_size_list",
            arrow(id=pa.array([1]), v=pa.array([[1, 2]], pa.list_(pa.int64(), 2))),
            tables={"t": [{"id": 1, "v": [1, 2]}]},
        ),
        Case(
            "arrow_map",
            arrow(id=pa.array([1]), v=pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))),
            tables={"t": [{"id": 1, "v": [("k", 1)]}]},
        ),
        Case(
            "arrow_null_type",
            arrow(id=pa.array([1, 2]), v=pa.nulls(2)),
            tables={"t": [{"id": 1}, {"id": 2}]},
        ),
        Case(
            "arrow_uint64_above_int64",
            arrow(id=pa.array([1]), v=pa.array([ABOVE_INT64], pa.uint64())),
            check=keeps(ABOVE_INT64, Decimal(ABOVE_INT64)),
            error=("t", "v", str(ABOVE_INT64)),
        ),
        Case(
            "arrow_uint64_in_range",
            arrow(id=pa.array([1]), v=pa.array([7], pa.uint64())),
            tables={"t": [{"id": 1, "v": 7}]},
        ),
        Case(
            "arrow_float16",
            arrow(id=pa.array([1]), v=pa.array([1.5], pa.float16())),
            check=keeps(1.5),
            error=("t", "v", "float16"),
        ),
        Case(
            "arrow_timestamp_ns_whole_us",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_123_456_000], pa.timestamp("ns", tz="UTC")),
            ),
            tables={"t": [{"id": 1, "v": dt.datetime(2023, 11, 14, 22, 13, 20, 123456, UTC)}]},
        ),
        Case(
            # a nanosecond cannot be stored in a microsecond column: keep it or say so
            "arrow_timestamp_ns_fraction",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="UTC")),
            ),
            check=keeps(1_700_000_000_123_456_789),
            error=("t", "v", "nanosecond"),
        ),
        Case(
            "arrow_timestamp_new_york",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_000_000], pa.timestamp("us", tz="America/New_York")),
            ),
            tables={"t": [{"id": 1, "v": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)}]},
        ),
        Case(
            # dlt keeps it naive (timezone: false); read as UTC is the same instant
            "arrow_naive_timestamp",
            arrow(id=pa.array([1]), v=pa.array([NAIVE], pa.timestamp("us"))),
            check=keeps(NAIVE, NAIVE_AS_UTC),
        ),
        Case(
            "arrow_date64_time32",
            arrow(
                id=pa.array([1]),
                d=pa.array([dt.date(2024, 2, 29)], pa.date64()),
                tm=pa.array([dt.time(1, 2, 3)], pa.time32("s")),
            ),
            tables={"t": [{"id": 1, "d": dt.date(2024, 2, 29), "tm": dt.time(1, 2, 3)}]},
        ),
        Case(
            "arrow_large_binary",
            arrow(id=pa.array([1]), v=pa.array([b"\x00\x01"], pa.large_binary())),
            tables={"t": [{"id": 1, "v": b"\x00\x01"}]},
        ),
        Case(
            "arrow_small_ints",
            arrow(
                id=pa.array([1]),
                a=pa.array([-128], pa.int8()),
                b=pa.array([32767], pa.int16()),
            ),
            tables={"t": [{"id": 1, "a": -128, "b": 32767}]},
        ),
        Case(
            "arrow_small_unsigned_ints",
            arrow(
                id=pa.array([1, 2]),
                a=pa.array([255, 0], pa.uint8()),
                b=pa.array([65535, 1], pa.uint16()),
                c=pa.array([4294967295, 2], pa.uint32()),
            ),
            tables={
                "t": [
                    {"id": 1, "a": 255, "b": 65535, "c": 4294967295},
                    {"id": 2, "a": 0, "b": 1, "c": 2},
                ]
            },
        ),
        Case(
            "arrow_bool_nulls",
            arrow(id=pa.array([1, 2, 3]), v=pa.array([True, None, False])),
            tables={"t": [{"id": 1, "v": True}, {"id": 2}, {"id": 3, "v": False}]},
        ),
        Case(
            "arrow_record_batch",
            lambda: pa.RecordBatch.from_pydict({"id": [1, 2], "v": ["a", None]}),
            tables={"t": [{"id": 1, "v": "a"}, {"id": 2}]},
            targets=("local", "sql"),
        ),
    ]


def hint_cases() -> list[Case]:
    return [
        Case(
            "unknown_data_type",
            rows({"id": 1, "v": 1}),
            hints={"columns": {"v": {"data_type": "integr"}}},
            error=("t", "v", "integr"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "bad_write_disposition",
            rows({"id": 1}),
            hints={"write_disposition": "appendd"},
            error=("appendd",),
            absent=("t",),
        ),
        Case(
            "bad_merge_strategy",
            rows({"id": 1}),
            hints={
                "write_disposition": {"disposition": "merge", "strategy": "upsertt"},
                "primary_key": "id",
            },
            error=("upsertt",),
            absent=("t",),
        ),
        Case(
            "primary_key_missing_column",
            rows({"id": 1, "v": "a"}),
            hints={"write_disposition": "merge", "primary_key": "nope"},
            error=("t", "nope"),
            absent=("t",),
        ),
        Case(
            "not_nullable_with_null",
            rows({"id": 1, "v": "a"}, {"id": 2, "v": None}),
            hints={"columns": {"v": {"data_type": "text", "nullable": False}}},
            error=("t", "v", "None"),
            absent=("t",),
            targets=("local", "sql"),
        ),
        Case(
            "decimal_hint_scale_too_small",
            rows({"id": 1, "v": Decimal("1.234")}),
            hints={"columns": {"v": {"data_type": "decimal", "precision": 5, "scale": 2}}},
            check=keeps(Decimal("1.234"), "1.234"),
            error=("t", "v", "1.234"),
        ),
        Case(
            "decimal_hint_fits",
            rows({"id": 1, "v": Decimal("123.45")}),
            hints={"columns": {"v": {"data_type": "decimal", "precision": 5, "scale": 2}}},
            tables={"t": [{"id": 1, "v": Decimal("123.45")}]},
        ),
        Case(
            "bigint_hint_with_text",
            rows({"id": 1, "v": "12"}),
            hints={"columns": {"v": {"data_type": "bigint"}}},
            tables={"t": [{"id": 1, "v": 12}]},
        ),
        Case(
            "text_hint_with_ints",
            rows({"id": 1, "v": 1}, {"id": 2, "v": "x"}),
            hints={"columns": {"v": {"data_type": "text"}}},
            tables={"t": [{"id": 1, "v": "1"}, {"id": 2, "v": "x"}]},
        ),
        Case(
            "int16_hint_overflow",
            rows({"id": 1, "v": 40000}),
            hints={"columns": {"v": {"data_type": "bigint", "precision": 16}}},
            check=keeps(40000),
            error=("t", "v", "40000"),
        ),
        Case(
            "timezone_false_hint",
            rows({"id": 1, "v": AWARE}),
            hints={"columns": {"v": {"data_type": "timestamp", "timezone": False}}},
            tables={"t": [{"id": 1, "v": AWARE_AS_UTC.replace(tzinfo=None)}]},
        ),
        Case(
            "hinted_column_without_data",
            rows({"id": 1}),
            hints={"columns": {"w": {"data_type": "text"}}},
            tables={"t": [{"id": 1, "w": None}]},
        ),
        Case(
            "primary_key_on_append",
            rows({"id": 1, "v": "a"}),
            hints={"primary_key": "id"},
            tables={"t": [{"id": 1, "v": "a"}]},
        ),
    ]


def merge_cases() -> list[Case]:
    merge = {"write_disposition": "merge", "primary_key": "id"}
    return [
        Case(
            "merge_null_key",
            rows({"id": 1, "v": "a"}, {"id": None, "v": "b"}),
            hints=merge,
            error=("t", "id", "null"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "merge_compound_key_null",
            rows({"a": 1, "b": 1, "v": "x"}, {"a": 1, "b": None, "v": "y"}),
            hints={"write_disposition": "merge", "primary_key": ("a", "b")},
            error=("t", "b", "null"),
            absent=("t",),
        ),
        Case(
            "merge_duplicate_keys_in_load",
            rows({"id": 1, "v": "a"}, {"id": 1, "v": "b"}),
            hints=merge,
            check=one_row_per_key({"a", "b"}),
            targets=("local", "sql"),
        ),
        Case(
            "merge_updates",
            rows({"id": 1, "v": "z"}),
            hints=merge,
            prepare=((rows({"id": 1, "v": "a"}, {"id": 2, "v": "b"}), merge),),
            tables={"t": [{"id": 1, "v": "z"}, {"id": 2, "v": "b"}]},
        ),
        Case(
            "replace",
            rows({"id": 1, "v": "a"}),
            hints={"write_disposition": "replace"},
            prepare=((rows({"id": 9, "v": "old"}), {}),),
            tables={"t": [{"id": 1, "v": "a"}]},
        ),
    ]


def incremental_cases() -> list[Case]:
    return [
        Case(
            "cursor_null",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": None}]),
            error=("t", "ts", "None"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "cursor_missing",
            incremental_resource(lambda: [{"id": 1}]),
            error=("t", "ts"),
            absent=("t",),
        ),
        Case(
            "cursor_mixed_types",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": "2"}]),
            error=("t", "ts", "'2'"),
            absent=("t",),
        ),
        Case(
            "cursor_null_included",
            incremental_resource(
                lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": None}],
                on_cursor_value_missing="include",
            ),
            tables={"t": [{"id": 1, "ts": 1}, {"id": 2}]},
            # the rerun filters ts=1 (seen) and includes the null row again
            rerun={"t": [{"id": 1, "ts": 1}, {"id": 2}, {"id": 2}]},
        ),
        Case(
            "cursor_rerun_deduplicates",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]),
            tables={"t": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]},
            rerun={"t": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]},
        ),
        Case(
            "arrow_cursor_null",
            incremental_resource(
                lambda: pa.table({"id": [1, 2], "ts": pa.array([1, None], pa.int64())})
            ),
            error=("t", "ts"),
            absent=("t",),
        ),
    ]


def location_cases() -> list[Case]:
    return [
        Case(
            "dataset_name_with_spaces",
            rows({"id": 1}),
            dataset="My Dataset",
            read_dataset="my_dataset",
            tables={"t": [{"id": 1}]},
        ),
        Case(
            # dlt normalizes it to `_x`, inside the bucket; refusing it clearly is fine too.
            # The harness checks that nothing was written outside the bucket.
            # dlt normalizes '../../x' to '_x' and loads; quiver refuses a path as a dataset name
            # before any work (docs/bad-input.md, "Dataset names"): either keeps the bucket whole
            "dataset_name_escapes",
            rows({"id": 1}),
            dataset="../../x",
            read_dataset="_x",
            tables={"t": [{"id": 1}]},
            error=("../../x",),
            targets=("escape",),
        ),
        Case(
            "missing_bucket",
            rows({"id": 1}),
            error=("no-such-bucket",),
            targets=("missing_bucket",),
        ),
        Case(
            "unreachable_endpoint",
            rows({"id": 1}),
            error=("127.0.0.1:9",),
            targets=("unreachable",),
        ),
        Case(
            "bucket_is_a_file",
            rows({"id": 1}),
            error=("not_a_folder",),
            targets=("file_bucket",),
        ),
        Case(
            # s3://KEY:SECRET@bucket: loads (moto takes any key) or fails clearly; either way
            # the harness finds the secret in no error, warning, output or working-folder file
            "secret_in_bucket_url",
            rows({"id": 1}),
            tables={"t": [{"id": 1}]},
            error=("hint",),
            targets=("secret_url",),
        ),
        Case(
            # the lake on a 2 MB tmpfs; 3 MB of incompressible text cannot fit
            "disk_full",
            lambda: [{"id": i, "v": _noise(i)} for i in range(3)],
            error=("space",),
            targets=("disk_full",),
        ),
    ]


def _noise(seed: int) -> str:
    import random

    return random.Random(seed).randbytes(500_000).hex()  # 1 MB that does not compress
