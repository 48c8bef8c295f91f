"""Errors of the normalize step: jobs, contracts and coercion."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError, short_repr


class NormalizeError(QuiverError):
    """Normalizing a package failed: a deterministic failure moves the package to ``failed/``,
    any other leaves it in ``extracted/`` for the next run (see ``quiver.load.retry``)."""


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

    def __init__(
        self,
        table_name: str,
        column_name: str,
        first: str,
        second: str,
        rows: int | None = None,
        example: Any = None,
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.source_names = (first, second)
        self.rows = rows
        where = (
            f"; {rows} row(s) hold both (e.g. {second!r}={short_repr(example)})"
            if rows is not None
            else ""
        )
        super().__init__(
            f"Columns {first!r} and {second!r} of table {table_name!r} both normalize to "
            f"{column_name!r} (snake_case naming){where}. Hint: rename one of them in the "
            "resource (e.g. with add_map) so that their normalized names differ."
        )


class NullKeyError(NormalizeError, ValueError):
    """Rows of a merge load whose ``primary_key`` or ``merge_key`` is null.

    A null key matches no row (SQL's ``NULL = NULL`` is not true), so every load would add the
    row again: two runs of one row would leave two.

    Attributes: table_name, column_name, key_hint (``primary_key``/``merge_key``), null_count,
    load_id.
    """

    def __init__(
        self, table_name: str, column_name: str, key_hint: str, null_count: int, load_id: str
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.key_hint = key_hint
        self.null_count = null_count
        self.load_id = load_id
        super().__init__(
            f"{null_count} row(s) of table {table_name!r} (package {load_id}) hold null in "
            f"{key_hint} column {column_name!r}; a merge cannot match a row without its key, "
            "so each run would add it again. Hint: give every row a key in the resource (or "
            "drop such rows with add_filter), or set schema_contract={'data_type': "
            "'discard_row'} to move them to the package's dead-letter file."
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
            f"Cannot coerce {from_type} value {short_repr(example)} into column `{column_name}` "
            f"of table `{table_name}`{package} with data type {to_type}{self.why_and_hint}"
        )

    #: The end of the message: why the value has nowhere to go, and what to do.
    why_and_hint = (
        ", nor into a variant column. Hint: give the column a type hint that fits all values "
        "(e.g. text)."
    )


class RequiredColumnMissing(DataValidationError):
    """Rows lack a column declared ``nullable: False`` (dlt: "a data validation error indicates
    that a removed column is being passed as null", schema-evolution.md)."""

    def __init__(
        self, schema_name: str, table_name: str, column_name: str, row_count: int, load_id: str
    ) -> None:
        self.load_id = load_id
        self.row_count = row_count
        super().__init__(
            schema_name,
            table_name,
            column_name,
            "columns",
            "nullable",
            None,
            f"Column `{column_name}` of table `{table_name}` is declared not nullable, but "
            f"{row_count} row(s) of package {load_id} do not have it (was it removed from the "
            f"source?). Hint: send the column, or drop the constraint with "
            f"columns={{'{column_name}': {{'nullable': True}}}}.",
        )


class CannotCoerceRequiredColumn(CannotCoerceColumnError):
    """A value does not fit a column that is not nullable: a variant column would leave NULL
    in the column, so normalize fails instead."""

    why_and_hint = (
        "; the column is not nullable, so the value cannot go to a variant column and leave "
        "NULL behind. Hint: fix the value at the source, or declare the column with a type that "
        "fits it."
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
