"""A table's column order follows the schema (first seen, as dlt's), never the order of files.

The loader unifies the schemas of a table's normalized files; those files have random names, so
before this was fixed a column first seen in a later batch could land before columns seen
earlier, differently from run to run.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyiceberg.table import StaticTable

import quiver
from quiver.load import loader


def _pages() -> list[list[dict[str, int]]]:
    # `c` is seen before `b`: dlt's column order is a, c, b.
    return [[{"a": 1, "c": 1}], [{"a": 2, "b": 2, "c": 2}], [{"a": 3, "b": 3, "c": 3}]]


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_columns_follow_first_seen_order_whatever_the_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table_format: str
) -> None:
    # One batch per page, so the table's normalized files have different schemas.
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "1")
    read_schema = pq.read_schema
    order_seen: list[list[str]] = []

    def recording_read_schema(path: Path) -> object:
        schema = read_schema(path)
        order_seen.append(schema.names)
        return schema

    monkeypatch.setattr(loader.pq, "read_schema", recording_read_schema)
    # The worst file order for the old union: the widest file first.
    unify = loader.pa.unify_schemas
    monkeypatch.setattr(
        loader.pa,
        "unify_schemas",
        lambda schemas, **kw: unify(sorted(schemas, key=len, reverse=True), **kw),
    )

    @quiver.resource(table_name="events", table_format=table_format)
    def events():  # type: ignore[no-untyped-def]
        yield from _pages()

    pipeline = quiver.pipeline(
        "column_order",
        destination=quiver.destinations.filesystem(str(tmp_path / "lake")),
        pipelines_dir=str(tmp_path / "work"),
        dataset_name="ds",
    )
    pipeline.run(events())
    assert len(order_seen) >= 2, "the test needs several files with different schemas"

    location = tmp_path / "lake" / "ds" / "events"
    if table_format == "delta":
        names = DeltaTable(str(location)).schema().to_arrow().names
    else:
        metadata = sorted((location / "metadata").glob("*.metadata.json"))[-1]
        names = [f.name for f in StaticTable.from_metadata(str(metadata)).schema().fields]
    data_columns = [n for n in names if not n.startswith("_dlt")]
    assert data_columns == ["a", "c", "b"]
