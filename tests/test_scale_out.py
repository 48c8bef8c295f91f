"""Scale out on threads and processes: partitions as tasks, one package, one commit per table.

Dask and Ray run the same checks in ``test_scale_out_dask.py`` / ``test_scale_out_ray.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import quiver
from quiver.errors import ExecutorNotSupported, WorkerTaskFailed, WorkerTaskNotSerializable
from tests.readers import Lake
from tests.scale_out_support import (
    assert_loaded_once,
    commits_per_table,
    expected_ids,
    partitioned_events,
)


def test_partitioned_resource_runs_every_partition_in_one_process() -> None:
    @quiver.resource(partitions=["a", "b"])
    def letters(partition: str, times: int = 2) -> Any:
        yield [{"v": partition * n} for n in range(1, times + 1)]

    assert [r["v"] for r in letters] == ["a", "aa", "b", "bb"]
    assert [r["v"] for r in letters(times=1)] == ["a", "b"]
    assert [r["v"] for r in letters.for_partition("b")] == ["b", "bb"]


@pytest.mark.parametrize("partitions", ["ab", [], 7])
def test_partitions_must_be_a_non_empty_list(partitions: Any) -> None:
    with pytest.raises(quiver.QuiverError, match="partitions") as raised:
        quiver.resource(lambda p: [{"p": p}], name="r", partitions=partitions)
    assert isinstance(raised.value, TypeError) and "Hint:" in str(raised.value)


def test_threads_load_every_row_once_with_one_commit_per_table(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "scale_threads")
    info = pipeline.run(partitioned_events(), executor="threads")
    assert info is not None and len(info.loads_ids) == 1
    assert_loaded_once(any_lake)
    # One package, one commit per table: the partitions did not commit on their own.
    assert commits_per_table(any_lake, "events") == 1
    assert commits_per_table(any_lake, "events__tags") == 1
    working = Path(pipelines_dir) / "scale_threads"
    assert not any(working.rglob("parts")), "task folders are removed"


def test_cursors_of_all_partitions_merge_into_the_committed_state(
    bucket: Path, pipelines_dir: str
) -> None:
    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_cursor")
    pipeline.run(partitioned_events(), executor="threads")
    cursor = pipeline.state["sources"]["scale_cursor"]["resources"]["events"]["incremental"]["id"]
    newest = max(expected_ids())
    assert cursor["last_value"] == newest  # the newest over all partitions, not the last task's
    # The next run sees the merged cursor: only rows after it load, from every partition.
    pipeline.run(partitioned_events(first_id=newest), executor="threads")
    ids = sorted(lake.read("ds", "events")["id"].to_list())
    assert ids == sorted(
        set(expected_ids()) | {i for i in expected_ids(first_id=newest) if i > newest}
    )
    assert len(ids) == len(set(ids))


def test_transformers_follow_each_partition_of_their_resource(
    bucket: Path, pipelines_dir: str
) -> None:
    @quiver.resource(name="ids", partitions=[0, 1, 2])
    def ids(partition: int) -> Any:
        yield [{"id": partition * 10 + i} for i in range(3)]

    @quiver.transformer(data_from=ids, name="details")
    def details(items: list[dict[str, Any]]) -> Any:
        yield [{"id": item["id"], "double": item["id"] * 2} for item in items]

    @quiver.source(name="with_details")
    def with_details() -> Any:
        return ids, details

    lake = Lake("delta", "local", f"file://{bucket}")
    lake.pipeline(pipelines_dir, "scale_transformer").run(with_details(), executor="threads")
    expected = [p * 10 + i for p in range(3) for i in range(3)]
    assert [r["id"] for r in lake.rows("ds", "ids", "id")] == expected
    assert [r["double"] for r in lake.rows("ds", "details", "id")] == [2 * i for i in expected]


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_replaced_partitioned_resource_starts_its_state_from_scratch(
    bucket: Path, pipelines_dir: str, executor: str | None
) -> None:
    @quiver.resource(name="snap", write_disposition="replace", partitions=[0, 1])
    def snap(partition: int, mark: bool = False) -> Any:
        if mark:
            quiver.current.resource_state()[f"seen_{partition}"] = True
        yield [{"p": partition}]

    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_replace")
    pipeline.run(snap(mark=True), executor=executor)
    resources = pipeline.state["sources"]["scale_replace"]["resources"]
    assert resources["snap"] == {"seen_0": True, "seen_1": True}  # both partitions' keys
    pipeline.run(snap(), executor=executor)
    assert "snap" not in pipeline.state["sources"]["scale_replace"].get("resources", {})
    assert sorted(lake.read("ds", "snap")["p"].to_list()) == [0, 1]


@pytest.mark.slow
def test_processes_load_every_row_once(bucket: Path, pipelines_dir: str) -> None:
    lake = Lake("iceberg", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_processes")
    pipeline.run(partitioned_events(), executor="processes")
    assert_loaded_once(lake)


def test_merge_disposition_commits_once_per_table(bucket: Path, pipelines_dir: str) -> None:
    @quiver.resource(name="users", primary_key="id", write_disposition="merge", partitions=[0, 1])
    def users(partition: int, version: int = 1) -> Any:
        yield [{"id": partition * 100 + i, "version": version} for i in range(20)]

    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_merge")
    pipeline.run(users(), executor="threads")
    pipeline.run(users(version=2), executor="threads")
    rows = lake.rows("ds", "users", "id")
    assert [r["id"] for r in rows] == [p * 100 + i for p in (0, 1) for i in range(20)]
    assert {r["version"] for r in rows} == {2}


def test_columns_typed_differently_by_two_workers_end_as_in_one_process(
    bucket: Path, pipelines_dir: str
) -> None:
    # Partition 0 makes ``value`` a bigint, partition 1 text. One process types the column by
    # the file it normalizes first and sends what does not fit to a variant column (or coerces
    # it); the coordinator normalizes the later worker's files again to do the same. Which file
    # comes first depends on random file ids, so the test checks what holds either way.
    @quiver.resource(name="mixed", partitions=[0, 1])
    def mixed(partition: int) -> Any:
        yield [
            {"id": partition * 10 + i, "value": i if partition == 0 else f"x{i}"} for i in range(5)
        ]

    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_mixed")
    pipeline.extract(mixed(), executor="threads")
    pipeline.normalize(executor="threads")
    pipeline.load()
    rows = lake.rows("ds", "mixed", "id")
    values = [r["value"] if r["value"] is not None else r.get("value__v_text") for r in rows]
    assert [str(v) for v in values] == ["0", "1", "2", "3", "4", "x0", "x1", "x2", "x3", "x4"]
    columns = pipeline.default_schema.tables["mixed"]["columns"]
    table = lake.read("ds", "mixed")
    kind = {"bigint": pl.Int64, "text": pl.String}[columns["value"]["data_type"]]
    assert table.schema["value"] == kind  # the schema and the committed files agree
    if "value__v_text" in columns:
        assert columns["value"]["data_type"] == "bigint"
        assert table.schema["value__v_text"] == pl.String


def test_a_failing_partition_names_itself_and_commits_nothing(
    bucket: Path, pipelines_dir: str
) -> None:
    @quiver.resource(name="flaky", partitions=[0, 1, 2])
    def flaky(partition: int) -> Any:
        yield [{"p": partition}]
        if partition == 2:
            raise ConnectionError("API went away in partition 2")

    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_flaky")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(flaky(), executor="threads")
    cause = failed.value.__cause__
    assert isinstance(cause, WorkerTaskFailed)
    assert cause.step == "extract" and "partition 2" in cause.task
    assert "ConnectionError" in str(cause) and "API went away in partition 2" in str(cause)
    assert str(cause).rstrip().endswith("nothing of this package was committed.")
    assert not pipeline.has_pending_data
    assert not lake.exists("ds", "flaky")
    assert list((Path(pipelines_dir) / "scale_flaky" / "tmp").iterdir()) == []


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_contract_violation_on_a_normalize_worker_moves_the_package_aside_as_in_one_process(
    bucket: Path, pipelines_dir: str, executor: str | None
) -> None:
    @quiver.resource(name="frozen", schema_contract={"columns": "freeze"}, partitions=[0, 1])
    def frozen(partition: int, extra: bool = False) -> Any:
        row = {"id": partition, "extra": "new"} if extra and partition == 1 else {"id": partition}
        yield [row]

    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_frozen")
    pipeline.run(frozen(), executor=executor)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(frozen(extra=True), executor=executor)
    assert failed.value.step == "normalize"
    assert failed.value.failed_package is not None  # a data error: the package is set aside
    cause = failed.value.__cause__
    assert isinstance(cause, WorkerTaskFailed if executor else quiver.errors.NormalizeJobFailed)
    assert "DataValidationError" in str(cause) and "extra" in str(cause)
    if executor:
        assert cause.step == "normalize" and not cause.retryable
    assert not pipeline.has_pending_data
    assert sorted(lake.read("ds", "frozen")["id"].to_list()) == [0, 1]


def test_unknown_executor_is_refused_with_a_suggestion(bucket: Path, pipelines_dir: str) -> None:
    pipeline = Lake("delta", "local", f"file://{bucket}").pipeline(pipelines_dir, "scale_bad")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(partitioned_events(), executor="thread")
    error = failed.value.__cause__
    assert isinstance(error, ExecutorNotSupported) and isinstance(error, ValueError)
    assert "Did you mean 'threads'?" in str(error)


def test_executor_comes_from_config(
    bucket: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[str] = set()

    @quiver.resource(name="where", partitions=[0, 1])
    def where(partition: int) -> Any:
        seen.add(threading.current_thread().name)
        yield [{"p": partition}]

    monkeypatch.setenv("SCALE_OUT__EXECUTOR", "threads")
    lake = Lake("delta", "local", f"file://{bucket}")
    lake.pipeline(pipelines_dir, "scale_config").run(where())
    assert seen and all(name.startswith("quiver-task") for name in seen)
    assert sorted(lake.read("ds", "where")["p"].to_list()) == [0, 1]


# The coordinator dies after the table commits and before the sidecars: the rerun skips them.
COORDINATOR = textwrap.dedent(
    """
    import os, signal, sys
    import quiver
    import quiver.load.loader
    from tests.scale_out_support import partitioned_events

    pipelines_dir, bucket = sys.argv[1:3]
    p = quiver.pipeline("scale_crash", pipelines_dir=pipelines_dir,
                        destination=quiver.destinations.filesystem(bucket_url=bucket),
                        dataset_name="ds")
    kill = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    quiver.load.loader.Loader._write_sidecars = kill
    p.run(partitioned_events(), executor="threads")
    """
)


@pytest.mark.slow
def test_coordinator_killed_after_the_table_commit_loads_once(
    bucket: Path, pipelines_dir: str
) -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", COORDINATOR, pipelines_dir, str(bucket)],
        capture_output=True,
        cwd=root,
    )
    assert result.returncode == -9, result.stderr.decode()
    lake = Lake("delta", "local", f"file://{bucket}")
    assert commits_per_table(lake, "events") == 1
    assert not lake.exists("ds", "_dlt_loads")
    pipeline = quiver.attach("scale_crash", pipelines_dir=pipelines_dir)
    assert pipeline.has_pending_data
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    assert_loaded_once(lake)
    assert commits_per_table(lake, "events") == 1  # skipped as committed, not loaded again
    loads = lake.read("ds", "_dlt_loads")["load_id"].to_list()
    assert loads == info.loads_ids


def test_import_quiver_does_not_import_the_engines() -> None:
    # (cloudpickle is not checked: pyarrow imports it when it is installed.)
    code = (
        "import sys, quiver\n"
        "print([m for m in ('dask', 'distributed', 'ray') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_engine_names_the_extra(
    bucket: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a)
    )
    pipeline = Lake("delta", "local", f"file://{bucket}").pipeline(pipelines_dir, "scale_no_ray")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(partitioned_events(), executor="ray")
    error = failed.value.__cause__
    assert isinstance(error, ImportError) and isinstance(error, quiver.QuiverError)
    assert "pip install 'quiver[scale]'" in str(error)


def test_a_resource_that_cannot_travel_to_a_process_says_what_to_do(
    bucket: Path, pipelines_dir: str
) -> None:
    rows = ({"i": i} for i in range(3))  # a generator object cannot be pickled
    pipeline = Lake("delta", "local", f"file://{bucket}").pipeline(pipelines_dir, "scale_gen")
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(quiver.resource(rows, name="gen"), executor="processes")
    error = failed.value.__cause__
    assert isinstance(error, WorkerTaskNotSerializable) and isinstance(error, TypeError)
    assert "resource 'gen'" in str(error) and "executor='threads'" in str(error)
    assert not pipeline.has_pending_data


@pytest.mark.parametrize("how", ["run", "steps", "config"])
def test_normalize_runs_on_the_workers_however_the_executor_is_given(
    bucket: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import quiver.scaleout.normalize as scaleout_normalize

    groups: list[str] = []
    run_task = scaleout_normalize.run_normalize_task

    def counting(task: Any) -> Any:
        groups.append(task.label)
        return run_task(task)

    monkeypatch.setattr(scaleout_normalize, "run_normalize_task", counting)
    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, f"scale_normalize_{how}")
    if how == "run":
        pipeline.run(partitioned_events(), executor="threads")
    elif how == "steps":
        pipeline.extract(partitioned_events(), executor="threads")
        pipeline.normalize(executor="threads")
        pipeline.load()
    else:
        monkeypatch.setenv("SCALE_OUT__EXECUTOR", "threads")
        monkeypatch.setenv("SCALE_OUT__WORKERS", "2")
        pipeline.run(partitioned_events())
    assert len(groups) >= 2  # four extracted files, split over the workers
    assert_loaded_once(lake)
