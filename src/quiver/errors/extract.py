"""Errors of the extract step: resources, sources, hints and incremental cursors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quiver.errors.base import QuiverError, did_you_mean, short_repr


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


class UnsupportedValue(QuiverError, ValueError):
    """A value no table format can store as it is, found at extract: no package is made.

    Raised for the data, not the resource's code: a Decimal ``NaN`` or one of more than 38
    digits, a Python int outside the 64-bit range, an Arrow column whose values do not fit the
    type quiver converts it to.

    Attributes:
        column_name: the column (the key as the resource yielded it).
        value: an example value.
        table_name: the table, once known.
        resource_name: the resource that yielded it, once known.
    """

    def __init__(
        self,
        column_name: str,
        value: Any,
        problem: str,
        hint: str,
        table_name: str | None = None,
        resource_name: str | None = None,
    ) -> None:
        self.column_name = column_name
        self.value = value
        self.problem = problem
        self.hint = hint
        self.table_name = table_name
        self.resource_name = resource_name
        where = f"table {table_name!r}" if table_name else "a table"
        if resource_name and resource_name != table_name:
            where += f" (resource {resource_name!r})"
        super().__init__(
            f"Extract: column {column_name!r} of {where} holds {short_repr(value)}, which "
            f"{problem}. Nothing was written for this run. Hint: {hint}"
        )

    def at(self, table_name: str, resource_name: str) -> UnsupportedValue:
        """The same error, located at a table and resource."""
        return type(self)(
            self.column_name, self.value, self.problem, self.hint, table_name, resource_name
        )


class RowConversionError(QuiverError, TypeError):
    """quiver could not turn a resource's rows into Arrow: its own limitation, not the resource's.

    Attributes:
        table_name: the table the rows were for.
        resource_name: the resource that yielded them.
        cause: the original exception (also ``__cause__``).
    """

    def __init__(self, table_name: str, resource_name: str, cause: BaseException) -> None:
        self.table_name = table_name
        self.resource_name = resource_name
        self.cause = cause
        super().__init__(
            f"Extract: quiver could not convert the rows that resource {resource_name!r} yielded "
            f"for table {table_name!r}: {type(cause).__name__}: {cause}. The resource did not "
            "fail; quiver has no conversion for one of the values, and nothing was written for "
            "this run. Hint: convert the unusual values (e.g. to str) in the resource with "
            "add_map, and report the value's type to quiver's issue tracker."
        )


class EmptyArrowItem(QuiverError, ValueError):
    """An Arrow item with rows but no columns: there is nothing to store for its rows."""

    def __init__(self, table_name: str, resource_name: str, rows: int) -> None:
        self.table_name = table_name
        self.resource_name = resource_name
        self.rows = rows
        super().__init__(
            f"Extract: resource {resource_name!r} yielded an Arrow item for table "
            f"{table_name!r} with {rows} row(s) but not a single column; no table format can "
            "store a row without a column. Nothing was written for this run. Hint: check the projection that made "
            "the item (a select of no columns?), or yield nothing when there is no data."
        )


class SourceExhausted(QuiverError, RuntimeError):
    """A generator-backed source or resource was iterated a second time."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Source or resource {name!r} wraps a generator that was already consumed. "
            "Hint: pass the generator function (not a generator object), or create the "
            "source again before each run."
        )


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
            f"{where}: {hint}={short_repr(value)} is not one of {choices}."
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


class IncrementalCursorInvalidCoercion(IncrementalError, TypeError):
    """A start/end/last value cannot be compared with the cursor column (dlt's name)."""

    def __init__(
        self, resource_name: str | None, cursor_path: str, value: Any, column: Any
    ) -> None:
        super().__init__(
            f"The incremental on resource {resource_name!r} cannot compare {value!r} "
            f"({type(value).__name__}) with cursor column {cursor_path!r} of Arrow type "
            f"{column}. Hint: give initial_value/end_value in the cursor's type, or convert "
            "the cursor with add_map before the incremental sees it."
        )


#: quiver's earlier name of :class:`IncrementalCursorInvalidCoercion` (the same class).
IncrementalCursorTypeError = IncrementalCursorInvalidCoercion
