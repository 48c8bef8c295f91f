"""Property: random heterogeneous dict rows load into Delta with every key and every value.

Rows get random key sets, value types (bool, int, float, text), nulls and nested dicts. After
a full pipeline run into local Delta (read back by polars), the table has exactly the union of
the flattened keys that hold a value (nested dicts flatten to ``parent__child``), plus variant
columns ``<key>__v_<type>`` for keys whose values do not share a type; every value reads back
equal in its column or in one of its variants.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import quiver

KEYS = st.sampled_from(["alpha", "beta", "gamma", "delta"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: f != 0.0),
    # Letters that no detection or bool/number coercion reads as anything but text.
    st.text(alphabet="abcxz", max_size=8),
)
VALUES = st.recursive(SCALARS, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)
ROWS = st.lists(st.dictionaries(KEYS, VALUES, max_size=4), min_size=1, max_size=25)


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "__"))
        elif value is not None:
            flat[path] = value
    return flat


def _same(expected: Any, found: Any) -> bool:
    """Equal, or what dlt's coercion into the column's type makes of the value."""
    if found is None:
        return False
    if isinstance(found, str) and not isinstance(expected, str):
        # Anything coerces to text.
        if isinstance(expected, bool):
            return found.lower() == str(expected).lower()
        try:
            return math.isclose(float(found), expected, rel_tol=1e-15)
        except ValueError:
            return False
    if isinstance(found, bool) and not isinstance(expected, bool):
        return isinstance(expected, int | float) and bool(expected) == found  # numeric → bool
    if isinstance(expected, bool) and not isinstance(found, bool):
        return isinstance(found, int | float) and int(expected) == found  # bool → numeric
    if isinstance(expected, int | float):
        return isinstance(found, int | float) and math.isclose(expected, found, rel_tol=1e-15)
    return bool(expected == found)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=ROWS)
def test_every_key_and_value_reads_back(rows: list[dict[str, Any]]) -> None:
    rows = [{"id": i, **row} for i, row in enumerate(rows)]
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = quiver.pipeline(
            "prop",
            pipelines_dir=str(Path(tmp) / "pipelines"),
            destination=quiver.destinations.filesystem(bucket_url=str(Path(tmp) / "lake")),
            dataset_name="ds",
        )
        pipeline.run(rows, table_name="t")
        frame = pl.read_delta(str(Path(tmp) / "lake" / "ds" / "t")).sort("id")
    loaded = {row["id"]: row for row in frame.to_dicts()}
    columns = {c for c in frame.columns if not c.startswith("_dlt_")}

    expected = [_flatten(row) for row in rows]
    paths = set().union(*(flat.keys() for flat in expected))
    # Exactly the union of keys with a value, plus variants of those keys.
    assert paths <= columns
    strays = {c for c in columns - paths if not any(c.startswith(p + "__v_") for p in paths)}
    assert strays == set()

    for flat in expected:
        row = loaded[flat["id"]]
        for path, value in flat.items():
            candidates = [row.get(path)] + [row[c] for c in columns if c.startswith(path + "__v_")]
            assert any(_same(value, found) for found in candidates), (path, value, candidates)
