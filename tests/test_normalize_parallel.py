"""Several files of a package normalize at once; NormalizeInfo counts rows per table."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.normalize import normalizer
from tests.readers import delta_rows_polars


def _source(tables: int, rows: int) -> Any:
    @quiver.source(name="many")
    def many() -> Any:
        return [
            quiver.resource(
                [{"id": i, "tags": [f"t{i}", "x"], "nested": {"v": i * n}} for i in range(rows)],
                name=f"table_{n}",
            )
            for n in range(tables)
        ] + [quiver.resource(pa.table({"id": list(range(rows))}), name="arrow_table")]

    return many()


@pytest.mark.parametrize("how", ["argument", "config"])
def test_files_normalize_in_parallel(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    threads: set[str] = set()
    original = normalizer._normalize_job

    def spy(*args: Any) -> Any:
        threads.add(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(normalizer, "_normalize_job", spy)
    pipeline = quiver.pipeline(
        "parallel",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )
    pipeline.extract(_source(tables=4, rows=50))
    if how == "config":
        monkeypatch.setenv("NORMALIZE__WORKERS", "3")
        info = pipeline.normalize()
    else:
        info = pipeline.normalize(workers=3)
    assert info is not None
    assert len(threads) > 1 and all(t.startswith("normalize") for t in threads)
    expected = {f"table_{n}": 50 for n in range(4)} | {f"table_{n}__tags": 100 for n in range(4)}
    assert info.row_counts == expected | {"arrow_table": 50}
    assert "table_0: 50 row(s)" in str(info)
    pipeline.load()
    for n in range(4):
        rows = delta_rows_polars(bucket / "ds" / f"table_{n}", "id")
        assert [r["nested__v"] for r in rows] == [i * n for i in range(50)]
        assert len(delta_rows_polars(bucket / "ds" / f"table_{n}__tags", "_dlt_id")) == 100


def test_parallel_result_equals_sequential(pipelines_dir: str, tmp_path: Path) -> None:
    results = []
    for workers in (1, 4):
        lake = tmp_path / f"lake_{workers}"
        pipeline = quiver.pipeline(
            f"p{workers}",
            pipelines_dir=pipelines_dir,
            destination=quiver.destinations.filesystem(bucket_url=str(lake)),
            dataset_name="ds",
        )
        pipeline.extract(_source(tables=3, rows=20))
        info = pipeline.normalize(workers=workers)
        pipeline.load()
        schema = pipeline.default_schema
        results.append(
            (
                info.row_counts if info else None,
                {t["name"]: list(t["columns"]) for t in schema.data_tables()},
                [r["nested__v"] for r in delta_rows_polars(lake / "ds" / "table_2", "id")],
            )
        )
    assert results[0][0] == results[1][0]
    assert {k: sorted(v) for k, v in results[0][1].items()} == {
        k: sorted(v) for k, v in results[1][1].items()
    }
    assert results[0][2] == results[1][2]
