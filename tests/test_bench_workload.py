"""The benchmark's dict pages (``benches/workload.py``) are exactly the records of its Arrow batches.

The dict pages are built straight from numpy columns (the generator must cost little next to the
load it feeds); the reference is the slow, obviously right route they replaced: the Arrow batches
of the same range through ``RecordBatch.to_pylist()``. Equality alone would let an ``int`` pass
for a ``float``, a ``ZoneInfo("UTC")`` for ``datetime.UTC`` or ``Decimal("1.0")`` for
``Decimal("1.00")``, so every value is compared with its type and exact representation too.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from benches.workload import (
    EVENT_SCHEMA,
    FLAT_COLUMNS,
    PAGE_SIZE,
    RowRange,
    flatten_events,
    iter_event_batches,
    iter_event_pages,
    iter_flat_dict_pages,
)


def _to_pylist(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The reference: Arrow's own conversion, with ``created_at`` as ``datetime.UTC``.

    (A "UTC" column comes back with ``ZoneInfo("UTC")``; a "+00:00" one with ``datetime.UTC``.)
    """
    index = batch.schema.get_field_index("created_at")
    arrays = list(batch.columns)
    arrays[index] = arrays[index].cast(pa.timestamp("us", tz="+00:00"))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names).to_pylist()


def _reference_pages(rows: RowRange, *, flat: bool) -> list[list[dict[str, Any]]]:
    batches = iter_event_batches(rows, PAGE_SIZE)
    return [_to_pylist(flatten_events(b) if flat else b) for b in batches]


def _exact(value: Any) -> Any:
    """``value`` with every type, key order, tzinfo and Decimal exponent made part of equality."""
    if isinstance(value, dict):
        return ("dict", tuple((key, _exact(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_exact(item) for item in value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value), value.as_tuple())
    if isinstance(value, datetime.datetime):
        return ("datetime", value.isoformat(), type(value.tzinfo), value.tzinfo)
    return (type(value), value)


RANGES = {
    "unaligned, two pages": RowRange(2 * PAGE_SIZE + 1_234, PAGE_SIZE + 500),
    "with updates": RowRange(PAGE_SIZE - 1_500, 3_000, updated_below=PAGE_SIZE + 500),
    "unaligned updates, odd step": RowRange(
        PAGE_SIZE - 7, 40, updated_below=PAGE_SIZE + 9, update_every=4
    ),
    "ids past 3M": RowRange(3_000_000 - 700, 1_400),
}


@pytest.mark.parametrize("flat", [False, True], ids=["nested", "flat"])
@pytest.mark.parametrize("rows", RANGES.values(), ids=RANGES.keys())
def test_dict_pages_are_the_arrow_records_exactly(rows: RowRange, flat: bool) -> None:
    pages = list((iter_flat_dict_pages if flat else iter_event_pages)(rows))
    reference = _reference_pages(rows, flat=flat)
    assert [len(page) for page in pages] == [len(page) for page in reference]
    assert sum(len(page) for page in pages) == rows.count
    for page, expected in zip(pages, reference, strict=True):
        assert [_exact(record) for record in page] == [_exact(record) for record in expected]
    keys = FLAT_COLUMNS if flat else tuple(EVENT_SCHEMA.names)
    assert {tuple(record) for page in pages for record in page} == {keys}


def test_updates_change_amount_activity_and_note_only() -> None:
    rows = RowRange(0, 30, updated_below=20, update_every=9)
    (original,) = iter_event_pages(RowRange(0, 30))
    (updated,) = iter_event_pages(rows)
    changed = [new["id"] for old, new in zip(original, updated, strict=True) if old != new]
    assert changed == [0, 9, 18]
    for row_id in changed:
        old, new = original[row_id], updated[row_id]
        assert new["amount"] == old["amount"] + 10.0
        assert new["is_active"] is not old["is_active"]
        assert new["note"] == "updated"
        assert {k: v for k, v in new.items() if k not in ("amount", "is_active", "note")} == {
            k: v for k, v in old.items() if k not in ("amount", "is_active", "note")
        }


def test_values_have_the_types_an_api_client_hands_over() -> None:
    (page,) = iter_event_pages(RowRange(5, 200))
    record = page[0]
    assert record["created_at"].tzinfo is datetime.UTC
    assert record["event_ts"].endswith("Z") and len(record["event_ts"]) == 24
    assert all(r["price"].as_tuple().exponent == -2 for r in page)
    assert {type(r["note"]) for r in page} == {str, type(None)}
    assert {len(r["items"]) for r in page} == {0, 1, 2, 3}
    # Every row owns its containers, as decoded JSON would: none is shared between rows.
    assert len({id(r["items"]) for r in page}) == len({id(r["geo"]) for r in page}) == len(page)


def test_an_empty_range_has_no_pages() -> None:
    assert list(iter_event_pages(RowRange(10, 0))) == []
    assert list(iter_flat_dict_pages(RowRange(10, 0))) == []
