"""The exception tree of quiver.

Every error quiver raises derives from :class:`QuiverError`; leaves also derive from the builtin they
resemble so that ``except ValueError`` keeps working. Messages name the step, table, column, an
example value and the load id where those are known, and end with a hint of what to do.
"""

from __future__ import annotations

from typing import Any


class QuiverError(Exception):
    """Root of every error raised by quiver."""

    #: Whether retrying the same operation may succeed (transient I/O, commit conflicts).
    retryable: bool = False


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

    def __init__(self, pipeline_name: str, pipelines_dir: str, reason: str) -> None:
        self.pipelines_dir = pipelines_dir
        super().__init__(
            pipeline_name,
            f"Cannot restore pipeline {pipeline_name!r} from {pipelines_dir!r}: {reason}. "
            "Hint: create it with quiver.pipeline(...) and run it once.",
        )


class PipelineStepFailed(PipelineException):
    """A pipeline step (extract, normalize, load) failed; the cause is chained.

    Attributes:
        step: ``"extract"``, ``"normalize"`` or ``"load"``.
        load_id: the load package the step worked on, if any.
        exception: the original error (also ``__cause__``).
        step_info: the step's info object for what was completed, if any.
        has_pending_data: whether packages wait on disk for the next ``run()``.
    """

    def __init__(
        self,
        pipeline_name: str,
        step: str,
        load_id: str | None,
        exception: BaseException,
        step_info: Any = None,
        has_pending_data: bool = False,
    ) -> None:
        self.step = step
        self.load_id = load_id
        self.exception = exception
        self.step_info = step_info
        self.has_pending_data = has_pending_data
        package = f" when processing package {load_id}" if load_id else ""
        message = (
            f"Pipeline execution failed at step={step}{package} "
            f"with exception:\n\n{type(exception).__name__}: {exception}"
        )
        if has_pending_data:
            message += (
                "\n\nPending packages are kept on disk: the next run() finishes them before it "
                "extracts anything new; Pipeline.drop_pending_packages() discards them."
            )
        super().__init__(pipeline_name, message)


class ResourceExtractionError(QuiverError):
    """User code inside a resource raised while quiver pulled items from it."""

    def __init__(self, resource_name: str, cause: BaseException) -> None:
        self.resource_name = resource_name
        super().__init__(
            f"Resource {resource_name!r} raised {type(cause).__name__}: {cause}. "
            "Hint: nothing from this run was committed; fix the resource and run again."
        )


class SourceExhausted(QuiverError, RuntimeError):
    """A generator-backed source or resource was iterated a second time."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Source or resource {name!r} wraps a generator that was already consumed. "
            "Hint: pass the generator function (not a generator object), or create the "
            "source again before each run."
        )


class NormalizeError(QuiverError):
    """Normalizing a package failed; the package stays in extracted/ for the next run."""


class NormalizeJobFailed(NormalizeError):
    """Normalizing a package failed; the cause is chained (dlt's exception of the same name).

    As in dlt, ``PipelineStepFailed(step="normalize").__context__`` is this error and its
    ``__context__`` is the cause (e.g. a :class:`DataValidationError`).
    """

    def __init__(self, load_id: str, cause: BaseException) -> None:
        self.load_id = load_id
        self.cause = cause
        super().__init__(f"{type(cause).__name__}: {cause}")


class DataValidationError(NormalizeError, ValueError):
    """A schema contract rejected data.

    Attributes: schema_name, table_name, column_name, schema_entity, contract_mode, example.
    """

    def __init__(
        self,
        schema_name: str,
        table_name: str,
        column_name: str | None,
        schema_entity: str,
        contract_mode: str,
        example: Any,
        message: str,
    ) -> None:
        self.schema_name = schema_name
        self.table_name = table_name
        self.column_name = column_name
        self.schema_entity = schema_entity
        self.contract_mode = contract_mode
        self.example = example
        super().__init__(message)


class LoadError(QuiverError):
    """Loading a table of a package failed."""

    def __init__(
        self, table_name: str, load_id: str, cause: BaseException, *, retryable: bool
    ) -> None:
        self.table_name = table_name
        self.load_id = load_id
        self.retryable = retryable
        hint = (
            "the package stays pending and the next run() retries it"
            if retryable
            else "fix the cause; the package was aborted"
        )
        super().__init__(
            f"Loading table {table_name!r} of package {load_id} failed with "
            f"{type(cause).__name__}: {cause}. Hint: {hint}."
        )


class DestinationCapabilitiesError(QuiverError, ValueError):
    """The destination or table format cannot do what was asked (e.g. merge on plain files)."""


class SchemaMismatchError(QuiverError, ValueError):
    """The destination table has a column with another type than the data to load."""


class UnsupportedStorageError(DestinationCapabilitiesError):
    """A table format cannot use the filesystem given by ``bucket_url``."""


class MissingDependencyError(QuiverError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed. "
            f"Hint: pip install 'quiver[{extra}]'."
        )


class StateNotAvailable(QuiverError, RuntimeError):
    """State was asked for outside of a pipeline (no active pipeline, no extract running)."""
