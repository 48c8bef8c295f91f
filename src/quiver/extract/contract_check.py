"""The ``tables`` schema contract, checked at extract (as dlt does) rather than at normalize.

A resource that yields rows for a table the pipeline's stored schema does not know (or knows
only with columns that have no data type: dlt's "new table") breaks a contract whose ``tables``
mode is not ``evolve``:

* ``freeze`` raises :class:`~quiver.errors.DataValidationError` at the first batch of such rows,
  naming the table, the contract and the resource. Extract fails as a whole, so no package is
  made: nothing is left pending to fail every later run again, and a run into an allowed table
  goes through.
* ``discard_row`` and ``discard_value`` drop the table's rows (there is no table for the values
  to go to), and the table is not added to the schema.

The contract of a table is the resource's ``schema_contract`` hint (``run(schema_contract=...)``
is applied to every resource as that hint), else the table's stored hint, else the source's
(``settings.schema_contract``). A shorthand string applies to all entities. The other entities
(``columns``, ``data_type``) and new nested tables are checked at normalize, where the columns
and nested tables are made (:mod:`quiver.normalize.contracts`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from quiver.errors import DataValidationError
from quiver.errors.base import short_repr
from quiver.schema.model import Schema

logger = logging.getLogger(__name__)

_ENTITIES = ("tables", "columns", "data_type")


class NewTableContract:
    """Admits or refuses rows for tables that are new to the stored schema.

    Args:
        schema: the extract's schema, before any resource added its hints to it.
        load_id: the package being extracted (named in errors).
    """

    def __init__(self, schema: Schema, load_id: str) -> None:
        self._schema = schema
        self._load_id = load_id
        # What the stored schema had of each new table, to put back if its rows are dropped.
        self._stored = {
            name: copy.deepcopy(table)
            for name, table in schema.tables.items()
            if schema.is_new_table(name)
        }
        self._new = {name for name in schema.tables if schema.is_new_table(name)}
        self._known = set(schema.tables) - self._new
        self._contracts: dict[tuple[str, str], Any] = {}
        #: Rows dropped per table by ``discard_row``/``discard_value`` on ``tables``.
        self.discarded_rows: dict[str, int] = {}

    def register(self, table_name: str, resource_name: str, resource_contract: Any) -> None:
        """Record the contract a resource brings for a table (before its hints are merged)."""
        if table_name in self._known or table_name.startswith("_dlt"):
            return
        stored = self._schema.tables.get(table_name) or {}
        setting = resource_contract
        if setting is None:
            setting = stored.get("schema_contract")
        if setting is None:
            setting = self._schema.settings.get("schema_contract")
        self._contracts[(table_name, resource_name)] = setting

    def admit(self, table_name: str, resource_name: str, batch: pa.RecordBatch) -> bool:
        """Whether the rows may be written; ``False`` drops them.

        Raises:
            DataValidationError: the table is new and its ``tables`` mode is ``freeze``.
        """
        setting = self._contracts.get((table_name, resource_name))
        mode = _tables_mode(setting)
        if mode == "evolve":
            return True
        if mode == "freeze":
            raise self._frozen(table_name, resource_name, setting, batch)
        self.discarded_rows[table_name] = self.discarded_rows.get(table_name, 0) + batch.num_rows
        return False

    def forget_discarded(self, replaced_tables: set[str]) -> None:
        """Take the tables whose rows were dropped out of the schema (and out of
        ``replaced_tables``) again: the stored schema stays as it was for them."""
        for name, count in self.discarded_rows.items():
            logger.info(
                "schema_contract 'tables': dropped %d row(s) for new table %r (package %s)",
                count,
                name,
                self._load_id,
            )
            if name in self._stored:
                self._schema.tables[name] = self._stored[name]
            else:
                self._schema.tables.pop(name, None)
            replaced_tables.discard(name)

    def _frozen(
        self, table_name: str, resource_name: str, setting: Any, batch: pa.RecordBatch
    ) -> DataValidationError:
        example = batch.slice(0, 1).to_pylist()[0] if batch.num_rows else None
        expanded = _expanded(setting)
        error = DataValidationError(
            self._schema.name,
            table_name,
            None,
            "tables",
            "freeze",
            example,
            f"Contract on `tables` with `contract_mode=freeze` is violated. Can't add table "
            f"`{table_name}` because `tables` are frozen: resource {resource_name!r} yielded "
            f"{batch.num_rows} row(s) for it (example row: {short_repr(example)}), and schema "
            f"{self._schema.name!r} has no such table; the contract is {expanded}. Extract of "
            f"package {self._load_id} stopped and nothing was kept, so no package is left "
            "pending. Hint: allow new tables with schema_contract={'tables': 'evolve'} for the "
            "run that creates the table, or drop its rows with {'tables': 'discard_row'}.",
        )
        # dlt's attribute names, so code written for dlt can inspect the error.
        error.schema_contract = expanded  # type: ignore[attr-defined]
        error.table_schema = None  # type: ignore[attr-defined]
        error.data_item = example  # type: ignore[attr-defined]
        error.resource_name = resource_name  # type: ignore[attr-defined]
        error.load_id = self._load_id  # type: ignore[attr-defined]
        return error


def _tables_mode(setting: Any) -> str:
    """The ``tables`` mode of a contract setting (already validated where it was given)."""
    if setting is None:
        return "evolve"
    if isinstance(setting, str):
        return setting
    if isinstance(setting, Mapping):
        return str(setting.get("tables") or "evolve")
    return str(getattr(setting, "tables", "evolve"))


def _expanded(setting: Any) -> dict[str, str]:
    if isinstance(setting, str):
        return dict.fromkeys(_ENTITIES, setting)
    if isinstance(setting, Mapping):
        return {entity: str(setting.get(entity) or "evolve") for entity in _ENTITIES}
    return {entity: str(getattr(setting, entity, "evolve")) for entity in _ENTITIES}
