"""The rest of issue 13's dlt surface: materialize_table_schema, nested hints, defer,
add_metrics, a destination's naming_convention and scd2 column names under other conventions.

Each test cites the dlt documentation page (``docs/website/docs/...`` in dlt-hub/dlt) or the
dlt module it is written from; tables are read back with deltalake/polars or pyiceberg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import quiver as dlt
from tests.readers import Lake

TABLE_FORMATS = ["delta", "iceberg"]


@pytest.fixture(params=TABLE_FORMATS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Delta and Iceberg on local disk (the S3 matrix runs in test_conformance)."""
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


# ---------------------------------------------------------------- scd2 under other namings
# general-usage/merge-loading.md "scd2": ``validity_column_names=["from", "to"]`` names the
# validity columns; ``row_version_column_name`` names the column whose value identifies a
# version ("if the row hash does not change, the record is not updated"). The names are the
# user's raw names: they become columns through the active naming convention like any other
# column (naming-convention.md: ``SCHEMA__NAMING``).


@pytest.mark.parametrize("convention", ["direct", "duck_case"])
def test_scd2_column_names_follow_the_active_naming_convention(
    lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, convention: str
) -> None:
    monkeypatch.setenv("SCHEMA__NAMING", convention)

    @dlt.resource(
        primary_key="Id",
        write_disposition={
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": ["Valid From", "ValidTo"],
            "row_version_column_name": "RowHash",
        },
    )
    def customers(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline = lake.pipeline(pipelines_dir, "scd2_naming")
    pipeline.run(
        customers(
            [{"Id": 1, "Name": "a", "RowHash": "h1"}, {"Id": 2, "Name": "b", "RowHash": "h2"}]
        )
    )
    # Id 1 keeps its row hash: no new version although Name changed. Id 2 gets a new version.
    pipeline.run(
        customers(
            [
                {"Id": 1, "Name": "a-renamed", "RowHash": "h1"},
                {"Id": 2, "Name": "b2", "RowHash": "h2b"},
            ]
        )
    )

    table = lake.read("ds", "customers")
    # both conventions keep these names as they are (direct: "minimal changes"; duck_case:
    # case and spaces kept)
    assert {"Id", "Name", "RowHash", "Valid From", "ValidTo"} <= set(table.columns)
    rows = table.sort(["Id", "Name"]).select("Id", "Name", "RowHash").to_dicts()
    assert rows == [
        {"Id": 1, "Name": "a", "RowHash": "h1"},
        {"Id": 2, "Name": "b", "RowHash": "h2"},
        {"Id": 2, "Name": "b2", "RowHash": "h2b"},
    ]
    retired = table.filter(table["ValidTo"].is_not_null())["Name"].to_list()
    assert retired == ["b"]


def test_a_raw_column_name_in_a_table_hint_is_normalized_with_the_schema_convention() -> None:
    """The table-hint form (``x-row-version-column-name`` holding a name) is matched with the
    schema's convention, not with snake_case: "Row Hash" is a column of its own under direct."""
    from quiver.schema.hints import column_name, row_version_column
    from quiver.schema.naming_conventions import naming_convention

    direct = naming_convention("direct")
    table = {"x-row-version-column-name": "Row Hash", "columns": {"Row Hash": {}, "row_hash": {}}}
    assert row_version_column(table, direct) == "Row Hash"
    assert column_name({}, "Row  Hash!", naming_convention("sql_ci_v1")) == "row_hash"
    assert column_name({}, "Row\nHash", direct) == "Row_Hash"
    assert column_name({}, "RowHash") == "row_hash"  # no convention given: snake_case
