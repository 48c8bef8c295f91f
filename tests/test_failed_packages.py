"""A package that fails the same way on every run is moved aside and never blocks later runs;
transient failures are retried inside the step and leave pending packages that the next run
finishes exactly once.

Tables are read back with deltalake/pyiceberg (tests/readers.py), never through quiver.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.destinations.delta.format import DeltaFormat
from quiver.destinations.iceberg.format import IcebergFormat
from quiver.errors import (
    DestinationHasFailedJobs,
    FailedPackageNotFound,
    PipelineStepFailed,
    SchemaMismatchError,
)
from quiver.load import sidecars
from quiver.pipeline import steps as steps_module
from quiver.schema.columns import LOADS_TABLE
from tests.readers import Lake

FORMATS = ["delta", "iceberg"]
#: One item with two keys that snake_case maps to one column: refused at normalize (dlt keeps
#: one of the two values silently).
COLLIDING = [{"id": 1, "User Name": "a", "user_name": "b"}]


def _lake(tmp_path: Path, table_format: str) -> Lake:
    return Lake(table_format, "local", f"file://{tmp_path / 'lake'}")


def _ids(lake: Lake, table: str) -> list[int]:
    return [row["id"] for row in lake.rows("ds", table, "id")]


def _load_ids(lake: Lake) -> list[str]:
    return [row["load_id"] for row in lake.rows("ds", LOADS_TABLE, "load_id")]


def _format_class(table_format: str) -> Any:
    return DeltaFormat if table_format == "delta" else IcebergFormat


def _fast_retries(monkeypatch: pytest.MonkeyPatch, attempts: int) -> None:
    """The loader's retries configured to ``attempts`` tries and no waits."""
    monkeypatch.setenv("LOAD__MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("LOAD__BACKOFF_SECONDS", "0")


# --------------------------------------------------------------------- failed at normalize
@pytest.mark.parametrize("table_format", FORMATS)
def test_a_package_failing_at_normalize_is_moved_aside_and_blocks_nothing(
    tmp_path: Path, pipelines_dir: str, table_format: str
) -> None:
    lake = _lake(tmp_path, table_format)
    pipeline = lake.pipeline(pipelines_dir, "bad_input")
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(COLLIDING, table_name="people")
    error = failed.value
    load_id = error.load_id
    assert error.step == "normalize" and load_id is not None
    assert error.failed_package == str(Path(pipeline.working_dir) / "failed" / load_id)
    message = str(error)
    assert "'people'" in message and "user_name" in message and load_id in message
    assert f"retry_failed_package({load_id!r})" in message

    # Kept on disk as extracted, with the error; not pending.
    package = Path(pipeline.working_dir) / "failed" / load_id
    assert list(package.glob("jobs/new/people.*"))
    failure = json.loads((package / "failure.json").read_text())
    assert failure["step"] == "normalize" and failure["kind"] == "terminal"
    assert failure["stage"] == "extracted" and "NameCollisionError" in failure["message"]
    assert not pipeline.has_pending_data
    (listed,) = pipeline.list_failed_packages()
    assert (listed.load_id, listed.step, listed.kind) == (load_id, "normalize", "terminal")
    assert "user_name" in listed.message and listed.package_path == str(package)
    assert pipeline.get_load_package_info(load_id).state == "failed"

    # A run with valid data into another table loads, twice in a row.
    for first_id in (1, 3):
        info = pipeline.run([{"id": first_id}, {"id": first_id + 1}], table_name="orders")
        assert info is not None and info.pending_load_ids == [] and info.failed_packages == []
    assert _ids(lake, "orders") == [1, 2, 3, 4]
    assert not lake.exists("ds", "people")
    assert load_id not in _load_ids(lake)
    assert [f.load_id for f in pipeline.list_failed_packages()] == [load_id]


@pytest.mark.parametrize("table_format", FORMATS)
def test_a_failed_package_loads_after_the_fix_and_once(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in quiver's normalize fails the package deterministically; 'upgrading' quiver (the
    patch removed) and retrying loads it, exactly once."""
    # The fault is injected into the package loop, which run() skips when it adopts the
    # package normalized during the extract (normalize.overlap_extract).
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    lake = _lake(tmp_path, table_format)
    pipeline = lake.pipeline(pipelines_dir, "fixed_later")

    def buggy(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("_dlt_id")

    with monkeypatch.context() as patch:
        patch.setattr(steps_module, "normalize_package", buggy)
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    load_id = failed.value.load_id
    assert load_id is not None and failed.value.failed_package is not None
    (listed,) = pipeline.list_failed_packages()
    assert listed.kind == "bug" and listed.exception_type == "InternalError"
    assert "bug in quiver" in listed.message and "moved aside" in listed.message

    assert pipeline.retry_failed_package(load_id) == "extracted"
    assert pipeline.list_failed_packages() == []
    assert pipeline.list_extracted_load_packages() == [load_id]
    info = pipeline.run()
    assert info is not None and info.loads_ids == [load_id]
    assert info.pending_load_ids == [load_id]
    assert _ids(lake, "events") == [1, 2]
    assert _load_ids(lake) == [load_id]
    assert pipeline.run() is None
    with pytest.raises(FailedPackageNotFound, match=load_id):
        pipeline.retry_failed_package(load_id)


def test_good_packages_of_the_same_run_load_before_the_failure_is_raised(
    tmp_path: Path, pipelines_dir: str
) -> None:
    lake = _lake(tmp_path, "delta")
    pipeline = lake.pipeline(pipelines_dir, "mixed")
    bad = quiver.resource(COLLIDING, name="people")
    good = quiver.resource([{"id": 7}], name="orders")
    bad_source = quiver.source(lambda: bad, name="crm")()
    good_source = quiver.source(lambda: good, name="shop")()
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run([bad_source, good_source])
    info = failed.value.step_info
    assert failed.value.step == "normalize"
    assert isinstance(info, quiver.LoadInfo) and len(info.loads_ids) == 1
    assert [f.load_id for f in info.failed_packages] == [failed.value.load_id]
    assert _ids(lake, "orders") == [7]
    assert not pipeline.has_pending_data


def test_without_raise_on_failed_jobs_the_load_info_reports_the_failed_package(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    lake = _lake(tmp_path, "iceberg")
    pipeline = lake.pipeline(pipelines_dir, "lenient")
    pipeline.run([{"id": 1}], table_name="orders")
    # Nothing else to load: the failure alone is reported, by raising.
    with pytest.raises(PipelineStepFailed):
        pipeline.run(COLLIDING, table_name="people")
    bad = quiver.source(lambda: quiver.resource(COLLIDING, name="people"), name="crm")()
    good = quiver.source(lambda: quiver.resource([{"id": 2}], name="orders"), name="shop")()
    info = pipeline.run([bad, good])
    assert info is not None and info.has_failed_jobs
    (reported,) = info.failed_packages
    assert reported.step == "normalize" and "user_name" in reported.message
    assert reported.load_id in str(info)
    assert _ids(lake, "orders") == [1, 2]
    with pytest.raises(DestinationHasFailedJobs, match=reported.load_id):
        info.raise_on_failed_jobs()
    assert len(pipeline.list_failed_packages()) == 2


# -------------------------------------------------------------------------- aborted at load
def _int_table(lake: Lake) -> None:
    """An ``events`` table whose ``id`` is int64, made by another writer."""
    writer = lake.pipeline(str(Path(lake.bucket_url.removeprefix("file://")).parent / "w"), "w")
    writer.run(pa.table({"id": pa.array([100], pa.int64())}), table_name="events")


@pytest.mark.parametrize("table_format", FORMATS)
def test_a_package_aborted_at_load_is_retried_after_the_table_is_fixed(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake(tmp_path, table_format)
    pipeline = lake.pipeline(pipelines_dir, "aborted")
    pipeline.run([{"id": 1}], table_name="events")
    original = _format_class(table_format).commit
    mismatch = SchemaMismatchError("Column 'id' of table 'events' is int64 in the destination")

    def refusing(self: Any, commit: Any) -> None:
        if commit.table_name == "events":
            raise mismatch
        original(self, commit)

    with monkeypatch.context() as patch:
        patch.setattr(_format_class(table_format), "commit", refusing)
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run([{"id": 2}, {"id": 3}], table_name="events")
    load_id = failed.value.load_id
    assert failed.value.step == "load" and load_id is not None
    package = Path(pipeline.working_dir) / "loaded" / load_id
    assert failed.value.failed_package == str(package)
    assert pipeline.get_load_package_info(load_id).state == "aborted"  # dlt's state
    (listed,) = pipeline.list_failed_packages()
    assert (listed.load_id, listed.step, listed.kind) == (load_id, "load", "terminal")
    assert "int64" in listed.message
    (job,) = pipeline.list_failed_jobs_in_package(load_id)
    assert job.table_name == "events"

    # Another run is not blocked.
    pipeline.run([{"id": 9}], table_name="orders")
    assert _ids(lake, "orders") == [9]

    assert pipeline.retry_failed_package(load_id) == "normalized"
    assert pipeline.list_normalized_load_packages() == [load_id]
    assert not list(package.parent.glob(load_id))
    info = pipeline.run()
    assert info is not None and info.loads_ids == [load_id]
    assert _ids(lake, "events") == [1, 2, 3]
    assert _load_ids(lake).count(load_id) == 1
    assert pipeline.list_failed_packages() == []


@pytest.mark.parametrize("table_format", FORMATS)
def test_a_terminal_error_on_the_loads_row_aborts_and_the_retry_commits_nothing_twice(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data table committed, then ``_dlt_loads`` refused the row: the package is aborted
    (not retried forever); the retry writes the row and skips the committed table."""
    lake = _lake(tmp_path, table_format)
    pipeline = lake.pipeline(pipelines_dir, "loads_refused")
    refusal = SchemaMismatchError("Column 'status' of table '_dlt_loads' is text")

    def refusing(*args: Any) -> Any:
        raise refusal

    with monkeypatch.context() as patch:
        patch.setattr(sidecars, "loads_row", refusing)
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    load_id = failed.value.load_id
    assert load_id is not None and failed.value.failed_package is not None
    assert _ids(lake, "events") == [1, 2]
    assert not lake.exists("ds", LOADS_TABLE)
    (listed,) = pipeline.list_failed_packages()
    assert listed.step == "load" and "_dlt_loads" in listed.message
    assert not pipeline.has_pending_data

    pipeline.retry_failed_package(load_id)
    info = pipeline.run()
    assert info is not None and info.loads_ids == [load_id]
    assert _ids(lake, "events") == [1, 2]
    assert _load_ids(lake) == [load_id]


# ------------------------------------------------------------------------------- transient
@pytest.mark.parametrize("row_builder", ["loads_row", "state_row", "version_row"])
@pytest.mark.parametrize("table_format", FORMATS)
def test_a_transient_error_on_a_sidecar_commit_is_retried(
    tmp_path: Path,
    pipelines_dir: str,
    table_format: str,
    row_builder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = _lake(tmp_path, table_format)
    original = getattr(sidecars, row_builder)
    calls: list[int] = []

    def lost_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("connection reset by the object store")
        return original(*args)

    monkeypatch.setattr(sidecars, row_builder, lost_once)
    pipeline = lake.pipeline(pipelines_dir, "sidecar_retry")
    info = pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    assert info is not None and not pipeline.has_pending_data
    assert len(calls) == 2
    assert _ids(lake, "events") == [1, 2]
    assert _load_ids(lake) == info.loads_ids


@pytest.mark.parametrize("table_format", FORMATS)
def test_a_transient_error_that_outlasts_the_retries_leaves_the_package_pending(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``_dlt_loads`` commit lands but every response is lost: the package stays pending
    (not moved aside) and the next run finishes it without loading anything twice."""
    _fast_retries(monkeypatch, attempts=2)
    lake = _lake(tmp_path, table_format)
    format_class = _format_class(table_format)
    original = format_class.append_rows

    attempts: list[str] = []

    def always_lost(self: Any, table_name: str, data: pa.Table, load_id: str) -> None:
        original(self, table_name, data, load_id)
        if table_name == LOADS_TABLE:
            attempts.append(load_id)
            raise TimeoutError("the response of the object store never arrived")

    pipeline = lake.pipeline(pipelines_dir, "outlasted")
    with monkeypatch.context() as patch:
        patch.setattr(format_class, "append_rows", always_lost)
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    assert failed.value.step == "load" and failed.value.failed_package is None
    assert attempts == [failed.value.load_id] * 2  # load.max_attempts
    assert pipeline.list_normalized_load_packages() == [failed.value.load_id]
    assert pipeline.list_failed_packages() == []

    info = pipeline.run([{"id": 3}], table_name="events")
    assert info is not None and info.pending_load_ids == [failed.value.load_id]
    assert len(info.loads_ids) == 2
    assert _ids(lake, "events") == [1, 2, 3]
    assert sorted(_load_ids(lake)) == sorted(info.loads_ids)


def test_a_transient_error_at_normalize_is_retried_inside_the_step(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fault is injected into the package loop, which run() skips when it adopts the
    # package normalized during the extract (normalize.overlap_extract).
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    lake = _lake(tmp_path, "delta")
    original = steps_module.normalize_package
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise BlockingIOError(11, "resource temporarily unavailable")  # EAGAIN
        return original(*args, **kwargs)

    monkeypatch.setattr(steps_module, "normalize_package", flaky)
    pipeline = lake.pipeline(pipelines_dir, "normalize_retry")
    info = pipeline.run([{"id": 1}], table_name="events")
    assert info is not None and len(calls) == 2
    assert _ids(lake, "events") == [1]
    assert list((Path(pipeline.working_dir) / "tmp").iterdir()) == []


# --------------------------------------------------------------------- pending packages first
def _leave_pending(lake: Lake, pipeline: quiver.Pipeline, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run ``events`` ids 1, 2 with every commit failing transiently: the package stays."""
    _fast_retries(monkeypatch, attempts=1)
    format_class = _format_class(lake.table_format)
    with monkeypatch.context() as patch:
        patch.setattr(format_class, "commit", lambda *a: (_ for _ in ()).throw(TimeoutError()))
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    assert failed.value.load_id is not None and pipeline.has_pending_data
    return failed.value.load_id


@pytest.mark.parametrize("table_format", FORMATS)
def test_pending_packages_load_first_with_a_warning(
    tmp_path: Path,
    pipelines_dir: str,
    table_format: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lake = _lake(tmp_path, table_format)
    pipeline = lake.pipeline(pipelines_dir, "pending_first")
    pending = _leave_pending(lake, pipeline, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="quiver.pipeline"):
        info = pipeline.run([{"id": 3}], table_name="events")
    assert info is not None and info.pending_load_ids == [pending]
    assert len(info.loads_ids) == 2 and info.loads_ids[0] == pending
    assert any(pending in r.getMessage() and "first" in r.getMessage() for r in caplog.records)
    assert f"pending from an earlier run: ['{pending}']" in str(info)
    assert _ids(lake, "events") == [1, 2, 3]


def test_dlt_behaviour_loads_only_the_pending_packages(
    tmp_path: Path,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PIPELINES__EXTRACT_AFTER_PENDING", "false")
    lake = _lake(tmp_path, "delta")
    pipeline = lake.pipeline(pipelines_dir, "dlt_pending")
    pending = _leave_pending(lake, pipeline, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="quiver.pipeline"):
        info = pipeline.run([{"id": 3}], table_name="events")
    assert info is not None and info.loads_ids == [pending] == info.pending_load_ids
    assert any("not extracted" in r.getMessage() for r in caplog.records)
    assert _ids(lake, "events") == [1, 2]  # the new row was not extracted
    assert not pipeline.has_pending_data
    pipeline.run([{"id": 3}], table_name="events")
    assert _ids(lake, "events") == [1, 2, 3]


# -------------------------------------------------------------------------------- dataset
def test_dataset_name_is_normalized_like_dlt(tmp_path: Path, pipelines_dir: str) -> None:
    bucket = tmp_path / "lake"
    pipeline = quiver.pipeline(
        "named",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="My Dataset",
    )
    assert pipeline.dataset_name == "my_dataset"
    pipeline.run([{"id": 1}], table_name="t")
    assert sorted(p.name for p in bucket.iterdir()) == ["my_dataset"]


@pytest.mark.parametrize("where", ["pipeline", "run"])
@pytest.mark.parametrize("name", ["../../x", "/etc/x", "a/../../b"])
def test_a_dataset_name_that_leaves_the_bucket_is_refused_before_any_work(
    tmp_path: Path, pipelines_dir: str, where: str, name: str
) -> None:
    bucket = tmp_path / "area" / "lake"
    bucket.mkdir(parents=True)
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    extracted: list[int] = []

    def rows() -> Any:
        extracted.append(1)
        yield {"id": 1}

    with pytest.raises(quiver.errors.InvalidDatasetName) as refused:
        if where == "pipeline":
            quiver.pipeline(
                "escape", pipelines_dir=pipelines_dir, destination=destination, dataset_name=name
            )
        else:
            pipeline = quiver.pipeline(
                "escape", pipelines_dir=pipelines_dir, destination=destination
            )
            pipeline.run(rows(), table_name="t", dataset_name=name)
    assert isinstance(refused.value, ValueError)
    assert repr(name) in str(refused.value) and "Hint:" in str(refused.value)
    assert extracted == []
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["lake"]
    assert list(bucket.iterdir()) == []


# -------------------------------------------------------------------------------- secrets
@pytest.mark.slow  # three runs against the S3 server
def test_failed_packages_never_write_the_key_and_secret_of_the_bucket_url(
    s3_bucket: str,
    pipelines_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Errors that quote the bucket URL with its userinfo: failure.json, the job's .exception,
    the trace, the raised errors and the logs show neither the key nor the secret."""
    # The fault is injected into the package loop, which run() skips when it adopts the
    # package normalized during the extract (normalize.overlap_extract).
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    key, secret = "AKIAFAILED0042", "failed-secret-9c2e71"
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    url = f"s3://{key}:{secret}@{s3_bucket.removeprefix('s3://')}/lake"
    pipeline = quiver.pipeline(
        "leaky",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=url),
        dataset_name="ds",
    )

    def quoting_bug(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"cannot open {url}")

    def quoting_mismatch(self: Any, commit: Any) -> None:
        raise SchemaMismatchError(f"table at {url}/ds/{commit.table_name} has id as int64")

    loaded = pipeline.run([{"id": 0}], table_name="events")
    errors: list[BaseException] = []
    with monkeypatch.context() as patch:
        patch.setattr(steps_module, "normalize_package", quoting_bug)
        with pytest.raises(PipelineStepFailed) as at_normalize:
            pipeline.run([{"id": 1}], table_name="events")
        errors.append(at_normalize.value)
    with monkeypatch.context() as patch:
        patch.setattr(DeltaFormat, "commit", quoting_mismatch)
        with pytest.raises(PipelineStepFailed) as at_load:
            pipeline.run([{"id": 2}], table_name="events")
        errors.append(at_load.value)
    assert {f.step for f in pipeline.list_failed_packages()} == {"normalize", "load"}
    assert list(Path(pipeline.working_dir).glob("loaded/*/jobs/failed/*.exception"))
    files = [p for p in Path(pipeline.working_dir).rglob("*") if p.is_file()]
    assert any(p.name == "trace.json" for p in files)
    logs = capsys.readouterr()
    shown = "\n".join(
        [
            *(f"{e!s}\n{e!r}\n{e.__cause__!s}" for e in errors),
            f"{loaded!s}\n{loaded!r}\n{pipeline.last_trace!s}\n{pipeline.last_trace!r}",
            *(str(f) for f in pipeline.list_failed_packages()),
            logs.out,
            logs.err,
            *(p.read_bytes().decode("utf-8", "replace") for p in files),
        ]
    )
    assert "***" in shown  # the URL was quoted, masked
    assert secret not in shown and key not in shown


UNCAUGHT = """
import sys
import quiver

url = "memory://AKIAUNCAUGHT42:uncaught-secret-31f0@bucket/lake"
destination = quiver.destinations.filesystem(bucket_url=url, table_format="iceberg")
pipeline = quiver.pipeline("uncaught", pipelines_dir=sys.argv[1], destination=destination)

@quiver.resource
def rows():
    yield {"id": 1}
    raise ValueError("cannot read " + url)

pipeline.run(rows())
"""


@pytest.mark.slow  # a fresh interpreter imports quiver
def test_an_uncaught_error_prints_its_chain_with_the_secret_masked(pipelines_dir: str) -> None:
    """The resource's own ValueError quotes the URL; Python prints it in the chain."""
    result = subprocess.run(
        [sys.executable, "-c", UNCAUGHT, pipelines_dir], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "ValueError: cannot read memory://***:***@bucket/lake" in result.stderr
    assert "uncaught-secret-31f0" not in result.stderr
    assert "AKIAUNCAUGHT42" not in result.stderr
