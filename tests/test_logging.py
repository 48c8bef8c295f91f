"""Logging through ``logging``: named ``quiver.*`` loggers, the level set by RUNTIME__LOG_LEVEL.

dlt (``dlt/common/runtime``, ``RuntimeConfiguration``): ``runtime.log_level`` (default
``WARNING``) and ``runtime.log_format`` configure its logger, which writes to stderr with its
own handler and does not propagate. quiver does the same for the ``quiver`` logger; at INFO a
run logs each step's start, end, row counts and time, at DEBUG each file and table commit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import quiver
from quiver.errors import ConfigValueInvalid


@pytest.fixture(autouse=True)
def _restore_quiver_logger() -> Iterator[None]:
    logger = logging.getLogger("quiver")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])


def run_once(pipelines_dir: str, bucket: Path, name: str = "logged") -> None:
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    pipeline = quiver.pipeline(name, pipelines_dir=pipelines_dir, destination=destination)
    pipeline.run([{"id": 1}, {"id": 2}, {"id": 3}], table_name="items")


def test_default_level_is_warning_and_a_run_is_quiet(
    pipelines_dir: str, bucket: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_once(pipelines_dir, bucket)
    assert capsys.readouterr().err == ""
    assert logging.getLogger("quiver").level == logging.WARNING


def test_info_logs_each_step_with_rows_and_time(
    pipelines_dir: str,
    bucket: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "INFO")
    run_once(pipelines_dir, bucket)
    err = capsys.readouterr().err
    lines = err.splitlines()
    for step in ("extract", "normalize", "load"):
        assert any(f"logged: {step} started" in line for line in lines), step
        finished = [line for line in lines if f"logged: {step} finished in " in line]
        assert finished and " s: 1 package(s)" in finished[0]
    assert any("extract finished" in line and "3 row(s): items=3" in line for line in lines)
    # dlt's default format: {asctime}|[{levelname}]|{process}|{thread}|{name}|...
    assert "|[INFO]|" in err and "|quiver.pipeline|" in err
    assert "wrote" not in err  # per-file lines are DEBUG


def test_debug_logs_each_file_and_commit(
    pipelines_dir: str,
    bucket: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("RUNTIME__LOG_FORMAT", "{levelname} {name} {message}")
    run_once(pipelines_dir, bucket)
    lines = capsys.readouterr().err.splitlines()
    assert any(
        line.startswith("DEBUG quiver.extract logged: extract ") and " wrote " in line
        for line in lines
    )
    assert any(line.startswith("DEBUG quiver.normalize ") and ".parquet" in line for line in lines)
    assert any(
        line.startswith("DEBUG quiver.load ") and "committed table items" in line for line in lines
    )


def test_log_level_from_config_toml(
    pipelines_dir: str, bucket: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Path(os.environ["DLT_PROJECT_DIR"]) / ".dlt"
    settings.mkdir(parents=True)
    (settings / "config.toml").write_text('[runtime]\nlog_level = "INFO"\n')
    run_once(pipelines_dir, bucket)
    assert "logged: load finished" in capsys.readouterr().err


def test_an_unknown_level_is_refused(pipelines_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigValueInvalid, match="RUNTIME__LOG_LEVEL"):
        quiver.pipeline("loud", pipelines_dir=pipelines_dir)


def test_your_own_handler_receives_the_records(
    pipelines_dir: str,
    bucket: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("quiver")
    logger.handlers[:] = [Collect()]
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "INFO")
    run_once(pipelines_dir, bucket)
    assert {r.name for r in records} >= {"quiver.pipeline"}
    assert capsys.readouterr().err == ""  # quiver added no handler of its own
