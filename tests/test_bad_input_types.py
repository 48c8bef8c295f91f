"""Bad input at extract and normalize: never a silently changed value, never a stuck pipeline.

Expected outcomes come from dlt's documented behaviour where dlt has one (docs/bad-input.md says
where quiver differs and why); tables are read back with polars, pyarrow or pyiceberg.
"""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import quiver
from quiver.errors import (
    EmptyArrowItem,
    NameCollisionError,
    NormalizeJobFailed,
    NullKeyError,
    PipelineStepFailed,
    ResourceExtractionError,
    RowConversionError,
    UnsupportedDataType,
    UnsupportedValue,
)
from quiver.extract.row_buffer import RowBuffer
from tests.readers import Lake

D = decimal.Decimal


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "bad") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _data(bucket: Path, table: str, sort_by: str = "id") -> pl.DataFrame:
    frame = pl.read_delta(str(bucket / "ds" / table))
    return frame.drop([c for c in frame.columns if c.startswith("_dlt")]).sort(sort_by)


def _fails_at_extract(pipeline: quiver.Pipeline, data: Any, **kwargs: Any) -> BaseException:
    """The run fails at extract, leaves no package, and the next run of good data loads."""
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(data, **kwargs)
    assert failed.value.step == "extract"
    assert pipeline.list_extracted_load_packages() == []
    assert pipeline.list_normalized_load_packages() == []
    info = pipeline.run([{"id": 1}], table_name="good_data")
    assert info is not None and not info.has_failed_jobs
    return failed.value.exception


# --------------------------------------------------------------------------------- decimals
def test_decimals_keep_every_digit(any_lake: Lake, pipelines_dir: str) -> None:
    values = [D("0.12345678901234567890123"), D("-1.5"), D("12345678901234.00000000000000000001")]
    pipeline = any_lake.pipeline(pipelines_dir, "decimals")
    pipeline.run([{"id": i, "v": v} for i, v in enumerate(values)], table_name="t")
    frame = any_lake.read("ds", "t").sort("id")
    # 14 integer digits and 23 fractional ones: one decimal(38, 23) holds all three exactly.
    assert frame.schema["v"] == pl.Decimal(38, 23)
    assert [D(str(v)) for v in frame["v"].to_list()] == values


def test_decimals_that_fit_dlts_default_get_it(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "v": D("1.25")}], table_name="t")
    assert _data(bucket, "t").schema["v"] == pl.Decimal(38, 9)
    assert pipeline.default_schema.tables["t"]["columns"]["v"]["data_type"] == "decimal"
    assert "scale" not in pipeline.default_schema.tables["t"]["columns"]["v"]


def test_a_later_decimal_with_more_scale_goes_to_a_variant(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "v": D("1.5")}], table_name="t")
    pipeline.run([{"id": 2, "v": D("0.0000000000001")}], table_name="t")
    frame = _data(bucket, "t")
    assert frame.schema["v"] == pl.Decimal(38, 9)
    assert frame.to_dicts() == [
        {"id": 1, "v": D("1.500000000"), "v__v_decimal": None},
        {"id": 2, "v": None, "v__v_decimal": D("0.0000000000001")},
    ]


def test_text_with_more_scale_than_a_decimal_hint_is_not_rounded(
    pipelines_dir: str, bucket: Path
) -> None:
    resource = quiver.resource(
        [{"id": 1, "price": "19.99"}, {"id": 2, "price": "19.999"}],
        name="t",
        columns={"price": {"data_type": "decimal", "precision": 10, "scale": 2}},
    )
    _pipeline(pipelines_dir, bucket).run(resource)
    assert _data(bucket, "t").to_dicts() == [
        {"id": 1, "price": D("19.99"), "price__v_text": None},
        {"id": 2, "price": None, "price__v_text": "19.999"},
    ]


@pytest.mark.parametrize(
    "value, says",
    [
        (D("NaN"), "not a finite number"),
        (D("-Infinity"), "not a finite number"),
        (D("1" * 45), "needs 45 digits"),
        (D("1E+50"), "needs 51 digits"),
    ],
    ids=["nan", "infinity", "45-digits", "exponent"],
)
def test_decimals_no_table_format_stores_fail_at_extract(
    pipelines_dir: str, bucket: Path, value: decimal.Decimal, says: str
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    error = _fails_at_extract(
        pipeline, [{"id": 1, "v": D("1.5")}, {"id": 2, "v": value}], table_name="t"
    )
    assert isinstance(error, UnsupportedValue) and isinstance(error, ValueError)
    assert (error.table_name, error.column_name) == ("t", "v")
    assert error.value.compare_total(value) == 0 and says in str(error)
    assert repr(value) in str(error) and "Hint:" in str(error)
    assert "raised" not in str(error)  # not blamed on the resource's code


def test_decimals_that_need_more_than_38_digits_together_fail(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    rows = [{"id": 1, "v": D("1" * 30)}, {"id": 2, "v": D("0." + "1" * 20)}]
    error = _fails_at_extract(pipeline, rows, table_name="t")
    assert isinstance(error, UnsupportedValue) and "30 integer and 20 fractional" in str(error)


# --------------------------------------------------------------------------------- integers
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**70])
def test_python_ints_outside_64_bits_fail_at_extract(
    pipelines_dir: str, bucket: Path, value: int
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    error = _fails_at_extract(pipeline, [{"id": 1, "n": 5}, {"id": 2, "n": value}], table_name="t")
    assert isinstance(error, UnsupportedValue)
    assert (error.table_name, error.column_name, error.value) == ("t", "n", value)
    assert str(value) in str(error)


def test_the_int64_bounds_themselves_load(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "n": 2**63 - 1}, {"id": 2, "n": -(2**63)}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    frame = _data(bucket, "t")
    assert frame.schema["n"] == pl.Int64 and frame["n"].to_list() == [2**63 - 1, -(2**63)]


# ------------------------------------------------------------------------------ other values
@pytest.mark.parametrize(
    "value, says",
    [
        (datetime.timedelta(days=1), "is a duration"),
        (complex(1, 2), "builtins.complex"),
        (object(), "builtins.object"),
    ],
    ids=["timedelta", "complex", "object"],
)
def test_values_dlt_cannot_serialize_fail_at_extract_not_as_text(
    pipelines_dir: str, bucket: Path, value: Any, says: str
) -> None:
    rows = [{"id": 1, "v": "text"}, {"id": 2, "v": value}]
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), rows, table_name="t")
    assert isinstance(error, UnsupportedValue) and error.value is value
    assert (error.table_name, error.column_name) == ("t", "v") and says in str(error)


def test_text_that_is_not_unicode_fails_at_extract(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "v": "fine"}, {"id": 2, "v": "a\ud800"}]
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), rows, table_name="t")
    assert isinstance(error, UnsupportedValue)
    assert (error.table_name, error.column_name, error.value) == ("t", "v", "a\ud800")


def test_pandas_missing_markers_are_nulls(pipelines_dir: str, bucket: Path) -> None:
    pd = pytest.importorskip("pandas")
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    rows = [{"id": 1, "n": pd.NA, "t": pd.NaT}, {"id": 2, "n": "x", "t": when}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    assert _data(bucket, "t").to_dicts() == [
        {"id": 1, "n": None, "t": None},
        {"id": 2, "n": "x", "t": when},
    ]


# ------------------------------------------------------------------------------- Arrow types
@pytest.mark.parametrize(
    "column, says",
    [
        (pa.array([5], pa.duration("s")), "duration[s]"),
        (pa.array([(1, 2, 3)], pa.month_day_nano_interval()), "month_day_nano_interval"),
        (
            pa.UnionArray.from_sparse(
                pa.array([0], pa.int8()), [pa.array([1]), pa.array(["a"])], ["i", "s"]
            ),
            "sparse_union",
        ),
        (pa.array([{"d": 5}], pa.struct([("d", pa.duration("ms"))])), "duration[ms]"),
        (pa.array([{}], pa.struct([])), "struct without fields"),
    ],
    ids=["duration", "interval", "union", "nested-duration", "empty-struct"],
)
def test_arrow_types_without_a_mapping_fail_at_extract(
    pipelines_dir: str, bucket: Path, column: pa.Array, says: str
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    error = _fails_at_extract(pipeline, pa.table({"id": [1], "odd": column}), table_name="t")
    assert isinstance(error, UnsupportedDataType)
    assert (error.table_name, error.column_name) == ("t", "odd")
    assert says in str(error) and "Hint: " in str(error)


def test_nanoseconds_are_not_truncated_silently(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    whole = pa.array([1_700_000_000_123_456_000, None], pa.timestamp("ns", "UTC"))
    pipeline.run(pa.table({"id": [1, 2], "ts": whole}), table_name="t")
    expected = datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.UTC)
    assert _data(bucket, "t")["ts"].to_list() == [expected, None]
    fraction = pa.array([1_700_000_000_123_456_000, 1_700_000_000_123_456_789], pa.timestamp("ns"))
    error = _fails_at_extract(pipeline, pa.table({"id": [3, 4], "ts": fraction}), table_name="t")
    assert isinstance(error, UnsupportedValue) and error.column_name == "ts"
    assert "1700000000123456789 ns" in str(error.value) and "nanoseconds" in str(error)


def test_decimal256_that_fits_38_digits_is_stored_exactly(
    any_lake: Lake, pipelines_dir: str
) -> None:
    values = [D("123456789012345678901234567890.12"), None, D("-0.05")]
    item = pa.table({"id": [1, 2, 3], "v": pa.array(values, pa.decimal256(50, 2))})
    any_lake.pipeline(pipelines_dir, "d256").run(item, table_name="t")
    frame = any_lake.read("ds", "t").sort("id")
    assert frame.schema["v"] == pl.Decimal(38, 2)
    assert [None if v is None else D(str(v)) for v in frame["v"].to_list()] == values


def test_decimal256_values_beyond_38_digits_fail_naming_one(
    pipelines_dir: str, bucket: Path
) -> None:
    values = [D("1.5"), D("1" * 40 + ".25")]
    item = pa.table({"id": [1, 2], "v": pa.array(values, pa.decimal256(45, 2))})
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), item, table_name="t")
    assert isinstance(error, UnsupportedValue)
    assert (error.table_name, error.column_name, error.value) == ("t", "v", values[1])


def test_uint64_values_in_range_load_and_beyond_it_fail(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(pa.table({"id": [1], "n": pa.array([2**63 - 1], pa.uint64())}), table_name="t")
    assert _data(bucket, "t")["n"].to_list() == [2**63 - 1]
    too_big = pa.table({"id": [2, 3], "n": pa.array([7, 2**64 - 1], pa.uint64())})
    error = _fails_at_extract(pipeline, too_big, table_name="t")
    assert isinstance(error, UnsupportedValue)
    assert (error.column_name, error.value) == ("n", 2**64 - 1)
    assert "decimal128(20, 0)" in str(error)
    assert _data(bucket, "t")["id"].to_list() == [1]  # nothing of the failed run was loaded


def test_lossless_conversions_keep_every_value(any_lake: Lake, pipelines_dir: str) -> None:
    """Unsigned ints become the signed type twice as wide; list views (which Iceberg cannot
    store) become lists, also inside structs and when the item is a slice."""
    lists = [[1, 2], None, [], [3]]
    item = pa.table(
        {
            "id": [0, 1, 2, 3, 4],
            "u8": pa.array([255, 0, None, 1, 2], pa.uint8()),
            "u16": pa.array([65535, 0, 1, 2, 3], pa.uint16()),
            "u32": pa.array([2**32 - 1, 0, 1, 2, 3], pa.uint32()),
            "lv": pa.array([[9], *lists], pa.list_view(pa.int64())),
            "s": pa.array(
                [{"a": [9]}, *({"a": v} for v in lists)],
                pa.struct([("a", pa.list_view(pa.int64()))]),
            ),
        }
    ).slice(1)  # an offset into every buffer
    pipeline = any_lake.pipeline(pipelines_dir, "lossless")
    pipeline.run(item, table_name="t")
    frame = any_lake.read("ds", "t").sort("id")
    # Iceberg's narrowest integer is 32 bits: it widens int16 itself.
    assert frame.schema["u8"] == (pl.Int16 if any_lake.table_format == "delta" else pl.Int32)
    assert frame.schema["u16"] == pl.Int32
    assert frame.schema["u32"] == pl.Int64
    assert frame.select("id", "u8", "u16", "u32").to_dicts() == [
        {"id": 1, "u8": 0, "u16": 0, "u32": 0},
        {"id": 2, "u8": None, "u16": 1, "u32": 1},
        {"id": 3, "u8": 1, "u16": 2, "u32": 2},
        {"id": 4, "u8": 2, "u16": 3, "u32": 3},
    ]
    # Arrow items keep their nested shape (json columns); null and empty lists differ.
    assert frame["lv"].to_list() == lists
    assert [row["a"] for row in frame["s"].to_list()] == lists


def test_uint32_max_is_stored_exactly(pipelines_dir: str, bucket: Path) -> None:
    item = pa.table({"id": [1], "n": pa.array([2**32 - 1], pa.uint32())})
    _pipeline(pipelines_dir, bucket).run(item, table_name="t")
    assert _data(bucket, "t")["n"].to_list() == [2**32 - 1]


def test_a_zero_column_arrow_item_with_rows_is_not_a_silent_success(
    pipelines_dir: str, bucket: Path
) -> None:
    item = pa.table({"x": [1, 2, 3]}).select([])
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), item, table_name="t")
    assert isinstance(error, EmptyArrowItem) and error.rows == 3 and error.table_name == "t"


# ------------------------------------------------------------------------------------- hints
def test_an_unknown_data_type_hint_fails_at_extract_with_a_suggestion(
    pipelines_dir: str, bucket: Path
) -> None:
    resource = quiver.resource(
        [{"id": 1, "v": 1}], name="t", columns={"v": {"data_type": "integr"}}
    )
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), resource)
    assert isinstance(error, UnsupportedDataType)
    assert (error.table_name, error.column_name) == ("t", "v")
    assert "Did you mean 'bigint'?" in str(error)


def test_a_decimal_hint_wider_than_38_fails_at_extract(pipelines_dir: str, bucket: Path) -> None:
    hint = {"v": {"data_type": "decimal", "precision": 50, "scale": 2}}
    resource = quiver.resource([{"id": 1, "v": D("1.5")}], name="t", columns=hint)
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), resource)
    assert isinstance(error, UnsupportedDataType) and "precision 50" in str(error)


# ------------------------------------------------------------------------------------- names
def test_keys_of_different_rows_with_one_name_share_the_column(
    pipelines_dir: str, bucket: Path
) -> None:
    rows = [{"id": 1, "Name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "NAME": 7}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    # dlt: one column `name`; the first type (text) wins and 7 coerces to "7".
    assert _data(bucket, "t").to_dicts() == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": "7"},
    ]


def test_a_later_key_of_another_type_keeps_the_first_type(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "Amount": 5}, {"id": 2, "amount": "lots"}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    assert _data(bucket, "t").to_dicts() == [
        {"id": 1, "amount": 5, "amount__v_text": None},
        {"id": 2, "amount": None, "amount__v_text": "lots"},
    ]


def test_keys_of_one_row_with_one_name_are_a_collision(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "Name": "a"}, {"id": 2, "Name": "b", "name": "c"}]
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(rows, table_name="t")
    job = failed.value.exception
    assert isinstance(job, NormalizeJobFailed) and isinstance(job.cause, NameCollisionError)
    assert job.cause.rows == 1 and job.cause.source_names == ("Name", "name")
    assert "'c'" in str(job.cause) and "1 row(s) hold both" in str(job.cause)


def test_a_flat_key_and_a_nested_one_share_the_column_across_rows(
    pipelines_dir: str, bucket: Path
) -> None:
    rows = [{"id": 1, "a__b": 1}, {"id": 2, "a": {"b": 2}}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    assert _data(bucket, "t").to_dicts() == [{"id": 1, "a__b": 1}, {"id": 2, "a__b": 2}]


def test_lists_under_colliding_keys(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "Tags": [1, 2]}, {"id": 2, "tags": [3]}], table_name="t")
    child = pl.read_delta(str(bucket / "ds" / "t__tags"))
    assert sorted(child["value"].to_list()) == [1, 2, 3]
    assert child["_dlt_id"].n_unique() == 3
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run([{"id": 3, "Tags": [1], "tags": [2]}], table_name="t")
    cause = failed.value.exception.cause  # type: ignore[attr-defined]
    assert isinstance(cause, NameCollisionError) and cause.rows == 1


def test_non_string_keys_become_names_as_dlt_writes_them(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, 98765: "x", True: 2, "nested": {7: "y"}}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    assert _data(bucket, "t").to_dicts() == [{"id": 1, "_98765": "x", "true": 2, "nested___7": "y"}]


def test_a_conversion_quiver_cannot_do_is_not_blamed_on_the_resource(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(buffer: Any) -> Any:
        raise TypeError("no conversion for this value")

    monkeypatch.setattr(RowBuffer, "to_batch", broken)
    error = _fails_at_extract_without_rerun(_pipeline(pipelines_dir, bucket), [{"id": 1}])
    assert isinstance(error, RowConversionError)
    assert (error.table_name, error.resource_name) == ("t", "t")
    assert "The resource did not fail" in str(error)
    assert "fix the resource" not in str(error)


def test_a_pandas_column_arrow_cannot_type_is_a_conversion_error(
    pipelines_dir: str, bucket: Path
) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2], "a": [1, "x"]})
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), frame, table_name="t")
    assert isinstance(error, RowConversionError) and error.table_name == "t"
    assert "column a" in str(error) and "'x'" in str(error)


def test_a_failing_arrow_stream_is_the_resources_error(pipelines_dir: str, bucket: Path) -> None:
    def batches() -> Any:
        yield pa.record_batch({"id": [1]})
        raise ConnectionError("the source went away")

    reader = pa.RecordBatchReader.from_batches(pa.schema({"id": pa.int64()}), batches())
    error = _fails_at_extract(_pipeline(pipelines_dir, bucket), reader, table_name="t")
    assert isinstance(error, ResourceExtractionError) and "the source went away" in str(error)


def _fails_at_extract_without_rerun(pipeline: quiver.Pipeline, data: Any) -> BaseException:
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(data, table_name="t")
    assert failed.value.step == "extract"
    return failed.value.exception


# ---------------------------------------------------------------------------- merge keys
@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_null_primary_keys_are_rejected_naming_table_key_and_count(
    pipelines_dir: str, bucket: Path, strategy: str
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    disposition = {"disposition": "merge", "strategy": strategy}
    rows = [{"id": 1, "v": "a"}, {"id": None, "v": "b"}, {"v": "c"}]
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(rows, table_name="t", write_disposition=disposition, primary_key="id")
    job = failed.value.exception
    assert isinstance(job, NormalizeJobFailed) and isinstance(job.cause, NullKeyError)
    cause = job.cause
    assert (cause.table_name, cause.column_name, cause.key_hint, cause.null_count) == (
        "t",
        "id",
        "primary_key",
        2,
    )
    assert cause.load_id == job.load_id and "Hint:" in str(cause)
    assert not (bucket / "ds" / "t").exists()


def test_null_merge_keys_are_rejected(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    rows = [{"id": 1, "day": "mon"}, {"id": 2, "day": None}]
    resource = quiver.resource(rows, name="t", write_disposition="merge", merge_key="day")
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(resource)
    cause = failed.value.exception.cause  # type: ignore[attr-defined]
    assert isinstance(cause, NullKeyError)
    assert (cause.column_name, cause.key_hint, cause.null_count) == ("day", "merge_key", 1)


def test_null_keys_go_to_dead_letters_under_discard_row(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    for _ in range(2):  # the rerun must not duplicate anything either
        pipeline.run(
            [{"id": 1, "v": "a"}, {"id": None, "v": "b"}],
            table_name="t",
            write_disposition="merge",
            primary_key="id",
            schema_contract={"data_type": "discard_row"},
        )
    assert _data(bucket, "t").to_dicts() == [{"id": 1, "v": "a"}]
    package = Path(pipeline.working_dir) / "loaded" / pipeline.list_completed_load_packages()[-1]
    dead = pa.concat_tables(pq.read_table(p) for p in (package / "discarded").glob("t.*.parquet"))
    assert dead.select(["id", "v", "_dlt_contract_column"]).to_pylist() == [
        {"id": None, "v": "b", "_dlt_contract_column": "id"}
    ]


def test_null_keys_outside_merge_load(pipelines_dir: str, bucket: Path) -> None:
    """Append and replace have no key to match: a null key is an ordinary value (as in dlt)."""
    rows = [{"id": 1}, {"id": None}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t", primary_key="id")
    assert _data(bucket, "t", sort_by="id")["id"].to_list() == [None, 1]


# ----------------------------------------------------------------------------- item shapes
def test_a_yielded_tuple_is_one_row_with_a_list(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(name="t")
    def tuples() -> Any:
        yield (1, 2)
        yield (3,)

    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(tuples())
    root = pl.read_delta(str(bucket / "ds" / "t"))
    assert root.height == 2  # dlt: {"value": [1, 2]} is one row, its list a nested table
    child = pl.read_delta(str(bucket / "ds" / "t__value")).sort("_dlt_parent_id", "_dlt_list_idx")
    by_parent: dict[str, list[Any]] = {}
    for row in child.to_dicts():
        by_parent.setdefault(row["_dlt_parent_id"], []).append(row["value"])
    assert sorted(by_parent.values(), key=len) == [[3], [1, 2]]
    assert set(by_parent) == set(root["_dlt_id"].to_list())


def test_none_items_write_no_rows(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([None, None], table_name="t")
    pipeline.run([{"id": 1}, None, {"id": 2}], table_name="u")
    assert not (bucket / "ds" / "t").exists()
    assert _data(bucket, "u")["id"].to_list() == [1, 2]


def test_a_users_dlt_load_id_is_overwritten(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run([{"id": 1, "_dlt_load_id": "mine"}], table_name="t")
    assert info is not None
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame["_dlt_load_id"].to_list() == [info.loads_ids[0]]
