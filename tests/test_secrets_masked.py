"""A known secret never appears in anything a run prints, returns, logs or writes to its state.

Real runs (local disk, and the S3 server with the key and secret in ``bucket_url``), every
printable object captured with str and repr, logs at DEBUG (RUNTIME__LOG_LEVEL, dlt's setting),
every file of the working folder; then grep for the secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import DestinationConfigError, PipelineStepFailed

ENV_SECRET = "env-secret-7f3a9c"
TOML_SECRET = "toml-secret-b81d44"


def printed(*objects: Any) -> str:
    return "\n".join(f"{obj!s}\n{obj!r}" for obj in objects)


def working_folder_text(pipeline: quiver.Pipeline, *, with_trace: bool = False) -> str:
    texts = []
    for path in Path(pipeline.working_dir).rglob("*"):
        if path.is_file() and (with_trace or path.name != "trace.json"):
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = Path(os.environ["DLT_PROJECT_DIR"])
    (folder / ".dlt").mkdir(parents=True)
    (folder / ".dlt" / "secrets.toml").write_text(
        f'[sources.test_secrets_masked.api]\npassword = "{TOML_SECRET}"\n'
    )
    monkeypatch.setenv("SOURCES__TEST_SECRETS_MASKED__API__TOKEN", ENV_SECRET)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    return folder


@quiver.source
def api(token: str = quiver.secrets.value, password: str = quiver.secrets.value) -> Any:
    @quiver.resource(primary_key="id", write_disposition="merge")
    def users() -> Any:
        assert token == ENV_SECRET and password == TOML_SECRET
        yield [{"id": i, "name": f"user {i}"} for i in range(3)]

    @quiver.resource
    def failing() -> Any:
        yield {"id": 1}
        raise ValueError(f"the API refused token {token} and password {password}")

    return users, failing


def test_a_run_never_shows_its_secrets(
    project: Path, bucket: Path, pipelines_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    pipeline = quiver.pipeline("masked", pipelines_dir=pipelines_dir, destination=destination)
    source = api()
    info = pipeline.run(source.with_resources("users"))
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(api().with_resources("failing"))
    logs = capsys.readouterr()
    assert "masked: load finished" in logs.err  # the DEBUG/INFO lines were written
    everything = "\n".join(
        [
            printed(info, pipeline, pipeline.destination, source, failed.value),
            printed(pipeline.state),
            logs.out,
            logs.err,
            working_folder_text(pipeline),
        ]
    )
    for secret in (ENV_SECRET, TOML_SECRET):
        at = everything.find(secret)
        assert at == -1, everything[max(0, at - 300) : at + 100]
    assert "the API refused token *** and password ***" in str(failed.value)


def test_the_trace_never_shows_secrets(project: Path, bucket: Path, pipelines_dir: str) -> None:
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    pipeline = quiver.pipeline("traced", pipelines_dir=pipelines_dir, destination=destination)
    with pytest.raises(PipelineStepFailed):
        pipeline.run(api().with_resources("failing"))
    assert ENV_SECRET not in printed(pipeline.last_trace)
    assert ENV_SECRET not in working_folder_text(pipeline, with_trace=True)
    # The chained user exception is in the trace, its secrets masked.
    last = pipeline.last_trace.steps[-1]
    assert any("the API refused token ***" in t["message"] for t in last.exception_traces or [])
    # `quiver pipeline <name> trace -vv` prints the stored trace with its exception chain.
    cli = ("pipeline", "--pipelines-dir", pipelines_dir, "traced", "trace", "-vv")
    shown = subprocess.run(
        [sys.executable, "-m", "quiver", *cli],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Failed due to" in shown.stdout
    for secret in (ENV_SECRET, TOML_SECRET):
        assert secret not in shown.stdout + shown.stderr


def test_key_and_secret_in_bucket_url_are_never_shown(
    s3_bucket: str, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    key, secret = "AKIAUSERINFO0042", "userinfo-secret-5e1b"
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    bucket = s3_bucket.removeprefix("s3://")
    destination = quiver.destinations.filesystem(bucket_url=f"s3://{key}:{secret}@{bucket}/lake")
    pipeline = quiver.pipeline("userinfo", pipelines_dir=pipelines_dir, destination=destination)
    info = pipeline.run([{"id": 1}], table_name="t")
    assert info is not None and info.destination_displayable_credentials == f"{s3_bucket}/lake"
    missing = quiver.destinations.filesystem(bucket_url=f"s3://{key}:{secret}@{bucket}-nope/x")
    other = quiver.pipeline("userinfo_missing", pipelines_dir=pipelines_dir, destination=missing)
    with pytest.raises(DestinationConfigError) as refused:
        other.run([{"id": 1}], table_name="t")
    logs = capsys.readouterr()
    everything = "\n".join(
        [
            printed(info, pipeline, destination, missing, refused.value, pipeline.last_trace),
            logs.out,
            logs.err,
            working_folder_text(pipeline),
            working_folder_text(other),
        ]
    )
    assert secret not in everything and key not in everything
    assert "s3://***:***@" in repr(destination)
