"""Declared columns, from dlt's documentation (issue 13, bullet 3).

* resource.md "Materialize schema without loading data / Provide schema explicitly": with the
  schema declared, ``yield {}`` makes "an empty table with all declared columns. Only the
  metadata columns ``_dlt_id`` and ``_dlt_load_id`` will have values"; "the load will fail if
  the schema marks any columns as NOT NULL".
* schema-evolution.md "How to test for removed columns - applying 'not null' constraint":
  ``pipeline.run(data, table_name="org", columns={"room": {"data_type": "bigint",
  "nullable": False}})`` on data without ``room``: "a data validation error indicates that a
  removed column is being passed as null".
* A value that does not fit a non-nullable column: dlt puts it in a variant column and leaves
  NULL in the column, which the destination's NOT NULL then refuses at load. quiver fails in
  normalize, naming table, column and value (docs/decisions.md), so nothing is loaded.

Tables are read back by polars (Delta) and pyiceberg (Iceberg), never by quiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import quiver as dlt
from quiver.errors import (
    CannotCoerceColumnError,
    DataValidationError,
    NormalizeJobFailed,
    PipelineStepFailed,
)
from tests.readers import Lake


@pytest.fixture(params=["delta", "iceberg"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


def _cause(error: PipelineStepFailed) -> BaseException:
    """dlt's chain: PipelineStepFailed -> NormalizeJobFailed -> the cause."""
    job = error.__context__
    assert isinstance(job, NormalizeJobFailed)
    assert job.__context__ is not None
    return job.__context__


def test_yield_empty_dict_creates_every_declared_column(lake: Lake, pipelines_dir: str) -> None:
    @dlt.resource(
        table_name="your_table_name",
        columns={
            "id": {"data_type": "bigint", "nullable": True},
            "event_type": {"data_type": "text", "nullable": True},
        },
        write_disposition="replace",
    )
    def raw_events():  # type: ignore[no-untyped-def]
        yield {}

    lake.pipeline(pipelines_dir, "declared").run(raw_events())
    table = lake.read("ds", "your_table_name")
    assert table.schema["id"] == pl.Int64
    assert table.schema["event_type"] == pl.String
    rows = table.to_dicts()
    assert len(rows) == 1
    assert rows[0]["id"] is None and rows[0]["event_type"] is None
    assert rows[0]["_dlt_id"] and rows[0]["_dlt_load_id"]


def test_rows_without_a_declared_column_get_it_as_null(lake: Lake, pipelines_dir: str) -> None:
    @dlt.resource(columns={"c": {"data_type": "bigint"}, "note": {"data_type": "text"}})
    def items():  # type: ignore[no-untyped-def]
        yield [{"id": 1}, {"id": 2, "note": "x"}]

    lake.pipeline(pipelines_dir, "declared_rows").run(items())
    table = lake.read("ds", "items")
    assert table.schema["c"] == pl.Int64
    assert table.sort("id").select("id", "c", "note").to_dicts() == [
        {"id": 1, "c": None, "note": None},
        {"id": 2, "c": None, "note": "x"},
    ]


ORG_WITHOUT_ROOM = [
    {
        "organization": "Tech Innovations Inc.",
        "address": {"building": "r&d"},
        "Inventory": [
            {"name": "Plasma ray", "inventory nr": 2411},
            {"name": "Self-aware Roomba", "inventory nr": 268},
            {"name": "Type-inferrer", "inventory nr": 3621},
        ],
    }
]


def test_removed_non_nullable_column_is_a_data_validation_error(
    lake: Lake, pipelines_dir: str
) -> None:
    pipeline = lake.pipeline(pipelines_dir, "organizations_pipeline")
    with pytest.raises(PipelineStepFailed) as caught:
        pipeline.run(
            ORG_WITHOUT_ROOM,
            table_name="org",
            columns={"room": {"data_type": "bigint", "nullable": False}},
        )
    assert caught.value.step == "normalize"
    cause = _cause(caught.value)
    assert isinstance(cause, DataValidationError)
    assert (cause.table_name, cause.column_name) == ("org", "room")
    assert "room" in str(caught.value) and "org" in str(caught.value)
    assert not lake.exists("ds", "org")  # nothing was loaded


def test_empty_dict_with_a_non_nullable_column_fails(lake: Lake, pipelines_dir: str) -> None:
    @dlt.resource(columns={"id": {"data_type": "bigint", "nullable": False}})
    def raw_events():  # type: ignore[no-untyped-def]
        yield {}

    with pytest.raises(PipelineStepFailed) as caught:
        lake.pipeline(pipelines_dir, "declared_not_null").run(raw_events())
    cause = _cause(caught.value)
    assert isinstance(cause, DataValidationError)
    assert (cause.table_name, cause.column_name) == ("raw_events", "id")


@pytest.mark.parametrize(
    "rows",
    [
        [{"id": 1, "req": 5}, {"id": 2, "req": "abc"}],  # mixed: split at extract
        [{"id": 2, "req": "abc"}],  # one type: coerced in normalize
    ],
    ids=["mixed", "text"],
)
def test_value_that_cannot_coerce_into_a_non_nullable_column_fails(
    lake: Lake, pipelines_dir: str, rows: list[dict[str, Any]]
) -> None:
    """Deliberately better than dlt: no variant column, no NULL left behind (decisions.md)."""

    @dlt.resource(columns={"req": {"data_type": "bigint", "nullable": False}})
    def items():  # type: ignore[no-untyped-def]
        yield rows

    with pytest.raises(PipelineStepFailed) as caught:
        lake.pipeline(pipelines_dir, "not_null_coerce").run(items())
    cause = _cause(caught.value)
    assert isinstance(cause, CannotCoerceColumnError)  # dlt's class name
    assert (cause.table_name, cause.column_name) == ("items", "req")
    message = str(caught.value)
    assert "`req`" in message and "`items`" in message and "not nullable" in message
    assert "'abc'" in message and cause.example == "abc"
    assert not lake.exists("ds", "items")


def test_value_that_cannot_coerce_into_a_nullable_column_goes_to_a_variant(
    lake: Lake, pipelines_dir: str
) -> None:
    """schema-evolution.md: a type change makes a variant column ``<column>__v_text``."""

    @dlt.resource(columns={"req": {"data_type": "bigint"}})
    def items():  # type: ignore[no-untyped-def]
        yield [{"id": 1, "req": 5}, {"id": 2, "req": "abc"}, {"id": 3, "req": "7"}]

    lake.pipeline(pipelines_dir, "nullable_coerce").run(items())
    rows = lake.rows("ds", "items", "id")
    assert [(r["req"], r["req__v_text"]) for r in rows] == [(5, None), (None, "abc"), (7, None)]


def test_values_that_coerce_into_a_non_nullable_column_load(lake: Lake, pipelines_dir: str) -> None:
    """dlt coerces value by value: ``"7"`` fits a ``bigint`` column, so nothing is NULL."""

    @dlt.resource(columns={"req": {"data_type": "bigint", "nullable": False}})
    def items():  # type: ignore[no-untyped-def]
        yield [{"id": 1, "req": 5}, {"id": 2, "req": "7"}]

    lake.pipeline(pipelines_dir, "not_null_fits").run(items())
    assert [r["req"] for r in lake.rows("ds", "items", "id")] == [5, 7]
