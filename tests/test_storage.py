"""quiver.destinations.location against real engines: fsspec, deltalake and pyiceberg.

S3 tests run against moto in server mode on loopback (tests/s3_server.py); nothing is mocked.
"""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import deltalake
import polars as pl
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from quiver.destinations import credentials as credentials_module
from quiver.destinations import location as storage
from quiver.destinations.credentials import AwsCredentials
from quiver.destinations.location import FSSPEC_FILE_IO_IMPL, StorageLocation, resolve_location
from quiver.errors import UnsupportedStorageError

# Harmless when the top-level conftest loads the plugin too: pytest registers it once.
pytest_plugins = ["tests.s3_server"]

CREDENTIAL_FIELDS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "REGION_NAME",
    "ENDPOINT_URL",
    "PROFILE_NAME",
)


def sample_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": pa.array(["ä", None, "c c"], pa.string()),
            "amount": pa.array([1.5, -2.0, None], pa.float64()),
        }
    )


def rows(table: Any) -> list[tuple[Any, ...]]:
    """Rows of an Arrow table or a polars frame, as sorted tuples of Python values."""
    if isinstance(table, pl.DataFrame):
        table = table.to_arrow()
    columns = [table.column(name).to_pylist() for name in ("id", "name", "amount")]
    return sorted(zip(*columns, strict=True))


def delta_rows_via_query_builder(dt: deltalake.DeltaTable) -> list[tuple[Any, ...]]:
    result = deltalake.QueryBuilder().register("t", dt).execute("select * from t").read_all()
    return rows(result)


@pytest.fixture
def clean_credentials_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no AWS or quiver credential variables at all."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "DESTINATION__FILESYSTEM__CREDENTIALS__")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A unique memory:// root, wiped afterwards (fsspec's memory store is process-wide)."""
    root = f"memory://quiver-test-{uuid.uuid4().hex[:8]}"
    yield root
    filesystem = resolve_location(root).filesystem()
    path = resolve_location(root).path
    if filesystem.exists(path):
        filesystem.rm(path, recursive=True)


# --- importing ---------------------------------------------------------------------------


def test_import_does_not_import_engines() -> None:
    code = textwrap.dedent(
        """
        import sys
        import quiver.destinations.location
        heavy = ("s3fs", "deltalake", "pyiceberg", "botocore", "aiobotocore")
        print(",".join(sorted(name for name in heavy if name in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("module", [storage, credentials_module], ids=["location", "credentials"])
def test_docstring_examples_run(clean_credentials_env: pytest.MonkeyPatch, module: Any) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0


# --- resolving bucket_url ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket_url", "expected_url"),
    [
        ("/data/lake/", "file:///data/lake"),
        ("file:///data/lake", "file:///data/lake"),
        ("file://localhost/data/lake", "file:///data/lake"),
        ("file:/data/lake", "file:///data/lake"),
        ("FILE:///data/lake", "file:///data/lake"),
        ("/data/../data/./lake", "file:///data/lake"),
        ("memory://lake/", "memory://lake"),
        ("memory://", "memory://"),
        ("gs://bucket/prefix", "gs://bucket/prefix"),
        ("gcs://bucket/prefix", "gs://bucket/prefix"),
        ("sftp://host/home/lake", "sftp://host/home/lake"),
    ],
)
def test_resolve_location_normalizes_urls(bucket_url: str, expected_url: str) -> None:
    location = resolve_location(bucket_url)
    assert location.url == expected_url
    assert location.scheme == expected_url.split("://")[0]
    assert location.credentials is None
    assert str(location) == expected_url


def test_relative_local_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_location("lake/sub").url == f"file://{tmp_path}/lake/sub"
    assert resolve_location("file://lake").path == f"{tmp_path}/lake"
    assert resolve_location(".").path == str(tmp_path)
    assert resolve_location(tmp_path / "lake").path == f"{tmp_path}/lake"


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_location("~/lake").path == f"{tmp_path}/lake"


@pytest.mark.parametrize(
    "bucket_url", ["s3://bucket/prefix/", "s3a://bucket/prefix", "S3N://bucket/prefix"]
)
def test_s3_urls_are_normalized_and_get_credentials(
    bucket_url: str, clean_credentials_env: pytest.MonkeyPatch
) -> None:
    location = resolve_location(bucket_url, {"aws_access_key_id": "AK"})
    assert location.url == "s3://bucket/prefix"
    assert location.scheme == "s3"
    assert location.path == "bucket/prefix"
    assert location.credentials == AwsCredentials(aws_access_key_id="AK")


@pytest.mark.parametrize(
    ("bucket_url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("s3://", "no bucket"),
        ("s3:///key", "no bucket"),
        ("simplecache::s3://bucket", "chains"),
    ],
)
def test_resolve_location_rejects_bad_urls(bucket_url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_location(bucket_url)


def test_join_builds_child_locations(clean_credentials_env: pytest.MonkeyPatch) -> None:
    s3 = resolve_location("s3://bucket", {"aws_access_key_id": "AK"})
    child = s3.join("dataset/", "/items", "", "part.parquet")
    assert child.url == "s3://bucket/dataset/items/part.parquet"
    assert child.path == "bucket/dataset/items/part.parquet"
    assert child.credentials == s3.credentials
    assert s3.join() is s3
    assert resolve_location("file:///").join("a").url == "file:///a"
    assert resolve_location("memory://").join("a", "b").url == "memory://a/b"
    assert resolve_location("memory://lake").join("t").path == "/lake/t"
    with pytest.raises(ValueError, match=r"'\.\.'"):
        s3.join("dataset/../other")


def test_locations_are_hashable_values() -> None:
    assert resolve_location("memory://a") == StorageLocation("memory://a", "memory")
    assert len({resolve_location("memory://a"), resolve_location("memory://a/")}) == 1
    with pytest.raises(ValueError, match="resolve_location"):
        StorageLocation("memory://a", "s3")


def test_path_of_other_fsspec_protocols_has_no_protocol() -> None:
    assert resolve_location("ftp://host/home/lake").path == "/home/lake"


# --- credentials -------------------------------------------------------------------------


def test_credentials_come_from_standard_aws_variables(
    clean_credentials_env: pytest.MonkeyPatch,
) -> None:
    env = clean_credentials_env
    env.setenv("AWS_ACCESS_KEY_ID", "aws-key")
    env.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    env.setenv("AWS_SESSION_TOKEN", "aws-token")
    env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert AwsCredentials.from_env_and_config() == AwsCredentials(
        aws_access_key_id="aws-key",
        aws_secret_access_key="aws-secret",
        aws_session_token="aws-token",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
    )
    env.setenv("AWS_REGION", "eu-central-1")
    assert AwsCredentials.from_env_and_config().region_name == "eu-central-1"


def test_dlt_variables_win_over_aws_variables_and_explicit_values_win_over_both(
    clean_credentials_env: pytest.MonkeyPatch,
) -> None:
    env = clean_credentials_env
    env.setenv("AWS_ACCESS_KEY_ID", "aws-key")
    env.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    env.setenv("AWS_REGION", "aws-region")
    env.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID", "dlt-key")
    env.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME", "dlt-region")
    env.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__PROFILE_NAME", "dlt-profile")
    env.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL", "")  # empty = missing

    from_env = AwsCredentials.from_env_and_config(None)
    assert from_env == AwsCredentials(
        aws_access_key_id="dlt-key",
        aws_secret_access_key="aws-secret",
        region_name="dlt-region",
        profile_name="dlt-profile",
    )

    explicit = AwsCredentials.from_env_and_config(
        {"aws_access_key_id": "explicit-key", "region_name": None}
    )
    assert explicit.aws_access_key_id == "explicit-key"
    assert explicit.aws_secret_access_key == "aws-secret"
    assert explicit.region_name == "dlt-region"

    as_object = AwsCredentials.from_env_and_config(AwsCredentials(endpoint_url="http://x:1"))
    assert as_object.endpoint_url == "http://x:1"
    assert as_object.aws_access_key_id == "dlt-key"

    location = resolve_location("s3://bucket")
    assert location.credentials == from_env


def test_unknown_credential_fields_are_rejected(clean_credentials_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"'aws_secret_key'.*aws_secret_access_key"):
        AwsCredentials.from_env_and_config({"aws_secret_key": "typo"})


def test_secrets_stay_out_of_repr() -> None:
    credentials = AwsCredentials("AK", "very-secret", "session-secret", region_name="r")
    assert "very-secret" not in repr(credentials)
    assert "session-secret" not in repr(credentials)
    assert "AK" in repr(credentials)


def test_engine_options_for_an_http_endpoint(clean_credentials_env: pytest.MonkeyPatch) -> None:
    location = resolve_location(
        "s3a://bucket/lake",
        {
            "aws_access_key_id": "AK",
            "aws_secret_access_key": "SK",
            "endpoint_url": "http://127.0.0.1:9000",
        },
    )
    assert location.deltalake_uri_and_options() == (
        "s3://bucket/lake",
        {
            "AWS_ACCESS_KEY_ID": "AK",
            "AWS_SECRET_ACCESS_KEY": "SK",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_ALLOW_HTTP": "true",
        },
    )
    assert location.pyiceberg_properties() == {
        "s3.endpoint": "http://127.0.0.1:9000",
        "s3.access-key-id": "AK",
        "s3.secret-access-key": "SK",
        "s3.region": "us-east-1",
    }
    assert location.credentials is not None
    assert location.credentials.to_s3fs_kwargs() == {
        "key": "AK",
        "secret": "SK",
        "endpoint_url": "http://127.0.0.1:9000",
    }


def test_engine_options_for_aws_itself(clean_credentials_env: pytest.MonkeyPatch) -> None:
    credentials = AwsCredentials(
        aws_access_key_id="AK",
        aws_secret_access_key="SK",
        aws_session_token="ST",
        region_name="eu-west-1",
        profile_name="prof",
    )
    location = resolve_location("s3://bucket", credentials)
    assert location.deltalake_uri_and_options()[1] == {
        "AWS_ACCESS_KEY_ID": "AK",
        "AWS_SECRET_ACCESS_KEY": "SK",
        "AWS_SESSION_TOKEN": "ST",
        "AWS_REGION": "eu-west-1",
        "AWS_PROFILE": "prof",
    }
    assert location.pyiceberg_properties() == {
        "s3.access-key-id": "AK",
        "s3.secret-access-key": "SK",
        "s3.session-token": "ST",
        "s3.region": "eu-west-1",
        "s3.profile-name": "prof",
    }
    assert credentials.to_s3fs_kwargs() == {
        "key": "AK",
        "secret": "SK",
        "token": "ST",
        "profile": "prof",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    no_endpoint = resolve_location("s3://bucket", {"aws_access_key_id": "AK"})
    assert "AWS_REGION" not in no_endpoint.deltalake_uri_and_options()[1]


# --- S3 on a real server -----------------------------------------------------------------


def test_filesystem_writes_and_reads_in_the_bucket(s3_bucket: str) -> None:
    location = resolve_location(s3_bucket).join("dataset")
    filesystem = location.filesystem()
    assert filesystem is resolve_location(s3_bucket).join("other").filesystem()

    filesystem.pipe(location.join("hello.txt").path, b"hello quiver")
    assert filesystem.cat(location.join("hello.txt").path) == b"hello quiver"
    assert filesystem.ls(location.path, detail=False) == [location.join("hello.txt").path]

    import s3fs  # an independent client sees the object too

    independent = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    assert independent.cat(f"{s3_bucket}/dataset/hello.txt") == b"hello quiver"


def test_explicit_credentials_reach_the_server_without_environment(
    s3_bucket: str, s3_server: Any, clean_credentials_env: pytest.MonkeyPatch
) -> None:
    clean_credentials_env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    location = resolve_location(
        s3_bucket,
        {
            "aws_access_key_id": s3_server.access_key,
            "aws_secret_access_key": s3_server.secret_key,
            "endpoint_url": s3_server.endpoint_url,
        },
    )
    table_uri, options = location.join("explicit").deltalake_uri_and_options()
    deltalake.write_deltalake(table_uri, sample_table(), storage_options=options)
    assert delta_rows_via_query_builder(
        deltalake.DeltaTable(table_uri, storage_options=options)
    ) == rows(sample_table())
    assert location.filesystem().exists(location.join("explicit", "_delta_log").path)


def test_delta_table_on_s3(s3_bucket: str) -> None:
    location = resolve_location(s3_bucket).join("dataset", "items")
    table_uri, options = location.deltalake_uri_and_options()
    assert table_uri == f"{s3_bucket}/dataset/items"
    assert options["AWS_ALLOW_HTTP"] == "true"

    deltalake.write_deltalake(table_uri, sample_table(), storage_options=options)
    log_files = location.filesystem().ls(location.join("_delta_log").path, detail=False)
    deltalake.write_deltalake(table_uri, sample_table(), mode="append", storage_options=options)

    dt = deltalake.DeltaTable(table_uri, storage_options=options)
    assert dt.version() == 1
    expected = sorted(rows(sample_table()) * 2)
    assert delta_rows_via_query_builder(dt) == expected
    assert rows(pl.read_delta(table_uri, storage_options=options)) == expected
    # The listings cache is off: quiver's filesystem sees what deltalake wrote meanwhile.
    log_files_after = location.filesystem().ls(location.join("_delta_log").path, detail=False)
    assert len(log_files_after) == len(log_files) + 1


def test_iceberg_table_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    location = resolve_location(s3_bucket).join("warehouse")
    catalog = SqlCatalog(
        "quiver",
        uri=f"sqlite:///{tmp_path / 'catalog.db'}",
        warehouse=location.url,
        **location.pyiceberg_properties(),
    )
    catalog.create_namespace("dataset")
    table = catalog.create_table("dataset.items", schema=sample_table().schema)
    table.append(sample_table())
    table.append(sample_table())

    assert table.location() == f"{location.url}/dataset/items"
    reloaded = catalog.load_table("dataset.items")
    assert rows(reloaded.scan().to_arrow()) == sorted(rows(sample_table()) * 2)
    data_files = location.filesystem().find(location.join("dataset", "items", "data").path)
    assert len(data_files) == 2


# --- local paths -------------------------------------------------------------------------


@pytest.fixture(params=["plain", "relative", "file-url"])
def local_bucket_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path]:
    """A bucket_url in each accepted local form, and the folder it must point at."""
    folder = tmp_path / "lake"
    if request.param == "relative":
        monkeypatch.chdir(tmp_path)
        return "lake", folder
    if request.param == "file-url":
        return folder.as_uri(), folder
    return str(folder), folder


def test_local_filesystem_creates_parent_folders(local_bucket_url: tuple[str, Path]) -> None:
    bucket_url, folder = local_bucket_url
    location = resolve_location(bucket_url)
    assert location.path == str(folder)
    target = location.join("dataset", "items", "hello.txt")
    location.filesystem().pipe(target.path, b"hello quiver")
    assert (folder / "dataset" / "items" / "hello.txt").read_bytes() == b"hello quiver"


def test_delta_table_on_local_paths(local_bucket_url: tuple[str, Path]) -> None:
    bucket_url, folder = local_bucket_url
    location = resolve_location(bucket_url).join("dataset", "items")
    table_uri, options = location.deltalake_uri_and_options()
    assert (table_uri, options) == (str(folder / "dataset" / "items"), {})

    deltalake.write_deltalake(table_uri, sample_table())
    deltalake.write_deltalake(table_uri, sample_table(), mode="append")

    assert (folder / "dataset" / "items" / "_delta_log").is_dir()
    dt = deltalake.DeltaTable(table_uri)
    assert dt.version() == 1
    expected = sorted(rows(sample_table()) * 2)
    assert delta_rows_via_query_builder(dt) == expected
    assert rows(pl.read_delta(table_uri)) == expected


def test_delta_on_a_local_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    location = resolve_location(tmp_path / "my lake ü").join("items")
    table_uri, _ = location.deltalake_uri_and_options()
    deltalake.write_deltalake(table_uri, sample_table())
    assert (tmp_path / "my lake ü" / "items" / "_delta_log").is_dir()
    # polars 2.1 cannot read such a table (it does not decode the file URIs); deltalake can.
    assert delta_rows_via_query_builder(deltalake.DeltaTable(table_uri)) == rows(sample_table())


def test_delta_rejects_local_paths_with_percent(tmp_path: Path) -> None:
    location = resolve_location(tmp_path / "100%")
    with pytest.raises(UnsupportedStorageError, match="'%'") as raised:
        location.deltalake_uri_and_options()
    assert raised.value.table_format == "delta"
    assert raised.value.scheme == "file"


def test_iceberg_table_on_local_paths(local_bucket_url: tuple[str, Path], tmp_path: Path) -> None:
    bucket_url, folder = local_bucket_url
    location = resolve_location(bucket_url)
    assert location.pyiceberg_properties() == {}
    catalog = SqlCatalog(
        "quiver",
        uri=f"sqlite:///{tmp_path / 'catalog.db'}",
        warehouse=location.url,
        **location.pyiceberg_properties(),
    )
    catalog.create_namespace("dataset")
    table = catalog.create_table("dataset.items", schema=sample_table().schema)
    table.append(sample_table())

    assert rows(catalog.load_table("dataset.items").scan().to_arrow()) == rows(sample_table())
    assert list((folder / "dataset" / "items" / "data").glob("*.parquet"))
    assert list((folder / "dataset" / "items" / "metadata").glob("*.metadata.json"))


# --- memory:// and other fsspec protocols ------------------------------------------------


def test_delta_on_memory_raises_a_helpful_error(memory_root: str) -> None:
    location = resolve_location(memory_root).join("items")
    with pytest.raises(UnsupportedStorageError) as raised:
        location.deltalake_uri_and_options()
    message = str(raised.value)
    for needle in ("'memory'", "delta", "new on every call", "local path", "file://", "s3://"):
        assert needle in message
    assert location.url in message
    assert isinstance(raised.value, ValueError)
    assert (raised.value.scheme, raised.value.table_format) == ("memory", "delta")


def test_delta_on_a_protocol_deltalake_lacks_raises() -> None:
    with pytest.raises(UnsupportedStorageError, match=r"sftp.*local path, a file:// URL"):
        resolve_location("sftp://host/lake").deltalake_uri_and_options()


def test_delta_passes_other_native_object_stores_through() -> None:
    assert resolve_location("gs://bucket/lake").deltalake_uri_and_options() == (
        "gs://bucket/lake",
        {},
    )
    assert resolve_location("gs://bucket/lake").pyiceberg_properties() == {}


def test_iceberg_table_on_memory(memory_root: str, tmp_path: Path) -> None:
    location = resolve_location(memory_root)
    properties = location.pyiceberg_properties()
    assert properties["py-io-impl"] == FSSPEC_FILE_IO_IMPL
    catalog = SqlCatalog(
        "quiver", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=location.url, **properties
    )
    catalog.create_namespace("dataset")
    table = catalog.create_table("dataset.items", schema=sample_table().schema)
    table.append(sample_table())
    table.append(sample_table())

    assert type(table.io).__name__ == "QuiverFsspecFileIO"
    reloaded = catalog.load_table("dataset.items")
    assert rows(reloaded.scan().to_arrow()) == sorted(rows(sample_table()) * 2)
    assert len(location.filesystem().find(location.join("dataset", "items", "data").path)) == 2


def test_fsspec_file_io_is_lazy_importable_and_picklable() -> None:
    io_class = storage.QuiverFsspecFileIO
    assert f"{io_class.__module__}.{io_class.__qualname__}" == FSSPEC_FILE_IO_IMPL
    io = io_class({"quiver.fsspec-schemes": "sftp"})
    assert set(io._scheme_to_fs) >= {"memory", "sftp", "s3", "file"}
    clone = pickle.loads(pickle.dumps(io))
    assert type(clone) is io_class
    with pytest.raises(AttributeError, match="no attribute 'Missing'"):
        _ = storage.Missing


def test_other_fsspec_protocols_use_the_fsspec_file_io() -> None:
    assert resolve_location("sftp://host/lake").pyiceberg_properties() == {
        "py-io-impl": FSSPEC_FILE_IO_IMPL,
        "quiver.fsspec-schemes": "sftp",
    }
