"""A buffer converted page by page gives exactly the batch of the whole buffer converted at once.

``rows_to_batch`` over every row of a buffer is the reference (the inference path decides
types, variants and errors over the whole buffer); ``RowBuffer`` converts pages as they arrive
and must give an identical batch: the same column names in the same order, the same types and
the same values — or the same error.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import itertools
import math
import sys
import uuid
import zoneinfo
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quiver.errors import UnsupportedValue
from quiver.extract.batcher import rows_to_batch
from quiver.extract.row_buffer import RowBuffer, typed_array

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: float


KEYS = st.sampled_from(["a", "b", "c", "geo", "items"])
DATETIMES = st.builds(
    lambda us, tz: datetime.datetime(2024, 1, 1, tzinfo=tz) + datetime.timedelta(microseconds=us),
    st.integers(min_value=0, max_value=10**13),
    st.sampled_from([None, datetime.UTC, zoneinfo.ZoneInfo("UTC"), PLUS_TWO, WARSAW]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([2**53 + 1, 2**63 - 1, 2**63, -(2**64)]),  # inexact as double, past int64
    st.floats(allow_nan=False, width=64),
    st.text(max_size=4),
    st.sampled_from(["\ud800", "text"]),  # a lone surrogate is no UTF-8
    st.binary(max_size=3),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**6, min_value=-1),
    st.sampled_from([decimal.Decimal("1.1234567891234"), decimal.Decimal(10**30)]),
    DATETIMES,
    st.dates(),
    st.times(),
    st.just(uuid.UUID(int=7)),
    st.just(Color.RED),
    st.just(datetime.timedelta(seconds=1)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.dictionaries(KEYS, inner, max_size=3),
        st.lists(inner, max_size=3),
        st.tuples(inner),
    ),
    max_leaves=5,
)
ROWS = st.dictionaries(KEYS, VALUES, max_size=4)
#: Mostly one shape of row, as an API gives, so that whole pages are pure and convert early.
UNIFORM_ROWS = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=0, max_value=2**40),
        "geo": st.fixed_dictionaries(
            {"country": st.sampled_from(["PL", "DE"]), "lat": st.floats(-90, 90)}
        ),
        "items": st.lists(
            st.fixed_dictionaries({"sku": st.text(max_size=3), "qty": st.integers(0, 5)}),
            max_size=3,
        ),
        "at": DATETIMES,
    },
    optional={"note": st.one_of(st.none(), st.text(max_size=3), st.integers(0, 3))},
)
ODD_ROWS = st.one_of(
    st.builds(Point, st.integers(-5, 5), st.floats(-1, 1)), st.integers(0, 3), st.text(max_size=2)
)


def _assert_same_result(pages: list[list[Any]], chunk_rows: int) -> None:
    every_row = [row for page in pages for row in page]
    try:
        expected = rows_to_batch(every_row)
    except Exception as error:
        buffer = RowBuffer(chunk_rows)
        for page in pages:
            buffer.extend(page)
        with pytest.raises(type(error)) as raised:
            buffer.to_batch()
        assert str(raised.value) == str(error)
        return
    buffer = RowBuffer(chunk_rows)
    for page in pages:
        buffer.extend(page)
    assert len(buffer) == len(every_row)
    found = buffer.to_batch()
    assert found.schema.equals(expected.schema, check_metadata=True), (
        f"{found.schema}\n!=\n{expected.schema}"
    )
    assert found.num_rows == expected.num_rows
    # ``equals`` treats NaN as unequal to itself; floats are drawn without NaN.
    assert found.equals(expected), f"{found.to_pylist()}\n!=\n{expected.to_pylist()}"


def _pages(rows: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = sorted({min(c, len(rows)) for c in cuts} | {0, len(rows)})
    return [rows[lo:hi] for lo, hi in itertools.pairwise(bounds)]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(ROWS, min_size=1, max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=5),
    chunk_rows=st.integers(1, 12),
)
def test_any_rows_convert_as_the_whole_buffer_would(
    rows: list[dict[str, Any]], cuts: list[int], chunk_rows: int
) -> None:
    _assert_same_result(_pages(rows, cuts), chunk_rows)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(st.one_of(UNIFORM_ROWS, UNIFORM_ROWS, UNIFORM_ROWS, ROWS, ODD_ROWS), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=6),
    chunk_rows=st.integers(1, 15),
)
def test_mostly_uniform_pages_convert_as_the_whole_buffer_would(
    rows: list[Any], cuts: list[int], chunk_rows: int
) -> None:
    if rows:
        _assert_same_result(_pages(rows, cuts), chunk_rows)


def test_a_type_decided_over_the_whole_buffer() -> None:
    # ints, then floats two pages later: one double column, as for the whole buffer.
    pages = [[{"v": 1}, {"v": 2}], [{"v": None}], [{"v": 2.5}]]
    _assert_same_result(pages, chunk_rows=1)
    buffer = RowBuffer(chunk_rows=1)
    for page in pages:
        buffer.extend(page)
    assert buffer.to_batch().column("v").to_pylist() == [1.0, 2.0, None, 2.5]


def test_text_in_a_later_page_is_a_variant_of_the_whole_buffer() -> None:
    pages = [[{"v": 1}], [{"v": "one"}], [{"v": 3}]]
    buffer = RowBuffer(chunk_rows=1)
    for page in pages:
        buffer.extend(page)
    batch = buffer.to_batch()
    assert batch.schema.names == ["v", "v__v_text"]
    assert batch.column("v").to_pylist() == [1, None, 3]
    assert batch.column("v__v_text").to_pylist() == [None, "one", None]


def test_keys_new_in_a_later_page_keep_first_seen_order() -> None:
    pages = [
        [{"a": 1, "geo": {"lat": 1.5}}],
        [{"b": "x", "geo": {"lon": 2.5, "lat": 0.5}}],
        [{"a": 3}],
    ]
    buffer = RowBuffer(chunk_rows=1)
    for page in pages:
        buffer.extend(page)
    batch = buffer.to_batch()
    assert batch.schema.names == ["a", "geo", "b"]
    assert batch.schema.field("geo").type == pa.struct(
        [("lat", pa.float64()), ("lon", pa.float64())]
    )
    assert batch.to_pylist() == [
        {"a": 1, "geo": {"lat": 1.5, "lon": None}, "b": None},
        {"a": None, "geo": {"lat": 0.5, "lon": 2.5}, "b": "x"},
        {"a": 3, "geo": None, "b": None},
    ]
    _assert_same_result(pages, chunk_rows=1)


def test_a_bad_value_fails_when_the_buffer_converts_as_before() -> None:
    buffer = RowBuffer(chunk_rows=1)
    buffer.extend([{"n": 1}])
    buffer.extend([{"n": 2**64}])  # no table format stores it: the error comes with the buffer
    with pytest.raises(UnsupportedValue, match="64-bit"):
        buffer.to_batch()


class _Broken:
    def asdict(self) -> dict[str, Any]:
        raise RuntimeError("asdict failed")


def test_a_row_that_cannot_become_a_dict_fails_with_the_buffer() -> None:
    buffer = RowBuffer(chunk_rows=1)
    buffer.extend([{"n": 1}, _Broken(), {"n": 2}])  # no error yet: rows_to_batch raises later
    buffer.extend([{"n": 3}])
    assert len(buffer) == 4
    with pytest.raises(RuntimeError, match="asdict failed"):
        buffer.to_batch()


def test_rows_without_keys() -> None:
    _assert_same_result([[{}], [{}, {}]], chunk_rows=1)
    buffer = RowBuffer(chunk_rows=1)
    buffer.extend([{}, {}])
    assert buffer.to_batch().num_rows == 2


def test_a_converted_page_holds_no_reference_to_its_rows() -> None:
    rows = [{"id": i, "geo": {"lat": i / 2}, "items": [{"sku": "x"}]} for i in range(20)]
    references_before = [sys.getrefcount(row) for row in rows]
    buffer = RowBuffer(chunk_rows=10)
    buffer.extend(rows)
    assert [sys.getrefcount(row) for row in rows] == references_before
    assert buffer.to_batch().num_rows == 20


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, None, 2], pa.int64()),
        ([None, None], pa.null()),
        ([1, 2.5], None),  # unified over the whole buffer, not here
        ([decimal.Decimal("1.5")], None),  # precision follows the values
        ([{"a": 1}, {}, None, {"b": "x"}], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        ([[1], [], None], pa.list_(pa.int64())),
        ([[]], pa.list_(pa.null())),
        ([{}], None),
        ([{1: 2}], None),
        ([(1,)], None),
        ([datetime.datetime(2024, 1, 1, tzinfo=PLUS_TWO)], pa.timestamp("us", "+02:00")),
        ([datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=PLUS_TWO)], None),
        ([datetime.time(1)], None),
        # Null dicts and lists, also first, and dicts nested in lists and dicts.
        ([None, {"a": {"b": 1}}, {"a": None}], pa.struct([("a", pa.struct([("b", pa.int64())]))])),
        (
            [None, [{"s": "x", "q": 1}, {"q": 2}], []],
            pa.list_(pa.struct([("s", pa.string()), ("q", pa.int64())])),
        ),
        ([{"a": 1}, {"b": 2.5, "a": 2}], pa.struct([("a", pa.int64()), ("b", pa.float64())])),
        ([{"a": 1}, {"a": 2.5}], None),  # a field that mixes types: the buffer decides
        ([2**64], None),  # rejected by the type: inference over the buffer says why
        (["\ud800"], None),
        ([{"a": [1, None]}, None], pa.struct([("a", pa.list_(pa.int64()))])),
    ],
)
def test_typed_array_is_what_arrow_infers(values: list[Any], expected: pa.DataType | None) -> None:
    array = typed_array(values)
    if expected is None:
        assert array is None
        return
    assert array is not None
    assert array.type == expected
    assert array.equals(pa.array(values))


def test_floats_keep_their_bits() -> None:
    pages = [[{"f": -0.0}, {"f": math.inf}], [{"f": 1e-310}]]
    _assert_same_result(pages, chunk_rows=1)
