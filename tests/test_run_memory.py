"""Memory stays bounded by the batch, not the run (issue 15: peak RSS the same at 1M and 3M rows).

Two things kept a streamed run's peak growing, or higher than its batches need: objects kept
per row or per batch until the run ends, and Arrow's pool keeping the buffers an idle parquet
lane thread freed. No wall-clock or RSS bound here (speed and RSS live in ``benches/``): these
tests count Python allocations between two points of one run, and record which thread hands
memory back.
"""

from __future__ import annotations

import datetime
import gc
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.package import parquet_files

PAGE_ROWS = 1_000


def _page(number: int) -> list[dict[str, Any]]:
    """Nested rows built from scratch (fresh objects, like an API client's page)."""
    first = number * PAGE_ROWS
    return [
        {
            "id": row_id,
            "user": f"user_{row_id % 97}",
            "amount": Decimal(row_id % 1000) / 100,
            "created_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
            + datetime.timedelta(seconds=row_id),
            "geo": {"country": "PL", "lat": 52.2 + row_id % 7},
            "items": [{"sku": f"SKU-{row_id % 13}", "qty": qty} for qty in range(row_id % 3)],
        }
        for row_id in range(first, first + PAGE_ROWS)
    ]


def _pipeline(tmp_path: Path, name: str) -> quiver.Pipeline:
    return quiver.pipeline(
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=quiver.destinations.filesystem(bucket_url=str(tmp_path / "lake")),
        dataset_name="memory",
    )


def test_a_streamed_run_keeps_nothing_per_row_or_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the 10th and the 40th page (30,000 rows, 15 batches per table through the
    overlapped normalize and the parquet lanes), the live Python allocations do not grow with
    the rows: the pages before are converted, normalized, written and dropped. A list that kept
    one small object per row would add 30,000 blocks; the bound is 1,500."""
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", str(2 * PAGE_ROWS))
    live_blocks: dict[int, int] = {}

    def pages() -> Iterator[list[dict[str, Any]]]:
        for number in range(50):
            if number in (10, 40):
                gc.collect()
                live_blocks[number] = sys.getallocatedblocks()
            yield _page(number)

    pipeline = _pipeline(tmp_path, "bounded")
    pipeline.run(pages(), table_name="events", table_format="delta")

    assert pipeline.dataset().row_counts().fetchall()  # the run loaded
    rows_between = 30 * PAGE_ROWS
    growth = live_blocks[40] - live_blocks[10]
    assert growth < rows_between // 20, (
        f"{growth} more live Python allocations after {rows_between} more rows"
    )


def test_parquet_lanes_hand_unused_pool_memory_back_after_every_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch a lane writes is followed by a release on that lane's thread (the pool keeps
    memory per thread, so a release elsewhere would not reach the lane's buffers)."""
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", str(PAGE_ROWS))
    releases: list[str] = []
    writes: list[str] = []
    original_release = parquet_files.release_unused_memory
    original_write = parquet_files.ParquetLane._write_now

    def recording_release() -> None:
        releases.append(threading.current_thread().name)
        original_release()

    def recording_write(lane: parquet_files.ParquetLane, *args: Any) -> None:
        writes.append(threading.current_thread().name)
        original_write(lane, *args)

    monkeypatch.setattr(parquet_files, "release_unused_memory", recording_release)
    monkeypatch.setattr(parquet_files.ParquetLane, "_write_now", recording_write)

    pipeline = _pipeline(tmp_path, "released")
    pipeline.run((_page(number) for number in range(4)), table_name="events")

    # 4 batches of the root table and 4 of each child table that got rows.
    assert len(writes) >= 8
    assert sorted(releases) == sorted(writes)  # lanes of different tables interleave
    assert all(name.startswith("parquet-") for name in releases)
