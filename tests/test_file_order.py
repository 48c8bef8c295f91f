"""The same input always gives the same table: the first data extracted decides a column's type.

dlt's rule (``dlt/common/schema/schema.py:coerce_row``): a column gets the type of the first
value that creates it; later values that do not coerce to it go to ``<column>__v_<type>``. Here
the order of extracted files on disk and the number of normalize workers must not change which
value is first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.normalize import normalizer
from quiver.package.storage import PackageStorage


def _pipeline(pipelines_dir: str, bucket: Path, name: str) -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _read(bucket: Path, table: str) -> tuple[dict[str, pl.DataType], list[dict[str, Any]]]:
    frame = pl.read_delta(str(bucket / "ds" / table))
    frame = frame.drop([c for c in frame.columns if c.startswith("_dlt")]).sort("id")
    return dict(frame.schema), frame.to_dicts()


@quiver.resource(name="mixed")
def _arrow_items() -> Any:
    yield pa.table({"id": [1], "v": pa.array([10], pa.int64())})
    yield pa.table({"id": [2], "v": ["x"]})


@quiver.resource(name="other")
def _other_table() -> Any:
    yield pa.table({"id": [1], "w": ["a"]})
    yield pa.table({"id": [2], "w": pa.array([1.5])})


def _listing(order: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file system may list files in any order: simulate the worst one."""
    if order == "sorted":
        return
    listed = PackageStorage.jobs

    def reversed_listing(package: Path, state: Any) -> list[Path]:
        return list(reversed(listed(package, state)))

    monkeypatch.setattr(normalizer.PackageStorage, "jobs", staticmethod(reversed_listing))


@pytest.mark.parametrize("order", ["sorted", "reversed"])
@pytest.mark.parametrize("workers", [1, 4])
def test_arrow_items_first_type_wins_whatever_the_file_order(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str, workers: int
) -> None:
    _listing(order, monkeypatch)
    for run in range(8):
        bucket = tmp_path / f"lake_{run}"
        pipeline = _pipeline(pipelines_dir, bucket, f"order_{run}")
        pipeline.extract([_arrow_items(), _other_table()])
        pipeline.normalize(workers=workers)
        pipeline.load()
        types, rows = _read(bucket, "mixed")
        assert types == {"id": pl.Int64, "v": pl.Int64, "v__v_text": pl.String}, run
        assert rows == [
            {"id": 1, "v": 10, "v__v_text": None},
            {"id": 2, "v": None, "v__v_text": "x"},
        ]
        types, rows = _read(bucket, "other")
        assert types == {"id": pl.Int64, "w": pl.String}, run
        # 1.5 coerces to text as dlt's JSON encoder writes it.
        assert rows == [{"id": 1, "w": "a"}, {"id": 2, "w": "1.5"}]


@quiver.resource(name="t")
def _one_row_at_a_time() -> Any:
    yield {"id": 1, "v": 10}
    yield {"id": 2, "v": "x"}
    yield {"id": 3, "v": 7}


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_rows_typed_differently_across_buffers(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    _listing(order, monkeypatch)
    # One row per buffer: each buffer becomes a batch, and a batch of another schema a new file.
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "1")
    for run in range(8):
        bucket = tmp_path / f"lake_{run}"
        pipeline = _pipeline(pipelines_dir, bucket, f"rows_{run}")
        pipeline.run(_one_row_at_a_time())
        types, rows = _read(bucket, "t")
        assert types == {"id": pl.Int64, "v": pl.Int64, "v__v_text": pl.String}, run
        assert rows == [
            {"id": 1, "v": 10, "v__v_text": None},
            {"id": 2, "v": None, "v__v_text": "x"},
            {"id": 3, "v": 7, "v__v_text": None},
        ]


def test_rows_buffered_before_an_arrow_item_are_older(pipelines_dir: str, bucket: Path) -> None:
    """A row yielded before an Arrow item of the same table comes first, though it is buffered."""

    @quiver.resource(name="t")
    def rows_then_arrow() -> Any:
        yield {"id": 1, "v": "text first"}
        yield pa.table({"id": [2], "v": pa.array([5], pa.int64())})

    pipeline = _pipeline(pipelines_dir, bucket, "rows_then_arrow")
    pipeline.run(rows_then_arrow())
    types, rows = _read(bucket, "t")
    assert types["v"] == pl.String
    assert rows == [{"id": 1, "v": "text first"}, {"id": 2, "v": "5"}]
