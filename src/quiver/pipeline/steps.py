"""The package loops of ``normalize()``, ``load()`` and ``run()``: what happens to each package,
and what happens when one fails.

A failure is classified once (:func:`quiver.load.retry.classify`). A deterministic one (bad data,
a wrong hint, a bug in quiver) moves its package aside (:mod:`quiver.pipeline.failed_packages`)
and the step goes on with the other packages before it raises; anything else (a transient error
that outlasted the retries, a full disk, a missing folder) raises at once and leaves the package
pending for the next run. ``run()`` loads what it can before it reports a moved package: a bad
package never keeps good data out of the lake, in this run or a later one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quiver.errors import InternalError, LoadError, PipelineStepFailed, QuiverError
from quiver.load.loader import Loader
from quiver.load.retry import DETERMINISTIC, RetryPolicy, classify, failure_record
from quiver.normalize.normalizer import NormalizeMetrics, normalize_package
from quiver.pipeline import overlap, packages
from quiver.pipeline.failed_packages import failed_package_info
from quiver.pipeline.infos import LoadInfo, NormalizeInfo
from quiver.pipeline.naming import naming_of
from quiver.pipeline.step_logs import logger
from quiver.progress import Collector
from quiver.scaleout import workers_normalizer
from quiver.schema.model import Schema
from quiver.settings import LoadConfig, NormalizeConfig, pipeline_config, resolve

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["load_packages", "normalize_packages", "run_steps"]


# ------------------------------------------------------------------------------ normalize
def normalize_packages(pipeline: Pipeline, config: NormalizeConfig, info: NormalizeInfo) -> None:
    """Normalize every extracted package, oldest first.

    Raises:
        PipelineStepFailed: a package failed. A deterministic failure is raised after the
            other packages were normalized, with ``failed_package`` (where the package now
            is); any other failure at once, the package staying in ``extracted/``.
    """
    storage = pipeline._storage
    moved: list[PipelineStepFailed] = []
    for load_id in storage.load_ids("extracted"):
        try:
            _normalize_package(pipeline, load_id, config, info)
        except Exception as raised:
            kind = classify(raised)
            if kind not in DETERMINISTIC:
                raise PipelineStepFailed(
                    pipeline.pipeline_name, "normalize", load_id, raised, info, True
                ) from raised
            error: Exception = raised
            if kind == "bug":
                fate = "the package was moved aside to failed/"
                error = InternalError(
                    "normalize", "normalizing", load_id, raised, package_fate=fate
                )
                error.__cause__ = raised
            failure = failure_record("normalize", "extracted", error)
            path = storage.move_aside(load_id, "extracted", failure)
            logger.warning(
                "%s: package %s moved to %s: %s",
                pipeline.pipeline_name,
                load_id,
                path,
                failure["message"],
            )
            failed = PipelineStepFailed(
                pipeline.pipeline_name,
                "normalize",
                load_id,
                error,
                info,
                pipeline.has_pending_data,
                failed_package=str(path),
            )
            moved.append(_chained(failed, error))
    if moved:
        raise moved[0]


def _normalize_package(
    pipeline: Pipeline, load_id: str, config: NormalizeConfig, info: NormalizeInfo
) -> None:
    """Normalize one package into a temp package and commit it to ``normalized/``.

    A transient error (:func:`~quiver.load.retry.is_retryable`) is retried with a fresh temp
    package; the live schema is saved only after the package committed.
    """
    storage = pipeline._storage
    extracted = storage.path("extracted", load_id)
    package_schema = Schema.from_dict(storage.read_schema(extracted))

    def attempt() -> tuple[Schema, Any, Any]:
        schema = pipeline._schemas.load(package_schema.name)
        for table_schema in package_schema.tables.values():
            schema.merge_hints(table_schema["name"], table_schema)
        title = f"Normalize {schema.name} in {load_id}"
        streamed = overlap.streamed_result(pipeline, load_id, schema)  # run(): done already
        if streamed is not None:
            with pipeline._progress(title) as progress:
                _report_streamed(progress, len(storage.jobs(extracted, "new")), streamed[2])
            return streamed
        target = storage.new_temp_package(load_id)
        naming = naming_of(schema, pipeline.naming.max_length)
        normalize = workers_normalizer() or normalize_package  # executor= (quiver.scaleout)
        try:
            with pipeline._progress(title) as progress:
                metrics = normalize(
                    extracted, target, schema, load_id, naming, config, progress=progress
                )
        except Exception:
            storage.discard_temp(target)
            raise
        return schema, target, metrics

    schema, target, metrics = RetryPolicy(attempts=3).run(
        attempt, what=f"Normalizing package {load_id}"
    )
    schema.bump_version()
    package_state = packages.normalized_state(
        storage.read_package_state(extracted),
        metrics.row_counts,
        metrics.discarded_rows,
        metrics.discarded_values,
    )
    storage.write_state(target, package_state)
    storage.write_schema(target, schema.to_dict())
    storage.commit(target, "normalized")
    pipeline._save_schema(schema)
    info.loads_ids.append(load_id)
    info.add_package(metrics.row_counts, metrics.discarded_rows, metrics.discarded_values)


def _report_streamed(progress: Collector, jobs: int, metrics: NormalizeMetrics) -> None:
    """The counts the package loop reports (files, rows per table) for a streamed package."""
    progress.update("Files", 0, total=jobs)
    progress.update("Files", jobs)
    for table_name, rows in metrics.row_counts.items():
        progress.update(table_name, rows)


# ----------------------------------------------------------------------------------- load
def load_packages(pipeline: Pipeline, loader: Loader, config: LoadConfig, info: LoadInfo) -> None:
    """Load every normalized package, oldest first.

    A package aborted by a terminal error is recorded in ``info.failed_packages`` and the
    other packages still load; then the load raises (``raise_on_failed_jobs``) or logs a
    warning.

    Raises:
        PipelineStepFailed: a package was aborted (after the others loaded, with
            ``failed_package``), or failed otherwise (at once; the package stays pending).
    """
    storage = pipeline._storage
    aborted: list[PipelineStepFailed] = []
    for load_id in storage.load_ids("normalized"):
        try:
            with pipeline._progress(pipeline._step_title("Load", load_id)):
                result = loader.load_package(load_id)
        except QuiverError as error:
            pipeline._record_package(info, load_id, None)  # an aborted package is listed
            package = storage.path("loaded", load_id)
            failure = storage.read_failure(package) if package.is_dir() else None
            if not (isinstance(error, LoadError) and failure is not None):
                raise PipelineStepFailed(
                    pipeline.pipeline_name, "load", load_id, error, info, pipeline.has_pending_data
                ) from error
            info.failed_packages.append(failed_package_info(package, failure))
            failed = PipelineStepFailed(
                pipeline.pipeline_name,
                "load",
                load_id,
                error,
                info,
                pipeline.has_pending_data,
                failed_package=str(package),
            )
            aborted.append(_chained(failed, error))
            continue
        pipeline._record_package(info, load_id, result)
    if aborted and config.raise_on_failed_jobs:
        raise aborted[0]
    for failed in aborted:
        logger.warning("%s", failed)


# ------------------------------------------------------------------------------------ run
def run_steps(pipeline: Pipeline, data: Any, extract: Callable[[], Any]) -> LoadInfo | None:
    """Finish pending packages, then extract (``extract()``), normalize and load ``data``.

    See :meth:`quiver.pipeline.pipeline.Pipeline.run` and the ``extract_after_pending``
    setting. Packages that fail deterministically at normalize are moved aside and reported
    after the load of everything else: raised with ``raise_on_failed_jobs`` (the default),
    else listed in ``LoadInfo.failed_packages``.
    """
    name = pipeline.pipeline_name
    pending = [
        *pipeline.list_extracted_load_packages(),
        *pipeline.list_normalized_load_packages(),
    ]
    moved: list[PipelineStepFailed] = []
    if pending:
        _normalize_deferring(pipeline, moved)
        if data is not None and pipeline.list_normalized_load_packages():
            if not pipeline_config(name).extract_after_pending:
                logger.warning(
                    "%s: run() will now load the pending load packages %s. The data you passed "
                    "to run() is not extracted: run the pipeline again to load it "
                    "(pipelines.extract_after_pending=false, dlt's behaviour).",
                    name,
                    pending,
                )
                return _finish(pipeline, pipeline.load(), pending, moved)
            logger.warning(
                "%s: run() loads the pending load packages %s first, then the data you passed: "
                "rows of a failed earlier run are loaded now, before the new ones (an append "
                "table gets rows that were sent again twice; merge or an incremental cursor "
                "makes reruns safe, see docs/bad-input.md).",
                name,
                pending,
            )
    if data is not None:
        with overlap.overlapping(pipeline):  # each package normalized while it is extracted
            extract()
            _normalize_deferring(pipeline, moved)
    elif not pending:
        return None
    if moved and not pipeline.list_normalized_load_packages():
        raise moved[0]
    return _finish(pipeline, pipeline.load(), pending, moved)


def _chained(failed: PipelineStepFailed, error: BaseException) -> PipelineStepFailed:
    """``failed`` chained to ``error`` as ``raise failed from error`` inside ``except error``
    would chain it (dlt's chain: ``__cause__`` and ``__context__``), for raising it later."""
    failed.__cause__ = error
    failed.__context__ = error
    return failed


def _normalize_deferring(pipeline: Pipeline, moved: list[PipelineStepFailed]) -> None:
    """``normalize()``; a failure that moved its package aside is kept in ``moved``."""
    try:
        pipeline.normalize()
    except PipelineStepFailed as error:
        if error.failed_package is None:
            raise
        moved.append(error)


def _finish(
    pipeline: Pipeline, info: LoadInfo, pending: list[str], moved: list[PipelineStepFailed]
) -> LoadInfo:
    """Say in ``info`` which packages were pending and which failed; raise a moved package's
    failure with ``raise_on_failed_jobs``."""
    info.pending_load_ids = [load_id for load_id in info.loads_ids if load_id in pending]
    by_id = {failed.load_id for failed in moved}
    info.failed_packages[:0] = [
        failed for failed in pipeline.list_failed_packages() if failed.load_id in by_id
    ]
    if not moved:
        return info
    if resolve(LoadConfig).raise_on_failed_jobs:
        first = moved[0]
        failed = PipelineStepFailed(
            pipeline.pipeline_name,
            "normalize",
            first.load_id,
            first.exception,
            info,
            pipeline.has_pending_data,
            failed_package=first.failed_package,
        )
        raise _chained(failed, first.exception)
    for failed in moved:
        logger.warning("%s", failed)
    return info
