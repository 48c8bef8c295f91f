"""Errors about a pipeline as a whole and the steps it runs."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError, did_you_mean, filter_message, short_repr


class PipelineException(QuiverError):
    """An error about a pipeline as a whole (its name, folder or configuration)."""

    def __init__(self, pipeline_name: str | None, message: str) -> None:
        self.pipeline_name = pipeline_name
        super().__init__(message)


class InvalidPipelineName(PipelineException, ValueError):
    """The pipeline name cannot be used as a folder name."""

    def __init__(self, pipeline_name: str, reason: str) -> None:
        super().__init__(
            pipeline_name,
            f"Pipeline name {pipeline_name!r} is invalid: {reason}. "
            "Hint: use letters, digits, '_' and '-' only.",
        )


class PipelineConfigMissing(PipelineException, ValueError):
    """A step needs a setting (destination, bucket_url, ...) that was not given."""

    def __init__(self, pipeline_name: str | None, config_name: str, step: str, hint: str) -> None:
        self.config_name = config_name
        self.step = step
        super().__init__(
            pipeline_name,
            f"Step {step!r} of pipeline {pipeline_name!r} needs {config_name!r}, which is not set. "
            f"Hint: {hint}",
        )


class CannotRestorePipelineException(PipelineException):
    """``attach`` found neither a local working folder nor a state in the destination."""

    def __init__(
        self,
        pipeline_name: str,
        pipelines_dir: str,
        reason: str,
        hint: str = "create it with quiver.pipeline(...) and run it once.",
    ) -> None:
        self.pipelines_dir = pipelines_dir
        super().__init__(
            pipeline_name,
            f"Cannot restore pipeline {pipeline_name!r} from {pipelines_dir!r}: {reason}. "
            f"Hint: {hint}",
        )


class PipelineStepFailed(PipelineException):
    """A pipeline step (extract, normalize, load) failed; the cause is chained.

    Attributes:
        step: ``"extract"``, ``"normalize"`` or ``"load"``.
        load_id: the load package the step worked on, if any.
        exception: the original error (also ``__cause__``).
        step_info: the step's info object for what was completed, if any.
        has_pending_data: whether packages wait on disk for the next ``run()``.
        failed_package: where the failed package was moved aside (``failed/<load_id>``, or
            ``loaded/<load_id>`` for a package aborted at load), ``None`` if it stays pending.
    """

    def __init__(
        self,
        pipeline_name: str,
        step: str,
        load_id: str | None,
        exception: BaseException,
        step_info: Any = None,
        has_pending_data: bool = False,
        *,
        failed_package: str | None = None,
    ) -> None:
        self.step = step
        self.load_id = load_id
        self.exception = exception
        self.step_info = step_info
        self.has_pending_data = has_pending_data
        self.failed_package = failed_package
        package = f" when processing package {load_id}" if load_id else ""
        message = (
            f"Pipeline execution failed at step={step}{package} "
            f"with exception:\n\n{type(exception).__name__}: {filter_message(str(exception))}"
        )
        if failed_package is not None:
            message += (
                f"\n\nThe error fails the same way on every run, so the package was moved aside "
                f"to {failed_package} (kept, not deleted): it no longer blocks later runs. Fix the "
                f"cause, then call pipeline.retry_failed_package({load_id!r}) to load it; "
                "pipeline.list_failed_packages() lists every failed package (see "
                "docs/bad-input.md, 'Failed packages')."
            )
        if has_pending_data:
            message += (
                "\n\nPending packages are kept on disk: the next run() finishes them before it "
                "extracts anything new; Pipeline.drop_pending_packages() discards them."
            )
        super().__init__(pipeline_name, message)


class DestinationHasFailedJobs(PipelineException):
    """``LoadInfo.raise_on_failed_jobs()`` found failed jobs (dlt's exception of that name).

    Attributes:
        failed_jobs: ``(load_id, table_name, failed_message)`` of each failed job.
    """

    def __init__(self, pipeline_name: str, failed_jobs: list[tuple[str, str, str | None]]) -> None:
        self.failed_jobs = failed_jobs
        lines = "\n".join(
            f"{load_id}: {table}: {message}" for load_id, table, message in failed_jobs
        )
        super().__init__(
            pipeline_name,
            f"Destination has failed jobs in pipeline {pipeline_name!r}:\n{lines}\n"
            "Hint: the failed jobs' messages say what to fix; once fixed, "
            "pipeline.retry_failed_package(<load_id>) loads an aborted or failed package again.",
        )


class FailedPackageNotFound(PipelineException, LookupError):
    """``retry_failed_package`` was given a load id that is not a failed or aborted package."""

    def __init__(self, pipeline_name: str, load_id: str, failed: list[str]) -> None:
        self.load_id = load_id
        listed = ", ".join(failed[-5:]) if failed else "none"
        super().__init__(
            pipeline_name,
            f"Pipeline {pipeline_name!r} has no failed or aborted package {load_id!r}."
            f"{did_you_mean(load_id, failed)} Failed packages: {listed}. Hint: "
            "pipeline.list_failed_packages() lists them; a pending package needs no retry "
            "(the next run() loads it).",
        )


class InvalidDatasetName(PipelineException, ValueError):
    """A ``dataset_name`` that cannot name a folder below the bucket (e.g. ``"../../x"``)."""

    def __init__(self, pipeline_name: str | None, dataset_name: str, reason: str) -> None:
        self.dataset_name = dataset_name
        super().__init__(
            pipeline_name,
            f"dataset_name={short_repr(dataset_name)} of pipeline {pipeline_name!r} {reason}. "
            "Hint: give a plain name such as 'my_dataset'; quiver.pipeline(bucket_url=...) "
            "says where the datasets are, the dataset name only picks a folder there.",
        )


class InvalidRefreshMode(PipelineException, ValueError):
    """``refresh`` is not one of dlt's modes (``drop_sources``, ``drop_resources``,
    ``drop_data``)."""

    def __init__(self, pipeline_name: str | None, where: str, mode: Any, modes: list[str]) -> None:
        self.mode = mode
        super().__init__(
            pipeline_name,
            f"{where}: refresh={short_repr(mode)} is not a refresh mode of pipeline "
            f"{pipeline_name!r}.{did_you_mean(mode, modes)} Hint: pass one of {modes}, or None "
            "for no refresh.",
        )


class LoadPackageNotFound(PipelineException, LookupError):
    """No package with this load id in the working folder (dlt's exception of that name)."""

    def __init__(self, pipeline_name: str, load_id: str, known: list[str]) -> None:
        self.load_id = load_id
        listed = ", ".join(known[-5:]) if known else "none"
        super().__init__(
            pipeline_name,
            f"Pipeline {pipeline_name!r} has no load package {load_id!r} (extracted, "
            f"normalized or loaded).{did_you_mean(load_id, known)} Newest packages: {listed}. "
            "Hint: list them with pipeline.list_completed_load_packages(), "
            "list_normalized_load_packages() or list_extracted_load_packages().",
        )


class PipelineHasPendingDataException(PipelineException, RuntimeError):
    """A drop was asked while packages wait to be normalized or loaded (dlt's exception)."""

    def __init__(self, pipeline_name: str, pipelines_dir: str, pending: list[str]) -> None:
        self.pipelines_dir = pipelines_dir
        self.pending = pending
        super().__init__(
            pipeline_name,
            f"Pipeline {pipeline_name!r} (in {pipelines_dir}) has pending load packages "
            f"{pending}: dropping now could lose or mix their data. Hint: load them with "
            "pipeline.load(), or discard them with pipeline.drop_pending_packages() (`quiver "
            "pipeline <name> drop-pending-packages`), then drop again.",
        )


class PipelineNeverRan(PipelineException, RuntimeError):
    """The pipeline has no schema yet, so there is nothing it could drop (dlt's exception)."""

    def __init__(self, pipeline_name: str, pipelines_dir: str) -> None:
        self.pipelines_dir = pipelines_dir
        super().__init__(
            pipeline_name,
            f"Pipeline {pipeline_name!r} (in {pipelines_dir}) never ran: it has no schema and "
            "no state to drop from. Hint: run it first, or attach with the dataset's "
            "destination and dataset_name so that its state is restored.",
        )


class InvalidDropArgument(PipelineException, ValueError):
    """A resource pattern or state path given to the drop helper cannot be used."""

    def __init__(self, pipeline_name: str, argument: str, value: Any, reason: str) -> None:
        self.argument = argument
        self.value = value
        super().__init__(
            pipeline_name,
            f"drop on pipeline {pipeline_name!r}: {argument}={short_repr(value)} is invalid: "
            f"{reason}. Hint: resources are names or 're:<regex>'; state paths are dotted "
            "keys into a source's state such as 'archives', '$.a.b', 'items[0]' or 'a.*'.",
        )
