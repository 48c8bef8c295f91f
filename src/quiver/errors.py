"""The exception tree of quiver.

Every error quiver raises derives from :class:`QuiverError`; leaves also derive from the builtin they
resemble so that ``except ValueError`` keeps working. Messages name the step, table, column, an
example value and the load id where those are known, and end with a hint of what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class QuiverError(Exception):
    """Root of every error raised by quiver."""

    #: Whether retrying the same operation may succeed (transient I/O, commit conflicts).
    retryable: bool = False


# ----------------------------------------------------------------------------- configuration
class ConfigValueMissing(QuiverError, KeyError, ValueError):
    """A configuration value that is needed is not set.

    Raised for an argument marked ``quiver.config.value``/``quiver.secrets.value`` that nothing
    configures, and by ``quiver.config[key]`` for a key that is not set. It is a ``KeyError``
    (as dlt's ``ConfigFieldMissingException``) and a ``ValueError`` (as quiver raised before).

    Attributes:
        key: the dotted configuration key, e.g. ``sources.my_source.api_key``.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message.
        return str(self.args[0]) if self.args else ""


class ConfigValueInvalid(QuiverError, ValueError):
    """A setting's value (configured, or passed as an argument) is not one it can take.

    Attributes:
        key: the dotted configuration key, e.g. ``load.workers``.
        value: the value as configured (text from an environment variable) or passed.
    """

    def __init__(self, key: str, value: Any, expected: str, hint: str) -> None:
        self.key = key
        self.value = value
        super().__init__(f"Setting {key}={value!r} is not {expected}. Hint: {hint}")

    @classmethod
    def configured(cls, key: str, raw: str, expected: str, example: str) -> ConfigValueInvalid:
        """A configured text that cannot be read as the setting's type."""
        env = key.replace(".", "__").upper()
        return cls(key, raw, expected, f"set {env} to {expected}, e.g. {env}={example}.")


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


class NotSupportedYet(QuiverError, NotImplementedError):
    """An argument that dlt has and quiver accepts, but does not act on yet.

    Raised rather than ignoring the argument: a pipeline that silently skips ``refresh=...``
    would keep data the user asked to drop.

    Attributes:
        parameter: the argument, e.g. ``"refresh"`` or ``"run(staging)"``.
    """

    def __init__(self, parameter: str, what_it_would_do: str, instead: str) -> None:
        self.parameter = parameter
        super().__init__(
            f"{parameter} is not supported yet; it would {what_it_would_do}. Hint: {instead}"
        )


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
            "Hint: the failed jobs' messages say what to fix; the packages were aborted, so "
            "run the pipeline again once fixed.",
        )


class ResourceNameMissing(QuiverError, ValueError):
    """Data given to ``run``/``extract`` has no name to become a table name."""

    def __init__(self, data: Any) -> None:
        super().__init__(
            f"The data ({type(data).__name__}) has no name to become a table name. Hint: pass "
            "table_name=... to run() or extract(), or wrap the data with "
            "quiver.resource(data, name=...)."
        )


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


# ------------------------------------------------------- extract: resources, hints, incremental
def did_you_mean(given: Any, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the choice closest to ``given``, else ``""``."""
    close = difflib.get_close_matches(str(given), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class UnknownArgument(QuiverError, TypeError):
    """A keyword argument that a function does not take (usually a typo)."""

    def __init__(self, where: str, argument: str, allowed: Iterable[str]) -> None:
        self.argument = argument
        names = sorted(allowed)
        super().__init__(
            f"{where} got an unknown argument {argument!r}.{did_you_mean(argument, names)} "
            f"Hint: the arguments it takes are {names}."
        )


class InvalidHintValue(QuiverError, ValueError):
    """A table hint or resource option has a value it cannot have (``write_disposition="mege"``)."""

    @classmethod
    def not_one_of(
        cls, where: str, hint: str, value: Any, allowed: Iterable[str]
    ) -> InvalidHintValue:
        choices = list(allowed)
        return cls(
            f"{where}: {hint}={_short_repr(value)} is not one of {choices}."
            f"{did_you_mean(value, choices)} Hint: pass one of those values."
        )


class ResourceTypeError(QuiverError, TypeError):
    """A resource, transformer or source got (or was used with) an object of the wrong kind."""


class InvalidSourceDefinition(QuiverError, ValueError):
    """A source was declared in a way quiver cannot use (two resources with one name...)."""


class InconsistentTableTemplate(QuiverError, ValueError):
    """A hint is a callable of the item but ``table_name`` is not."""


class UnboundResourceError(QuiverError, TypeError):
    """A resource made from a function with required arguments was used without calling it."""


class ResourcesNotFound(QuiverError, KeyError):
    """``Source.with_resources`` was given names the source does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ResourceNotFound(QuiverError, AttributeError):
    """``source.<name>`` for a resource the source does not have."""


class IncrementalError(QuiverError):
    """Base of the errors incremental loading raises; names the resource and cursor."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class IncrementalArgumentError(IncrementalError, ValueError):
    """An incremental was declared with values that do not fit together."""


class IncrementalUnboundError(IncrementalError, RuntimeError):
    """The incremental has no cursor path, or is used before it is bound to a resource."""


class IncrementalCursorPathMissing(IncrementalError, KeyError):
    """Items have no value at the cursor path."""

    def __init__(self, resource_name: str | None, cursor_path: str, detail: str = "") -> None:
        self.resource_name = resource_name
        self.cursor_path = cursor_path
        super().__init__(
            f"Cursor path {cursor_path!r} of the incremental on resource {resource_name!r} was "
            f"not found in an item{detail}. Hint: check the cursor_path (it uses the field names "
            "of the data as yielded, before normalization), or pass "
            "on_cursor_value_missing='include' or 'exclude'."
        )


class IncrementalCursorPathHasValueNone(IncrementalError, ValueError):
    """An item has ``None`` at the cursor path."""

    def __init__(self, resource_name: str | None, cursor_path: str) -> None:
        self.resource_name = resource_name
        self.cursor_path = cursor_path
        super().__init__(
            f"Cursor path {cursor_path!r} of the incremental on resource {resource_name!r} holds "
            "None in some items. Hint: pass on_cursor_value_missing='include' to keep such "
            "items or 'exclude' to drop them."
        )


class IncrementalPrimaryKeyMissing(IncrementalError, KeyError):
    """The de-duplication key is not in the items."""

    def __init__(self, resource_name: str | None, key: str) -> None:
        self.resource_name = resource_name
        super().__init__(
            f"Primary key column {key!r} used by the incremental on resource {resource_name!r} "
            "to de-duplicate rows is missing in an item. Hint: set primary_key on the "
            "incremental, or primary_key=() to disable de-duplication."
        )


class IncrementalCursorTypeError(IncrementalError, TypeError):
    """A start/end/last value cannot be compared with the cursor column."""

    def __init__(
        self, resource_name: str | None, cursor_path: str, value: Any, column: Any
    ) -> None:
        super().__init__(
            f"The incremental on resource {resource_name!r} cannot compare {value!r} "
            f"({type(value).__name__}) with cursor column {cursor_path!r} of Arrow type "
            f"{column}. Hint: give initial_value/end_value in the cursor's type, or convert "
            "the cursor with add_map before the incremental sees it."
        )


# ------------------------------------------------------- schema and package (naming, types, files)
def _short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters: one huge value must not flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SchemaError(QuiverError):
    """A schema, a name in it, a contract setting or a schema file is not valid."""


class InvalidIdentifier(SchemaError, ValueError):
    """A table, column or schema name cannot be normalized (None, blank, or a limit too small).

    Attributes:
        identifier: the name that could not be normalized, if there is one.
    """

    def __init__(self, message: str, identifier: str | None = None) -> None:
        self.identifier = identifier
        super().__init__(message)

    @classmethod
    def none(cls, what: str = "name") -> InvalidIdentifier:
        """The name is None."""
        return cls(
            f"Cannot normalize a {what} that is None. "
            "Hint: give every table and column a non-empty name."
        )

    @classmethod
    def blank(cls, identifier: str) -> InvalidIdentifier:
        """The name is empty or only whitespace."""
        return cls(
            f"Cannot normalize the name {identifier!r}: it is empty or only whitespace. "
            "Hint: give every table and column a non-empty name.",
            identifier,
        )

    @classmethod
    def blank_path(cls, path: str, separator: str) -> InvalidIdentifier:
        """Every part of a path between separators is blank."""
        return cls(
            f"Cannot normalize the name {path!r}: it has no non-blank part between "
            f"{separator!r} separators. Hint: give every table and column a non-empty name.",
            path,
        )

    @classmethod
    def max_length_too_small(
        cls, max_length: int, tag_length: int, identifier: str | None = None
    ) -> InvalidIdentifier:
        """A shortened name carries a hash tag that alone is longer than ``max_length``."""
        subject = f" to shorten {identifier!r}" if identifier else ""
        return cls(
            f"max_length={max_length} is too small{subject}: a shortened name carries a "
            f"{tag_length}-character uniqueness tag. Hint: use a max_length of at least "
            f"{tag_length}, or None for no limit.",
            identifier,
        )

    @classmethod
    def no_schema_name(cls, pipeline_name: str) -> InvalidIdentifier:
        """Nothing of the pipeline name is left to name its default schema with."""
        return cls(
            f"Cannot derive a schema name from the pipeline name {pipeline_name!r}: nothing is "
            "left once the '_pipeline' suffix is removed. Hint: pass a schema name explicitly, "
            "or rename the pipeline.",
            pipeline_name,
        )


class UnsupportedDataType(SchemaError, TypeError):
    """An Arrow type without a dlt data type, or a ``data_type`` that dlt does not know.

    Attributes:
        data_type: the offending Arrow type (as text) or data type name.
        table_name: the table of the column, when known.
        column_name: the column, when known.
    """

    def __init__(
        self,
        data_type: str,
        problem: str,
        hint: str,
        table_name: str | None = None,
        column_name: str | None = None,
    ) -> None:
        self.data_type = data_type
        self.problem = problem
        self.hint = hint
        self.table_name = table_name
        self.column_name = column_name
        where = (
            f"Column `{column_name}` of table `{table_name}`: "
            if table_name is not None and column_name is not None
            else ""
        )
        super().__init__(f"{where}{problem} Hint: {hint}")

    @classmethod
    def from_arrow_type(cls, arrow_type: Any) -> UnsupportedDataType:
        """An Arrow type (e.g. a duration or a union) that maps to no dlt data type."""
        return cls(
            str(arrow_type),
            f"Arrow type {arrow_type} has no dlt data type.",
            "cast the column to a supported type (e.g. int64 for durations, string for unions) "
            "before the resource yields it.",
        )

    @classmethod
    def unknown_data_type(cls, data_type: Any, known: tuple[str, ...]) -> UnsupportedDataType:
        """A column's ``data_type`` hint that is not one of dlt's data types."""
        return cls(
            str(data_type),
            f"Unknown dlt data type {data_type!r}.",
            f"use one of {', '.join(known)} in the column's data_type hint.",
        )

    def at(self, table_name: str, column_name: str) -> UnsupportedDataType:
        """The same error, located at a column of a table."""
        return type(self)(self.data_type, self.problem, self.hint, table_name, column_name)


class InvalidSchemaContract(SchemaError, ValueError):
    """A ``schema_contract`` setting has an unknown mode or entity, or the wrong shape."""

    @classmethod
    def unknown_mode(cls, mode: Any, where: str, modes: tuple[str, ...]) -> InvalidSchemaContract:
        return cls(
            f"{where} has unknown mode {mode!r}; use one of {list(modes)}. Hint: 'evolve' "
            "allows a change, 'freeze' fails on it, 'discard_row'/'discard_value' drop the data."
        )

    @classmethod
    def unknown_entities(cls, entities: list[Any], known: tuple[str, ...]) -> InvalidSchemaContract:
        return cls(
            f"schema_contract has unknown entities {entities}. Hint: use {list(known)} as keys, "
            "or a single mode string for all of them."
        )

    @classmethod
    def wrong_shape(cls, settings: Any) -> InvalidSchemaContract:
        return cls(
            f"schema_contract must be a mode string or a dict of modes, got "
            f"{_short_repr(settings)}. Hint: e.g. schema_contract='freeze' or "
            "schema_contract={'columns': 'discard_value'}."
        )


class InvalidSchemaFile(SchemaError, ValueError):
    """A schema YAML file (``import_schema_path``) is not a schema document.

    Attributes:
        path: the file (or ``"<text>"`` when the YAML came as a string).
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)

    @classmethod
    def not_a_schema(cls, path: str) -> InvalidSchemaFile:
        return cls(
            path,
            f"{path} is not a schema file: it needs a top-level 'name' (text) and 'tables'. "
            "Hint: start from a file written by export_schema_path.",
        )

    @classmethod
    def tables_not_a_mapping(cls, path: str, schema_name: str) -> InvalidSchemaFile:
        return cls(
            path,
            f"'tables' of schema {schema_name!r} in {path} must be a mapping of table names to "
            "tables. Hint: start from a file written by export_schema_path.",
        )

    @classmethod
    def name_mismatch(cls, path: str, found: str, expected: str) -> InvalidSchemaFile:
        return cls(
            path,
            f"{path} holds schema {found!r}, not {expected!r}. Hint: the file name must be "
            "'<schema name>.schema.yaml'.",
        )


class UnserializableValue(QuiverError, TypeError):
    """A value that typed JSON (pipeline and resource state, package state) cannot store."""

    def __init__(self, value: Any) -> None:
        self.value_type = type(value).__name__
        super().__init__(
            f"{_short_repr(value)} of type {self.value_type} cannot be stored as typed JSON "
            "(state is stored as typed JSON). Hint: store str, int, float, bool, None, lists, "
            "dicts, datetimes, dates, times, Decimals, UUIDs, bytes, enums, dataclasses or "
            "pydantic models; convert other values first (e.g. str(value))."
        )


# ------------------------------------------------------------------------------------- normalize
class NormalizeError(QuiverError):
    """Normalizing a package failed; the package stays in extracted/ for the next run."""


class NormalizeJobFailed(NormalizeError):
    """Normalizing a package failed; the cause is chained (dlt's exception of the same name).

    As in dlt, ``PipelineStepFailed(step="normalize").__context__`` is this error and its
    ``__context__`` is the cause (e.g. a :class:`DataValidationError`).

    Attributes:
        load_id: the package being normalized.
        table_name: the table being normalized when it failed: the cause's own table when it
            names one (e.g. a nested table), else the root table of the job, if known.
        job_id: the extracted job file, when the error belongs to one file.
        cause: the original exception object (also ``__cause__`` and ``__context__``).
    """

    def __init__(
        self,
        load_id: str,
        cause: BaseException,
        table_name: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.load_id = load_id
        self.cause = cause
        self.table_name = table_name
        self.job_id = job_id
        table = f" table {table_name!r} of" if table_name else ""
        job = f" (job file {job_id})" if job_id else ""
        super().__init__(
            f"Normalizing{table} package {load_id}{job} failed with {type(cause).__name__}: {cause}"
        )


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


class NameCollisionError(NormalizeError, ValueError):
    """Two source names normalize to the same table column.

    dlt keeps the last value silently; quiver refuses, because one of the two values would be
    lost without a trace.
    """

    def __init__(self, table_name: str, column_name: str, first: str, second: str) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.source_names = (first, second)
        super().__init__(
            f"Columns {first!r} and {second!r} of table {table_name!r} both normalize to "
            f"{column_name!r} (snake_case naming). Hint: rename one of them in the resource "
            "(e.g. with add_map) so that their normalized names differ."
        )


class CannotCoerceNullError(NormalizeError, ValueError):
    """A null value for a column that is not nullable (dlt's ``CannotCoerceNullException``)."""

    def __init__(self, table_name: str, column_name: str, null_count: int, load_id: str) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.null_count = null_count
        self.load_id = load_id
        super().__init__(
            f"Column `{column_name}` of table `{table_name}` is not nullable, but {null_count} "
            f"row(s) of package {load_id} have no value (None) for it. Hint: send a value, or "
            f"declare the column nullable with columns={{'{column_name}': {{'nullable': True}}}}."
        )


class CannotCoerceColumnError(NormalizeError, ValueError):
    """A value fits neither its column nor that column's variant (dlt's exception of that name)."""

    def __init__(
        self,
        table_name: str,
        column_name: str,
        from_type: str,
        to_type: str,
        example: Any,
        load_id: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.from_type = from_type
        self.to_type = to_type
        self.example = example
        self.load_id = load_id
        package = f" (package {load_id})" if load_id else ""
        super().__init__(
            f"Cannot coerce {from_type} value {_short_repr(example)} into column `{column_name}` "
            f"of table `{table_name}`{package} with data type {to_type}, nor into a variant "
            "column. Hint: give the column a type hint that fits all values (e.g. text)."
        )


class MissingPrimaryKeyColumn(NormalizeError, ValueError):
    """A merge table's primary key names a column that the data does not have."""

    def __init__(self, table_name: str, primary_key: tuple[str, ...], missing: str) -> None:
        self.table_name = table_name
        self.column_name = missing
        self.primary_key = primary_key
        super().__init__(
            f"Table {table_name!r} merges on primary key {list(primary_key)}, but the data has "
            f"no column {missing!r}. Hint: check primary_key= or the column names after "
            "normalization (snake_case)."
        )


class LoadError(QuiverError):
    """Loading a table of a package failed; the original exception is kept and chained.

    Attributes:
        table_name: the table whose commit failed (a ``_dlt_*`` sidecar for sidecar commits).
        load_id: the package.
        exception: the original exception object (also ``__cause__``), so that
            ``except SchemaMismatchError`` works on ``error.exception``.
        retryable: whether the package stays pending for the next run (``False``: aborted).
    """

    def __init__(
        self, table_name: str, load_id: str, cause: BaseException, *, retryable: bool
    ) -> None:
        self.table_name = table_name
        self.load_id = load_id
        self.exception = cause
        self.retryable = retryable
        hint = (
            "the package stays pending and the next run() retries it"
            if retryable
            else "fix the cause; the package was aborted"
        )
        super().__init__(
            f"Loading table {table_name!r} of package {load_id} failed with "
            f"{type(cause).__name__}: {str(cause).rstrip('.')}. Hint: {hint}."
        )


class DestinationCapabilitiesError(QuiverError, ValueError):
    """The destination or table format cannot do what was asked (e.g. merge on plain files)."""


class SchemaMismatchError(QuiverError, ValueError):
    """The destination table has a column with another type than the data to load."""


# ------------------------------------------------------ destinations, load and table maintenance
class UnsupportedStorageError(DestinationCapabilitiesError):
    """A table format cannot be stored at the location given by ``bucket_url``.

    Attributes:
        scheme: The URL scheme of the location, such as ``"memory"``.
        table_format: The table format that was asked for, such as ``"delta"``.
    """

    def __init__(self, message: str, *, scheme: str, table_format: str) -> None:
        super().__init__(message)
        self.scheme = scheme
        self.table_format = table_format

    @classmethod
    def for_deltalake(cls, url: str, scheme: str, reason: str) -> UnsupportedStorageError:
        """The error for a location that deltalake cannot use; ``reason`` says why."""
        return cls(
            f"table_format='delta' cannot be stored at {url!r} (scheme {scheme!r}): {reason} "
            "Hint: use a local path, a file:// URL or an s3:// URL as bucket_url for Delta "
            "tables, or table_format='iceberg', which works on any fsspec filesystem.",
            scheme=scheme,
            table_format="delta",
        )


class DestinationConfigError(QuiverError, ValueError):
    """A destination setting (bucket_url, credentials, layout, table_format, catalog) is invalid."""


class DestinationConfigTypeError(DestinationConfigError, TypeError):
    """A destination setting has the wrong type (e.g. credentials that are not a mapping)."""


class MergeConfigError(DestinationCapabilitiesError):
    """A merge table's hints do not describe a merge that can run (terminal: fix the hints)."""


class CommitConflictError(QuiverError, RuntimeError):
    """A concurrent writer committed to the table first; retrying on the new version may succeed.

    Raised by a table format for the engine's conflict errors (deltalake ``CommitFailedError``,
    pyiceberg ``CommitFailedException``). The load id in every commit makes the retry a no-op if
    the commit did land.

    Attributes:
        table_format: ``"delta"`` or ``"iceberg"``.
        table_name: the table.
        load_id: the package whose commit conflicted, if known.
    """

    retryable = True

    def __init__(
        self, table_format: str, table_name: str, load_id: str | None, detail: str
    ) -> None:
        self.table_format = table_format
        self.table_name = table_name
        self.load_id = load_id
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Committing{package} to {table_format} table {table_name!r} conflicted with a "
            f"concurrent writer: {detail}. Hint: this is retried; if it keeps failing, the "
            "package stays pending: run again when the other writers are done."
        )


class TransientStorageError(QuiverError, OSError):
    """Storage could not be reached for a moment (connection reset, timeout, server error).

    Raised by a table format for an engine's transient I/O errors that are not builtin
    ``OSError``s (botocore and aiohttp errors that s3fs lets through). Retryable.
    """

    retryable = True

    def __init__(self, table_name: str, load_id: str | None, cause: BaseException) -> None:
        self.table_name = table_name
        self.load_id = load_id
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Storage of table {table_name!r}{package} failed for a moment with "
            f"{type(cause).__name__}: {cause}. Hint: this is retried; if it keeps failing, "
            "check the network and the storage service, then run again."
        )


class InternalError(QuiverError, RuntimeError):
    """A bug in quiver (an ``AssertionError``, ``KeyError``, ... in its own code); never bad data.

    The package is not aborted: it stays pending, so that a fixed quiver loads it.

    Attributes:
        step: what quiver was doing, e.g. ``"load"``.
        load_id: the package, if any.
        exception: the original exception (also ``__cause__``).
    """

    def __init__(
        self, step: str, where: str, load_id: str | None, exception: BaseException
    ) -> None:
        self.step = step
        self.load_id = load_id
        self.exception = exception
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Step {step!r} hit a bug in quiver while {where}{package}: "
            f"{type(exception).__name__}: {exception}. Hint: this is not a problem with your "
            "data and the package stays pending; please report it to quiver's issue tracker "
            "with the traceback."
        )


class InvalidRetryPolicy(QuiverError, ValueError):
    """A ``RetryPolicy`` with attempts below 1, a negative delay or a jitter outside [0, 1]."""


class MissingDependencyError(QuiverError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed. "
            f"Hint: pip install 'quiver[{extra}]'."
        )


class StateNotAvailable(QuiverError, RuntimeError):
    """State was asked for outside of a pipeline (no active pipeline, no extract running)."""
