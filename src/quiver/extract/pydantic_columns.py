"""Column hints from a pydantic model (``columns=MyModel``)."""

from __future__ import annotations

import datetime
import decimal
import types
import typing
from typing import Any

_SCALARS: dict[type, str] = {
    bool: "bool",
    int: "bigint",
    float: "double",
    str: "text",
    bytes: "binary",
    datetime.datetime: "timestamp",
    datetime.date: "date",
    datetime.time: "time",
    decimal.Decimal: "decimal",
}


def pydantic_to_columns(model: Any) -> dict[str, dict[str, Any]]:
    """Map each field of a pydantic model to a dlt column schema (type and nullability)."""
    columns: dict[str, dict[str, Any]] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nullable = False
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = len(args) < len(typing.get_args(annotation))
            annotation = args[0] if len(args) == 1 else annotation
        column: dict[str, Any] = {"name": name, "nullable": nullable}
        data_type = _SCALARS.get(annotation) if isinstance(annotation, type) else None
        if data_type is None and isinstance(annotation, type) and issubclass(annotation, str):
            data_type = "text"
        if data_type is not None:
            column["data_type"] = data_type
        elif typing.get_origin(annotation) in (list, dict) or isinstance(annotation, type):
            column["data_type"] = "json"
        columns[name] = column
    return columns
