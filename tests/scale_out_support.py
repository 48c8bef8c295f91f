"""A partitioned source for the scale-out tests, and the check that every row arrived once.

Resources are made inside functions so that Dask, Ray and spawned processes receive them by
value (cloudpickle); workers need not import the tests package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import quiver
from tests.readers import Lake

PARTITIONS = 4
PAGES = 3
PAGE_ROWS = 50


def event_id(partition: int, page: int, row: int) -> int:
    return partition * 10_000 + page * 1_000 + row


def partitioned_events(
    partitions: int = PARTITIONS, *, die_once_in: Path | None = None, first_id: int = 0
) -> Any:
    """``events``: ``PAGES`` pages of ``PAGE_ROWS`` nested rows per partition, with an
    incremental cursor on ``id``. With ``die_once_in``, the worker running partition 1 kills
    itself after its first page, once (the marker file remembers it did)."""

    @quiver.resource(name="events", primary_key="id", partitions=list(range(partitions)))
    def events(partition: int, cursor: Any = quiver.sources.incremental("id")) -> Any:  # noqa: B008
        import os
        import signal

        for page in range(PAGES):
            yield [
                {
                    "id": first_id + partition * 10_000 + page * 1_000 + row,
                    "partition": partition,
                    "detail": {"page": page, "label": f"p{partition}-{page}-{row}"},
                    "tags": [{"tag": f"t{row % 3}"}, {"tag": "all"}],
                }
                for row in range(PAGE_ROWS)
            ]
            if die_once_in is not None and partition == 1 and not die_once_in.exists():
                die_once_in.write_text("died")
                os.kill(os.getpid(), signal.SIGKILL)

    return events


def expected_ids(partitions: int = PARTITIONS, first_id: int = 0) -> list[int]:
    return sorted(
        first_id + event_id(p, page, row)
        for p in range(partitions)
        for page in range(PAGES)
        for row in range(PAGE_ROWS)
    )


def assert_loaded_once(lake: Lake, partitions: int = PARTITIONS) -> None:
    """Every row of every partition exactly once, read back by polars / pyiceberg."""
    events = lake.read("ds", "events")
    assert sorted(events["id"].to_list()) == expected_ids(partitions)
    row = events.filter(events["id"] == event_id(2, 1, 7)).to_dicts()[0]
    assert row["partition"] == 2
    assert row["detail__page"] == 1 and row["detail__label"] == "p2-1-7"
    assert events["_dlt_load_id"].n_unique() == 1
    tags = lake.read("ds", "events__tags")
    assert tags.height == 2 * len(expected_ids(partitions))
    assert set(tags["_dlt_parent_id"].to_list()) == set(events["_dlt_id"].to_list())


def commits_per_table(lake: Lake, table: str) -> int:
    """Commits of a table with data (Delta versions; Iceberg snapshots), read independently."""
    if lake.table_format == "delta":
        from deltalake import DeltaTable

        return len(
            DeltaTable(lake.table_url("ds", table), storage_options=lake.delta_options).history()
        )
    from pyiceberg.table import StaticTable

    metadata = lake.newest_iceberg_metadata("ds", table)
    static = StaticTable.from_metadata(metadata, properties=lake.iceberg_properties)
    return len(static.metadata.snapshots)
