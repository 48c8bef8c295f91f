"""Schema contracts: which schema changes data may make, and what happens to data that breaks one.

A contract maps each schema *entity* to a *mode* (dlt's ``schema_contract``):

- ``tables``: a new table (not in the schema yet, or with no column that has a data type);
- ``columns``: a new column on a table that is not new (a new table may add columns for the
  whole package that creates it - dlt's "evolve columns once");
- ``data_type``: a variant column (a value that does not coerce to its column's type) or a hint
  that would change the type of a column that already holds data.

Modes: ``evolve`` (allow), ``freeze`` (fail the package with :class:`DataValidationError`),
``discard_row`` (drop the rows that would make the change, and their nested rows),
``discard_value`` (drop just the values). Discarded rows are written to a dead-letter file in the
package. The contract of a table is the root table's ``schema_contract`` hint (the resource's, or
``run(schema_contract=...)`` which overrides it) or else the schema's ``settings.schema_contract``
(the source's); a shorthand string applies to all three entities.

Violations are records; ``freeze`` violations of a whole package are raised once, as one error
that names the first and counts the others.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from quiver.errors import DataValidationError, InvalidSchemaContract
from quiver.schema.model import Schema

TContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]
TContractEntity = Literal["tables", "columns", "data_type"]
CONTRACT_MODES: tuple[str, ...] = get_args(TContractMode)
CONTRACT_ENTITIES: tuple[str, ...] = get_args(TContractEntity)
#: How many violations a DataValidationError message lists before "... and N more".
MAX_LISTED_VIOLATIONS = 5


@dataclass(frozen=True)
class SchemaContract:
    """The expanded contract of one table: a mode per entity."""

    tables: TContractMode = "evolve"
    columns: TContractMode = "evolve"
    data_type: TContractMode = "evolve"

    @classmethod
    def expand(cls, settings: Any) -> SchemaContract:
        """A contract from a shorthand mode, a (partial) dict, or ``None`` (all ``evolve``).

        Raises:
            InvalidSchemaContract: for an unknown mode or entity, or a setting of another shape
                (a ``ValueError``).
        """
        if settings is None:
            return cls()
        if isinstance(settings, SchemaContract):
            return settings
        if isinstance(settings, str):
            _check_mode(settings, "schema_contract")
            return cls(settings, settings, settings)  # type: ignore[arg-type]
        if isinstance(settings, Mapping):
            unknown = [k for k in settings if k not in CONTRACT_ENTITIES]
            if unknown:
                raise InvalidSchemaContract.unknown_entities(unknown, CONTRACT_ENTITIES)
            for entity, mode in settings.items():
                _check_mode(mode, f"schema_contract[{entity!r}]")
            return cls(**{k: v for k, v in settings.items() if v is not None})
        raise InvalidSchemaContract.wrong_shape(settings)

    def mode(self, entity: TContractEntity) -> TContractMode:
        mode: TContractMode = getattr(self, entity)
        return mode

    def to_dict(self) -> dict[str, str]:
        return {"tables": self.tables, "columns": self.columns, "data_type": self.data_type}

    @property
    def is_evolve(self) -> bool:
        return self.tables == self.columns == self.data_type == "evolve"


def _check_mode(mode: Any, where: str) -> None:
    if mode not in CONTRACT_MODES:
        raise InvalidSchemaContract.unknown_mode(mode, where, CONTRACT_MODES)


def resolve_contract(schema: Schema, table_name: str, parent: str | None = None) -> SchemaContract:
    """The contract of ``table_name``: its root table's hint, else the schema's setting.

    ``parent`` names the parent of a table that is not in the schema yet (a new nested table).
    """
    if table_name.startswith("_dlt"):
        return SchemaContract()
    tables = schema.tables
    name: str | None = table_name
    table = tables.get(table_name)
    if table is None and parent is not None:
        name, table = parent, tables.get(parent)
    while table is not None and table.get("parent"):
        name = table["parent"]
        table = tables.get(name) if name is not None else None
    if table is not None and table.get("schema_contract") is not None:
        return SchemaContract.expand(table["schema_contract"])
    return SchemaContract.expand(schema.settings.get("schema_contract"))


@dataclass(frozen=True)
class Violation:
    """One broken contract: where, which rule, an example value and how many rows it hit."""

    table_name: str
    column_name: str | None
    entity: TContractEntity
    mode: TContractMode
    example: Any
    row_count: int

    def describe(self) -> str:
        if self.entity == "tables":
            change = f"Can't add table `{self.table_name}` because `tables` are frozen"
        elif self.entity == "columns":
            change = (
                f"Can't add table column `{self.column_name}` to table `{self.table_name}` "
                "because `columns` are frozen"
            )
        else:
            change = (
                f"Can't change the data type of column `{self.column_name}` of table "
                f"`{self.table_name}` (variant column or type hint) because `data_type` is frozen"
            )
        evidence = (
            f"Example offending value: {self.example!r} ({self.row_count} row(s))."
            if self.row_count
            else f"Offending column hint: {self.example!r}."
        )
        return (
            f"Contract on `{self.entity}` with `contract_mode={self.mode}` is violated. {change}. "
            + evidence
        )


@dataclass
class Violations:
    """Violations collected over a package (thread safe); ``freeze`` ones are raised once."""

    schema_name: str
    load_id: str
    records: list[Violation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, violation: Violation) -> None:
        with self._lock:
            self.records.append(violation)

    @property
    def frozen(self) -> list[Violation]:
        return [v for v in self.records if v.mode == "freeze"]

    def raise_if_frozen(self, contracts: Mapping[str, SchemaContract]) -> None:
        """Raise one DataValidationError for every ``freeze`` violation of the package."""
        frozen = self.frozen
        if not frozen:
            return
        first = frozen[0]
        lines = [first.describe()]
        lines += [f"- {v.describe()}" for v in frozen[1:MAX_LISTED_VIOLATIONS]]
        if len(frozen) > MAX_LISTED_VIOLATIONS:
            lines.append(f"... and {len(frozen) - MAX_LISTED_VIOLATIONS} more")
        lines.append(
            f"Package {self.load_id} was not normalized and is set aside with the failed "
            "packages (pipeline.list_failed_packages()). Hint: allow the change with "
            "schema_contract (e.g. {'" + first.entity + "': 'evolve'}) or drop the data with "
            "'discard_row' / 'discard_value' and run again (docs/bad-input.md, 'Failed "
            "packages', says how to retry a set-aside package)."
        )
        error = DataValidationError(
            self.schema_name,
            first.table_name,
            first.column_name,
            first.entity,
            first.mode,
            first.example,
            "\n".join(lines),
        )
        contract = contracts.get(first.table_name, SchemaContract())
        # dlt's attribute names, so code written for dlt can inspect the error.
        error.schema_contract = contract.to_dict()  # type: ignore[attr-defined]
        error.table_schema = None  # type: ignore[attr-defined]
        error.data_item = first.example  # type: ignore[attr-defined]
        error.violations = list(frozen)  # type: ignore[attr-defined]
        error.load_id = self.load_id  # type: ignore[attr-defined]
        raise error


def check_type_hints(schema: Schema, violations: Violations) -> None:
    """Hints that would retype a column holding data break a ``data_type`` contract.

    The stored type is kept under every mode (values that do not fit go to variants);
    ``freeze`` records a violation so the package fails.
    """
    for table_name, column_name, prop, value in schema.pop_type_hint_conflicts():
        contract = resolve_contract(schema, table_name)
        if contract.data_type == "freeze":
            violations.add(
                Violation(table_name, column_name, "data_type", "freeze", {prop: value}, 0)
            )


__all__ = [
    "CONTRACT_ENTITIES",
    "CONTRACT_MODES",
    "SchemaContract",
    "TContractEntity",
    "TContractMode",
    "Violation",
    "Violations",
    "check_type_hints",
    "resolve_contract",
]
