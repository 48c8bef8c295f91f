"""Shared fixtures: an isolated environment per test, pipelines in tmp folders, a real S3 server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus_support import CorpusSummary
from tests.readers import Lake

pytest_plugins = ["tests.s3_server"]


_CONFIG_PREFIXES = (
    "DESTINATION__",
    "NORMALIZE__",
    "DATA_WRITER__",
    "LOAD__",
    "EXTRACT__",
    "SOURCES__",
    "RUNTIME__",
    "PIPELINES__",
    "SCHEMA__",
    "SCALE_OUT__",
)
_PROJECT_VARS = ("DLT_PROJECT_DIR", "QUIVER_PROJECT_DIR", "DLT_CONFIG_FOLDER", "XDG_DATA_HOME")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's config or writes to ~/.quiver, and no pipeline leaks."""
    for key in list(os.environ):
        if key.startswith(_CONFIG_PREFIXES) or key in _PROJECT_VARS:
            monkeypatch.delenv(key)
    # No test reads the developer's ~/.dlt/*.toml or ./.dlt/*.toml (config providers).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path / "project"))
    monkeypatch.setenv("QUIVER_DATA_DIR", str(tmp_path / "quiver_home"))
    from quiver.configuration.lookup import set_pipeline_name
    from quiver.pipeline import factory

    monkeypatch.setattr(factory, "_active", None)
    set_pipeline_name(None)  # no pipeline-scoped lookups left over from an earlier test
    yield


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> str:
    return str(tmp_path / "pipelines")


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path


#: Every table format on every filesystem: the conformance matrix.
LAKE_TARGETS = [("delta", "local"), ("delta", "s3"), ("iceberg", "local"), ("iceberg", "s3")]


@pytest.fixture(params=LAKE_TARGETS, ids=[f"{f}-{fs}" for f, fs in LAKE_TARGETS])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Delta and Iceberg on local disk and on a real S3 server (moto on 127.0.0.1)."""
    table_format, filesystem = request.param
    if filesystem == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        server = request.getfixturevalue("s3_server")
        return Lake(table_format, filesystem, f"{bucket}/lake", server.endpoint_url)
    return Lake(table_format, filesystem, f"file://{tmp_path / 'lake'}")


def pytest_configure(config: pytest.Config) -> None:
    # The bad-input corpus' outcome counts (ok / clear error / other) in the terminal summary.
    config.pluginmanager.register(CorpusSummary(), "quiver-bad-input-corpus-summary")
