"""Configuration mistakes are refused before any work: nothing is extracted, nothing is pending.

What dlt does (docs and source, see docs/configuration.md): a destination without
``bucket_url`` is ``ConfigFieldMissingException`` raised by ``run()`` before extract; unknown
hint values are refused where they are given; a merge on Delta/Iceberg without a primary key
is refused ("No primary key defined for table `t`. `primary_key` needs to be set when using the
`upsert` merge strategy."). quiver does these checks before extracting (dlt finds the merge
problem only at load, after extract and normalize); see docs/decisions.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import (
    ConfigFieldMissingException,
    DestinationConfigError,
    InvalidHintValue,
    InvalidSchemaContract,
    MergeConfigError,
    PipelineStepFailed,
)


def nothing_was_extracted(pipeline: quiver.Pipeline) -> bool:
    """No package in any stage, no temp package, no table in the schema."""
    folders = [pipeline.working_dir / stage for stage in ("tmp", "extracted", "normalized")]
    packages = [p for folder in folders if folder.exists() for p in folder.iterdir()]
    return not packages and not pipeline.has_pending_data


@pytest.fixture
def lake_pipeline(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    return quiver.pipeline("checked", pipelines_dir=pipelines_dir, destination=destination)


@quiver.resource
def events() -> Any:
    yield from ({"id": i, "v": i} for i in range(3))


# --------------------------------------------------------------------------- destination
def test_run_without_bucket_url_extracts_nothing(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("no_bucket", pipelines_dir=pipelines_dir, destination="filesystem")
    with pytest.raises(ConfigFieldMissingException) as raised:
        pipeline.run(events())
    message = str(raised.value)
    assert raised.value.fields == ["bucket_url"]
    for key in (
        "NO_BUCKET__DESTINATION__FILESYSTEM__BUCKET_URL",
        "DESTINATION__FILESYSTEM__BUCKET_URL",
        "destination.filesystem.bucket_url",
        ".dlt/config.toml",
    ):
        assert key in message
    assert nothing_was_extracted(pipeline)


def test_load_without_bucket_url_is_refused_before_loading(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("no_bucket", pipelines_dir=pipelines_dir, destination="filesystem")
    pipeline.extract(events())  # extract needs no destination, as in dlt
    pipeline.normalize()
    with pytest.raises(ConfigFieldMissingException):
        pipeline.load()
    assert pipeline.list_normalized_load_packages()  # kept for a load with a bucket_url


@pytest.mark.parametrize(
    ("argument", "value", "error", "suggestion"),
    [
        ("write_disposition", "mergee", InvalidHintValue, "'merge'"),
        (
            "write_disposition",
            {"disposition": "merge", "strategy": "upsrt"},
            InvalidHintValue,
            "'upsert'",
        ),
        ("table_format", "delat", InvalidHintValue, "'delta'"),
        ("schema_contract", "freez", InvalidSchemaContract, "'freeze'"),
        ("schema_contract", {"columns": "evolv"}, InvalidSchemaContract, "'evolve'"),
    ],
)
@pytest.mark.parametrize("step", ["run", "extract"])
def test_unknown_hint_values_are_refused_with_did_you_mean(
    lake_pipeline: quiver.Pipeline,
    step: str,
    argument: str,
    value: Any,
    error: type[Exception],
    suggestion: str,
) -> None:
    with pytest.raises(PipelineStepFailed) as raised:
        getattr(lake_pipeline, step)(events(), **{argument: value})
    cause = raised.value.exception
    assert isinstance(cause, error)
    assert f"Did you mean {suggestion}" in str(cause) and f"{step}()" in str(cause)
    assert nothing_was_extracted(lake_pipeline)


# -------------------------------------------------------------------------------- merge keys
def test_merge_without_keys_is_refused_with_dlts_wording(lake_pipeline: quiver.Pipeline) -> None:
    with pytest.raises(PipelineStepFailed) as raised:
        lake_pipeline.run(events(), write_disposition="merge")
    cause = raised.value.exception
    assert isinstance(cause, MergeConfigError)
    assert (
        "No primary key defined for table `events` (resource 'events'). `primary_key` needs to "
        "be set when using the `upsert` merge strategy." in str(cause)
    )
    assert "Hint: pass primary_key=" in str(cause)
    assert nothing_was_extracted(lake_pipeline)


def test_merge_hints_of_the_resource_are_checked(lake_pipeline: quiver.Pipeline) -> None:
    @quiver.resource(
        write_disposition={"disposition": "merge", "strategy": "insert-only"}, merge_key="id"
    )
    def orders() -> Any:
        yield {"id": 1}

    with pytest.raises(PipelineStepFailed, match="`insert-only` merge strategy"):
        lake_pipeline.extract(orders())
    keyless = quiver.resource([{"id": 1}], name="keyless")
    keyless.apply_hints(write_disposition={"disposition": "merge", "strategy": "delete-insert"})
    with pytest.raises(PipelineStepFailed, match="neither a `primary_key` nor a `merge_key`"):
        lake_pipeline.extract(keyless)
    assert nothing_was_extracted(lake_pipeline)


def test_merges_that_have_keys_pass(lake_pipeline: quiver.Pipeline, bucket: Path) -> None:
    lake_pipeline.run(events(), write_disposition="merge", primary_key="id")
    # the key is in the stored schema now: a later run may leave it out
    lake_pipeline.run(events(), write_disposition="merge")
    lake_pipeline.run(
        events(),
        table_name="by_merge_key",
        write_disposition="merge",
        columns={"v": {"merge_key": True}},
    )
    scd2 = {"disposition": "merge", "strategy": "scd2"}
    lake_pipeline.run(events(), table_name="history", write_disposition=scd2)
    assert sorted(p.name for p in (bucket / "checked_dataset").iterdir() if p.name[0] != "_") == [
        "by_merge_key",
        "events",
        "history",
    ]


# -------------------------------------------------------------------------------------- s3
def test_s3_without_credentials_is_refused_before_extract(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, pipelines_dir: str
) -> None:
    for name in list(os.environ):
        if name.startswith(
            ("AWS_ACCESS", "AWS_SECRET", "DESTINATION__FILESYSTEM__CREDENTIALS__AWS")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    destination = quiver.destinations.filesystem(bucket_url=f"{s3_bucket}/nocreds")
    pipeline = quiver.pipeline("nocreds", pipelines_dir=pipelines_dir, destination=destination)
    with pytest.raises(DestinationConfigError) as raised:
        pipeline.run(events())
    message = str(raised.value)
    assert "NoCredentialsError" in message or "credentials" in message.lower()
    assert "DESTINATION__FILESYSTEM__VALIDATE_CREDENTIALS=false" in message
    assert nothing_was_extracted(pipeline)


def test_a_missing_bucket_is_refused_and_the_check_can_be_skipped(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, pipelines_dir: str
) -> None:
    destination = quiver.destinations.filesystem(bucket_url=f"{s3_bucket}-absent/lake")
    pipeline = quiver.pipeline("absent", pipelines_dir=pipelines_dir, destination=destination)
    with pytest.raises(DestinationConfigError, match="does not exist"):
        pipeline.run(events())
    assert nothing_was_extracted(pipeline)
    monkeypatch.setenv("DESTINATION__FILESYSTEM__VALIDATE_CREDENTIALS", "false")
    monkeypatch.setenv("RESTORE_FROM_DESTINATION", "false")  # no sync read before extract
    # skipped: the mistake now surfaces only when the load writes (dlt's behaviour)
    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.run(events())
    assert raised.value.step == "load"
