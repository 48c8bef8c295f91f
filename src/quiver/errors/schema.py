"""Errors about names, data types, contracts and schema files."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError, did_you_mean, short_repr


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
    def unknown_data_type(
        cls, data_type: Any, known: tuple[str, ...], suggestion: str | None = None
    ) -> UnsupportedDataType:
        """A column's ``data_type`` hint that is not one of dlt's data types.

        ``suggestion``: the data type meant, when the caller knows better than spelling.
        """
        meant = f" Did you mean {suggestion!r}?" if suggestion else did_you_mean(data_type, known)
        return cls(
            str(data_type),
            f"Unknown dlt data type {data_type!r}.{meant}",
            f"use one of {', '.join(known)} in the column's data_type hint.",
        )

    @classmethod
    def decimal_too_wide(cls, precision: int, most: int) -> UnsupportedDataType:
        """A decimal hint with more digits than Delta and Iceberg decimals hold."""
        return cls(
            f"decimal({precision})",
            f"A decimal of precision {precision} has more than the {most} digits that Delta "
            "and Iceberg decimals hold.",
            f"give a precision of at most {most}, or data_type 'text' for wider numbers.",
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
            f"{short_repr(settings)}. Hint: e.g. schema_contract='freeze' or "
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
            f"{short_repr(value)} of type {self.value_type} cannot be stored as typed JSON "
            "(state is stored as typed JSON). Hint: store str, int, float, bool, None, lists, "
            "dicts, datetimes, dates, times, Decimals, UUIDs, bytes, enums, dataclasses or "
            "pydantic models; convert other values first (e.g. str(value))."
        )


class TableIdentifiersFrozen(SchemaError, ValueError):
    """The naming convention of a schema whose tables hold data was changed (dlt's name).

    Renaming would leave the loaded tables and columns behind under their old names, so the
    change is refused, as dlt refuses it.

    Attributes:
        schema_name: the schema.
        table_name: a table that holds data.
        from_naming: the schema's stored convention.
        to_naming: the configured one.
    """

    def __init__(self, schema_name: str, table_name: str, from_naming: str, to_naming: str) -> None:
        self.schema_name = schema_name
        self.table_name = table_name
        self.from_naming = from_naming
        self.to_naming = to_naming
        super().__init__(
            f"Schema {schema_name!r} uses naming convention {from_naming!r}, and its table "
            f"{table_name!r} already holds data; the configured naming {to_naming!r} would "
            "rename its tables and columns. Hint: keep SCHEMA__NAMING (or "
            f"SOURCES__{schema_name.upper()}__SCHEMA__NAMING) at {from_naming!r}, or load into "
            "a new pipeline and dataset."
        )
