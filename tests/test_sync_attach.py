# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""State restored from the lake: sync on run(), attach(), sidecars in the dataset's format.

Behaviour from dlt's documentation (pipeline/attach/run reference pages, the state page): a
pipeline whose working folder is gone continues from the state stored in its dataset; the
state of a load counts only when the load is in ``_dlt_loads``; ``attach`` restores from a
destination or raises ``CannotRestorePipelineException``. Every test runs on Delta and Iceberg,
on local disk and on the S3 server (``any_lake``); tables are read back with polars/pyiceberg.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.destinations.base import load_table_format
from quiver.load.sidecars import state_row
from quiver.pipeline.exceptions import CannotRestorePipelineException
from quiver.pipeline.state import compress_state
from tests.readers import Lake


@quiver.resource(name="events", primary_key="id")
def events(upto: int, updated_at: Any = quiver.sources.incremental("id", initial_value=0)) -> Any:
    yield [{"id": i, "value": f"v{i}"} for i in range(1, upto + 1)]


def _destination(lake: Lake) -> Any:
    return quiver.destinations.filesystem(
        bucket_url=lake.bucket_url, table_format=lake.table_format
    )


def _pipeline(lake: Lake, pipelines_dir: str, name: str = "sync") -> Any:
    return quiver.pipeline(
        name, pipelines_dir=pipelines_dir, destination=_destination(lake), dataset_name="ds"
    )


def _loads(lake: Lake) -> list[str]:
    return sorted(lake.read("ds", "_dlt_loads")["load_id"].to_list())


# ---------------------------------------------------------------------------- the scenario
def test_deleted_pipelines_folder_continues_from_the_lake(any_lake: Lake, tmp_path: Path) -> None:
    """The issue's scenario: 100 rows, pipelines folder deleted, 150 rows -> 150 in the table."""
    pipelines_dir = str(tmp_path / "pipelines")
    first = _pipeline(any_lake, pipelines_dir).run(events(100))
    assert first is not None and len(first.loads_ids) == 1
    shutil.rmtree(pipelines_dir)

    again = _pipeline(any_lake, pipelines_dir)
    assert again.first_run
    info = again.run(events(150))
    assert info is not None and info.loads_ids
    assert not again.first_run
    ids = [row["id"] for row in any_lake.rows("ds", "events", "id")]
    assert ids == list(range(1, 151))  # 150 rows, not 250
    cursor = again.state["sources"]["sync"]["resources"]["events"]["incremental"]["id"]
    assert cursor["last_value"] == 150


def test_restore_replaces_state_and_restores_schemas(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    original = _pipeline(any_lake, pipelines_dir)
    original.run(events(3))
    schema_hash = original.default_schema.version_hash
    shutil.rmtree(pipelines_dir)

    restored = _pipeline(any_lake, pipelines_dir)
    assert restored.sync_destination() is True
    assert restored.schema_names == ["sync"]
    assert restored.default_schema.version_hash == schema_hash
    assert "events" in restored.default_schema.tables
    assert not restored.first_run
    assert restored.state["sources"] == original.state["sources"]
    # Nothing new: an unchanged run stores no state row and records no load.
    before = _loads(any_lake)
    info = restored.run(events(3))
    assert info is not None and info.loads_ids == []
    assert _loads(any_lake) == before


def test_only_states_of_completed_loads_count(any_lake: Lake, tmp_path: Path) -> None:
    """A state row whose load never reached ``_dlt_loads`` (a crash before the load was
    recorded) is ignored: the newest state of a completed load is restored."""
    pipelines_dir = str(tmp_path / "pipelines")
    pipeline = _pipeline(any_lake, pipelines_dir)
    pipeline.run(events(4))
    state = dict(pipeline.state)
    state["_state_version"] = int(state["_state_version"]) + 5
    state["sources"] = {"sync": {"resources": {"events": {"incremental": {"id": {}}}}}}
    orphan = {
        "version": state["_state_version"],
        "engine_version": 4,
        "pipeline_name": "sync",
        "state": compress_state(state),
        "created_at": "2030-01-01T00:00:00+00:00",
        "version_hash": "orphan",
    }
    dataset = pipeline.destination.location().join("ds")
    table_format = load_table_format(any_lake.table_format, dataset, "test/orphan")
    table_format.append_rows(
        "_dlt_pipeline_state", state_row(orphan, "9999999999.5"), "9999999999.5"
    )
    shutil.rmtree(pipelines_dir)

    restored = _pipeline(any_lake, pipelines_dir)
    assert restored.sync_destination()
    cursor = restored.state["sources"]["sync"]["resources"]["events"]["incremental"]["id"]
    assert cursor["last_value"] == 4


def test_explicit_arguments_win_over_restored_values(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    _pipeline(any_lake, pipelines_dir).run(events(2))
    shutil.rmtree(pipelines_dir)
    destination = _destination(any_lake)
    restored = quiver.pipeline(
        "sync", pipelines_dir=pipelines_dir, destination=destination, dataset_name="ds"
    )
    restored.run(events(3))
    assert restored.destination is destination
    assert restored.dataset_name == "ds"
    assert restored.state["dataset_name"] == "ds"
    assert [r["id"] for r in any_lake.rows("ds", "events", "id")] == [1, 2, 3]


def test_restore_from_destination_can_be_switched_off(
    any_lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    _pipeline(any_lake, pipelines_dir).run(events(2))
    shutil.rmtree(pipelines_dir)
    monkeypatch.setenv("PIPELINES__SYNC__RESTORE_FROM_DESTINATION", "false")
    again = _pipeline(any_lake, pipelines_dir)
    again.run(events(2))
    assert again.first_run is False  # it loaded
    assert len(any_lake.read("ds", "events")) == 4  # no restore: the cursor started over


def test_deleted_dataset_resets_the_local_pipeline(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    pipeline = _pipeline(any_lake, pipelines_dir)
    pipeline.run(events(3))
    fs = pipeline.destination.location().filesystem()
    fs.rm(pipeline.destination.location().join("ds").path, recursive=True)

    again = _pipeline(any_lake, pipelines_dir)
    assert again.sync_destination() is False
    assert again.first_run and again.state["sources"] == {} and again.schema_names == []
    again.run(events(3))
    assert [r["id"] for r in any_lake.rows("ds", "events", "id")] == [1, 2, 3]


def test_pending_packages_of_a_pipeline_that_never_loaded_survive_sync(
    any_lake: Lake, tmp_path: Path
) -> None:
    """dlt 1.31 wipes the working folder when the dataset does not exist yet and the pipeline
    has data, dropping packages that were extracted but never loaded; quiver keeps them."""
    pipeline = _pipeline(any_lake, str(tmp_path / "pipelines"))
    pipeline.extract(events(3))
    assert pipeline.has_pending_data
    assert pipeline.sync_destination() is False
    assert pipeline.list_extracted_load_packages()
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    assert [r["id"] for r in any_lake.rows("ds", "events", "id")] == [1, 2, 3]


# ---------------------------------------------------------------------------------- attach
def test_attach_restores_from_destination_and_continues(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    _pipeline(any_lake, pipelines_dir, "attached").run(events(5))
    shutil.rmtree(pipelines_dir)

    attached = quiver.attach(
        "attached",
        pipelines_dir=pipelines_dir,
        destination=_destination(any_lake),
        dataset_name="ds",
    )
    assert quiver.pipeline() is attached  # the attached pipeline is the current one
    assert not attached.first_run and not attached.dev_mode
    cursor = attached.state["sources"]["attached"]["resources"]["events"]["incremental"]["id"]
    assert cursor["last_value"] == 5
    attached.run(events(7))
    assert [r["id"] for r in any_lake.rows("ds", "events", "id")] == list(range(1, 8))
    state_file = (Path(pipelines_dir) / "attached" / "state.json").read_text()
    assert "testing" not in state_file  # no credentials in state.json (S3 keys are "testing")


def test_attach_opens_the_working_folder_with_its_destination(
    any_lake: Lake, tmp_path: Path
) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    _pipeline(any_lake, pipelines_dir, "local").run(events(2))
    attached = quiver.attach("local", pipelines_dir=pipelines_dir)
    assert attached.destination is not None
    assert attached.destination.bucket_url == any_lake.bucket_url
    assert attached.destination.table_format == any_lake.table_format
    assert attached.dataset_name == "ds"
    attached.run(events(4))
    assert [r["id"] for r in any_lake.rows("ds", "events", "id")] == [1, 2, 3, 4]


def test_attach_without_state_or_destination_raises_and_leaves_no_folder(
    any_lake: Lake, tmp_path: Path
) -> None:
    pipelines_dir = tmp_path / "pipelines"
    with pytest.raises(CannotRestorePipelineException) as raised:
        quiver.attach("missing", pipelines_dir=str(pipelines_dir))
    message = str(raised.value)
    assert str(pipelines_dir / "missing") in message and "destination=" in message
    assert not (pipelines_dir / "missing").exists()

    with pytest.raises(CannotRestorePipelineException) as raised:
        quiver.attach(
            "missing", pipelines_dir=str(pipelines_dir), destination=_destination(any_lake)
        )
    message = str(raised.value)
    assert "'missing_dataset'" in message and any_lake.bucket_url.split("://")[-1] in message
    assert not (pipelines_dir / "missing").exists()


# -------------------------------------------------------------------------------- sidecars
def test_sidecars_are_in_the_dataset_format(any_lake: Lake, tmp_path: Path) -> None:
    _pipeline(any_lake, str(tmp_path / "pipelines")).run(events(2))
    for sidecar in ("_dlt_loads", "_dlt_version", "_dlt_pipeline_state"):
        assert any_lake.read("ds", sidecar).height >= 1  # readable as a table of that format
        assert any_lake.exists("ds", f"{sidecar}/_delta_log") == (any_lake.table_format == "delta")
        assert any_lake.exists("ds", f"{sidecar}/metadata") == (any_lake.table_format == "iceberg")


def test_iceberg_tables_get_iceberg_sidecars_under_a_delta_default(tmp_path: Path) -> None:
    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    pipeline = quiver.pipeline(
        "hinted",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=quiver.destinations.filesystem(bucket_url=lake.bucket_url),  # delta default
        dataset_name="ds",
    )
    pipeline.run(events(2), table_format="iceberg")
    assert lake.exists("ds", "_dlt_loads/metadata") and not lake.exists(
        "ds", "_dlt_loads/_delta_log"
    )
    assert lake.read("ds", "_dlt_loads").height == 1


# ------------------------------------------------------------------------ pipeline members
def test_exceptions_at_dlts_import_path() -> None:
    from quiver.pipeline.exceptions import (
        CannotRestorePipelineException,
        InvalidPipelineName,
        PipelineConfigMissing,
        PipelineStepFailed,
    )

    assert issubclass(CannotRestorePipelineException, quiver.errors.QuiverError)
    assert {InvalidPipelineName, PipelineConfigMissing, PipelineStepFailed}


def test_drop_wipes_the_working_folder_and_next_run_restores(tmp_path: Path) -> None:
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipeline = _pipeline(lake, str(tmp_path / "pipelines"))
    pipeline.run(events(3))
    pipeline.extract(events(4))
    assert pipeline.has_pending_data and pipeline.list_extracted_load_packages()
    assert pipeline.drop() is pipeline
    assert not pipeline.has_pending_data and pipeline.list_completed_load_packages() == []
    assert pipeline.first_run and pipeline.state["sources"] == {}
    pipeline.run(events(4))
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == [1, 2, 3, 4]


def test_run_with_pending_packages_loads_them_then_the_new_data(tmp_path: Path) -> None:
    """quiver keeps loading the new data after pending packages in the same call (dlt 1.31
    warns and drops it; see docs/decisions.md)."""
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipeline = _pipeline(lake, str(tmp_path / "pipelines"))
    pipeline.extract([{"id": 100}], table_name="other")
    info = pipeline.run(events(2))
    assert info is not None and len(info.loads_ids) == 2
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == [1, 2]
    assert [r["id"] for r in lake.rows("ds", "other", "id")] == [100]
