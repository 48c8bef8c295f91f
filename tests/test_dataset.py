"""``pipeline.dataset()``: reading the loaded tables back, as dlt's dataset access page describes.

dlt's documented behaviour (docs "Access loaded data in Python", API reference
``dlt.common.destination.dataset`` / ``dlt.dataset``): ``pipeline.dataset()`` returns a lazy
dataset; tables are ``dataset.<name>``, ``dataset["name"]`` or ``dataset.table("name")``;
relations read as ``df()``, ``arrow()`` (``chunk_size`` = the number of rows to fetch for this
call), ``iter_df/iter_arrow(chunk_size)``, ``fetchall/fetchmany/fetchone``, and are shaped with
``select``, ``limit``, ``head``; ``dataset.row_counts()`` is a relation of ``table_name`` and
``row_count`` (data tables by default, ``dlt_tables=True`` adds dlt's, ``load_id`` counts one
load); ``dataset("select ...")`` runs SQL; an unknown table raises ``ValueError`` from
``table()``, ``KeyError`` from ``[]`` and ``AttributeError`` from attribute access.

quiver adds Arrow streams (``to_reader()``, ``__arrow_c_stream__``), polars lazy frames
(``pl()``) and DuckDB relations (``duckdb()``); every result is checked against an independent
reader (polars / pyiceberg through ``tests.readers.Lake``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.destinations import base
from quiver.errors import (
    DatasetQueryError,
    MissingDependencyError,
    PipelineConfigMissing,
    SchemaNotFound,
    TableNotFound,
)
from tests.readers import Lake


def _orders(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "customer": f"c{i % 3}", "lines": [{"sku": f"s{i}-{j}"} for j in range(i % 3)]}
        for i in range(start, start + count)
    ]


@pytest.fixture
def loaded(any_lake: Lake, pipelines_dir: str) -> tuple[Lake, quiver.Pipeline]:
    pipeline = any_lake.pipeline(pipelines_dir, "reader")
    pipeline.run(_orders(0, 6), table_name="orders")
    pipeline.run(_orders(6, 4), table_name="orders")
    return any_lake, pipeline


def _sorted(table: pa.Table, key: str) -> list[dict[str, Any]]:
    return pl.from_arrow(table).sort(key).to_dicts()  # type: ignore[union-attr]


def test_tables_read_back_in_every_form_as_independent_readers_see_them(
    loaded: tuple[Lake, quiver.Pipeline],
) -> None:
    lake, pipeline = loaded
    dataset = pipeline.dataset()
    assert dataset.tables[:2] == ["orders", "orders__lines"]
    assert {"_dlt_loads", "_dlt_version"} <= set(dataset.tables)

    expected = lake.rows("ds", "orders", "id")
    for relation in (dataset.orders, dataset["orders"], dataset.table("orders")):
        assert _sorted(relation.arrow(), "id") == expected
    assert dataset.orders.df().sort_values("id")["id"].tolist() == list(range(10))
    assert dataset.orders.pl().sort("id").collect().to_dicts() == expected
    assert _sorted(dataset.orders.to_reader().read_all(), "id") == expected
    assert pl.from_arrow(pa.table(dataset.orders)).height == 10  # __arrow_c_stream__
    assert dataset.orders.duckdb().aggregate("count(*)").fetchall() == [(10,)]

    children = lake.rows("ds", "orders__lines", "sku")
    assert _sorted(dataset.orders__lines.arrow(), "sku") == children


def test_relations_fetch_rows_in_chunks_columns_and_limits(
    loaded: tuple[Lake, quiver.Pipeline],
) -> None:
    _, pipeline = loaded
    orders = pipeline.dataset().orders
    assert orders.arrow(chunk_size=3).num_rows == 3
    assert [t.num_rows for t in orders.iter_arrow(4)] == [4, 4, 2]
    assert [len(frame) for frame in orders.iter_df(6)] == [6, 4]
    assert sorted(row[0] for row in orders.select("id").fetchall()) == list(range(10))
    assert orders.select("id", "customer").columns == ["id", "customer"]
    assert orders[["customer"]].arrow().column_names == ["customer"]
    assert len(orders.fetchmany(2)) == 2
    first = orders.select("id").fetchone()
    assert first is not None and len(first) == 1
    assert orders.limit(7).arrow().num_rows == 7
    assert orders.head().arrow().num_rows == 5
    assert [len(rows) for rows in orders.iter_fetch(5)] == [5, 5]


def test_row_counts_match_independent_readers_and_filter_by_load(
    loaded: tuple[Lake, quiver.Pipeline],
) -> None:
    lake, pipeline = loaded
    dataset = pipeline.dataset()
    counts = dict(dataset.row_counts().fetchall())
    assert counts == {
        "orders": lake.read("ds", "orders").height,
        "orders__lines": lake.read("ds", "orders__lines").height,
    }
    assert dataset.row_counts().columns == ["table_name", "row_count"]
    with_dlt = dict(dataset.row_counts(dlt_tables=True).fetchall())
    assert with_dlt["_dlt_loads"] == 2
    assert dict(dataset.row_counts(table_names=["orders"]).fetchall()) == {"orders": 10}
    first_load, second_load = dataset.load_ids()
    assert dataset.latest_load_id() == second_load
    # only tables with a _dlt_load_id column are counted for one load (dlt's rule)
    assert dict(dataset.row_counts(load_id=first_load).fetchall()) == {"orders": 6}


def test_sql_over_several_tables_runs_in_duckdb(loaded: tuple[Lake, quiver.Pipeline]) -> None:
    _, pipeline = loaded
    dataset = pipeline.dataset()
    query = (
        "select o.customer, count(l.sku) as skus from orders o "
        "left join orders__lines l on l._dlt_parent_id = o._dlt_id group by 1 order by 1"
    )
    expected = (
        pl.from_arrow(dataset.orders.arrow())
        .join(
            pl.from_arrow(dataset.orders__lines.arrow()),  # type: ignore[arg-type]
            left_on="_dlt_id",
            right_on="_dlt_parent_id",
            how="left",
        )
        .group_by("customer")
        .agg(pl.col("sku").count().alias("skus"))
        .sort("customer")
        .rows()
    )
    assert dataset(query).fetchall() == expected
    assert dataset.query(query).arrow().column_names == ["customer", "skus"]
    assert dataset("select count(*) from ds.orders").fetchall() == [(10,)]  # qualified
    assert dataset("select id from orders order by id").limit(3).fetchall() == [(0,), (1,), (2,)]
    assert dataset("select id from orders").pl().collect().height == 10


def test_plain_files_read_back_too(pipelines_dir: str, bucket: Path) -> None:
    pipeline = quiver.pipeline(
        "plain",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket), table_format="native"),
        dataset_name="ds",
    )
    pipeline.run(_orders(0, 5), table_name="orders")
    pipeline.run([{"id": 5, "extra": "x"}], table_name="orders")
    dataset = pipeline.dataset()
    frame = pl.from_arrow(dataset.orders.arrow()).sort("id")  # type: ignore[union-attr]
    files = sorted((bucket / "ds" / "orders").glob("*.parquet"))
    expected = pl.concat([pl.read_parquet(f) for f in files], how="diagonal")
    assert frame.select("id", "extra").rows() == expected.sort("id").select("id", "extra").rows()
    assert dict(dataset.row_counts(dlt_tables=True).fetchall())["_dlt_loads"] == 2


# ------------------------------------------------------------------------ streaming


class _ScanSpy:
    """Records what ``TableFormat.scan`` was asked for and how many batches were pulled."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, table_format: type[Any]) -> None:
        self.calls: list[tuple[str, list[str] | None]] = []
        #: Batches pulled, per call (same positions as ``calls``).
        self.pulled_per_call: list[int] = []
        self.pulled = 0
        original = table_format.scan

        def scan(fmt: Any, table_name: str, columns: Sequence[str] | None = None) -> Any:
            self.calls.append((table_name, None if columns is None else list(columns)))
            self.pulled_per_call.append(0)
            position = len(self.calls) - 1
            reader = original(fmt, table_name, columns)
            if reader is None:
                return None

            def counted() -> Any:
                for batch in reader:
                    self.pulled += 1
                    self.pulled_per_call[position] += 1
                    yield batch

            return pa.RecordBatchReader.from_batches(reader.schema, counted())

        monkeypatch.setattr(table_format, "scan", scan)


def _format_class(lake: Lake) -> type[Any]:
    from quiver.destinations.delta.format import DeltaFormat
    from quiver.destinations.iceberg.format import IcebergFormat

    return DeltaFormat if lake.table_format == "delta" else IcebergFormat


def test_reads_open_only_what_was_asked_for(
    loaded: tuple[Lake, quiver.Pipeline], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, pipeline = loaded
    spy = _ScanSpy(monkeypatch, _format_class(lake))
    dataset = pipeline.dataset()
    relation = dataset.orders.select("id")  # building relations reads nothing
    dataset("select * from orders")
    assert spy.calls == []

    dict(dataset.row_counts().fetchall())  # metadata only
    assert spy.calls == []

    relation.arrow()
    assert spy.calls == [("orders", ["id"])]

    spy.calls.clear()
    spy.pulled_per_call.clear()
    dataset.orders.pl().select("customer").collect()  # polars' projection reaches the scan
    read = [call for call, pulled in zip(spy.calls, spy.pulled_per_call, strict=True) if pulled]
    assert read and all(columns == ["customer"] for _, columns in read)

    spy.calls.clear()
    spy.pulled_per_call.clear()
    dataset("select count(*) from orders").fetchall()  # the child table is never opened
    assert {name for name, _ in spy.calls} == {"orders"}


def test_the_first_chunk_of_a_big_table_does_not_read_the_rest(
    any_lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "big")
    for part in range(4):  # four commits: at least four files, so several batches
        table = pa.table({"id": pa.array(range(part * 30_000, (part + 1) * 30_000))})
        pipeline.run(table, table_name="numbers")
    spy = _ScanSpy(monkeypatch, _format_class(any_lake))
    numbers = pipeline.dataset().numbers
    total = sum(1 for _ in numbers.to_reader())
    assert total > 2 and spy.pulled == total
    spy.pulled = 0
    assert next(iter(numbers.iter_arrow(10))).num_rows == 10
    assert spy.pulled < total
    spy.pulled = 0
    assert numbers.limit(5).arrow().num_rows == 5
    assert spy.pulled == 1


def test_the_dataset_reads_through_the_table_format_protocol_alone(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_format_seam import MemoryFormat

    monkeypatch.setitem(base._REGISTRY, "delta", "tests.test_format_seam:MemoryFormat")
    monkeypatch.setattr(MemoryFormat, "tables", {})
    pipeline = quiver.pipeline(
        "seam_reader",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(tmp_path / "lake")),
        dataset_name="ds",
    )
    pipeline.run(_orders(0, 4), table_name="orders")
    dataset = pipeline.dataset()
    assert sorted(dataset.orders.select("id").fetchall()) == [(0,), (1,), (2,), (3,)]
    assert dict(dataset.row_counts().fetchall()) == {"orders": 4, "orders__lines": 3}


# --------------------------------------------------------------------------- errors


def test_unknown_tables_raise_as_in_dlt_with_a_hint(loaded: tuple[Lake, quiver.Pipeline]) -> None:
    _, pipeline = loaded
    dataset = pipeline.dataset()
    with pytest.raises(ValueError, match="orderz") as raised:
        dataset.table("orderz")
    assert isinstance(raised.value, TableNotFound)
    assert "Did you mean 'orders'?" in str(raised.value) and "Hint:" in str(raised.value)
    with pytest.raises(KeyError):
        dataset["orderz"]
    with pytest.raises(AttributeError):
        dataset.orderz  # noqa: B018
    with pytest.raises(TableNotFound):
        dataset.row_counts(table_names=["orderz"])
    with pytest.raises(SchemaNotFound, match="reader"):
        pipeline.dataset(schema="other")


def test_a_table_not_loaded_yet_says_so(pipelines_dir: str, bucket: Path) -> None:
    pipeline = quiver.pipeline(
        "pending",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
    )
    pipeline.extract([{"id": 1}], table_name="later")
    pipeline.normalize()  # the schema knows the table; the destination has none yet
    dataset = pipeline.dataset()
    with pytest.raises(TableNotFound, match=r"no data .* yet") as raised:
        dataset.later.arrow()
    assert "Hint: run the pipeline" in str(raised.value)
    assert dict(dataset.row_counts().fetchall()) == {"later": 0}


def test_bad_sql_names_the_query(loaded: tuple[Lake, quiver.Pipeline]) -> None:
    _, pipeline = loaded
    with pytest.raises(DatasetQueryError, match="selec idd") as raised:
        pipeline.dataset()("selec idd from orders").fetchall()
    assert isinstance(raised.value, ValueError) and "Hint:" in str(raised.value)
    with pytest.raises(DatasetQueryError, match="nope"):
        pipeline.dataset()("select * from nope").fetchall()


def test_a_pipeline_without_destination_has_no_dataset(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("nowhere", pipelines_dir=pipelines_dir)
    with pytest.raises(PipelineConfigMissing, match="destination"):
        pipeline.dataset()


def test_duckdb_is_optional_and_imported_only_for_sql(
    loaded: tuple[Lake, quiver.Pipeline], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pipeline = loaded
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if it were not installed
    dataset = pipeline.dataset()
    assert dataset.orders.arrow().num_rows == 10
    with pytest.raises(MissingDependencyError, match=r"quiver\[duckdb\]"):
        dataset("select 1").fetchall()


@pytest.mark.slow
def test_reading_tables_does_not_import_duckdb(pipelines_dir: str, bucket: Path) -> None:
    script = f"""
import sys, quiver
p = quiver.pipeline("lazy", pipelines_dir={pipelines_dir!r},
    destination=quiver.destinations.filesystem(bucket_url={str(bucket)!r}))
p.run([{{"id": 1}}], table_name="items")
d = p.dataset()
assert d.items.arrow().num_rows == 1 and d.row_counts().fetchall() == [("items", 1)]
d.items.pl().collect()
print("duckdb" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
