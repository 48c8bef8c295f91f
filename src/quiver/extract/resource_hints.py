"""The table hints of a resource: what ``apply_hints`` sets and the extractor reads.

:class:`ResourceHints` is the base of :class:`~quiver.extract.resource.Resource` (dlt's
``DltResourceHints``). Hints are stored in the form :func:`~quiver.extract.hints.build_hints`
makes: checked and normalized when they are given, callables of the item kept as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, Unpack

from quiver.errors import InvalidHintValue
from quiver.extract.hints import (
    ADDITIONAL_TABLE_HINTS,
    DISPOSITION_EXTRAS,
    build_hints,
    check_stored_names,
    is_dynamic,
    key_columns,
    merge_columns,
    reject_unknown,
    reject_unsupported,
    resolve_hints,
    table_schema_hints,
    validate_dynamic_hints,
)
from quiver.extract.nested_hints import NestedHintsArgument, with_nested_hints
from quiver.schema.hints import TABLE_HINT_NAMES, ItemCallable, TableHints
from quiver.schema.naming import VERBATIM_NAMING

if TYPE_CHECKING:
    from quiver.extract.incremental import Incremental

#: The keywords ``apply_hints`` takes.
APPLY_HINTS_ARGUMENTS = (
    *TABLE_HINT_NAMES,
    "incremental",
    ADDITIONAL_TABLE_HINTS,
    "create_table_variant",
    "references",
    "nested_hints",
)


class ResourceHints:
    """The table hints of a resource, its table variants and its incremental.

    Args:
        name: the resource name (named in errors; the default table name).
        hints: hints as :func:`~quiver.extract.hints.build_hints` makes them.
        incremental: the incremental given to ``@resource``/``apply_hints``, if any.
    """

    def __init__(
        self,
        name: str,
        hints: Mapping[str, Any] | None,
        incremental: Incremental[Any] | None,
    ) -> None:
        self.name = name
        self._hints: dict[str, Any] = {k: v for k, v in (hints or {}).items() if v is not None}
        validate_dynamic_hints(self._hints)
        self._table_variants: dict[str, dict[str, Any]] = {}
        self._incremental = incremental

    # ------------------------------------------------------------------------- properties
    @property
    def table_name(self) -> str | ItemCallable:
        """The table hint: a name, or a callable of the item for dynamic tables."""
        value: str | ItemCallable = self._hints.get("table_name") or self.name
        return value

    @table_name.setter
    def table_name(self, value: str | ItemCallable) -> None:
        self.apply_hints(table_name=value)

    @property
    def write_disposition(self) -> Any:
        """``"append"`` (default), ``"replace"``, ``"merge"``, ``"skip"`` or a callable."""
        return self._hints.get("write_disposition") or "append"

    @write_disposition.setter
    def write_disposition(self, value: Any) -> None:
        self.apply_hints(write_disposition=value)

    @property
    def columns(self) -> Any:
        """Column schemas by name (or a callable of the item), ``None`` when not given."""
        return self._hints.get("columns")

    @property
    def primary_key(self) -> Any:
        """The primary key hint (``None`` when not given or cleared with ``""``)."""
        return self._hints.get("primary_key") or None

    @property
    def merge_key(self) -> Any:
        """The merge key hint (``None`` when not given or cleared with ``""``)."""
        return self._hints.get("merge_key") or None

    @property
    def schema_contract(self) -> Any:
        return self._hints.get("schema_contract")

    @property
    def table_format(self) -> Any:
        return self._hints.get("table_format")

    @property
    def file_format(self) -> Any:
        return self._hints.get("file_format")

    @property
    def max_table_nesting(self) -> int | None:
        value = self._hints.get("max_table_nesting")
        return None if value is None else int(value)

    @max_table_nesting.setter
    def max_table_nesting(self, value: int | None) -> None:
        self._hints["max_table_nesting"] = value

    @property
    def hints(self) -> dict[str, Any]:
        """The resource's hints as stored (callables not resolved)."""
        return dict(self._hints)

    # ------------------------------------------------------------------------ setting
    def apply_hints(
        self,
        *,
        incremental: Incremental[Any] | None = None,
        additional_table_hints: Mapping[str, Any] | None = None,
        create_table_variant: bool = False,
        references: None = None,
        nested_hints: NestedHintsArgument | None = None,
        **hints: Unpack[TableHints],
    ) -> Self:
        """Set table hints in place (the keywords of ``@resource``); returns ``self``.

        ``None`` leaves a hint unchanged; an empty value (``""``, ``[]``, ``{}``) removes it.
        Columns merge property by property with the existing ones. Values are checked here,
        so a typo fails at this call and names the resource.

        Args:
            incremental: replaces the resource's incremental.
            additional_table_hints: table hints written to the schema as they are.
            create_table_variant: apply the hints only to the table ``table_name`` (items sent
                there by a dynamic name or ``quiver.mark.with_table_name``).
            references: not supported yet (raises).
            nested_hints: hints of nested tables by field path (replace the ones set).
            **hints: the table hints (``table_name``, ``write_disposition``, ``primary_key``...).

        Returns:
            The resource.

        Raises:
            UnknownArgument: for a keyword it does not take (with the closest one).
            InvalidHintValue: for a value outside the vocabulary of its hint.
            NotSupportedYet: for ``references``, or a nested table hint other than
                ``columns`` and ``schema_contract``.

        Examples:
            >>> import quiver
            >>> r = quiver.resource([{"id": 1}], name="items")
            >>> r.apply_hints(primary_key="id", write_disposition="merge").write_disposition
            'merge'
        """
        where = f"apply_hints() of resource {self.name!r}"
        reject_unknown(hints, APPLY_HINTS_ARGUMENTS, where)
        reject_unsupported(where, references=references)
        given = with_nested_hints(build_hints(hints, where=where), nested_hints, where)
        if additional_table_hints is not None:
            given[ADDITIONAL_TABLE_HINTS] = dict(additional_table_hints)
        self._merge(given, hints.get("table_name"), create_table_variant, where)
        if incremental is not None:
            self._incremental = incremental
        return self

    def merge_hints(self, hints: Mapping[str, Any], *, create_table_variant: bool = False) -> Self:
        """Merge hints made by ``quiver.mark.make_hints`` (dlt's ``merge_hints``); returns self.

        ``quiver.mark.with_hints`` applies its hints through this. The keys are the table hints
        and ``x-`` table hints; table hints given in their raw form (e.g. the write disposition
        dict) are normalized as ``apply_hints`` would.

        Raises:
            InvalidHintValue: for a key that is not a hint (with the closest one) or a value
                outside the vocabulary.
        """
        where = f"merge_hints() of resource {self.name!r}"
        check_stored_names(hints, where)
        raw = {k: v for k, v in hints.items() if k in TABLE_HINT_NAMES}
        given = build_hints(raw, where=where)
        given.update((k, v) for k, v in hints.items() if k not in TABLE_HINT_NAMES)
        self._merge(given, hints.get("table_name"), create_table_variant, where)
        return self

    def _merge(
        self, given: dict[str, Any], table_name: Any, create_table_variant: bool, where: str
    ) -> None:
        if create_table_variant:
            if not isinstance(table_name, str):
                raise InvalidHintValue(
                    f"{where}: create_table_variant=True needs table_name as a string, got "
                    f"{table_name!r}. Hint: name the table the variant is for."
                )
            target = self._table_variants.setdefault(table_name, dict(self._hints))
        else:
            target = self._hints
        _merge_into(target, given)
        validate_dynamic_hints(target)

    # ------------------------------------------------------------------------ reading
    def hints_for_table(self, table_name: str | None) -> dict[str, Any]:
        """The hints of a table variant, else the resource's hints."""
        if table_name is not None and table_name in self._table_variants:
            return self._table_variants[table_name]
        return self._hints

    def compute_table_schema(self, item: Any = None, meta: Any = None) -> dict[str, Any]:
        """The table schema the resource's hints make for ``item``, as dlt's method returns it.

        Names are as given (the pipeline's naming convention normalizes them when the schema
        is updated). Key hints become column flags (key columns not declared nullable get
        ``nullable: False``), the write disposition dict becomes ``write_disposition`` and
        ``x-`` hints, the incremental's cursor column gets ``incremental: True``.

        Args:
            item: a data item, to resolve hints that are callables of the item.
            meta: ``TableNameMeta`` (from ``quiver.mark.with_table_name``) picks the hints of
                that table variant and names the table.

        Returns:
            ``{"name", "columns", "write_disposition", "resource", ...}``.

        Raises:
            InvalidHintValue: if a hint is a callable of the item and ``item`` is ``None``.

        Examples:
            >>> import quiver
            >>> r = quiver.resource([{"id": 1}], name="user", columns={"tags": {"data_type": "json"}})
            >>> r.compute_table_schema()["columns"]
            {'tags': {'name': 'tags', 'data_type': 'json'}}
        """
        from quiver.extract.items import TableNameMeta

        variant = meta.table_name if isinstance(meta, TableNameMeta) else None
        template = self.hints_for_table(variant)
        where = f"compute_table_schema() of resource {self.name!r}"
        if item is None and is_dynamic(template):
            raise InvalidHintValue(
                f"{where}: hints are functions of the data item, but no item was given. "
                "Hint: pass a data item, e.g. compute_table_schema({'type': 'event'})."
            )
        resolved = resolve_hints(template, item, where) if item is not None else dict(template)
        name = resolved.get("table_name") or variant or self.name
        cursor = self._incremental.get_cursor_column_name() if self._incremental else None
        table = table_schema_hints(resolved, VERBATIM_NAMING, cursor_column=cursor)
        columns = table.setdefault("columns", {})
        for column in columns.values():
            if column.get("primary_key") or column.get("merge_key"):
                column.setdefault("nullable", False)
        schema: dict[str, Any] = {"name": name, **table}
        if "parent" not in schema:
            schema.setdefault("write_disposition", "append")
            schema["resource"] = self.name
        return schema

    def static_primary_key(self) -> list[str]:
        """The primary key columns when the hint is not a callable."""
        return key_columns(self._hints.get("primary_key"))

    def is_dynamic(self) -> bool:
        """Whether the table name is a callable of the item."""
        return is_dynamic(self._hints)

    def _copy_hints_from(self, other: ResourceHints) -> None:
        """Give this (shallow) copy its own hint dicts."""
        self._hints = copy.deepcopy(other._hints)
        self._table_variants = copy.deepcopy(other._table_variants)


def _merge_into(target: dict[str, Any], given: Mapping[str, Any]) -> None:
    """Merge stored-form hints; an empty value removes a hint, columns merge by property."""
    if given.get("write_disposition") is not None:
        for extra in DISPOSITION_EXTRAS:
            target.pop(extra, None)
    for key, value in given.items():
        if value is None:
            continue
        if key in ("primary_key", "merge_key") and value in ("", [], ()):
            # dlt: an empty key clears the key, column flags included (kept as "no key").
            target[key] = []
            continue
        if value in ("", [], ()) or (key == "columns" and value == {}):
            target.pop(key, None)
            continue
        if key == "columns" and not callable(value) and isinstance(target.get(key), dict):
            value = merge_columns(target[key], value)
        target[key] = value
