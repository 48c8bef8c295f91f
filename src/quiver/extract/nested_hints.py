"""Hints for nested tables: ``nested_hints=`` and ``quiver.mark.make_nested_hints()``.

dlt's ``nested_hints={"purchases": make_nested_hints(columns=[...], schema_contract=...)}``
declares the schema of the nested table a list field becomes (``customers__purchases``); a
tuple path (``("purchases", "coupons")``) reaches deeper. quiver applies ``columns``: the
extractor records them in the schema as the nested table's columns, so normalize coerces the
nested rows to their types (``"1.50"`` becomes a decimal).

The other hints raise :class:`NotSupportedYet`. ``schema_contract``: normalize applies the
root table's contract to its nested tables (the resource's ``schema_contract``), not one of
their own. ``primary_key``/``merge_key``/``write_disposition`` would make the nested table a
table of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from quiver.errors import InvalidHintValue, NotSupportedYet
from quiver.extract.hints import normalize_columns_hint
from quiver.schema.naming import NamingConvention

#: What a nested table's hints may set.
NESTED_TABLE_HINTS: Final = ("columns",)

#: The path of a nested table below its root: the list fields, outermost first.
NestedPath = tuple[str, ...]


def check_nested_table_hints(hints: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One nested table's hints, checked; columns in the form a resource stores them.

    Args:
        hints: ``columns`` (a dict, a list of column schemas or a pydantic model).
        where: names the call and the resource in errors.

    Raises:
        NotSupportedYet: for a hint quiver does not apply to nested tables.
        InvalidHintValue: for a value outside a hint's vocabulary.
    """
    checked: dict[str, Any] = {}
    for name, value in hints.items():
        if value is None:
            continue
        if name not in NESTED_TABLE_HINTS:
            raise NotSupportedYet(
                f"{name}= for a nested table ({where})",
                "give the nested table its own " + name.replace("_", " "),
                "nested tables take columns= only; a schema_contract on the resource applies "
                "to its nested tables, and for keys or a write disposition of their own, yield "
                "the nested rows from a resource of their own with those hints.",
            )
        if callable(value):
            raise InvalidHintValue(
                f"{where}: nested table hint {name}= is a function of the item; nested hints "
                "are fixed. Hint: give the value itself."
            )
        checked[name] = normalize_columns_hint(value, where) or {}
    return checked


def check_nested_hints(value: Any, where: str) -> dict[NestedPath, dict[str, Any]] | None:
    """``nested_hints=``: nested table paths to their checked hints (``None`` if not given).

    Raises:
        InvalidHintValue: not a dict of paths (a field name or a tuple of them) to hints.
        NotSupportedYet: see :func:`check_nested_table_hints`.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidHintValue(
            f"{where}: nested_hints must be a dict of nested paths to hints, got "
            f"{type(value).__name__}. Hint: nested_hints={{'purchases': "
            "quiver.mark.make_nested_hints(columns=...)}."
        )
    checked: dict[NestedPath, dict[str, Any]] = {}
    for path, hints in value.items():
        key: NestedPath = (path,) if isinstance(path, str) else tuple(path)
        if not key or not all(isinstance(part, str) and part for part in key):
            raise InvalidHintValue(
                f"{where}: nested_hints key {path!r} is not a field name or a tuple of field "
                "names. Hint: use 'purchases' or ('purchases', 'coupons')."
            )
        checked[key] = check_nested_table_hints(dict(hints or {}), where)
    return checked


def nested_table_hints(
    root_table: str,
    nested: Mapping[NestedPath, Mapping[str, Any]],
    naming: NamingConvention,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The schema hints of each nested table: ``(table name, hints)``, parents first.

    Names follow normalize's: the root table and the normalized field names joined with the
    convention's path separator, shortened as dlt's ``shorten_fragments`` does.
    """
    for path in sorted(nested, key=len):
        fields = [naming.normalize_path(part) for part in path]
        name = _table_name(naming, root_table, *fields)
        parent = _table_name(naming, root_table, *fields[:-1]) if len(fields) > 1 else root_table
        hints: dict[str, Any] = {"parent": parent}
        columns = nested[path].get("columns")
        if columns:
            hints["columns"] = {
                naming.normalize_path(raw): {**column, "name": naming.normalize_path(raw)}
                for raw, column in columns.items()
            }
        yield name, hints


def _table_name(naming: NamingConvention, *parts: str) -> str:
    joined = naming.make_path(*parts)
    return naming.shorten_identifier(joined, joined, naming.max_length)


#: ``nested_hints=`` as users give it: a field name or a tuple of them, to hints.
NestedHintsArgument = Mapping[str | tuple[str, ...], Mapping[str, Any]]

#: The key of the checked nested hints among a resource's stored hints.
NESTED_HINTS: Final = "nested_hints"


def with_nested_hints(hints: dict[str, Any], value: Any, where: str) -> dict[str, Any]:
    """``hints`` (a resource's stored form) with ``nested_hints=`` checked and added."""
    checked = check_nested_hints(value, where)
    if checked is not None:
        hints[NESTED_HINTS] = checked
    return hints
