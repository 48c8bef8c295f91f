"""The Arrow fast path: Arrow items that need no normalizing are written as parquet at extract
and passed through by normalize; everything else takes the regular path, with the same result.

Every test loads the same data twice, with the fast path on and switched off
(``EXTRACT__ARROW_FAST_PATH=false``: extract writes IPC files and normalize encodes them), and
compares what independent readers (polars on Delta, pyiceberg on Iceberg) read back, row by row.
Which files normalize passed through is observed by wrapping the real ``pass_through``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import quiver
from quiver.errors import (
    CannotCoerceNullError,
    DataValidationError,
    NormalizeJobFailed,
    PipelineStepFailed,
)
from quiver.normalize import normalizer, passthrough
from tests.readers import Lake

FORMATS = ["delta", "iceberg"]


@pytest.fixture
def passed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """``(table, passed through)`` for every extracted fast-path file normalize looked at.

    ``run()`` normalizes while it extracts by default (``normalize.overlap_extract``); these
    tests turn that off so that every package goes through the package loop's pass-through;
    ``test_runs_that_overlap_extract_and_normalize_...`` covers the default.
    """
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    seen: list[tuple[str, bool]] = []

    def recording(job_path: Path, target: Path, context: Any) -> Any:
        result = passthrough.pass_through(job_path, target, context)
        if job_path.name.endswith(".arrow.parquet"):
            seen.append((job_path.name.split(".")[0], result is not None))
        return result

    monkeypatch.setattr(normalizer, "pass_through", recording)
    return seen


def _lake(tmp_path: Path, table_format: str, name: str) -> Lake:
    return Lake(table_format, "local", f"file://{tmp_path / name}")


def _both_ways(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    table_format: str,
    load: Callable[[Any], Any],
) -> tuple[tuple[Lake, Any], tuple[Lake, Any]]:
    """Run ``load(pipeline)`` with the fast path on, then off; the lakes and the pipelines."""
    runs = []
    for fast in (True, False):
        monkeypatch.setenv("EXTRACT__ARROW_FAST_PATH", str(fast).lower())
        lake = _lake(tmp_path, table_format, f"lake_{fast}")
        pipeline = lake.pipeline(pipelines_dir, f"fast_{fast}")
        load(pipeline)
        runs.append((lake, pipeline))
    monkeypatch.delenv("EXTRACT__ARROW_FAST_PATH")
    return runs[0], runs[1]


def _same_tables(fast: tuple[Lake, Any], regular: tuple[Lake, Any], table: str, key: str) -> None:
    fast_frame = fast[0].read("ds", table).sort(key)
    regular_frame = regular[0].read("ds", table).sort(key)
    assert dict(fast_frame.schema) == dict(regular_frame.schema)
    # Lineage columns (rows get them, Arrow items do not) differ by run: compare where set.
    lineage = [c for c in ("_dlt_load_id", "_dlt_id") if c in fast_frame.columns]
    for column in lineage:
        assert fast_frame[column].is_null().to_list() == regular_frame[column].is_null().to_list()
    assert fast_frame.drop(lineage).to_dicts() == regular_frame.drop(lineage).to_dicts()
    fast_columns = fast[1].default_schema.tables[table]["columns"]
    regular_columns = regular[1].default_schema.tables[table]["columns"]
    assert fast_columns == regular_columns


def _events(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"user_{i % 7}" if i % 5 else None for i in ids]),
            "amount": pa.array([i * 1.25 for i in ids], pa.float64()),
            "active": pa.array([i % 2 == 0 for i in ids]),
            "created_at": pa.array(
                [datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)] * count,
                pa.timestamp("us", tz="UTC"),
            ),
            "tags": pa.array([[i, i + 1] for i in ids], pa.list_(pa.int64())),
        }
    )


def _arrow_kind() -> str:
    """The extracted file kind of plain Arrow items, by the setting of the current run."""
    return "arrow.parquet" if os.environ["EXTRACT__ARROW_FAST_PATH"] == "true" else "arrow"


def _extracted_kinds(pipeline: Any) -> list[str]:
    """The file kinds (extensions) of the pipeline's pending extracted packages."""
    folder = Path(pipeline.working_dir) / "extracted"
    return sorted({p.name.split(".", 3)[3] for p in folder.glob("*/jobs/new/*") if p.is_file()})


@pytest.mark.parametrize("table_format", FORMATS)
def test_plain_arrow_items_pass_through_and_load_the_same_rows(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    table_format: str,
) -> None:
    def load(pipeline: Any) -> None:
        # Two items, the second in two batches: several row groups, one schema.
        second = _events(3_000, 4_000)
        pipeline.run(
            quiver.resource(
                [_events(0, 3_000), pa.Table.from_batches(second.to_batches(max_chunksize=2_500))],
                name="events",
            )
        )

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, table_format, load)
    assert passed and all(ok for _, ok in passed)
    _same_tables(fast, regular, "events", "id")
    rows = fast[0].rows("ds", "events", "id")
    assert len(rows) == 7_000
    assert rows[6] == {
        "id": 6,
        "name": "user_6",
        "amount": 7.5,
        "active": True,
        "created_at": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        "tags": [6, 7],
    }
    assert rows[5]["name"] is None
    # The row counts the pipeline reports are those of the data.
    trace = fast[1].last_trace.last_normalize_info
    assert trace.row_counts["events"] == 7_000


def test_the_passed_file_is_the_extracted_one(
    tmp_path: Path, pipelines_dir: str, passed: list[tuple[str, bool]]
) -> None:
    """Nothing is encoded twice: the normalized file is the extracted file (same inode)."""
    lake = _lake(tmp_path, "delta", "lake")
    pipeline = lake.pipeline(pipelines_dir, "linked")
    pipeline.extract(quiver.resource(_events(0, 100), name="events"))
    extracted = list((Path(pipeline.working_dir) / "extracted").glob("*/jobs/new/*.arrow.parquet"))
    assert len(extracted) == 1
    inode = extracted[0].stat().st_ino
    pipeline.normalize()
    normalized = list((Path(pipeline.working_dir) / "normalized").glob("*/jobs/new/*.parquet"))
    assert [p.stat().st_ino for p in normalized] == [inode]
    assert passed == [("events", True)]
    pipeline.load()
    assert len(lake.rows("ds", "events", "id")) == 100


@pytest.mark.parametrize("table_format", FORMATS)
def test_int32_into_an_existing_int64_column_is_coerced(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    table_format: str,
) -> None:
    def load(pipeline: Any) -> None:
        pipeline.run(quiver.resource(pa.table({"id": pa.array([1, 2], pa.int64())}), name="t"))
        pipeline.run(quiver.resource(pa.table({"id": pa.array([3, 4], pa.int32())}), name="t"))

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, table_format, load)
    assert passed == [("t", True), ("t", False)]
    _same_tables(fast, regular, "t", "id")
    assert [r["id"] for r in fast[0].rows("ds", "t", "id")] == [1, 2, 3, 4]
    assert fast[0].read("ds", "t").schema["id"] == regular[0].read("ds", "t").schema["id"]


@pytest.mark.parametrize("table_format", FORMATS)
def test_a_string_into_an_existing_int_column_goes_to_a_variant(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    table_format: str,
) -> None:
    def load(pipeline: Any) -> None:
        pipeline.run(quiver.resource(pa.table({"k": [1, 2], "v": [10, 20]}), name="t"))
        pipeline.run(quiver.resource(pa.table({"k": [3, 4], "v": ["30", "x"]}), name="t"))

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, table_format, load)
    assert passed == [("t", True), ("t", False)]
    _same_tables(fast, regular, "t", "k")
    # dlt coerces "30" into the bigint column; "x" does not fit and goes to the variant.
    rows = fast[0].rows("ds", "t", "k")
    assert [(r["v"], r["v__v_text"]) for r in rows] == [
        (10, None),
        (20, None),
        (30, None),
        (None, "x"),
    ]


def _failure(run: Callable[[], Any]) -> BaseException:
    with pytest.raises(PipelineStepFailed) as failed:
        run()
    job = failed.value.__context__
    assert isinstance(job, NormalizeJobFailed)
    assert job.__context__ is not None
    return job.__context__


def test_nulls_in_a_non_nullable_column_fail_as_on_the_regular_path(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
) -> None:
    # The null is in the item's second batch: the first row group alone would pass.
    item = pa.Table.from_batches(
        pa.table({"k": [1, 2, 3, 4], "v": [1, 2, None, 4]}).to_batches(max_chunksize=2)
    )
    errors = []
    for fast in ("true", "false"):
        monkeypatch.setenv("EXTRACT__ARROW_FAST_PATH", fast)
        pipeline = _lake(tmp_path, "delta", f"lake_{fast}").pipeline(pipelines_dir, f"p_{fast}")
        resource = quiver.resource(item, name="t", columns={"v": {"nullable": False}})
        errors.append(_failure(lambda: pipeline.run(resource)))  # noqa: B023
    assert passed == [("t", False)]
    for error in errors:
        assert isinstance(error, CannotCoerceNullError)
        assert (error.table_name, error.column_name, error.null_count) == ("t", "v", 1)
    assert str(errors[0]).split(" of package")[0] == str(errors[1]).split(" of package")[0]


def test_a_new_column_under_a_freeze_contract_fails_as_on_the_regular_path(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
) -> None:
    errors = []
    for fast in ("true", "false"):
        monkeypatch.setenv("EXTRACT__ARROW_FAST_PATH", fast)
        lake = _lake(tmp_path, "delta", f"lake_{fast}")
        pipeline = lake.pipeline(pipelines_dir, f"p_{fast}")
        pipeline.run(quiver.resource(pa.table({"k": [1]}), name="t"))
        frozen = quiver.resource(
            pa.table({"k": [2], "extra": ["hello"]}), name="t", schema_contract="freeze"
        )
        errors.append(_failure(lambda: pipeline.run(frozen)))  # noqa: B023
        assert [r["k"] for r in lake.rows("ds", "t", "k")] == [1]
    assert passed == [("t", True), ("t", False)]
    for error in errors:
        assert isinstance(error, DataValidationError)
        assert (error.table_name, error.column_name, error.example) == ("t", "extra", "hello")


@pytest.mark.parametrize("table_format", FORMATS)
def test_names_that_are_not_normalized_take_the_regular_path(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    table_format: str,
) -> None:
    def load(pipeline: Any) -> None:
        pipeline.extract(quiver.resource(pa.table({"Some Column": [1, 2], "id": [1, 2]}), name="t"))
        assert _extracted_kinds(pipeline) == ["arrow"]  # fast path on or off
        pipeline.normalize()
        pipeline.load()

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, table_format, load)
    assert passed == []
    _same_tables(fast, regular, "t", "id")
    assert [r["some_column"] for r in fast[0].rows("ds", "t", "id")] == [1, 2]


@pytest.mark.parametrize("table_format", FORMATS)
def test_pending_packages_are_checked_against_the_schema_as_evolved(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    table_format: str,
) -> None:
    """Both packages are extracted before either is normalized: when the second is, the first
    has made ``v`` a bigint, so the second's strings must be coerced (not passed through)."""

    def load(pipeline: Any) -> None:
        pipeline.extract(quiver.resource(pa.table({"k": [1], "v": [10]}), name="t"))
        pipeline.extract(quiver.resource(pa.table({"k": [2, 3], "v": ["20", "x"]}), name="t"))
        assert _extracted_kinds(pipeline) == [_arrow_kind()]
        pipeline.normalize()
        pipeline.load()

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, table_format, load)
    assert passed == [("t", True), ("t", False)]
    _same_tables(fast, regular, "t", "k")
    rows = fast[0].rows("ds", "t", "k")
    assert [(r["v"], r["v__v_text"]) for r in rows] == [(10, None), (20, None), (None, "x")]


@pytest.mark.parametrize("arrow_first", [True, False])
def test_mixed_arrow_and_dict_items_keep_the_extraction_order(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    arrow_first: bool,
) -> None:
    """The first data extracted decides a column's type (dlt): Arrow ints first make ``v`` a
    bigint (the later string goes to a variant); the dict's string first makes it text."""
    arrow = pa.table({"k": [1, 2], "v": [10, 20]})
    rows = [{"k": 3, "v": "x"}]

    @quiver.resource(name="t")
    def mixed() -> Iterator[Any]:
        yield from ([arrow, rows] if arrow_first else [rows, arrow])

    fast, regular = _both_ways(
        tmp_path, pipelines_dir, monkeypatch, "delta", lambda p: p.run(mixed())
    )
    _same_tables(fast, regular, "t", "k")
    columns = fast[1].default_schema.tables["t"]["columns"]
    if arrow_first:
        assert columns["v"]["data_type"] == "bigint"
        assert passed == [("t", True)]
        assert [(r["v"], r["v__v_text"]) for r in fast[0].rows("ds", "t", "k")] == [
            (10, None),
            (20, None),
            (None, "x"),
        ]
    else:
        assert columns["v"]["data_type"] == "text"
        assert passed == [("t", False)]
        assert [r["v"] for r in fast[0].rows("ds", "t", "k")] == ["10", "20", "x"]


def test_a_package_extracted_before_a_crash_normalizes_on_the_next_run(
    tmp_path: Path, pipelines_dir: str, passed: list[tuple[str, bool]]
) -> None:
    lake = _lake(tmp_path, "iceberg", "lake")
    pipeline = lake.pipeline(pipelines_dir, "crashy")
    pipeline.extract(quiver.resource(_events(0, 500), name="events"))
    assert _extracted_kinds(pipeline) == ["arrow.parquet"]
    # A new process: the pipeline is attached again, its pending package runs first.
    again = lake.pipeline(pipelines_dir, "crashy")
    assert again.has_pending_data
    again.run(quiver.resource(_events(500, 500), name="events"))
    assert passed == [("events", True), ("events", True)]
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == list(range(1_000))


def test_changed_parquet_settings_encode_the_file_again(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
) -> None:
    lake = _lake(tmp_path, "delta", "lake")
    pipeline = lake.pipeline(pipelines_dir, "codec")
    pipeline.extract(quiver.resource(_events(0, 100), name="events"))
    monkeypatch.setenv("NORMALIZE__PARQUET__COMPRESSION", "zstd")
    pipeline.normalize()
    assert passed == [("events", False)]
    normalized = list((Path(pipeline.working_dir) / "normalized").glob("*/jobs/new/*.parquet"))
    assert len(normalized) == 1
    assert pq.ParquetFile(normalized[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    pipeline.load()
    assert len(lake.rows("ds", "events", "id")) == 100


@pytest.mark.parametrize(
    "kind",
    [pa.string_view(), pa.large_string(), pa.dictionary(pa.int32(), pa.string()), pa.float32()],
    ids=str,
)
def test_types_that_normalize_casts_take_the_regular_path(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    kind: pa.DataType,
) -> None:
    values = pa.array(["a", "b", None]) if kind != pa.float32() else pa.array([1.5, 2.5, None])
    item = pa.table({"k": [1, 2, 3], "v": values.cast(kind)})

    def load(pipeline: Any) -> None:
        pipeline.extract(quiver.resource(item, name="t"))
        assert _extracted_kinds(pipeline) == ["arrow"]
        pipeline.normalize()
        pipeline.load()

    fast, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, "delta", load)
    assert passed == []
    _same_tables(fast, regular, "t", "k")
    assert [r["v"] for r in fast[0].rows("ds", "t", "k")] == values.to_pylist()


def test_runs_that_overlap_extract_and_normalize_link_plain_arrow_files(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    passed: list[tuple[str, bool]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The default ``run()`` overlaps extract and normalize: plain Arrow items are still
    written as parquet once (never streamed, never encoded twice) and linked in when the
    streamed result is handed over, beside a table of rows that was normalized meanwhile.
    The tables are those of the regular path."""

    def load(pipeline: Any) -> None:
        pipeline.run(
            [
                quiver.resource(_events(0, 3_000), name="events"),
                quiver.resource(
                    [{"id": i, "geo": {"country": "PL"}, "items": [{"sku": i}]} for i in range(50)],
                    name="orders",
                ),
            ]
        )

    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "true")
    with caplog.at_level("INFO", logger="quiver"):
        overlapped, regular = _both_ways(tmp_path, pipelines_dir, monkeypatch, "delta", load)
    # The fast-path run linked its Arrow file; the regular run wrote IPC and no parquet.
    assert passed == [("events", True)]
    assert "is normalized from its extracted files" not in caplog.text
    _same_tables(overlapped, regular, "events", "id")
    _same_tables(overlapped, regular, "orders", "id")
    # Child rows hang on random parent ids: compare their values.
    skus = [
        sorted(r["sku"] for r in run[0].rows("ds", "orders__items", "sku"))
        for run in (overlapped, regular)
    ]
    assert skus[0] == skus[1] == list(range(50))
    assert len(overlapped[0].rows("ds", "events", "id")) == 3_000
