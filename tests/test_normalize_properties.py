"""Property tests: whatever the values, normalize loses none and invents none."""

from __future__ import annotations

import datetime
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from quiver.extract.batcher import rows_to_batch
from quiver.normalize.coerce import CoerceContext, coerce_table
from quiver.normalize.contracts import Violations
from quiver.normalize.flatten import FlattenOptions, flatten_rows
from quiver.schema.model import Schema
from quiver.schema.naming import SnakeCaseNaming

NAMING = SnakeCaseNaming()
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 10:30", "12", "1.5", "true"]),
    st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2200, 1, 1)),
)


def _normalize(schema: Schema, rows: list[dict[str, Any]]) -> pa.Table:
    batch = rows_to_batch(rows)
    options = FlattenOptions(naming=NAMING, load_id="1.0")
    [root] = flatten_rows(batch, "t", options)
    context = CoerceContext(schema, "1.0", NAMING, True, frozenset(), Violations("s", "1.0"))
    return coerce_table(root, context).table


def _value_columns(table: pa.Table) -> list[str]:
    return [n for n in table.column_names if n == "v" or n.startswith("v__v_")]


@settings(max_examples=150, deadline=None)
@given(first=st.lists(scalars, min_size=1, max_size=12), second=st.lists(scalars, max_size=12))
def test_every_value_lands_in_exactly_one_column(first: list[Any], second: list[Any]) -> None:
    schema = Schema("s")
    for values in (first, second):
        if not values:
            continue
        table = _normalize(schema, [{"id": i, "v": v} for i, v in enumerate(values)])
        assert table.num_rows == len(values)
        columns = _value_columns(table)
        present = [
            sum(table.column(c)[row].is_valid for c in columns) for row in range(table.num_rows)
        ]
        assert present == [0 if v is None else 1 for v in values]
        # Every column that was written has a data type in the schema; variants say so.
        table_schema = schema.tables["t"]["columns"]
        for name in columns:
            assert "data_type" in table_schema[name]
            assert table_schema[name].get("variant", False) == (name != "v")


@settings(max_examples=50, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6, unique=True),
)
def test_names_are_normalized_or_collisions_reported(names: list[str]) -> None:
    row = {name: 1 for name in names}
    normalized = []
    for name in names:
        try:
            normalized.append(NAMING.normalize_path(name) if name.strip() else "_empty")
        except ValueError:
            return  # names with no usable part are rejected by the naming itself
    schema = Schema("s")
    try:
        table = _normalize(schema, [row])
    except ValueError as error:
        assert len(set(normalized)) < len(normalized), error
        return
    assert sorted(table.column_names) == sorted({*normalized, "_dlt_load_id", "_dlt_id"})
