"""Failures lose nothing: failed extracts commit nothing; killed processes leave packages that the
next run() finishes exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import quiver
from tests.readers import delta_rows_polars


def _pipeline(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    return quiver.pipeline(
        "crashy",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def test_failing_generator_commits_nothing(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(name="flaky")
    def flaky():
        yield [{"i": i, "child": [{"x": i}]} for i in range(100)]
        raise ConnectionError("API went away at page 2")

    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(flaky())
    error = failed.value
    assert error.step == "extract"
    assert "flaky" in str(error) and "API went away at page 2" in str(error)
    assert isinstance(error.__cause__.__cause__, ConnectionError)  # type: ignore[union-attr]
    assert not pipeline.has_pending_data
    assert not (bucket / "ds" / "flaky").exists()
    assert list((Path(pipelines_dir) / "crashy" / "tmp").iterdir()) == []


# A child process that runs part of a pipeline and is then killed with SIGKILL (no cleanup).
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import quiver

    pipelines_dir, bucket, stage = sys.argv[1:4]
    p = quiver.pipeline("crashy", pipelines_dir=pipelines_dir,
                        destination=quiver.destinations.filesystem(bucket_url=bucket), dataset_name="ds")
    rows = [{"id": i, "tags": [{"t": "a"}, {"t": "b"}]} for i in range(1000)]
    kill = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    if stage == "during_extract":
        def gen():
            yield rows
            kill()
        p.extract(gen(), table_name="events")
    p.extract(rows, table_name="events")
    if stage == "after_extract":
        kill()
    p.normalize()
    if stage == "after_normalize":
        kill()
    import quiver.load.sidecars
    quiver.load.sidecars.loads_row = kill   # after every table committed, before _dlt_loads
    p.load()
    """
)


def _run_and_kill(pipelines_dir: str, bucket: Path, stage: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, pipelines_dir, str(bucket), stage], capture_output=True
    )
    assert result.returncode == -9, result.stderr.decode()


@pytest.mark.parametrize("stage", ["after_extract", "after_normalize", "before_loads_row"])
def test_killed_process_package_loads_exactly_once(
    pipelines_dir: str, bucket: Path, stage: str
) -> None:
    _run_and_kill(pipelines_dir, bucket, stage)
    pipeline = quiver.attach("crashy", pipelines_dir=pipelines_dir)
    assert pipeline.has_pending_data
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    assert not pipeline.has_pending_data

    events = delta_rows_polars(bucket / "ds" / "events", "id")
    assert [r["id"] for r in events] == list(range(1000))
    tags = delta_rows_polars(bucket / "ds" / "events__tags", ["_dlt_parent_id", "_dlt_list_idx"])
    assert len(tags) == 2000
    loads = delta_rows_polars(bucket / "ds" / "_dlt_loads", "load_id")
    assert [r["load_id"] for r in loads] == info.loads_ids
    # Running again loads nothing more.
    assert pipeline.run() is None
    assert len(delta_rows_polars(bucket / "ds" / "events", "id")) == 1000


def test_killed_during_extract_leaves_no_package(pipelines_dir: str, bucket: Path) -> None:
    _run_and_kill(pipelines_dir, bucket, "during_extract")
    pipeline = quiver.attach("crashy", pipelines_dir=pipelines_dir)
    assert not pipeline.has_pending_data
    pipeline.run([{"id": 1}], table_name="events")
    assert [r["id"] for r in delta_rows_polars(bucket / "ds" / "events", "id")] == [1]


def test_pending_packages_load_before_new_data(pipelines_dir: str, bucket: Path) -> None:
    _run_and_kill(pipelines_dir, bucket, "after_normalize")
    pipeline = quiver.attach("crashy", pipelines_dir=pipelines_dir)
    info = pipeline.run([{"id": 5000}], table_name="events")
    assert info is not None and len(info.loads_ids) == 2
    assert info.loads_ids == sorted(info.loads_ids)
    assert len(delta_rows_polars(bucket / "ds" / "events", "id")) == 1001


def test_failed_load_keeps_package_until_the_cause_is_fixed(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    # A file where the dataset folder should be: every commit fails.
    (bucket / "ds").write_text("not a folder")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    assert failed.value.step == "load"
    assert failed.value.load_id is not None
    assert "events" in str(failed.value) and failed.value.load_id in str(failed.value)
    assert pipeline.has_pending_data

    (bucket / "ds").unlink()
    info = pipeline.run()
    assert info is not None and info.loads_ids == [failed.value.load_id]
    assert [r["id"] for r in delta_rows_polars(bucket / "ds" / "events", "id")] == [1, 2]


def _table_with_int_column(bucket: Path) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(bucket / "ds" / "events"), pa.table({"id": pa.array([1], pa.int64())}))


def test_type_mismatch_with_existing_table_aborts_package(pipelines_dir: str, bucket: Path) -> None:
    _table_with_int_column(bucket)
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": "not a number"}], table_name="events")
    message = str(failed.value)
    assert failed.value.step == "load"
    assert "'id'" in message and "events" in message and "int64" in message
    assert failed.value.load_id in message
    # Terminal: the package is aborted (not retried forever), nothing was added to the table.
    assert not pipeline.has_pending_data
    package = Path(pipelines_dir) / "crashy" / "loaded" / str(failed.value.load_id)
    assert '"aborted"' in (package / "package_state.json").read_text()
    assert [r["id"] for r in delta_rows_polars(bucket / "ds" / "events", "id")] == [1]
    assert not (bucket / "ds" / "_dlt_loads").exists()


def test_the_original_schema_mismatch_can_be_caught_by_its_class(
    pipelines_dir: str, bucket: Path
) -> None:
    from quiver.errors import LoadError, SchemaMismatchError

    _table_with_int_column(bucket)
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": "not a number"}], table_name="events")
    load_error = failed.value.__cause__
    assert isinstance(load_error, LoadError) and load_error.table_name == "events"
    try:
        raise load_error.exception
    except SchemaMismatchError as original:  # the class, not a string in a RuntimeError
        assert original is load_error.__cause__
        assert "'id'" in str(original) and failed.value.load_id in str(original)
    # The failed job's .exception file still holds the traceback.
    package = Path(pipelines_dir) / "crashy" / "loaded" / str(failed.value.load_id)
    (exception_file,) = package.glob("jobs/failed/*.exception")
    text = exception_file.read_text()
    assert text.startswith("Traceback") and "SchemaMismatchError" in text


def test_failed_jobs_listed_when_not_raising(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _table_with_int_column(bucket)
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run([{"id": "x"}], table_name="events")
    assert info is not None and info.has_failed_jobs
    assert "contains 1 FAILED job(s)!" in str(info)
    (failed_job,) = info.load_packages[0].jobs["failed_jobs"]
    assert failed_job.table_name == "events"
    assert (
        failed_job.failed_message is not None and "SchemaMismatchError" in failed_job.failed_message
    )
    with pytest.raises(quiver.QuiverError, match="events"):
        info.raise_on_failed_jobs()


INCREMENTAL_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import quiver

    pipelines_dir, bucket, kill = sys.argv[1:4]

    @quiver.resource(name="events", primary_key="id")
    def events(cursor=quiver.sources.incremental("id", initial_value=0)):
        yield [{"id": i} for i in range(1, 101)]

    p = quiver.pipeline("crashy", pipelines_dir=pipelines_dir,
                        destination=quiver.destinations.filesystem(bucket_url=bucket), dataset_name="ds")
    if kill == "yes":
        # Die right after the package is committed, before state.json is written.
        type(p)._save_state = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    p.extract(events())
    """
)


def test_cursor_survives_a_kill_between_package_and_state(pipelines_dir: str, bucket: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", INCREMENTAL_CHILD, pipelines_dir, str(bucket), "yes"],
        capture_output=True,
    )
    assert result.returncode == -9, result.stderr.decode()
    pipeline = quiver.attach("crashy", pipelines_dir=pipelines_dir)
    cursor = pipeline.state["sources"]["crashy"]["resources"]["events"]["incremental"]["id"]
    assert cursor["last_value"] == 100
    # The same rows again: the cursor filters them; the pending package loads them once.
    result = subprocess.run(
        [sys.executable, "-c", INCREMENTAL_CHILD, pipelines_dir, str(bucket), "no"],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr.decode()
    quiver.attach("crashy", pipelines_dir=pipelines_dir).run()
    assert [r["id"] for r in delta_rows_polars(bucket / "ds" / "events", "id")] == list(
        range(1, 101)
    )
