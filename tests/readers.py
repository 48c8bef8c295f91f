"""Independent readers for what quiver wrote (never quiver's own code)."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl


def delta_rows_polars(table_path: Path | str, sort_by: str | list[str]) -> list[dict[str, Any]]:
    """Rows of a Delta table read by polars, sorted."""
    return pl.read_delta(str(table_path)).sort(sort_by).to_dicts()


def delta_rows_deltalake(table_path: Path | str, sort_by: str) -> list[dict[str, Any]]:
    """Rows of a Delta table read by delta-rs' own query engine (DataFusion), sorted.

    ``DeltaTable.to_pyarrow_table()`` can abort the interpreter at exit (delta-rs#2184), so the
    table is read through ``QueryBuilder``.
    """
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(str(table_path))
    import pyarrow as pa

    result = QueryBuilder().register("t", table).execute(f'select * from t order by "{sort_by}"')
    arrow = pa.RecordBatchReader.from_stream(result).read_all()
    return pl.from_arrow(arrow).to_dicts()  # type: ignore[union-attr]


def delta_version(table_path: Path | str) -> int:
    from deltalake import DeltaTable

    return int(DeltaTable(str(table_path)).version())


# ----------------------------------------------------------------------------- lake targets


def s3_delta_options(endpoint_url: str | None) -> dict[str, str]:
    """deltalake's storage options for the test S3 server."""
    return {
        "AWS_ENDPOINT_URL": str(endpoint_url),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }


def s3_iceberg_properties(endpoint_url: str | None) -> dict[str, str]:
    """pyiceberg's FileIO properties for the test S3 server."""
    return {
        "s3.endpoint": str(endpoint_url),
        "s3.access-key-id": "testing",
        "s3.secret-access-key": "testing",
        "s3.region": "us-east-1",
    }


def metadata_version(path: str) -> int:
    """The version in an Iceberg metadata file name (``v3.metadata.json``, ``00003-....``)."""
    match = re.match(r"v?(\d+)", path.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else -1


@dataclass(frozen=True)
class Lake:
    """Where a conformance test loads to, and how independent readers reach it."""

    table_format: str  # "delta" | "iceberg"
    filesystem: str  # "local" | "s3"
    bucket_url: str
    endpoint_url: str | None = None

    def pipeline(self, pipelines_dir: str, name: str) -> Any:
        """A quiver pipeline loading into dataset ``ds`` of this lake."""
        import quiver

        return quiver.pipeline(
            name,
            pipelines_dir=pipelines_dir,
            destination=quiver.destinations.filesystem(
                bucket_url=self.bucket_url, table_format=self.table_format
            ),
            dataset_name="ds",
        )

    def table_url(self, dataset: str, table: str) -> str:
        return f"{self.bucket_url}/{dataset}/{table}"

    @property
    def delta_options(self) -> dict[str, str] | None:
        return s3_delta_options(self.endpoint_url) if self.filesystem == "s3" else None

    @property
    def iceberg_properties(self) -> dict[str, str]:
        return s3_iceberg_properties(self.endpoint_url) if self.filesystem == "s3" else {}

    def _fsspec(self) -> Any:
        import fsspec

        if self.filesystem == "s3":
            return fsspec.filesystem(
                "s3", key="testing", secret="testing", endpoint_url=self.endpoint_url
            )
        return fsspec.filesystem("file")

    def exists(self, dataset: str, table: str) -> bool:
        url = self.table_url(dataset, table)
        return bool(self._fsspec().exists(url.removeprefix("file://")))

    def newest_iceberg_metadata(self, dataset: str, table: str) -> str:
        fs = self._fsspec()
        folder = self.table_url(dataset, table).removeprefix("file://") + "/metadata"
        names = [p for p in fs.ls(folder, detail=False) if p.endswith(".metadata.json")]
        newest = max(names, key=metadata_version)
        return ("s3://" + newest) if self.filesystem == "s3" else newest

    def read(self, dataset: str, table: str) -> pl.DataFrame:
        """The table as read by polars (Delta) or pyiceberg's StaticTable (Iceberg)."""
        url = self.table_url(dataset, table)
        if self.table_format == "delta":
            return pl.read_delta(url, storage_options=self.delta_options)
        from pyiceberg.table import StaticTable

        metadata = self.newest_iceberg_metadata(dataset, table)
        static = StaticTable.from_metadata(metadata, properties=self.iceberg_properties)
        return pl.from_arrow(static.scan().to_arrow())  # type: ignore[return-value]

    def rows(self, dataset: str, table: str, sort_by: str | list[str]) -> list[dict[str, Any]]:
        return self.read(dataset, table).sort(sort_by).to_dicts()


def duckdb_extension_path(name: str) -> str:
    """Path of a DuckDB extension shipped in a ``duckdb-extension-<name>`` wheel (offline)."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    assert spec is not None and spec.submodule_search_locations
    folder = next(iter(spec.submodule_search_locations))
    (path,) = glob.glob(os.path.join(folder, "**", "*.duckdb_extension"), recursive=True)
    return path


def duckdb_connection(endpoint_url: str | None = None) -> Any:
    """DuckDB 1.5.5 with httpfs, avro, delta and iceberg loaded from their wheels."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    for name in ("httpfs", "avro", "iceberg", "delta"):  # avro before iceberg
        con.execute(f"LOAD '{duckdb_extension_path(name)}'")
    if endpoint_url:
        host = endpoint_url.removeprefix("http://")
        con.execute(
            "CREATE OR REPLACE SECRET moto (TYPE s3, KEY_ID 'testing', SECRET 'testing', "
            f"REGION 'us-east-1', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)"
        )
    return con


def duckdb_rows(lake: Lake, dataset: str, table: str, order_by: str) -> list[tuple[Any, ...]]:
    con = duckdb_connection(lake.endpoint_url)
    try:
        if lake.table_format == "delta":
            target = lake.table_url(dataset, table).removeprefix("file://")
            query = f"select * from delta_scan('{target}') order by {order_by}"
        else:
            target = lake.newest_iceberg_metadata(dataset, table)
            query = f"select * from iceberg_scan('{target}') order by {order_by}"
        return [tuple(r) for r in con.execute(query).fetchall()]
    finally:
        con.close()
