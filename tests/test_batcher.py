"""Rows → Arrow batches: union of keys, int/float unification, mixed types kept as variants."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from quiver.extract.batcher import rows_to_batch


def test_keys_that_appear_late_are_kept() -> None:
    batch = rows_to_batch([{"a": 1}, {"a": 2, "b": "x"}, {"c": True}])
    assert batch.schema.names == ["a", "b", "c"]
    assert batch.to_pylist() == [
        {"a": 1, "b": None, "c": None},
        {"a": 2, "b": "x", "c": None},
        {"a": None, "b": None, "c": True},
    ]


def test_int_and_float_unify_to_double() -> None:
    batch = rows_to_batch([{"v": 1}, {"v": 2.5}])
    assert batch.schema.field("v").type == pa.float64()
    assert batch.column("v").to_pylist() == [1.0, 2.5]


def test_int_and_str_split_into_a_variant_column() -> None:
    batch = rows_to_batch([{"v": 1}, {"v": "one"}, {"v": None}, {"v": 3}])
    assert batch.schema.names == ["v", "v__v_text"]
    assert batch.column("v").to_pylist() == [1, None, None, 3]
    assert batch.column("v__v_text").to_pylist() == [None, "one", None, None]


def test_nested_conflict_splits_inside_the_struct() -> None:
    batch = rows_to_batch([{"geo": {"lat": 1.5}}, {"geo": {"lat": "north"}}, {"geo": None}])
    geo = batch.column("geo")
    assert geo.type.names == ["lat", "lat__v_text"]
    assert geo.to_pylist() == [
        {"lat": 1.5, "lat__v_text": None},
        {"lat": None, "lat__v_text": "north"},
        None,
    ]


class Color(enum.Enum):
    RED = "red"


def test_objects_arrow_cannot_infer() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    batch = rows_to_batch(
        [
            {"u": ident, "c": Color.RED, "d": decimal.Decimal("1.5"), "b": b"\x00\x01"},
            {"u": None, "c": None, "d": None, "b": None},
        ]
    )
    assert batch.column("u").to_pylist() == [str(ident), None]
    assert batch.column("c").to_pylist() == ["red", None]
    assert batch.column("d").to_pylist() == [decimal.Decimal("1.5"), None]
    assert batch.column("b").to_pylist() == [b"\x00\x01", None]


def test_mixed_naive_and_aware_datetimes_are_utc() -> None:
    aware = datetime.datetime(2024, 1, 1, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    naive = datetime.datetime(2024, 1, 1, 10)
    batch = rows_to_batch([{"t": aware}, {"t": naive}, {"t": "x"}])
    assert batch.column("t").to_pylist() == [
        datetime.datetime(2024, 1, 1, 9, tzinfo=datetime.UTC),
        datetime.datetime(2024, 1, 1, 10, tzinfo=datetime.UTC),
        None,
    ]
    assert batch.column("t__v_text").to_pylist() == [None, None, "x"]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.datetimes(timezones=st.just(datetime.UTC)),
    st.dates(),
    st.binary(max_size=3),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
rows_strategy = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), scalars, max_size=4),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_every_value_survives_in_its_column_or_variant(rows: list[dict[str, Any]]) -> None:
    batch = rows_to_batch(rows)
    keys = {k for row in rows for k in row}
    assert {name.split("__v_")[0] for name in batch.schema.names} == keys
    for index, row in enumerate(rows):
        for key, value in row.items():
            candidates = [
                batch.column(name)[index].as_py()
                for name in batch.schema.names
                if name.split("__v_")[0] == key
            ]
            present = [c for c in candidates if c is not None]
            if value is None:
                assert present == []
            else:
                assert len(present) == 1
                got = present[0]
                if isinstance(value, bool) and isinstance(got, float):
                    # Known, documented: Arrow infers bool+float as double (True → 1.0).
                    assert got == float(value)
                elif isinstance(value, bool) or isinstance(got, bool):
                    assert got is value
                else:
                    assert got == value or (isinstance(got, float) and got == float(value))
                    assert type(got) is type(value) or isinstance(got, float)
