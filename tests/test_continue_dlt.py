# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""Beyond dlt: quiver continues a pipeline that dlt 1.31 loaded.

The fixture (``tests/fixtures/dlt_1_31``, made by real dlt, see its README) holds a ``shop``
dataset: an ``events`` table (Delta or Iceberg) with ids 1..5 from two dlt runs of an
incremental resource, and dlt's JSON-lines ``_dlt_loads`` / ``_dlt_pipeline_state`` /
``_dlt_version`` folders. ``attach()`` and ``run()`` restore dlt's state and schema from them
and continue the cursor (``last_value`` 5) without reloading anything; quiver keeps writing the
sidecars in dlt's form, so dlt can continue too.

Iceberg metadata holds absolute paths, so the fixture is placed where dlt wrote it
(``/tmp/quiver-dlt-fixture/...`` locally, bucket ``quiver-dlt-fixture`` on the S3 server);
a file lock keeps two test runs on one machine from using that place at once.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import quiver
from tests.readers import Lake

FIXTURE = Path(__file__).parent / "fixtures" / "dlt_1_31"
PLACE = Path("/tmp/quiver-dlt-fixture")
S3_BUCKET = "quiver-dlt-fixture"
TARGETS = [("delta", "local"), ("delta", "s3"), ("iceberg", "local"), ("iceberg", "s3")]


def _events(table_format: str) -> Any:
    @quiver.resource(name="events", primary_key="id", table_format=table_format)
    def events(
        updated_at: Any = quiver.sources.incremental("updated_at", initial_value=0), upto: int = 3
    ) -> Any:
        for i in range(1, upto + 1):
            yield {"id": i, "updated_at": i, "name": f"event {i}"}

    return events


@pytest.fixture
def _placement_lock() -> Iterator[None]:
    PLACE.parent.mkdir(parents=True, exist_ok=True)
    with open(PLACE.parent / "quiver-dlt-fixture.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(params=TARGETS, ids=[f"{f}-{fs}" for f, fs in TARGETS])
def dlt_lake(request: pytest.FixtureRequest, _placement_lock: None) -> Lake:
    """The fixture dataset placed for one target; its Lake has the dataset ``shop``."""
    table_format, filesystem = request.param
    if filesystem == "local":
        folder = PLACE / f"local_{table_format}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(FIXTURE / f"local_{table_format}", folder)
        return Lake(table_format, "local", f"file://{folder}")
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")  # points the environment at the server
    import s3fs

    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=server.endpoint_url)
    if table_format == "delta":  # Delta paths are relative: any place works
        target = f"{bucket.removeprefix('s3://')}/dlt"
        fs.put(str(FIXTURE / "local_delta") + "/", target, recursive=True)
        return Lake("delta", "s3", f"s3://{target}", server.endpoint_url)
    if fs.exists(S3_BUCKET):
        fs.rm(S3_BUCKET, recursive=True)
    fs.mkdir(S3_BUCKET)
    fs.put(str(FIXTURE / "s3_iceberg") + "/", f"{S3_BUCKET}/s3_iceberg", recursive=True)
    return Lake("iceberg", "s3", f"s3://{S3_BUCKET}/s3_iceberg", server.endpoint_url)


def _destination(lake: Lake) -> Any:
    return quiver.destinations.filesystem(
        bucket_url=lake.bucket_url, table_format=lake.table_format
    )


def _ids(lake: Lake) -> list[int]:
    return [row["id"] for row in lake.rows("shop", "events", "id")]


def test_the_fixture_is_what_dlt_wrote(dlt_lake: Lake) -> None:
    assert _ids(dlt_lake) == [1, 2, 3, 4, 5]


def test_attach_restores_dlts_state_and_schema(dlt_lake: Lake, tmp_path: Path) -> None:
    name = f"dlt_{dlt_lake.table_format}"
    pipeline = quiver.attach(
        name, pipelines_dir=str(tmp_path), destination=_destination(dlt_lake), dataset_name="shop"
    )
    cursor = pipeline.state["sources"][name]["resources"]["events"]["incremental"]["updated_at"]
    assert cursor["last_value"] == 5
    assert pipeline.default_schema_name == name
    assert {"id", "updated_at", "name"} <= set(pipeline.default_schema.tables["events"]["columns"])
    assert not pipeline.first_run


def test_run_continues_dlts_cursor_without_reloading(dlt_lake: Lake, tmp_path: Path) -> None:
    """New rows after dlt's cursor are loaded; rows dlt loaded are not loaded again."""
    name = f"dlt_{dlt_lake.table_format}"
    pipeline = quiver.pipeline(
        name, pipelines_dir=str(tmp_path), destination=_destination(dlt_lake), dataset_name="shop"
    )

    def after_cursor(
        updated_at: Any = quiver.sources.incremental("updated_at", initial_value=0),
    ) -> Any:
        start = updated_at.last_value + 1  # a source that asks for rows after the cursor
        yield [{"id": i, "updated_at": i, "name": f"event {i}"} for i in range(start, 9)]

    resource = quiver.resource(after_cursor, name="events", primary_key="id")
    info = pipeline.run(resource(), table_format=dlt_lake.table_format)
    assert info is not None and len(info.loads_ids) == 1
    assert _ids(dlt_lake) == [1, 2, 3, 4, 5, 6, 7, 8]
    # The sidecars stay in dlt's JSON-lines form, one file per load.
    fs = pipeline.destination.location().filesystem()
    loads = fs.ls(pipeline.destination.location().join("shop", "_dlt_loads").path, detail=False)
    assert any(str(p).endswith(f"{name}__{info.loads_ids[0]}.jsonl") for p in loads)
    again = quiver.pipeline(
        name,
        pipelines_dir=str(tmp_path / "other"),
        destination=_destination(dlt_lake),
        dataset_name="shop",
    )
    assert again.sync_destination()  # and quiver's own state row is found there next time
    cursor = again.state["sources"][name]["resources"]["events"]["incremental"]["updated_at"]
    assert cursor["last_value"] == 8


def test_rows_at_dlts_cursor_value_are_not_loaded_again(dlt_lake: Lake, tmp_path: Path) -> None:
    name = f"dlt_{dlt_lake.table_format}"
    pipeline = quiver.attach(
        name, pipelines_dir=str(tmp_path), destination=_destination(dlt_lake), dataset_name="shop"
    )
    pipeline.run(_events(dlt_lake.table_format)(upto=8))
    assert _ids(dlt_lake) == [1, 2, 3, 4, 5, 6, 7, 8]
