"""Engine exceptions are translated at the boundary into quiver's retryable or terminal errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import Schema, write_deltalake
from deltalake.transaction import create_table_with_add_actions

from quiver.destinations.engine_errors import translate
from quiver.errors import CommitConflictError


def test_a_lost_delta_create_race_is_a_retryable_conflict(tmp_path: Path) -> None:
    """Two writers both saw no table; the one whose create comes second gets delta-rs's generic
    'table already exists' error. Trying again appends to the table the other one made."""
    uri = str(tmp_path / "events")
    write_deltalake(uri, pa.table({"id": [1]}))
    with pytest.raises(Exception) as raised:
        create_table_with_add_actions(
            uri, Schema.from_arrow(pa.schema([("id", pa.int64())])), [], mode="error"
        )
    translated = translate(raised.value, "delta", "events", "1700000000.1")
    assert isinstance(translated, CommitConflictError)
    assert translated.retryable


def test_other_generic_delta_errors_are_not_conflicts(tmp_path: Path) -> None:
    from deltalake.exceptions import DeltaError

    assert translate(DeltaError("Generic error: something else"), "delta", "events") is None
