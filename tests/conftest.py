"""Shared fixtures: an isolated environment per test, pipelines in tmp folders, a real S3 server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.s3_server"]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's config or writes to ~/.quiver, and no pipeline leaks."""
    for key in list(os.environ):
        if key.startswith(("DESTINATION__", "NORMALIZE__", "DATA_WRITER__", "LOAD__", "EXTRACT__")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUIVER_DATA_DIR", str(tmp_path / "quiver_home"))
    from quiver.pipeline import factory

    monkeypatch.setattr(factory, "_active", None)
    yield


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> str:
    return str(tmp_path / "pipelines")


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path
