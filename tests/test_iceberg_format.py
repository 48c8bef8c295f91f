"""IcebergFormat against real engines: pyiceberg, DuckDB's iceberg reader, sqlite, moto on loopback.

Nothing is mocked. The parquet files are written the way normalize writes them: with pyarrow,
without field ids, with microsecond timestamps.
"""

from __future__ import annotations

import datetime
import doctest
import glob
import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from quiver.destinations.base import Disposition, TableCommit, load_table_format
from quiver.destinations.iceberg import catalog as iceberg_catalog
from quiver.destinations.iceberg import format as iceberg
from quiver.destinations.iceberg.catalog import (
    catalog_from_config,
    catalog_from_env,
    latest_metadata_file,
)
from quiver.destinations.iceberg.format import APP_ID_PROPERTY, LOAD_ID_PROPERTY, IcebergFormat
from quiver.destinations.location import StorageLocation, resolve_location
from quiver.errors import CommitConflictError
from quiver.load.retry import RetryPolicy

# Harmless when the top-level conftest loads the plugin too: pytest registers it once.
pytest_plugins = ["tests.s3_server"]

APP_ID = "test_pipeline"
UTC = datetime.UTC
TS1 = datetime.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
TS2 = datetime.datetime(2024, 6, 30, 23, 59, 59, 1, tzinfo=UTC)


# --- helpers -----------------------------------------------------------------------------


def write_job(folder: Path, table_name: str, data: pa.Table) -> Path:
    """A normalized job file: ``<table>.<file_id>.<retry>.parquet``, no field ids, µs times."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table_name}.{uuid.uuid4().hex[:10]}.0.parquet"
    pq.write_table(data, path)
    return path


def job_commit(
    files: list[Path], load_id: str, disposition: Disposition = "append", table_name: str = "items"
) -> TableCommit:
    schema = pa.unify_schemas([pq.read_schema(path) for path in files]) if files else pa.schema([])
    return TableCommit(table_name, files, schema, disposition, load_id)


def sorted_rows(data: pa.Table, columns: list[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples of Python values in ``columns`` order, sorted (None first)."""
    values = [data.column(name).to_pylist() for name in columns]
    rows = list(zip(*values, strict=True))
    return sorted(rows, key=lambda row: [(value is not None, value) for value in row])


def scan(fmt: IcebergFormat, table_name: str = "items") -> pa.Table:
    table = fmt.load_table(table_name)
    assert table is not None
    return table.scan().to_arrow()


def load_ids(table: Table) -> list[str]:
    """Load ids along the current snapshot's ancestry, oldest first."""
    snapshots = {s.snapshot_id: s for s in table.metadata.snapshots}
    found, snapshot_id = [], table.metadata.current_snapshot_id
    while snapshot_id is not None:
        snapshot = snapshots[snapshot_id]
        assert snapshot.summary is not None
        found.append(str(snapshot.summary[LOAD_ID_PROPERTY]))
        snapshot_id = snapshot.parent_snapshot_id
    return found[::-1]


def _extension(name: str) -> str:
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    assert spec is not None and spec.submodule_search_locations
    folder = next(iter(spec.submodule_search_locations))
    (path,) = glob.glob(os.path.join(folder, "**", "*.duckdb_extension"), recursive=True)
    return path


@pytest.fixture(scope="session")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB with the avro, iceberg and httpfs extensions loaded from their wheels (offline)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    for name in ("avro", "iceberg", "httpfs"):  # avro before iceberg
        con.execute(f"LOAD '{_extension(name)}'")
    yield con
    con.close()


def duckdb_scan(con: duckdb.DuckDBPyConnection, target: str) -> pa.Table:
    return con.execute("select * from iceberg_scan(?)", [target]).to_arrow_table()


def local_path(url: str) -> str:
    assert url.startswith("file://")
    return url[len("file://") :]


@pytest.fixture
def dataset(tmp_path: Path) -> StorageLocation:
    return resolve_location(tmp_path / "lake").join("my_dataset")


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    return tmp_path / "package"


def first_batch() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": pa.array(["a", None, "ü c"], pa.string()),
            "ts": pa.array([TS1, TS2, None], pa.timestamp("us", "UTC")),
        },
        schema=pa.schema(
            [
                pa.field("id", pa.int64(), nullable=False),
                pa.field("name", pa.string()),
                pa.field("ts", pa.timestamp("us", "UTC")),
            ]
        ),
    )


def second_batch() -> pa.Table:
    """No ``name``, a new column ``extra``."""
    return pa.table(
        {
            "id": pa.array([4, 5], pa.int64()),
            "ts": pa.array([TS2, TS1], pa.timestamp("us", "UTC")),
            "extra": pa.array([1.5, None], pa.float64()),
        }
    )


# --- importing and wiring ------------------------------------------------------------------


def test_import_does_not_import_pyiceberg() -> None:
    code = textwrap.dedent(
        """
        import sys
        import quiver
        import quiver.destinations.iceberg.format
        print(",".join(m for m in ("pyiceberg", "duckdb", "s3fs") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_registry_loads_iceberg(dataset: StorageLocation) -> None:
    fmt = load_table_format("iceberg", dataset, APP_ID)
    assert isinstance(fmt, IcebergFormat)
    assert fmt.name == "iceberg"
    assert fmt.catalog_less
    assert fmt.namespace == "my_dataset"
    assert fmt.identifier("items") == ("my_dataset", "items")
    assert fmt.location("items").url == dataset.url + "/items"


@pytest.mark.parametrize("module", [iceberg, iceberg_catalog], ids=["format", "catalog"])
def test_docstring_examples_run(module: Any) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted >= (1 if module is iceberg else 0)
    assert failed == 0


# --- append, schema evolution, replace ------------------------------------------------------


def test_append_registers_files_and_evolves_schema(
    dataset: StorageLocation, jobs: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    assert not fmt.table_exists("items")
    assert not fmt.is_committed("items", "1700000000.000001")

    first = write_job(jobs, "items", first_batch())
    fmt.commit(job_commit([first], "1700000000.000001"))
    assert fmt.table_exists("items")

    second = write_job(jobs, "items", second_batch())
    fmt.commit(job_commit([second], "1700000000.000002"))

    table = fmt.load_table("items")
    assert table is not None
    assert [f.name for f in table.schema().fields] == ["id", "name", "ts", "extra"]
    assert all(not f.required for f in table.schema().fields)
    assert str(table.schema().find_field("ts").field_type) == "timestamptz"
    assert table.properties["commit.retry.num-retries"] == "0"
    assert load_ids(table) == ["1700000000.000001", "1700000000.000002"]
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary[APP_ID_PROPERTY] == APP_ID

    # The normalized files are registered as they are, under <table>/data/<load_id>.<file_id>.
    data_files = sorted(table.inspect.files().column("file_path").to_pylist())
    file_id = first.name.split(".")[1]
    expected = f"{dataset.url}/items/data/1700000000.000001.{file_id}.parquet"
    assert expected in data_files
    assert len(data_files) == 2
    assert Path(local_path(expected)).read_bytes() == first.read_bytes()

    columns = ["id", "name", "ts", "extra"]
    want = [
        (1, "a", TS1, None),
        (2, None, TS2, None),
        (3, "ü c", None, None),
        (4, None, TS2, 1.5),
        (5, None, TS1, None),
    ]
    assert sorted_rows(table.scan().to_arrow(), columns) == sorted_rows(
        pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in want]), columns
    )
    by_duckdb = duckdb_scan(duck, local_path(table.metadata_location))
    assert sorted_rows(by_duckdb, columns) == sorted_rows(table.scan().to_arrow(), columns)
    # version-hint.text lets readers that take a table folder find the current version.
    by_folder = duckdb_scan(duck, local_path(fmt.location("items").url))
    assert sorted_rows(by_folder, columns) == sorted_rows(by_duckdb, columns)


def test_replace_drops_old_files_and_keeps_vanished_columns(
    dataset: StorageLocation, jobs: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "1.000001"))
    fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "1.000002"))

    replacement = pa.table({"id": pa.array([7], pa.int64()), "other": pa.array(["x"])})
    new_file = write_job(jobs, "items", replacement)
    fmt.commit(job_commit([new_file], "1.000003", disposition="replace"))

    table = fmt.load_table("items")
    assert table is not None
    assert [f.name for f in table.schema().fields] == ["id", "name", "ts", "other"]
    data_files = table.inspect.files().column("file_path").to_pylist()
    assert data_files == [
        f"{dataset.url}/items/data/1.000003.{new_file.name.split('.')[1]}.parquet"
    ]
    columns = ["id", "name", "ts", "other"]
    assert sorted_rows(table.scan().to_arrow(), columns) == [(7, None, None, "x")]
    by_duckdb = duckdb_scan(duck, local_path(table.metadata_location))
    assert sorted_rows(by_duckdb, columns) == [(7, None, None, "x")]
    assert fmt.is_committed("items", "1.000003")

    # A replace with no files empties the table, and is recorded too.
    fmt.commit(job_commit([], "1.000004", disposition="replace"))
    assert scan(fmt).num_rows == 0
    assert fmt.is_committed("items", "1.000004")
    assert "other" in scan(fmt).column_names


def test_replace_creates_a_missing_table(dataset: StorageLocation, jobs: Path) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "2.000001", "replace"))
    assert sorted_rows(scan(fmt), ["id"]) == [(4,), (5,)]
    assert fmt.is_committed("items", "2.000001")


def test_partitioned_table_splits_files_by_value(dataset: StorageLocation, jobs: Path) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    data = pa.table({"id": [1, 2, 3], "country": ["de", "fr", "de"]})
    path = write_job(jobs, "items", data)
    commit = TableCommit("items", [path], data.schema, "append", "3.000001", ["country"])
    fmt.commit(commit)
    fmt.commit(commit)  # exactly once
    table = fmt.load_table("items")
    assert table is not None
    assert [field.name for field in table.spec().fields] == ["country"]
    assert sorted_rows(table.scan().to_arrow(), ["id", "country"]) == [
        (1, "de"),
        (2, "fr"),
        (3, "de"),
    ]
    assert len(table.inspect.files()) == 2


# --- exactly once ---------------------------------------------------------------------------


def test_commit_twice_loads_once(dataset: StorageLocation, jobs: Path) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    commit = job_commit([write_job(jobs, "items", first_batch())], "4.000001")
    fmt.commit(commit)
    table = fmt.load_table("items")
    assert table is not None
    metadata_location = table.metadata_location

    fmt.commit(commit)
    IcebergFormat(dataset, APP_ID).commit(commit)

    table = fmt.load_table("items")
    assert table is not None
    assert table.metadata_location == metadata_location  # nothing was written
    assert scan(fmt).num_rows == 3
    assert fmt.is_committed("items", "4.000001")
    assert not fmt.is_committed("items", "4.000002")
    # Load ids are recorded per app, like Delta app transactions.
    assert not IcebergFormat(dataset, "another_pipeline").is_committed("items", "4.000001")


def test_append_rows_is_idempotent(
    dataset: StorageLocation, duck: duckdb.DuckDBPyConnection
) -> None:
    fmt = IcebergFormat(dataset, APP_ID)
    row = pa.table(
        {
            "load_id": pa.array(["5.000001"]),
            "status": pa.array([0], pa.int64()),
            "inserted_at": pa.array([TS1], pa.timestamp("us", "UTC")),
        }
    )
    fmt.append_rows("_dlt_loads", row, "5.000001")
    fmt.append_rows("_dlt_loads", row, "5.000001")
    assert fmt.is_committed("_dlt_loads", "5.000001")

    later = pa.table({"load_id": ["5.000002"], "status": pa.array([0], pa.int64())})
    fmt.append_rows("_dlt_loads", later, "5.000002")
    fmt.append_rows("_dlt_loads", later, "5.000002")

    columns = ["load_id", "status", "inserted_at"]
    want = [("5.000001", 0, TS1), ("5.000002", 0, None)]
    assert sorted_rows(scan(fmt, "_dlt_loads"), columns) == want
    table = fmt.load_table("_dlt_loads")
    assert table is not None
    assert sorted_rows(duckdb_scan(duck, local_path(table.metadata_location)), columns) == want


# --- catalog-less mode ----------------------------------------------------------------------


def test_fresh_instance_sees_table_and_load_ids(dataset: StorageLocation, jobs: Path) -> None:
    IcebergFormat(dataset, APP_ID).commit(
        job_commit([write_job(jobs, "items", first_batch())], "6.000001")
    )
    fresh = IcebergFormat(dataset, APP_ID)
    assert fresh.table_exists("items")
    assert fresh.is_committed("items", "6.000001")
    fresh.commit(job_commit([write_job(jobs, "items", second_batch())], "6.000002"))

    again = IcebergFormat(dataset, APP_ID)
    table = again.load_table("items")
    assert table is not None
    assert load_ids(table) == ["6.000001", "6.000002"]
    assert scan(again).num_rows == 5
    metadata_files = sorted(
        name
        for name in os.listdir(local_path(again.location("items").url) + "/metadata")
        if name.endswith(".metadata.json")
    )
    assert [name[:5] for name in metadata_files] == ["00000", "00001"]


def test_newest_metadata_is_chosen_by_version_number(tmp_path: Path) -> None:
    folder = tmp_path / "t" / "metadata"
    folder.mkdir(parents=True)
    names = [
        f"99999-{uuid.uuid4()}.metadata.json",
        f"100000-{uuid.uuid4()}.metadata.json",
        "v7.metadata.json",
        f"snap-1-{uuid.uuid4()}.avro",
        "version-hint.text",
    ]
    for name in names:
        (folder / name).write_text("{}")
    newest = latest_metadata_file(resolve_location(tmp_path / "t"))
    assert newest is not None
    assert newest.url.rsplit("/", 1)[1] == names[1]
    assert latest_metadata_file(resolve_location(tmp_path / "missing")) is None


def test_stale_writer_gets_a_conflict_not_a_fork(dataset: StorageLocation, jobs: Path) -> None:
    writer_a = IcebergFormat(dataset, APP_ID)
    writer_a.commit(job_commit([write_job(jobs, "items", first_batch())], "7.000001"))
    stale = writer_a.load_table("items")
    assert stale is not None

    IcebergFormat(dataset, APP_ID).commit(
        job_commit([write_job(jobs, "items", second_batch())], "7.000002")
    )
    # pyiceberg must not retry by itself (it would replay the data): the conflict surfaces.
    with pytest.raises(CommitFailedException):
        stale.append(second_batch().select(["id"]), snapshot_properties={LOAD_ID_PROPERTY: "x"})

    table = writer_a.load_table("items")
    assert table is not None
    assert load_ids(table) == ["7.000001", "7.000002"]


def test_metadata_versions_are_claimed_exclusively(tmp_path: Path) -> None:
    target = resolve_location(tmp_path).join("t", "metadata", "00001-x.metadata.json")
    iceberg_catalog._create_exclusive(target, b"first")
    with pytest.raises(FileExistsError):
        iceberg_catalog._create_exclusive(target, b"second")
    assert Path(target.path).read_bytes() == b"first"
    assert os.listdir(os.path.dirname(target.path)) == ["00001-x.metadata.json"]


def test_conflict_is_a_retryable_error_and_the_retry_lands(
    dataset: StorageLocation, jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = IcebergFormat(dataset, APP_ID)
    writer.commit(job_commit([write_job(jobs, "items", first_batch())], "14.000001"))
    stale = writer.load_table("items")
    IcebergFormat(dataset, APP_ID).commit(
        job_commit([write_job(jobs, "items", second_batch())], "14.000002")
    )
    retried = job_commit([write_job(jobs, "items", second_batch())], "14.000003")
    with monkeypatch.context() as patch:  # the writer read the table before the other commit
        patch.setattr(writer, "load_table", lambda table_name: stale)
        with pytest.raises(CommitConflictError) as raised:
            writer.commit(retried)
    assert raised.value.retryable
    assert isinstance(raised.value.__cause__, CommitFailedException)
    assert "items" in str(raised.value) and "14.000003" in str(raised.value)

    writer.commit(retried)  # what the load step's retry does: on the new version it lands
    writer.commit(retried)  # and a retry after that is a no-op
    table = writer.load_table("items")
    assert table is not None
    assert load_ids(table) == ["14.000001", "14.000002", "14.000003"]
    assert scan(writer).num_rows == 3 + 2 + 2


def test_concurrent_writers_all_land_once(dataset: StorageLocation, jobs: Path) -> None:
    IcebergFormat(dataset, APP_ID).commit(
        job_commit([write_job(jobs, "items", first_batch())], "8.000000")
    )
    commits = [
        job_commit([write_job(jobs, "items", second_batch())], f"8.00000{i}") for i in range(1, 5)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(commits))
    # The format does not retry; the load step's policy does (a retry starts with is_committed).
    policy = RetryPolicy(attempts=20, base_delay=0.01, max_delay=0.2)

    def load(commit: TableCommit) -> None:
        fmt = IcebergFormat(dataset, APP_ID)
        barrier.wait()
        try:
            policy.run(lambda: fmt.commit(commit))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load, args=(commit,)) for commit in commits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    fmt = IcebergFormat(dataset, APP_ID)
    table = fmt.load_table("items")
    assert table is not None
    assert sorted(load_ids(table)) == ["8.000000", "8.000001", "8.000002", "8.000003", "8.000004"]
    assert scan(fmt).num_rows == 3 + 4 * 2
    versions = [
        name[:5]
        for name in os.listdir(local_path(fmt.location("items").url) + "/metadata")
        if name.endswith(".metadata.json")
    ]
    assert sorted(versions) == [f"{v:05d}" for v in range(5)]  # one file per version: no fork


def test_memory_filesystem(jobs: Path) -> None:
    root = f"memory://quiver-test-{uuid.uuid4().hex[:8]}"
    dataset = resolve_location(root).join("ds")
    try:
        fmt = IcebergFormat(dataset, APP_ID)
        fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "9.000001"))
        fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "9.000002"))
        fresh = IcebergFormat(dataset, APP_ID)
        assert fresh.is_committed("items", "9.000002")
        assert sorted_rows(scan(fresh), ["id"]) == [(1,), (2,), (3,), (4,), (5,)]
    finally:
        resolve_location(root).filesystem().rm(resolve_location(root).path, recursive=True)


# --- configured catalogs --------------------------------------------------------------------


def test_sql_catalog_on_sqlite_file(tmp_path: Path, dataset: StorageLocation, jobs: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    fmt = IcebergFormat(dataset, APP_ID, catalog=SqlCatalog("lake", uri=uri))
    assert not fmt.catalog_less
    fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "10.000001"))
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "10.000002"))
    fmt.append_rows("_dlt_loads", pa.table({"load_id": ["10.000002"]}), "10.000002")

    catalog = catalog_from_config("lake", {"type": "sql", "uri": uri})
    assert sorted(catalog.list_tables("my_dataset")) == [
        ("my_dataset", "_dlt_loads"),
        ("my_dataset", "items"),
    ]
    reopened = IcebergFormat(dataset, APP_ID, catalog=catalog)
    assert reopened.is_committed("items", "10.000002")
    table = reopened.load_table("items")
    assert table is not None
    assert table.location() == dataset.url + "/items"
    assert scan(reopened).num_rows == 5
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "10.000002"))
    assert scan(reopened).num_rows == 5


def test_catalog_registers_a_catalog_less_table(
    tmp_path: Path, dataset: StorageLocation, jobs: Path
) -> None:
    IcebergFormat(dataset, APP_ID).commit(
        job_commit([write_job(jobs, "items", first_batch())], "11.000001")
    )
    catalog = SqlCatalog("lake", uri=f"sqlite:///{tmp_path / 'catalog.db'}")
    fmt = IcebergFormat(dataset, APP_ID, catalog=catalog)
    assert fmt.is_committed("items", "11.000001")
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "11.000002"))
    assert catalog.load_table(("my_dataset", "items")).scan().to_arrow().num_rows == 5


def test_catalog_from_env(
    tmp_path: Path, dataset: StorageLocation, jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert catalog_from_env({}) is None
    uri = f"sqlite:///{tmp_path / 'env_catalog.db'}"
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE", "sql")
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG", f'{{"uri": "{uri}"}}')
    fmt = IcebergFormat(dataset, APP_ID)
    assert not fmt.catalog_less
    fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "12.000001"))
    catalog = SqlCatalog("default", uri=uri)
    assert catalog.table_exists(("my_dataset", "items"))
    with pytest.raises(ValueError, match="JSON"):
        catalog_from_env({"ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG": "[1]"})


# --- S3 ------------------------------------------------------------------------------------


def test_s3_append_evolve_replace(
    s3_bucket: str, s3_server: Any, jobs: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    dataset = resolve_location(f"{s3_bucket}/lake").join("my_dataset")
    fmt = IcebergFormat(dataset, APP_ID)
    fmt.commit(job_commit([write_job(jobs, "items", first_batch())], "13.000001"))
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "13.000002"))
    fmt.commit(job_commit([write_job(jobs, "items", second_batch())], "13.000002"))

    fresh = IcebergFormat(dataset, APP_ID)
    assert fresh.is_committed("items", "13.000002")
    table = fresh.load_table("items")
    assert table is not None
    assert table.metadata_location.startswith(f"{s3_bucket}/lake/my_dataset/items/metadata/00001-")
    assert all(
        path.startswith(f"{s3_bucket}/lake/my_dataset/items/data/")
        for path in table.inspect.files().column("file_path").to_pylist()
    )
    columns = ["id", "name", "ts", "extra"]
    by_pyiceberg = sorted_rows(table.scan().to_arrow(), columns)
    assert [row[0] for row in by_pyiceberg] == [1, 2, 3, 4, 5]

    host = s3_server.endpoint_url.removeprefix("http://")
    duck.execute(
        "CREATE OR REPLACE SECRET moto (TYPE s3, KEY_ID 'testing', SECRET 'testing', "
        f"REGION 'us-east-1', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)"
    )
    assert sorted_rows(duckdb_scan(duck, table.metadata_location), columns) == by_pyiceberg

    fresh.commit(job_commit([write_job(jobs, "items", second_batch())], "13.000003", "replace"))
    assert sorted_rows(scan(fmt), ["id", "name"]) == [(4, None), (5, None)]
    # The current version's file is claimed: a racing writer of the same version gets a conflict.
    current = latest_metadata_file(fmt.location("items"))
    assert current is not None
    with pytest.raises(FileExistsError):
        iceberg_catalog._create_exclusive(current, b"{}")
