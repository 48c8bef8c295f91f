"""The run trace, as dlt documents it (docs: running-in-production/running.md "Inspect and save
the load info and trace"; API reference dlt.pipeline.trace): ``pipeline.last_trace`` with the
steps of the last run, ``last_extract_info``, ``last_normalize_info.row_counts`` and
``last_load_info``; kept in the working folder so the CLI and other processes read it.

quiver writes the trace as JSON (``trace.json``) where dlt pickles it (``trace.pickle``), and
masks secrets in error messages (dlt drops secret config values from the trace).
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.pipeline.trace import TRACE_FILE, mask_secrets

SECRET = "s3cr3t-V4lue-do-not-log"


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "traced", **kwargs: Any) -> Any:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket), **kwargs),
        dataset_name="ds",
    )


def _rows() -> list[dict[str, Any]]:
    return [{"id": i, "tags": [{"t": "a"}, {"t": "b"}]} for i in range(5)]


def test_no_trace_before_the_first_run(pipelines_dir: str, bucket: Path) -> None:
    assert _pipeline(pipelines_dir, bucket).last_trace is None


def test_run_trace_has_every_step_with_times_counts_and_packages(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    trace = pipeline.last_trace
    assert trace is not None and trace.pipeline_name == "traced"
    assert [step.step for step in trace.steps] == ["extract", "normalize", "load", "run"]
    for step in trace.steps:
        assert step.finished_at is not None and step.started_at <= step.finished_at
        assert step.started_at.tzinfo is not None and step.step_exception is None
        assert step.duration is not None and step.duration >= 0
    assert trace.started_at <= trace.steps[0].started_at
    assert trace.finished_at is not None and trace.finished_at >= trace.steps[-1].finished_at

    extract = trace.last_extract_info
    assert extract is not None and extract.row_counts == {"items": 5}
    assert extract.loads_ids == info.loads_ids
    normalize = trace.last_normalize_info
    assert normalize is not None and normalize.row_counts == {"items": 5, "items__tags": 10}
    assert normalize.loads_ids == info.loads_ids
    load = trace.last_load_info
    assert load is not None and load.loads_ids == info.loads_ids
    assert [p.state for p in load.load_packages] == ["loaded"]
    assert trace.last_pipeline_step_trace("run") is trace.steps[-1]
    assert trace.steps[-1].step_info is info

    text = str(trace)
    assert text.startswith("Run started at ") and "COMPLETED in " in text
    assert "with 4 steps." in text
    assert "Step normalize COMPLETED in " in text and "- items__tags: 10 row(s)" in text


def test_trace_is_read_by_a_new_process(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    assert (pipeline.working_dir / TRACE_FILE).exists()
    code = textwrap.dedent(
        """
        import json, sys, quiver
        trace = quiver.attach("traced", pipelines_dir=sys.argv[1]).last_trace
        print(json.dumps({
            "steps": [s.step for s in trace.steps],
            "rows": trace.last_normalize_info.row_counts,
            "extracted": trace.last_extract_info.row_counts,
            "loads": trace.last_load_info.loads_ids,
            "package_state": trace.last_load_info.load_packages[0].state,
            "jobs": [j.job_file_info.table_name
                     for j in trace.last_load_info.load_packages[0].jobs["completed_jobs"]],
            "metrics": sorted(trace.last_load_info.metrics),
            "started": trace.steps[0].started_at.isoformat(),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, pipelines_dir], capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout)
    assert seen["steps"] == ["extract", "normalize", "load", "run"]
    assert seen["rows"] == {"items": 5, "items__tags": 10}
    assert seen["extracted"] == {"items": 5}
    assert seen["loads"] == info.loads_ids == seen["metrics"]
    assert seen["package_state"] == "loaded"
    assert sorted(seen["jobs"]) == ["items", "items__tags"]
    assert seen["started"] == pipeline.last_trace.steps[0].started_at.isoformat()


def test_steps_called_one_by_one_join_one_trace(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(_rows(), table_name="items")
    first_run = pipeline.last_trace
    pipeline.extract(_rows(), table_name="items")
    pipeline.normalize()
    pipeline.load()
    trace = pipeline.last_trace
    # dlt: a trace of one step is appended to the previous trace; a run replaces it.
    assert trace.transaction_id == first_run.transaction_id
    assert [s.step for s in trace.steps] == [
        "extract",
        "normalize",
        "load",
        "run",
        "extract",
        "normalize",
        "load",
    ]
    assert trace.last_load_info is trace.steps[-1].step_info
    pipeline.run(_rows(), table_name="items")
    assert pipeline.last_trace.transaction_id != first_run.transaction_id
    assert len(pipeline.last_trace.steps) == 4
    reread = quiver.attach("traced", pipelines_dir=pipelines_dir).last_trace
    assert reread is not None and reread.transaction_id == pipeline.last_trace.transaction_id


def test_failed_step_keeps_the_error_masked(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(
        pipelines_dir,
        bucket,
        credentials={"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": SECRET},
    )

    @quiver.resource(name="api")
    def api() -> Any:
        yield {"id": 1}
        raise ConnectionError(f"GET https://user:{SECRET}@api.example.com failed, token={SECRET}")

    with pytest.raises(quiver.PipelineStepFailed):
        pipeline.run(api())
    trace = pipeline.last_trace
    assert [s.step for s in trace.steps] == ["extract", "run"]
    extract = trace.steps[0]
    assert extract.step_exception is not None
    assert extract.step_exception.startswith("PipelineStepFailed: ")
    assert "ConnectionError" in extract.step_exception and SECRET not in extract.step_exception
    types = [t["exception_type"] for t in extract.exception_traces or []]
    assert types[0] == "quiver.errors.pipeline.PipelineStepFailed"
    assert "builtins.ConnectionError" in types
    assert all(SECRET not in t["message"] for t in extract.exception_traces or [])
    assert any("https://user:***@api.example.com" in t["message"] for t in extract.exception_traces)
    assert extract.exception_traces[0]["step"] == "extract"
    assert trace.steps[1].step_exception is not None  # run failed with it
    assert "FAILED in " in str(trace)
    assert SECRET not in (pipeline.working_dir / TRACE_FILE).read_text()
    # nothing of the failed extract was completed
    assert extract.step_info is not None and extract.step_info.loads_ids == []


def test_failed_load_records_the_aborted_package(pipelines_dir: str, bucket: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(bucket / "ds" / "events"), pa.table({"id": pa.array([1], pa.int64())}))
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": "x"}], table_name="events")
    trace = quiver.attach("traced", pipelines_dir=pipelines_dir).last_trace
    load = trace.last_pipeline_step_trace("load")
    assert load is not None and load.step_exception is not None
    assert failed.value.load_id is not None and failed.value.load_id in load.step_exception
    assert load.exception_traces is not None
    assert load.exception_traces[0]["load_id"] == failed.value.load_id
    info = trace.last_load_info  # what the load did before it failed
    assert info is not None and [p.state for p in info.load_packages] == ["aborted"]
    assert info.load_packages[0].jobs["failed_jobs"]


def test_trace_asdict_names_step_infos_as_dlt(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(_rows(), table_name="items")
    document = pipeline.last_trace.asdict()
    # dlt leaves the run step out (it repeats load) unless it failed
    assert [s["step"] for s in document["steps"]] == ["extract", "normalize", "load"]
    assert document["steps"][1]["normalize_info"]["row_counts"] == {"items": 5, "items__tags": 10}
    assert document["steps"][2]["load_info"]["pipeline"] == {"pipeline_name": "traced"}
    assert isinstance(document["started_at"], datetime.datetime)
    json.dumps(document, default=str)  # plain values


def test_mask_secrets() -> None:
    assert mask_secrets("s3://id:pw123456@bucket/x") == "s3://id:***@bucket/x"
    assert mask_secrets("password='hunter22' and api_key: abcd1234") == (
        "password='***' and api_key: ***"
    )
    assert mask_secrets(f"value {SECRET} leaked", [SECRET]) == "value *** leaked"
    assert mask_secrets("rows=10 tables=2") == "rows=10 tables=2"


@pytest.mark.slow
def test_observability_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/observability.md, in order, as one script."""
    page = Path(__file__).resolve().parents[1] / "docs" / "observability.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 6
    script = tmp_path / "observability_page.py"
    script.write_text("\n".join(blocks))
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Run started at " in result.stdout
