"""Align a flattened table with the schema: infer, coerce, split variants, apply contracts.

For one table of one batch, every column is either known (it has a ``data_type``: hinted or
seen before) or new. Known columns get their values coerced value by value
(:mod:`quiver.normalize.coercions`); the values that do not fit go to a variant column
``<column>__v_<type>`` named after their own type, as in dlt. New columns get a type from the
Arrow type, the schema's ``preferred_types`` and the ``iso_timestamp`` detection (dlt decides on
the first value: if it looks like an ISO timestamp the column is a timestamp and strings that do
not parse go to ``<column>__v_text``), with column hints winning.

Then the contract is applied to the changes the batch would make (:mod:`.contracts`); rows and
values it discards are returned for the dead-letter file, and only then is the schema changed.
Everything works on whole arrays.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quiver.errors import (
    CannotCoerceColumnError,
    CannotCoerceNullError,
    CannotCoerceRequiredColumn,
    NullKeyError,
    RequiredColumnMissing,
    UnsupportedDataType,
)
from quiver.normalize.coercions import coerce_values, dlt_type, looks_like_iso_timestamp
from quiver.normalize.contracts import (
    SchemaContract,
    TContractEntity,
    TContractMode,
    Violation,
    Violations,
    resolve_contract,
)
from quiver.normalize.flatten import (
    C_DLT_ID,
    C_DLT_LIST_IDX,
    C_DLT_LOAD_ID,
    C_DLT_PARENT_ID,
    C_DLT_ROOT_ID,
    FlatTable,
    shorten_fragments,
)
from quiver.schema.model import Schema, TTableSchema
from quiver.schema.naming import NamingConvention
from quiver.schema.types import (
    TColumnSchema,
    arrow_to_column,
    column_to_arrow,
    decimal_column_for,
    is_nested,
)

_LINEAGE_HINTS: dict[str, TColumnSchema] = {
    C_DLT_LOAD_ID: {"data_type": "text", "nullable": False},
    C_DLT_ID: {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
    C_DLT_PARENT_ID: {"data_type": "text", "nullable": False, "parent_key": True},
    C_DLT_LIST_IDX: {"data_type": "bigint", "nullable": False},
    C_DLT_ROOT_ID: {"data_type": "text", "nullable": False, "root_key": True},
}
_VARIANT_TYPES = "text|double|bool|timestamp|bigint|binary|json|decimal|wei|date|time"
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"
#: dlt's ``timestamp`` detection: numbers within five years of now are UNIX timestamps.
_TIMESTAMP_RANGE_SECONDS = 5 * 31_536_000.0
#: Dead-letter rows carry why they were discarded in these columns.
REASON_COLUMNS = ("_dlt_contract_entity", "_dlt_contract_mode", "_dlt_contract_column")


@dataclass
class CoerceContext:
    """What coercion needs besides the data: the schema and the package being normalized."""

    schema: Schema
    load_id: str
    naming: NamingConvention
    from_rows: bool
    #: Tables that existed with typed columns when the package started and were not flagged
    #: to evolve once: only their new columns fall under the ``columns`` contract.
    established_tables: frozenset[str]
    violations: Violations


@dataclass
class CoerceResult:
    """The rows to write, and what the contract discarded."""

    table: pa.Table
    discarded: pa.Table | None = None
    #: ``_dlt_id`` of the discarded rows: their nested rows are discarded too.
    discarded_ids: pa.Array | None = None
    discarded_rows: int = 0
    discarded_values: int = 0


@dataclass
class _Out:
    name: str
    values: pa.Array
    new_column: TColumnSchema | None
    variant: bool = False
    dropped: bool = False


@dataclass
class _Discards:
    """Row masks with the reason each was discarded for; the first reason of a row wins."""

    num_rows: int
    rows: pa.Array | None = None
    reasons: list[tuple[pa.Array, str, str, str | None]] = field(default_factory=list)

    def add(
        self, mask: pa.Array, entity: str, mode: str, column: str | None, *, drop: bool
    ) -> None:
        mask = pc.fill_null(mask, False)
        self.reasons.append((mask, entity, mode, column))
        if drop:
            self.rows = mask if self.rows is None else pc.or_(self.rows, mask)

    def affected(self) -> pa.Array | None:
        masks = [m for m, *_ in self.reasons]
        if not masks:
            return None
        result = masks[0]
        for mask in masks[1:]:
            result = pc.or_(result, mask)
        return result

    def reason_columns(self, affected: pa.Array) -> list[pa.Array]:
        columns: list[pa.Array] = []
        for position in range(3):
            value: pa.Array = pa.nulls(self.num_rows, pa.string())
            for mask, *reason in reversed(self.reasons):
                value = pc.if_else(mask, pa.scalar(reason[position], pa.string()), value)
            columns.append(pc.filter(value, affected))
        return columns


def coerce_table(
    flat: FlatTable, ctx: CoerceContext, parent_discarded: pa.Array | None = None
) -> CoerceResult:
    """Coerce one flattened table into the schema, evolving the schema as the contract allows.

    Args:
        flat: the table's columns with normalized names.
        ctx: schema, package and contract state.
        parent_discarded: ``_dlt_id`` values of parent rows that were discarded.

    Raises:
        CannotCoerceNullError: a null for a column that is not nullable.
        CannotCoerceColumnError: a value fits neither its column nor the variant column.
        UnsupportedDataType: a column's Arrow type or ``data_type`` hint has no dlt data type.
    """
    return _TableCoercer(flat, ctx).run(parent_discarded)


class _TableCoercer:
    def __init__(self, flat: FlatTable, ctx: CoerceContext) -> None:
        self.flat = flat
        self.ctx = ctx
        self.schema = ctx.schema
        self.name = flat.name
        table = self.schema.tables.get(flat.name)
        self.columns: dict[str, TColumnSchema] = (table or {}).get("columns", {})
        self.num_rows = flat.num_rows
        self.discards = _Discards(self.num_rows)
        self.discarded_values = 0

    # ------------------------------------------------------------------- run
    def run(self, parent_discarded: pa.Array | None) -> CoerceResult:
        flat, ctx = self.flat, self.ctx
        if parent_discarded is not None and len(parent_discarded):
            parent_ids = flat.column(C_DLT_PARENT_ID)
            if parent_ids is not None:
                orphans = pc.is_in(parent_ids, parent_discarded)
                if pc.any(orphans).as_py():
                    self.discards.add(orphans, "parent", "discard_row", C_DLT_PARENT_ID, drop=True)
        contract = resolve_contract(self.schema, self.name, flat.parent)
        evolving = self.name not in ctx.established_tables
        if evolving and contract.tables != "evolve" and not self.name.startswith("_dlt"):
            return self._discard_table(contract.tables)
        outputs = self._columns()
        self._null_keys(outputs, contract)
        self._apply_contract(outputs, contract, evolving)
        return self._finish(outputs)

    def _discard_table(self, mode: TContractMode) -> CoerceResult:
        flat = self.flat
        data = [n for n in flat.names if not n.startswith("_dlt")]
        example = flat.to_table().select(data).slice(0, 1).to_pylist()[0] if self.num_rows else None
        self.ctx.violations.add(Violation(self.name, None, "tables", mode, example, self.num_rows))
        everything = pa.repeat(pa.scalar(True), self.num_rows)
        self.discards.add(everything, "tables", mode, None, drop=True)
        return self._finish([])

    # --------------------------------------------------------------- columns
    def _column(
        self, name: str, array: pa.Array, *, variant: bool, split: bool = False
    ) -> list[_Out]:
        """``split``: extract split values of this column off into variant columns, which fill
        some of its nulls; its null check runs after they are merged back."""
        existing = self.columns.get(name)
        complete = existing is not None and "data_type" in existing
        check_nulls = not variant and not split
        if pa.types.is_null(array.type):
            if existing is not None and existing.get("nullable") is False and check_nulls:
                self._check_nulls(name, array)
            if complete:
                assert existing is not None
                return [_Out(name, pa.nulls(len(array), self._target(existing, array.type)), None)]
            return []  # dlt creates no column from nulls alone
        if complete:
            assert existing is not None
            column, new_column = existing, None
        else:
            column = new_column = self._new_column(name, array, existing, variant)
        if check_nulls and column.get("nullable") is False and array.null_count:
            self._check_nulls(name, array)
        target = self._target(column, array.type)
        coerced = coerce_values(array, column, target, from_rows=self.ctx.from_rows)
        outputs = [_Out(name, coerced.values, new_column, variant=variant)]
        if coerced.failed is not None:
            source_type = dlt_type(array.type) or "text"
            if variant or column.get("nullable") is False:
                # A variant would leave NULL in a column that is not nullable: fail instead.
                error = CannotCoerceColumnError if variant else CannotCoerceRequiredColumn
                example = pc.filter(array, coerced.failed)[0].as_py()
                raise error(
                    self.name, name, source_type, column["data_type"], example, self.ctx.load_id
                )
            variant_name = shorten_fragments(self.ctx.naming, name, f"v_{source_type}")
            misfits = pc.if_else(coerced.failed, array, pa.nulls(len(array), array.type))
            outputs.extend(self._column(variant_name, misfits, variant=True))
        return outputs

    def _check_nulls(self, name: str, array: pa.Array) -> None:
        nulls = array.null_count if not pa.types.is_null(array.type) else len(array)
        if nulls:
            raise CannotCoerceNullError(self.name, name, nulls, self.ctx.load_id)

    def _target(self, column: TColumnSchema, current: pa.DataType) -> pa.DataType:
        if column["data_type"] == "json" and is_nested(current) and not self.ctx.from_rows:
            return current  # Arrow items keep nested types (Delta and Iceberg store them)
        return column_to_arrow(column)

    def _new_column(
        self, name: str, array: pa.Array, hints: TColumnSchema | None, variant: bool
    ) -> TColumnSchema:
        inferred = self._infer(name, array, variant)
        column: TColumnSchema = {"name": name, "nullable": True}
        column.update(inferred)
        column.update(_LINEAGE_HINTS.get(name) or self.schema.default_hints_for(name))
        if hints:
            column.update({k: v for k, v in hints.items() if v is not None})
        if variant:
            column["variant"] = True
        return column

    def _infer(self, name: str, array: pa.Array, variant: bool) -> TColumnSchema:
        inferred = arrow_to_column(array.type) or {"data_type": "text"}
        if self.ctx.from_rows and inferred["data_type"] == "bigint":
            # Python ints carry no precision: dlt's default applies.
            inferred = {"data_type": "bigint"}
        elif self.ctx.from_rows and inferred["data_type"] == "decimal":
            inferred = decimal_column_for(array.type)
        if variant:
            return inferred
        preferred = self.schema.preferred_type(name)
        if preferred is not None:
            return {"data_type": preferred}
        detections = self.schema.settings.get("detections") or ()
        kind = inferred["data_type"]
        if kind == "text":
            if "iso_timestamp" in detections and looks_like_iso_timestamp(array):
                return {"data_type": "timestamp"}
            if "iso_date" in detections and _first_matches(array, _ISO_DATE):
                return {"data_type": "date"}
        elif (
            kind in ("bigint", "double")
            and "timestamp" in detections
            and _first_is_recent_epoch(array)
        ):
            return {"data_type": "timestamp"}
        return inferred

    def _columns(self) -> list[_Out]:
        """Coerce every column; variant columns the batcher split off at extract come last."""
        flat = self.flat
        held: dict[str, list[pa.Array]] = {}
        for name, array in zip(flat.names, flat.arrays, strict=True):
            base_name = _variant_base(name, self.ctx.naming)
            if base_name is not None and (base_name in flat.sources or base_name in self.columns):
                held.setdefault(base_name, []).append(array)
        outputs: list[_Out] = []
        for name, array in zip(flat.names, flat.arrays, strict=True):
            if _variant_base(name, self.ctx.naming) in held:
                continue
            with self._at_column(name):
                outputs.extend(self._column(name, array, variant=False, split=name in held))
        for base_name, arrays in held.items():
            for array in arrays:
                with self._at_column(base_name):
                    outputs.extend(self._extract_variant(base_name, array, outputs))
            self._check_merged_nulls(base_name, outputs)
        outputs.extend(self._absent_columns({*flat.names, *held}))
        return _merge_same_names(outputs)

    def _absent_columns(self, present: set[str]) -> list[_Out]:
        """Typed columns of the table that no row of the batch has: NULL columns, so a column
        declared in ``columns=`` exists in the table even when no row carries it (as in dlt);
        a column declared ``nullable: False`` fails as the sign that it was removed."""
        outputs: list[_Out] = []
        for name, column in self.columns.items():
            if (
                name in present
                or "data_type" not in column
                or column.get("variant")
                or name.startswith("_dlt")
                # Arrow items keep their own nested types for json: a string NULL would clash.
                or (column["data_type"] == "json" and not self.ctx.from_rows)
            ):
                continue
            if column.get("nullable") is False:
                raise RequiredColumnMissing(
                    self.schema.name, self.name, name, self.num_rows, self.ctx.load_id
                )
            with self._at_column(name):
                nulls = pa.nulls(self.num_rows, column_to_arrow(column))
            outputs.append(_Out(name, nulls, None))
        return outputs

    @contextmanager
    def _at_column(self, name: str) -> Iterator[None]:
        """Type mapping errors know the type but not the column: add table and column."""
        try:
            yield
        except UnsupportedDataType as error:
            if error.column_name is not None:
                raise
            raise error.at(self.name, name) from error

    def _extract_variant(self, base_name: str, array: pa.Array, outputs: list[_Out]) -> list[_Out]:
        """A variant column from extract (``x__v_text``) is a variant here too, but values in
        it that coerce to the main column's type move into it, as dlt would have coerced
        them value by value (``"7"`` fits a ``bigint`` column). The rest goes to the variant
        named after its actual type."""
        base = next((o for o in outputs if o.name == base_name), None)
        column = self.columns.get(base_name)
        if base is not None and base.new_column is not None:
            column = base.new_column
        if base is not None and column is not None and "data_type" in column:
            coerced = coerce_values(array, column, base.values.type, from_rows=self.ctx.from_rows)
            fits = pc.and_(pc.is_valid(array), pc.invert(_mask_or_false(coerced.failed, array)))
            if pc.any(fits).as_py():
                base.values = pc.if_else(fits, coerced.values, base.values)
                array = pc.if_else(fits, pa.nulls(len(array), array.type), array)
        actual = dlt_type(array.type) or "text"
        if column is not None and column.get("nullable") is False and pc.any(pc.is_valid(array)):
            example = pc.filter(array, pc.is_valid(array))[0].as_py()
            raise CannotCoerceRequiredColumn(
                self.name, base_name, actual, column["data_type"], example, self.ctx.load_id
            )
        name = shorten_fragments(self.ctx.naming, base_name, f"v_{actual}")
        return self._column(name, array, variant=True)

    def _check_merged_nulls(self, base_name: str, outputs: list[_Out]) -> None:
        base = next((o for o in outputs if o.name == base_name), None)
        column = base.new_column if base is not None and base.new_column else None
        column = column or self.columns.get(base_name)
        if column is not None and column.get("nullable") is False:
            self._check_nulls(
                base_name, base.values if base is not None else pa.nulls(self.num_rows)
            )

    # -------------------------------------------------------------- contracts
    def _null_keys(self, outputs: list[_Out], contract: SchemaContract) -> None:
        """Rows of a merge root table without a key value: rejected, or dead letters under a
        ``data_type: discard_row`` contract (a null key is a bad value, not a schema change)."""
        if self.flat.parent is not None or not self.num_rows:
            return
        table = self.schema.tables.get(self.name) or {}
        if table.get("write_disposition") != "merge":
            return
        for name, column in self.columns.items():
            key_hint = next((h for h in ("primary_key", "merge_key") if column.get(h)), None)
            if key_hint is None:
                continue
            out = next((o for o in outputs if o.name == name), None)
            nulls = (
                pc.is_null(out.values)
                if out is not None
                else pa.repeat(pa.scalar(True), self.num_rows)
            )
            count = int(pc.sum(nulls).as_py() or 0)
            if not count:
                continue
            if contract.data_type != "discard_row":
                raise NullKeyError(self.name, name, key_hint, count, self.ctx.load_id)
            self.discards.add(nulls, "data_type", "discard_row", name, drop=True)

    def _apply_contract(
        self, outputs: list[_Out], contract: SchemaContract, evolving: bool
    ) -> None:
        if contract.is_evolve:
            return
        for out in outputs:
            if out.new_column is None or out.name.startswith("_dlt"):
                continue
            entity: TContractEntity = "data_type" if out.variant else "columns"
            mode = contract.data_type if out.variant else contract.columns
            if not out.variant and evolving:
                mode = "evolve"
            if mode == "evolve":
                continue
            present = pc.is_valid(out.values)
            count = int(pc.sum(present).as_py() or 0)
            if count == 0:
                continue
            example = pc.filter(out.values, present)[0].as_py()
            self.ctx.violations.add(Violation(self.name, out.name, entity, mode, example, count))
            out.dropped = True
            if mode == "discard_value":
                self.discarded_values += count
            self.discards.add(present, entity, mode, out.name, drop=mode != "discard_value")

    # ----------------------------------------------------------------- result
    def _finish(self, outputs: list[_Out]) -> CoerceResult:
        dropped = self.discards.rows
        kept_rows = self.num_rows
        outputs = [o for o in outputs if not o.dropped]
        if dropped is not None:
            keep = pc.invert(dropped)
            for out in outputs:
                out.values = pc.filter(out.values, keep)
            kept_rows = self.num_rows - int(pc.sum(dropped).as_py() or 0)
        # A new column whose values were all discarded is not created.
        outputs = [
            o for o in outputs if o.new_column is None or pc.any(pc.is_valid(o.values)).as_py()
        ]
        result = CoerceResult(
            pa.Table.from_arrays([o.values for o in outputs], names=[o.name for o in outputs])
            if outputs
            else pa.table({}),
            discarded_values=self.discarded_values,
        )
        if dropped is not None:
            result.discarded_rows = self.num_rows - kept_rows
            ids = self.flat.column(C_DLT_ID)
            if ids is not None:
                result.discarded_ids = pc.filter(ids, dropped)
        affected = self.discards.affected()
        if affected is not None and pc.any(affected).as_py():
            source = self.flat.to_table().filter(affected)
            for name, column in zip(
                REASON_COLUMNS, self.discards.reason_columns(affected), strict=True
            ):
                source = source.append_column(name, column)
            result.discarded = source
        if outputs:
            self._commit(outputs, kept_rows)
        return result

    def _commit(self, outputs: list[_Out], kept_rows: int) -> None:
        table: TTableSchema = self.schema.ensure_table(self.name, self.flat.parent)
        if self.flat.parent is not None and "parent" not in table:
            table["parent"] = self.flat.parent
        columns = table.setdefault("columns", {})
        for out in outputs:
            if out.new_column is not None:
                if out.name in columns:
                    columns[out.name].update(out.new_column)
                else:
                    columns[out.name] = out.new_column
        if kept_rows:
            normalizer = table.setdefault("x-normalizer", {})
            normalizer["seen-data"] = True


@functools.cache
def _variant_name_pattern(separator: str) -> re.Pattern[str]:
    """Variant names: the batcher's ``x__v_text`` and the convention's (``x▶v_text`` under
    ``direct``), as dlt joins the column and ``v_<type>`` with the path separator."""
    joins = "|".join(sorted({"__", re.escape(separator)}))
    return re.compile(rf"^(?P<base>.+)(?:{joins})v_(?P<type>{_VARIANT_TYPES})$")


def _variant_base(name: str, naming: NamingConvention) -> str | None:
    """``x`` for ``x__v_text`` (and for the batcher's nested ``x__v_double__v_double``)."""
    match = _variant_name_pattern(naming.make_path("x", "x")[1:-1]).match(name)
    if match is None:
        return None
    base = match.group("base")
    return _variant_base(base, naming) or base


def _merge_same_names(outputs: list[_Out]) -> list[_Out]:
    """Two extract variants of the same type become one column (values never overlap)."""
    merged: dict[str, _Out] = {}
    for out in outputs:
        first = merged.get(out.name)
        if first is None:
            merged[out.name] = out
        elif first.values.type == out.values.type:
            first.values = pc.if_else(pc.is_valid(first.values), first.values, out.values)
    return list(merged.values())


def _mask_or_false(mask: pa.Array | None, like: pa.Array) -> pa.Array:
    return pa.repeat(pa.scalar(False), len(like)) if mask is None else mask


def _first_valid(array: pa.Array) -> Any:
    if array.null_count == len(array):
        return None
    index = 0 if array.null_count == 0 else pc.index(pc.is_valid(array), True).as_py()
    return array[index].as_py()


def _first_matches(array: pa.Array, pattern: str) -> bool:
    first = _first_valid(array)
    return isinstance(first, str) and re.match(pattern, first) is not None


def _first_is_recent_epoch(array: pa.Array) -> bool:
    first = _first_valid(array)
    if not isinstance(first, int | float) or isinstance(first, bool):
        return False
    now = datetime.datetime.now(datetime.UTC).timestamp()
    return now - _TIMESTAMP_RANGE_SECONDS <= first <= now + _TIMESTAMP_RANGE_SECONDS


__all__ = ["REASON_COLUMNS", "CoerceContext", "CoerceResult", "coerce_table"]
