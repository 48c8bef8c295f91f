"""One retry policy for every commit: what is retried, what fails the job, what is a bug.

The policy is checked on its own and through real pipelines into real Delta and Iceberg tables;
faults are injected with monkeypatch around the formats' real methods.
"""

from __future__ import annotations

import errno
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.destinations.delta.format import DeltaFormat
from quiver.destinations.engine_errors import translate
from quiver.destinations.iceberg.format import IcebergFormat
from quiver.errors import (
    CommitConflictError,
    ConfigValueMissing,
    InternalError,
    InvalidRetryPolicy,
    LoadError,
    QuiverError,
    SchemaMismatchError,
    TransientStorageError,
)
from quiver.load.retry import RetryPolicy, classify, is_retryable, is_terminal
from quiver.schema.columns import LOADS_TABLE
from tests.readers import Lake

FAST = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0)


# --------------------------------------------------------------------------- classification
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (CommitConflictError("delta", "t", "1.1", "concurrent append"), "transient"),
        (TransientStorageError("t", "1.1", RuntimeError("reset")), "transient"),
        (ConnectionResetError("reset by peer"), "transient"),
        (TimeoutError("read timed out"), "transient"),
        (OSError(errno.ECONNREFUSED, "refused"), "transient"),
        (OSError(errno.EIO, "We encountered an internal error"), "transient"),  # s3fs: HTTP 500
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "pending"),
        (PermissionError(errno.EACCES, "denied"), "pending"),
        (RuntimeError("an engine error quiver does not know"), "pending"),
        (SchemaMismatchError("Column 'id' is bigint in the table"), "terminal"),
        (ConfigValueMissing("load.x", "missing"), "terminal"),  # a QuiverError that is a KeyError
        (ValueError("bad value"), "terminal"),
        (pa.ArrowInvalid("Could not convert 'x' with type str"), "terminal"),
        (pa.ArrowTypeError("Expected bytes, got int"), "terminal"),  # a TypeError, but data
        (pa.ArrowNotImplementedError("Unsupported cast"), "terminal"),
        (AssertionError(), "bug"),
        (KeyError("_dlt_id"), "bug"),
        (AttributeError("'NoneType' object has no attribute 'schema'"), "bug"),
        (TypeError("unsupported operand type(s)"), "bug"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
def test_classify(error: BaseException, kind: str) -> None:
    assert classify(error) == kind
    assert is_retryable(error) == (kind == "transient")
    assert is_terminal(error) == (kind == "terminal")


def test_engine_errors_are_translated_at_the_format_boundary() -> None:
    from deltalake.exceptions import CommitFailedError
    from deltalake.exceptions import SchemaMismatchError as DeltaSchemaMismatch
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    conflict = translate(CommitFailedError("a concurrent transaction"), "delta", "t", "1.1")
    assert isinstance(conflict, CommitConflictError) and conflict.retryable
    assert "'t'" in str(conflict) and "1.1" in str(conflict) and "Hint:" in str(conflict)
    assert isinstance(
        translate(CommitFailedException("stale"), "iceberg", "t"), CommitConflictError
    )
    for mismatch in (DeltaSchemaMismatch("x"), ValidationException("Cannot change column type")):
        translated = translate(mismatch, "delta", "t", "1.1")
        assert isinstance(translated, SchemaMismatchError) and classify(translated) == "terminal"
    assert translate(OSError(errno.EIO, "builtin"), "delta", "t") is None  # classified by load


def test_a_real_delta_conflict_is_a_retryable_commit_conflict_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MERGE planned on a version that another writer appended to conflicts in delta-rs."""
    import pyarrow.parquet as pq

    from quiver.destinations.base import TableCommit
    from quiver.destinations.location import resolve_location
    from quiver.schema.model import Schema

    fmt = DeltaFormat(resolve_location(tmp_path).join("ds"), "quiver/p")
    jobs = tmp_path / "jobs"
    jobs.mkdir()

    def commit(load_id: str, ids: list[int], disposition: Any) -> TableCommit:
        path = jobs / f"t.{load_id.replace('.', '')}.0.parquet"
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), path)
        schema = Schema("s")
        schema.tables["t"] = {
            "name": "t",
            "write_disposition": "merge",
            "columns": {"id": {"name": "id", "data_type": "bigint", "primary_key": True}},
        }
        return TableCommit(
            "t",
            [path],
            pa.schema([pa.field("id", pa.int64())]),
            disposition,
            load_id,
            table_schema=schema.tables["t"],
            schema=schema,
        )

    fmt.commit(commit("1.000001", [1, 2], "append"))
    stale = fmt.open_table("t")
    fmt.commit(commit("1.000002", [3], "append"))
    merge = commit("1.000003", [1], "merge")
    with monkeypatch.context() as patch:  # the merge read the table before the other commit
        patch.setattr(fmt, "open_table", lambda table_name, version=None: stale)
        with pytest.raises(CommitConflictError) as raised:
            fmt.commit(merge)
    assert raised.value.retryable and "1.000003" in str(raised.value)
    FAST.run(lambda: fmt.commit(merge))  # the retry plans on the new version and lands
    assert fmt.is_committed("t", "1.000003")
    rows = fmt.read_table("t", ["id"])
    assert rows is not None and sorted(rows["id"].to_pylist()) == [1, 2, 3]


# ------------------------------------------------------------------------------- the policy
def test_retryable_errors_are_retried_until_success() -> None:
    calls = itertools.count(1)

    def flaky() -> str:
        if next(calls) < 3:
            raise CommitConflictError("iceberg", "t", "1.1", "stale base")
        return "committed"

    assert FAST.run(flaky) == "committed"
    assert next(calls) == 4  # three calls


@pytest.mark.parametrize(
    "error",
    [SchemaMismatchError("bad data"), KeyError("a bug"), NotADirectoryError("missing")],
    ids=["terminal", "bug", "pending"],
)
def test_errors_that_are_not_retryable_are_raised_at_once(error: Exception) -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)) as raised:
        FAST.run(failing)
    assert raised.value is error and len(calls) == 1


def test_the_last_attempt_raises_the_original_error() -> None:
    calls: list[int] = []

    def always_down() -> None:
        calls.append(1)
        raise ConnectionResetError(f"reset #{len(calls)}")

    with pytest.raises(ConnectionResetError, match="reset #4"):
        FAST.run(always_down)
    assert len(calls) == FAST.attempts


def test_waits_grow_and_are_capped() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=0.5, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    spread = RetryPolicy(base_delay=1.0, max_delay=1.0, jitter=0.5)
    assert all(0.5 <= spread.delay(1) <= 1.5 for _ in range(100))


@pytest.mark.parametrize(
    "options", [{"attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"jitter": 1.5}]
)
def test_invalid_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidRetryPolicy, match="Hint:") as raised:
        RetryPolicy(**options)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, QuiverError)


# ----------------------------------------------------------------- through real pipelines
def _format_class(lake: Lake) -> Any:
    return DeltaFormat if lake.table_format == "delta" else IcebergFormat


def _lake(tmp_path: Path, table_format: str) -> Lake:
    return Lake(table_format, "local", f"file://{tmp_path / 'lake'}")


def _commits_of(lake: Lake, table: str, load_id: str) -> int:
    if lake.table_format == "delta":
        from deltalake import DeltaTable

        history = DeltaTable(lake.table_url("ds", table)).history()
        return sum(1 for entry in history if entry.get("quiver.load_id") == load_id)
    from pyiceberg.table import StaticTable

    metadata = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", table)).metadata
    summaries = [s.summary for s in metadata.snapshots if s.summary is not None]
    return sum(1 for summary in summaries if summary.get("quiver.load_id") == load_id)


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_a_commit_that_fails_twice_then_succeeds_commits_once(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt conflicts; the second lands but its response is lost; the third finds
    the load id in the table and does not commit again."""
    lake = _lake(tmp_path, table_format)
    format_class = _format_class(lake)
    original = format_class.commit
    attempts: list[str] = []

    def lost_then_conflicting(self: Any, commit: Any) -> None:
        if commit.table_name != "events":
            return original(self, commit)
        attempts.append(commit.load_id)
        if len(attempts) == 1:
            raise CommitConflictError(self.name, commit.table_name, commit.load_id, "stale")
        original(self, commit)
        if len(attempts) == 2:
            raise ConnectionResetError("connection reset before the response arrived")

    monkeypatch.setattr(format_class, "commit", lost_then_conflicting)
    info = lake.pipeline(pipelines_dir, "retry").run(
        [{"id": i} for i in range(5)], table_name="events"
    )
    assert info is not None and len(info.loads_ids) == 1
    (load_id,) = info.loads_ids
    assert attempts == [load_id, load_id]  # the third attempt found the load id and skipped
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == [0, 1, 2, 3, 4]
    assert _commits_of(lake, "events", load_id) == 1


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_a_lost_response_on_the_loads_row_does_not_fail_the_run(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake(tmp_path, table_format)
    format_class = _format_class(lake)
    original = format_class.append_rows
    calls: list[str] = []

    def lost_once(self: Any, table_name: str, data: pa.Table, load_id: str) -> None:
        original(self, table_name, data, load_id)
        if table_name == LOADS_TABLE:
            calls.append(load_id)
            if len(calls) == 1:
                raise TimeoutError("the _dlt_loads commit landed, its response did not")

    monkeypatch.setattr(format_class, "append_rows", lost_once)
    pipeline = lake.pipeline(pipelines_dir, "sidecars")
    info = pipeline.run([{"id": 1}, {"id": 2}], table_name="events")
    assert info is not None and not pipeline.has_pending_data
    (load_id,) = info.loads_ids
    assert calls == [load_id, load_id]
    assert [r["load_id"] for r in lake.rows("ds", LOADS_TABLE, "load_id")] == [load_id]
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == [1, 2]


def test_a_terminal_error_is_not_retried_and_keeps_its_object(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake(tmp_path, "iceberg")
    mismatch = SchemaMismatchError("Column 'id' of table 'events' is int in the destination")
    calls: list[str] = []

    def mismatching(self: Any, commit: Any) -> None:
        calls.append(commit.table_name)
        raise mismatch

    monkeypatch.setattr(IcebergFormat, "commit", mismatching)
    pipeline = lake.pipeline(pipelines_dir, "terminal")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": 1}], table_name="events")
    assert calls == ["events"]
    load_error = failed.value.__cause__
    assert isinstance(load_error, LoadError) and not load_error.retryable
    assert load_error.exception is mismatch and load_error.__cause__ is mismatch
    assert not pipeline.has_pending_data  # aborted: bad data does not wait for the next run


def test_a_bug_is_not_retried_nor_reported_as_bad_data(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake(tmp_path, "delta")
    original = DeltaFormat.commit
    calls: list[str] = []

    def buggy(self: Any, commit: Any) -> None:
        calls.append(commit.table_name)
        raise KeyError("_dlt_id")

    pipeline = lake.pipeline(pipelines_dir, "buggy")
    with monkeypatch.context() as patch:
        patch.setattr(DeltaFormat, "commit", buggy)
        with pytest.raises(quiver.PipelineStepFailed) as failed:
            pipeline.run([{"id": 1}], table_name="events")
    assert calls == ["events"]
    internal = failed.value.__cause__
    assert isinstance(internal, InternalError) and not isinstance(internal, LoadError)
    assert isinstance(internal.exception, KeyError) and internal.__cause__ is internal.exception
    assert "bug in quiver" in str(internal) and "events" in str(internal)
    # Not a failed job and not aborted: the package waits for a quiver without the bug.
    assert pipeline.has_pending_data
    load_id = failed.value.load_id
    (package,) = Path(pipelines_dir).glob(f"buggy/normalized/{load_id}")
    assert [p.parent.name for p in package.glob("jobs/*/events.*")] == ["new"]

    assert DeltaFormat.commit is original
    info = pipeline.run()
    assert info is not None and info.loads_ids == [load_id]
    assert [r["id"] for r in lake.rows("ds", "events", "id")] == [1]
