"""What each pipeline step logs: start, end, row counts and time (INFO); files, commits (DEBUG).

The steps are decorated with :func:`logged_step`; the lines go to ``quiver.pipeline`` (start and
end) and to ``quiver.extract``/``quiver.normalize``/``quiver.load`` (each file, each table
commit). ``RUNTIME__LOG_LEVEL=INFO`` shows them (see :mod:`quiver.configuration.logs`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from quiver.configuration.logs import get_logger
from quiver.package.storage import JOB_STATES, PackageStorage

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["logged_step"]

F = TypeVar("F", bound=Callable[..., Any])

logger = get_logger("quiver.pipeline")

#: The package folder each step leaves its packages in.
_STAGE_OF_STEP = {"extract": "extracted", "normalize": "normalized", "load": "loaded"}


def logged_step(step: str) -> Callable[[F], F]:
    """Log the start and end of a pipeline step (a method of ``Pipeline``) with its counts."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
            name = pipeline.pipeline_name
            logger.info("%s: %s started", name, step)
            started = time.perf_counter()
            try:
                info = method(pipeline, *args, **kwargs)
            except Exception as error:
                logger.info(
                    "%s: %s failed after %.3f s: %s: %s",
                    name,
                    step,
                    time.perf_counter() - started,
                    type(error).__name__,
                    error,
                )
                raise
            _log_end(pipeline, step, info, time.perf_counter() - started)
            return info

        return cast(F, wrapper)

    return decorate


def _log_end(pipeline: Pipeline, step: str, info: Any, seconds: float) -> None:
    load_ids: list[str] = list(getattr(info, "loads_ids", None) or [])
    row_counts: dict[str, int] = dict(getattr(info, "row_counts", None) or {})
    rows = ", ".join(f"{table}={count}" for table, count in row_counts.items())
    logger.info(
        "%s: %s finished in %.3f s: %d package(s)%s%s",
        pipeline.pipeline_name,
        step,
        seconds,
        len(load_ids),
        f", {sum(row_counts.values())} row(s): {rows}" if row_counts else "",
        f" ({', '.join(load_ids)})" if load_ids else "",
    )
    step_logger = get_logger(f"quiver.{step}")
    if not step_logger.isEnabledFor(logging.DEBUG):
        return
    if step == "load":
        for package in getattr(info, "load_packages", []):
            for state, jobs in package.jobs.items():
                for job in jobs:
                    step_logger.debug(
                        "%s: load %s: committed table %s from %s (%s, %d bytes)",
                        pipeline.pipeline_name,
                        package.load_id,
                        job.table_name,
                        Path(job.file_path).name,
                        state,
                        job.file_size,
                    )
        return
    stage = _STAGE_OF_STEP[step]
    for load_id in load_ids:
        package = Path(pipeline.working_dir) / stage / load_id
        for state in JOB_STATES:
            for job in PackageStorage.jobs(package, state):
                step_logger.debug(
                    "%s: %s %s: wrote %s (%d bytes)",
                    pipeline.pipeline_name,
                    step,
                    load_id,
                    job.name,
                    job.stat().st_size if job.is_file() else 0,
                )
