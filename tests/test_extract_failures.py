"""Extract failures: the step error names the resource and the cause; nothing is committed and
state and schema stay as they were."""

# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import quiver
from quiver.errors import ResourceExtractionError, SourceExhausted
from tests.extract_support import make_pipeline


def _assert_nothing_committed(pipeline: quiver.Pipeline) -> None:
    assert not pipeline.has_pending_data
    assert list((pipeline.working_dir / "tmp").iterdir()) == []


def _failing_resources() -> dict[str, quiver.Resource]:
    @quiver.resource(name="in_generator")
    def in_generator():
        yield {"id": 1}
        raise ValueError("boom in generator")

    @quiver.resource(name="in_function")
    def in_function():
        raise ValueError("boom in function")

    def explode(row: dict[str, int]) -> dict[str, int]:
        raise ValueError("boom in map")

    in_map = quiver.resource([{"id": 1}], name="in_map").add_map(explode)

    @quiver.transformer(
        data_from=quiver.resource([{"id": 1}], name="parent"), name="in_transformer"
    )
    def in_transformer(row):
        raise KeyError("boom in transformer")

    @quiver.resource(name="in_thread", parallelized=True)
    def in_thread():
        yield {"id": 1}
        raise RuntimeError("boom in thread")

    @quiver.resource(name="in_async")
    async def in_async():
        yield {"id": 1}
        await asyncio.sleep(0)
        raise OSError("boom in async")

    return {
        "in_generator": in_generator,
        "in_function": in_function,
        "in_map": in_map,
        "in_transformer": in_transformer,
        "in_thread": in_thread,
        "in_async": in_async,
    }


@pytest.mark.parametrize("name", list(_failing_resources()))
def test_user_errors_fail_the_step_and_name_the_resource(
    name: str, pipelines_dir: str, bucket: Path
) -> None:
    resource = _failing_resources()[name]
    pipeline = make_pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(resource)
    error = failed.value
    assert error.step == "extract"
    assert f"'{name}'" in str(error) and "boom" in str(error)
    assert isinstance(error.__cause__, ResourceExtractionError)
    assert error.__cause__.resource_name == name
    _assert_nothing_committed(pipeline)


def test_state_and_schema_roll_back(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(primary_key="id")
    def items(cursor=quiver.sources.incremental("id", initial_value=0), fail: bool = False):
        quiver.current.resource_state()["attempts"] = "changed"
        yield [{"id": 1, "new_column": "x"}] if fail else [{"id": 1}]
        if fail:
            raise ConnectionError("gone")

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(items())
    state_before = json.loads((pipeline.working_dir / "state.json").read_text())
    schema_before = pipeline.default_schema.to_dict()
    resource_state = pipeline.state["sources"]["ext"]["resources"]["items"]
    resource_state_before = json.loads(json.dumps(resource_state))

    with pytest.raises(quiver.PipelineStepFailed):
        pipeline.run(items(fail=True))
    assert json.loads((pipeline.working_dir / "state.json").read_text()) == state_before
    assert pipeline.state["sources"]["ext"]["resources"]["items"] == resource_state_before
    assert "new_column" not in pipeline.default_schema.tables["items"]["columns"]
    assert pipeline.default_schema.to_dict() == schema_before
    _assert_nothing_committed(pipeline)

    # A new pipeline instance sees the state of the last successful extract.
    reopened = quiver.attach("ext", pipelines_dir=pipelines_dir)
    assert reopened.state["sources"]["ext"]["resources"]["items"] == resource_state_before


def test_one_failing_source_commits_no_package_of_any_source(pipelines_dir: str) -> None:
    @quiver.source
    def good():
        return quiver.resource([{"id": 1}], name="fine")

    @quiver.source
    def zbad():  # sources extract in name order: this one runs after "good"
        @quiver.resource
        def broken():
            raise ValueError("late failure")
            yield

        return broken

    pipeline = quiver.pipeline("two_sources", pipelines_dir=pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed, match="late failure"):
        pipeline.extract([good(), zbad()])
    assert pipeline.list_extracted_load_packages() == []
    _assert_nothing_committed(pipeline)


def test_exhausted_generator_gives_a_clear_error(pipelines_dir: str, bucket: Path) -> None:
    generator = ({"id": i} for i in range(3))
    resource = quiver.resource(generator, name="once")
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(resource)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(resource)
    assert isinstance(failed.value.__cause__, SourceExhausted)
    assert "already consumed" in str(failed.value)

    @quiver.source
    def from_generator():
        return quiver.resource((x for x in [{"id": 1}]), name="gen")

    source = from_generator()
    pipeline.run(source)
    assert source.exhausted
    with pytest.raises(quiver.PipelineStepFailed, match="already consumed"):
        pipeline.run(source)


def test_unbound_resource_is_named(pipelines_dir: str) -> None:
    @quiver.resource
    def needs_args(page_size: int):
        yield {"page_size": page_size}

    with pytest.raises(quiver.PipelineStepFailed, match=r"needs_args\(\.\.\.\)"):
        quiver.pipeline("unbound", pipelines_dir=pipelines_dir).extract(needs_args)
