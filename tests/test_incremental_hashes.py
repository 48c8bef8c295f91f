"""De-duplication hashes of the rows at the cursor's boundary, in dlt's current and legacy forms.

The expected hashes are facts computed by real dlt 1.31.0 (``dlt.extract.utils.
digest_dedup_value(value)`` and ``digest_dedup_value(value, legacy=True)``, the latter being
the form dlt < 1.29 wrote). The legacy form of earlier quiver versions is pinned by the hashes
they wrote (spaced JSON, datetimes in UTC as ``+00:00``).
"""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.extract.incremental_filter import CursorFilter
from quiver.extract.incremental_hashes import (
    dedup_digest,
    dlt_legacy_dedup_digest,
    legacy_dedup_digest,
)
from tests.extract_support import make_pipeline

UTC = datetime.UTC
PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))
NOON = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

#: value, dlt 1.31 current form, dlt < 1.29 form
DLT_FACTS: list[tuple[str, Any, str, str]] = [
    ("int", 5, "tIXXf9wiHssy", "tIXXf9wiHssyAgHEzQnu"),
    ("ascii string", "event 5", "ovzxThjlnVTf", "ovzxThjlnVTfni8SdVyP"),
    ("unicode string", "zażółć", "35/m9U6eK/fr", "35/m9U6eK/frO7/Jz+w8"),
    ("composite key", [5, "a"], "3bgpOjXPGM2g", "3bgpOjXPGM2g0ccAC/Ej"),
    ("aware UTC datetime", NOON, "aDzQLFLq9ayt", "EOjqh4BIZP89J18SOM10"),
    ("same instant at +02", NOON.astimezone(PLUS_2), "aDzQLFLq9ayt", "BvMtSQMjTycHq0m5/U90"),
    ("naive datetime", NOON.replace(tzinfo=None), "aDzQLFLq9ayt", "rE0xz2rhkcMeku5aI8b3"),
    ("microseconds", NOON.replace(microsecond=123456), "R9L6JGKzhouN", "/HCLO7vtY5EUCi7Ecfv9"),
    (
        "before the epoch",
        datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        "vVhUr9lvY2Rf",
        "u3DCIJih3sWCHfEe/Cxq",
    ),
    ("date", datetime.date(2024, 5, 1), "JTeBaHfBFDLL", "JTeBaHfBFDLLbTSYmYFX"),
    ("decimal", decimal.Decimal("12.50"), "Ki6S8RJ+9iYC", "Ki6S8RJ+9iYCyNwoDw2a"),
    (
        "whole row",
        {"id": 5, "updated_at": 5, "name": "event 5"},
        "E6pQlGaacVlr",
        "E6pQlGaacVlrKDWLo94j",
    ),
    (
        "whole row with a datetime",
        {"id": 1, "ts": NOON, "amount": 1.5},
        "oEangnrzXbVv",
        "JuuB8xgpBrZavcpOlnJ3",
    ),
]


@pytest.mark.parametrize(
    ("value", "current", "dlt_legacy"),
    [case[1:] for case in DLT_FACTS],
    ids=[case[0] for case in DLT_FACTS],
)
def test_hashes_equal_dlts(value: Any, current: str, dlt_legacy: str) -> None:
    assert dedup_digest(value) == current
    assert dlt_legacy_dedup_digest(value) == dlt_legacy


def test_earlier_quiver_legacy_form_is_reproduced() -> None:
    # Agrees with dlt's legacy form for an int key; differs (spaced JSON, "+00:00") otherwise.
    assert legacy_dedup_digest(5) == "tIXXf9wiHssyAgHEzQnu"
    assert legacy_dedup_digest(NOON) == legacy_dedup_digest(NOON.astimezone(PLUS_2))
    assert legacy_dedup_digest(NOON) != dlt_legacy_dedup_digest(NOON)


def _filter(start_hashes: list[str], start: Any, key: str = "id") -> CursorFilter:
    return CursorFilter(
        resource_name="events",
        cursor_path="ts",
        last_value_func=max,
        start_value=start,
        last_value=start,
        end_value=None,
        range_start="closed",
        range_end="open",
        on_cursor_value_missing="raise",
        unique_key=[key],
        dedup=True,
        start_hashes=start_hashes,
    )


def _batch(ids: list[int], ts: list[int]) -> pa.Table:
    return pa.table({"id": ids, "ts": ts})


@pytest.mark.parametrize(
    "stored",
    [dedup_digest(2), legacy_dedup_digest(2), dlt_legacy_dedup_digest(2)],
    ids=["current", "earlier-quiver", "dlt-before-1.29"],
)
def test_rows_at_the_start_value_are_recognized_in_every_form(stored: str) -> None:
    cursor = _filter([stored], start=5)
    kept = cursor.filter_batch(_batch([1, 2, 3], [4, 5, 5]))
    assert kept.column("id").to_pylist() == [3]  # 1 is below the start, 2 was loaded
    # The cursor stayed at 5: the carried set grows in its own form, as dlt does.
    assert cursor.unique_hashes == sorted({stored, cursor._boundary_digest(3)})
    assert all(len(h) == len(stored) for h in cursor.unique_hashes)


def test_a_rebuilt_set_is_written_in_the_current_form() -> None:
    cursor = _filter([legacy_dedup_digest(2)], start=5)
    cursor.filter_batch(_batch([2, 3, 4], [5, 6, 6]))
    assert cursor.last_value == 6
    assert cursor.unique_hashes == sorted([dedup_digest(3), dedup_digest(4)])
    assert all(len(h) == 12 for h in cursor.unique_hashes)


def test_a_mixed_set_recognizes_both_forms() -> None:
    cursor = _filter([dedup_digest(1), legacy_dedup_digest(2)], start=5)
    kept = cursor.filter_batch(_batch([1, 2, 3], [5, 5, 5]))
    assert kept.column("id").to_pylist() == [3]


def test_a_timestamp_key_in_an_arrow_batch_hashes_like_dlt() -> None:
    # dlt hashes the instant, so a key column in any zone matches the hash dlt stored.
    keys = pa.array([NOON.astimezone(PLUS_2)], pa.timestamp("us", "Europe/Warsaw"))
    cursor = _filter(["aDzQLFLq9ayt"], start=5, key="key")
    kept = cursor.filter_batch(pa.table({"key": keys, "ts": [5]}))
    assert kept.num_rows == 0


def test_a_pipeline_stores_the_hashes_dlt_1_31_stores(pipelines_dir: str, bucket: Path) -> None:
    # The dlt 1.31 fixture (tests/fixtures/dlt_1_31) stored ["tIXXf9wiHssy"] for this resource.
    @quiver.resource(name="events", primary_key="id")
    def events(
        updated_at: Any = quiver.sources.incremental("updated_at", initial_value=0),  # noqa: B008
    ) -> Any:
        yield [{"id": i, "updated_at": i, "name": f"event {i}"} for i in range(1, 6)]

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(events())
    source = pipeline.state["sources"][pipeline.default_schema_name]
    cursor = source["resources"]["events"]["incremental"]["updated_at"]
    assert cursor["last_value"] == 5 and cursor["unique_hashes"] == ["tIXXf9wiHssy"]
