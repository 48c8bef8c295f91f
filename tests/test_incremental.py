"""Incremental loading: cursors in the state, vectorized filtering, bounded de-duplication."""

# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.errors import (
    IncrementalArgumentError,
    IncrementalCursorPathHasValueNone,
    IncrementalCursorPathMissing,
    IncrementalCursorTypeError,
    IncrementalUnboundError,
)
from quiver.extract.incremental import Incremental
from quiver.extract.incremental_filter import CursorFilter
from tests.extract_support import extracted_rows, make_pipeline, package_tables, table_rows

UTC = datetime.UTC


def _cursor_state(pipeline: quiver.Pipeline, resource: str, cursor: str) -> dict[str, Any]:
    source = pipeline.state["sources"][pipeline.default_schema_name]
    state: dict[str, Any] = source["resources"][resource]["incremental"][cursor]
    return state


def _ids(bucket: Path, table: str) -> list[int]:
    return [r["id"] for r in table_rows(bucket, table)]


# ---------------------------------------------------------------------- declaring it


def test_argument_default_loads_only_new_rows(pipelines_dir: str, bucket: Path) -> None:
    source_rows = [{"id": i, "updated": i} for i in range(5)]
    seen_start: list[Any] = []

    @quiver.resource(primary_key="id")
    def events(updated=quiver.sources.incremental("updated", initial_value=0)):
        seen_start.append(updated.last_value)
        yield source_rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(events())
    assert _cursor_state(pipeline, "events", "updated") == {
        "initial_value": 0,
        "last_value": 4,
        "unique_hashes": [_cursor_state(pipeline, "events", "updated")["unique_hashes"][0]],
        "start_value": 0,
    }
    source_rows.extend({"id": i, "updated": i} for i in range(5, 8))
    pipeline.run(events())
    assert _ids(bucket, "events") == list(range(8))
    assert seen_start == [0, 4]
    state = _cursor_state(pipeline, "events", "updated")
    assert state["last_value"] == 7 and state["start_value"] == 4
    # The cursor column carries the incremental hint.
    assert pipeline.default_schema.tables["events"]["columns"]["updated"]["incremental"] is True


def test_decorator_and_apply_hints_forms(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "ts": i} for i in range(4)]

    @quiver.resource(incremental=quiver.sources.incremental("ts", initial_value=2))
    def via_decorator():
        yield rows

    via_hints = quiver.resource(rows, name="via_hints").apply_hints(
        incremental=quiver.sources.incremental("ts", initial_value=1)
    )
    make_pipeline(pipelines_dir, bucket).run([via_decorator, via_hints])
    assert _ids(bucket, "via_decorator") == [2, 3]
    assert _ids(bucket, "via_hints") == [1, 2, 3]


def test_explicit_argument_merges_with_the_default() -> None:
    @quiver.resource
    def items(cursor=quiver.sources.incremental("v", initial_value=0)):
        yield [{"v": v} for v in range(10)]

    assert [r["v"] for r in items(quiver.sources.incremental(initial_value=5, end_value=8))] == [
        5,
        6,
        7,
    ]
    assert [r["v"] for r in items(7)] == [7, 8, 9]  # a bare value is the initial value
    assert len(list(items(None))) == 10  # None switches the incremental off


def test_typed_incremental_and_unbound_errors() -> None:
    typed = Incremental[int]("id", initial_value=1)
    assert typed.last_value == 1 and typed.start_value == 1
    with pytest.raises(IncrementalUnboundError):
        typed.get_state()
    with pytest.raises(IncrementalArgumentError, match="last_value_func"):
        quiver.sources.incremental("id", last_value_func="median")  # type: ignore[arg-type]
    with pytest.raises(IncrementalArgumentError, match="on_cursor_value_missing") as caught:
        quiver.sources.incremental("id", on_cursor_value_missing="exclud")  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert "did you mean 'exclude'?" in str(caught.value).lower()
    with pytest.raises(IncrementalArgumentError, match="initial_value"):
        quiver.sources.incremental("id", end_value=5).bind("r", {})
    with pytest.raises(IncrementalArgumentError, match="must come after"):
        quiver.sources.incremental("id", initial_value=9, end_value=5).bind("r", {})


# ---------------------------------------------------------------------- filtering semantics


def test_boundary_rows_are_deduplicated(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}, {"id": 3, "ts": 2}]

    @quiver.resource(primary_key="id")
    def items(ts=quiver.sources.incremental("ts")):
        yield rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(items())
    assert len(_cursor_state(pipeline, "items", "ts")["unique_hashes"]) == 2
    # The same rows again, plus a new row at the boundary value and one after it.
    rows.extend([{"id": 4, "ts": 2}, {"id": 5, "ts": 3}])
    pipeline.run(items())
    assert _ids(bucket, "items") == [1, 2, 3, 4, 5]


def test_dedup_keys(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "ts": 1, "v": "a"}]

    def make(name: str, **kwargs: Any) -> quiver.Resource:
        @quiver.resource(name=name)
        def items(ts=quiver.sources.incremental("ts", **kwargs)):
            yield rows

        return items

    resources = {
        "whole_row": make("whole_row"),
        "by_key": make("by_key", primary_key="id"),
        "no_dedup": make("no_dedup", primary_key=()),
        "open_start": make("open_start", range_start="open"),
    }
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(list(resources.values()))
    rows[0] = {"id": 1, "ts": 1, "v": "changed"}  # same key, same cursor, other content
    pipeline.run(list(resources.values()))
    assert len(table_rows(bucket, "whole_row")) == 2  # the row changed: its hash is new
    assert len(table_rows(bucket, "by_key")) == 1
    assert len(table_rows(bucket, "no_dedup")) == 2
    assert len(table_rows(bucket, "open_start")) == 1  # rows at the start value are excluded
    assert _cursor_state(pipeline, "no_dedup", "ts")["unique_hashes"] == []


def test_min_and_custom_last_value_func(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "ts": i} for i in range(10)]

    @quiver.resource(primary_key="id")
    def descending(ts=quiver.sources.incremental("ts", initial_value=5, last_value_func="min")):
        yield rows

    def newest(values: Any) -> Any:
        return max(values)

    @quiver.resource(primary_key="id")
    def custom(ts=quiver.sources.incremental("ts", initial_value=7, last_value_func=newest)):
        yield rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run([descending, custom])
    assert _ids(bucket, "descending") == [0, 1, 2, 3, 4, 5]
    assert _cursor_state(pipeline, "descending", "ts")["last_value"] == 0
    assert _ids(bucket, "custom") == [7, 8, 9]
    assert _cursor_state(pipeline, "custom", "ts")["last_value"] == 9


def test_end_value_is_stateless_and_ranges(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "ts": i} for i in range(10)]

    @quiver.resource
    def ranged(ts=quiver.sources.incremental("ts", initial_value=2, end_value=5)):
        yield rows

    closed = quiver.resource(rows, name="closed").apply_hints(
        incremental=quiver.sources.incremental(
            "ts", initial_value=2, end_value=5, range_end="closed", range_start="open"
        )
    )
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run([ranged, closed])
    assert _ids(bucket, "ranged") == [2, 3, 4]
    assert _ids(bucket, "closed") == [3, 4, 5]
    resources = pipeline.state["sources"]["ext"].get("resources", {})
    assert "incremental" not in resources.get("ranged", {})
    with pytest.raises(quiver.PipelineStepFailed, match="initial_value"):
        pipeline.extract(
            quiver.resource(rows, name="bad").apply_hints(
                incremental=quiver.sources.incremental("ts", end_value=3)
            )
        )


def test_row_order_closes_the_generator_early(pipelines_dir: str) -> None:
    pulled: list[int] = []
    closed: list[bool] = []

    @quiver.resource
    def ordered(
        ts=quiver.sources.incremental("ts", initial_value=0, end_value=30, row_order="asc"),
    ):
        try:
            for page in range(100):
                pulled.append(page)
                yield [{"ts": page * 10 + i} for i in range(10)]
        finally:
            closed.append(True)

    pipeline = quiver.pipeline("ordered", pipelines_dir=pipelines_dir)
    pipeline.extract(ordered())
    assert pulled == [0, 1, 2, 3] and closed == [True]

    pulled.clear()

    @quiver.resource
    def newest_first(ts=quiver.sources.incremental("ts", initial_value=95, row_order="desc")):
        for page in range(10):
            pulled.append(page)
            yield [{"ts": 99 - page * 10 - i} for i in range(10)]

    assert [r["ts"] for r in newest_first] == [99, 98, 97, 96, 95]
    assert pulled == [0]


def test_row_order_with_rows_yielded_one_by_one(pipelines_dir: str) -> None:
    pulled: list[int] = []

    @quiver.resource
    def one_by_one(
        ts=quiver.sources.incremental("ts", initial_value=0, end_value=10, row_order="asc"),
    ):
        for i in range(100_000):
            pulled.append(i)
            yield {"ts": i}

    pipeline = quiver.pipeline("one_by_one", pipelines_dir=pipelines_dir)
    pipeline.extract(one_by_one())
    assert [r["ts"] for r in extracted_rows(pipeline, "one_by_one")] == list(range(10))
    assert len(pulled) <= 1_000


def test_cursor_value_missing(pipelines_dir: str) -> None:
    rows = [{"id": 1, "ts": 1}, {"id": 2, "ts": None}, {"id": 3}]

    def run(mode: str) -> list[int]:
        resource = quiver.resource(rows, name=f"missing_{mode}").apply_hints(
            incremental=quiver.sources.incremental("ts", on_cursor_value_missing=mode)  # type: ignore[arg-type]
        )
        return [r["id"] for r in resource]

    assert run("include") == [1, 2, 3]
    assert run("exclude") == [1]
    with pytest.raises(IncrementalCursorPathHasValueNone):
        run("raise")
    no_cursor = quiver.resource([{"id": 1}], name="none").apply_hints(
        incremental=quiver.sources.incremental("ts")
    )
    with pytest.raises(IncrementalCursorPathMissing, match="'ts'"):
        list(no_cursor)
    pipeline = quiver.pipeline("missing", pipelines_dir=pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed, match="Cursor path 'ts'"):
        pipeline.extract(no_cursor)


def test_lag_re_reads_a_window(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "ts": i} for i in range(10)]

    @quiver.resource(primary_key="id", write_disposition="merge")
    def lagged(ts=quiver.sources.incremental("ts", initial_value=0, lag=3)):
        yield rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.extract(lagged())
    assert _cursor_state(pipeline, "lagged", "ts")["last_value"] == 9
    pipeline.extract(lagged())
    # Last value 9, lag 3: the run re-reads from 6 on (no de-duplication with a lag).
    assert [r["id"] for r in extracted_rows(pipeline, "lagged")] == [6, 7, 8, 9]
    assert _cursor_state(pipeline, "lagged", "ts")["last_value"] == 9


def test_datetime_cursors(pipelines_dir: str, bucket: Path) -> None:
    base = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"id": i, "at": base + datetime.timedelta(hours=i)} for i in range(6)]

    @quiver.resource(primary_key="id")
    def aware(
        at=quiver.sources.incremental("at", initial_value=datetime.datetime(2024, 1, 1, 3)),
    ):
        yield rows

    @quiver.resource(primary_key="id")
    def iso_strings(at=quiver.sources.incremental("at", initial_value="2024-01-01T04:00:00")):
        yield [{"id": r["id"], "at": r["at"].replace(tzinfo=None).isoformat()} for r in rows]

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run([aware, iso_strings])
    assert _ids(bucket, "aware") == [3, 4, 5]  # a naive initial value is UTC
    assert _ids(bucket, "iso_strings") == [4, 5]
    assert _cursor_state(pipeline, "aware", "at")["last_value"] == base + datetime.timedelta(
        hours=5
    )
    # state.json keeps the datetime type (typed JSON).
    reopened = quiver.attach("ext", pipelines_dir=pipelines_dir)
    assert _cursor_state(reopened, "aware", "at")["last_value"] == base + datetime.timedelta(
        hours=5
    )


def test_cursor_type_mismatch_is_explained() -> None:
    resource = quiver.resource([{"ts": "2024-01-01"}], name="typed").apply_hints(
        incremental=quiver.sources.incremental("ts", initial_value=5)
    )
    with pytest.raises(IncrementalCursorTypeError, match="cannot compare 5"):
        list(resource)


def test_nested_cursor_path(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "meta": {"updated": i}} for i in range(5)]
    resource = quiver.resource(rows, name="nested").apply_hints(
        incremental=quiver.sources.incremental("meta.updated", initial_value=3)
    )
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(resource)
    assert _ids(bucket, "nested") == [3, 4]
    assert _cursor_state(pipeline, "nested", "meta.updated")["last_value"] == 4
    arrow = quiver.resource(
        pa.table({"id": [1, 2], "meta": [{"updated": 1}, {"updated": 9}]}), name="nested_arrow"
    ).apply_hints(incremental=quiver.sources.incremental("meta.updated", initial_value=5))
    (table,) = list(arrow)
    assert table.to_pylist() == [{"id": 2, "meta": {"updated": 9}}]


# ----------------------------------------------------------------------------- Arrow data


@pytest.mark.parametrize("kind", ["arrow", "polars", "pandas"])
def test_arrow_items_are_filtered(kind: str, pipelines_dir: str, bucket: Path) -> None:
    data = {"id": list(range(6)), "ts": [0, 1, 2, 3, 4, 5]}
    frames = {"arrow": pa.table(data), "polars": pl.DataFrame(data), "pandas": pd.DataFrame(data)}

    @quiver.resource(name="frames", primary_key="id")
    def frames_resource(ts=quiver.sources.incremental("ts", initial_value=2)):
        yield frames[kind]

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(frames_resource())
    assert _ids(bucket, "frames") == [2, 3, 4, 5]
    pipeline.run(frames_resource())
    assert _ids(bucket, "frames") == [2, 3, 4, 5]  # boundary row 5 de-duplicated
    assert _cursor_state(pipeline, "frames", "ts")["last_value"] == 5


def test_python_rows_are_filtered_per_page_and_converted_in_buffers(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incremental looks at a page's cursor values when the page is yielded (one
    vectorized pass), so its values are current after every page (dlt: "last_value ... updated
    with each yielded item or page"); rows are still written as one batch per buffer."""
    from quiver.extract.row_buffer import RowBuffer

    calls = {"filter_rows": 0, "to_batch": 0}
    filter_rows = CursorFilter.filter_rows
    to_batch = RowBuffer.to_batch

    def count_pages(self: CursorFilter, rows: list[Any]) -> list[Any]:
        calls["filter_rows"] += 1
        return filter_rows(self, rows)

    def count_batches(self: RowBuffer) -> Any:
        calls["to_batch"] += 1
        return to_batch(self)

    monkeypatch.setattr(CursorFilter, "filter_rows", count_pages)
    monkeypatch.setattr(RowBuffer, "to_batch", count_batches)
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "5000")
    seen_last_values = []

    @quiver.resource
    def many(ts=quiver.sources.incremental("ts", initial_value=2500)):
        for page in range(10):
            yield [{"ts": page * 1000 + i} for i in range(1000)]
            seen_last_values.append(ts.last_value)

    pipeline = quiver.pipeline("batches", pipelines_dir=pipelines_dir)
    info = pipeline.extract(many())
    assert info.row_counts["many"] == 7500
    assert calls == {"filter_rows": 10, "to_batch": 2}
    assert seen_last_values == [2500, 2500] + [page * 1000 + 999 for page in range(2, 10)]


def test_rows_yielded_one_by_one_are_filtered_in_chunks(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"filter_rows": 0}
    filter_rows = CursorFilter.filter_rows

    def count_pages(self: CursorFilter, rows: list[Any]) -> list[Any]:
        calls["filter_rows"] += 1
        return filter_rows(self, rows)

    monkeypatch.setattr(CursorFilter, "filter_rows", count_pages)

    @quiver.resource
    def one_by_one(ts=quiver.sources.incremental("ts", initial_value=2500)):
        for i in range(5000):
            yield {"ts": i}

    pipeline = quiver.pipeline("one_by_one", pipelines_dir=pipelines_dir)
    info = pipeline.extract(one_by_one())
    assert info.row_counts["one_by_one"] == 2500
    assert calls["filter_rows"] == 5  # chunks of 1000 rows, never one call per row


# ----------------------------------------------------------------------- state and bounds


def test_unique_hashes_stay_bounded(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Incremental, "max_unique_hashes", 50)
    rows = [{"id": i, "day": 1} for i in range(20)] + [{"id": 100 + i, "day": 2} for i in range(80)]

    @quiver.resource(primary_key="id")
    def daily(day=quiver.sources.incremental("day")):
        yield rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(daily())
    # 80 rows share the last value: more than the cap, so no hashes are kept...
    assert _cursor_state(pipeline, "daily", "day")["unique_hashes"] == []
    pipeline.run(daily())
    # ...and the next run re-reads the boundary rows (duplicates, never loss).
    assert len(table_rows(bucket, "daily")) == 100 + 80
    rows.append({"id": 500, "day": 3})
    pipeline.run(daily())
    state = _cursor_state(pipeline, "daily", "day")
    assert state["last_value"] == 3 and len(state["unique_hashes"]) == 1


def test_default_cap_keeps_hashes_small(pipelines_dir: str) -> None:
    @quiver.resource
    def same_day(day=quiver.sources.incremental("day")):
        yield [{"id": i, "day": 1} for i in range(50_000)]

    pipeline = quiver.pipeline("cap", pipelines_dir=pipelines_dir)
    pipeline.extract(same_day())
    assert _cursor_state(pipeline, "same_day", "day")["unique_hashes"] == []
    assert (pipeline.working_dir / "state.json").stat().st_size < 10_000


def test_replace_resets_the_cursor(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": i, "ts": i} for i in range(3)]

    @quiver.resource(write_disposition="replace")
    def snapshot(ts=quiver.sources.incremental("ts")):
        quiver.current.resource_state()["runs"] = quiver.current.resource_state().get("runs", 0) + 1
        yield rows

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(snapshot())
    pipeline.run(snapshot())
    assert _ids(bucket, "snapshot") == [0, 1, 2]  # full snapshot again, not filtered away
    resources = pipeline.state["sources"]["ext"]["resources"]
    assert resources["snapshot"]["runs"] == 1


def test_incremental_parent_filters_before_transformer(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def ids(ts=quiver.sources.incremental("ts", initial_value=2)):
        yield [{"id": i, "ts": i} for i in range(5)]

    @quiver.transformer(data_from=ids)
    def details(page):
        return [{"id": row["id"], "detail": True} for row in page]

    make_pipeline(pipelines_dir, bucket).run(details)
    assert _ids(bucket, "details") == [2, 3, 4]


def test_iterating_uses_a_throwaway_state(pipelines_dir: str) -> None:
    @quiver.resource
    def items(ts=quiver.sources.incremental("ts", initial_value=1)):
        yield [{"ts": i} for i in range(4)]

    pipeline = quiver.pipeline("throwaway", pipelines_dir=pipelines_dir)
    assert [r["ts"] for r in items] == [1, 2, 3]
    assert [r["ts"] for r in items] == [1, 2, 3]
    assert pipeline.state["sources"] == {}


def test_schema_hint_for_incremental_cursor(pipelines_dir: str) -> None:
    resource = quiver.resource([{"id": 1, "Updated At": 1}], name="hinted").apply_hints(
        incremental=quiver.sources.incremental("Updated At")
    )
    pipeline = quiver.pipeline("hint", pipelines_dir=pipelines_dir)
    pipeline.extract(resource)
    assert package_tables(pipeline)["hinted"]["columns"]["updated_at"]["incremental"] is True
