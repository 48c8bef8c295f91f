"""``@quiver.resource``, ``@quiver.source`` and ``@quiver.transformer``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from quiver.extract.items import is_arrow_like
from quiver.extract.resource import (
    Resource,
    Source,
    normalize_columns_hint,
    write_disposition_hints,
)


def _resource_hints(
    table_name: Any,
    write_disposition: Any,
    columns: Any,
    primary_key: Any,
    merge_key: Any,
    schema_contract: Any,
    table_format: Any,
    file_format: Any,
    max_table_nesting: int | None,
) -> dict[str, Any]:
    hints = {
        "table_name": table_name,
        "columns": normalize_columns_hint(columns),
        "primary_key": primary_key,
        "merge_key": merge_key,
        "schema_contract": schema_contract,
        "table_format": table_format,
        "file_format": file_format,
        "max_table_nesting": max_table_nesting,
        **write_disposition_hints(write_disposition),
    }
    return {k: v for k, v in hints.items() if v is not None}


def resource(
    data: Any = None,
    /,
    name: str | None = None,
    table_name: Any = None,
    max_table_nesting: int | None = None,
    write_disposition: Any = None,
    columns: Any = None,
    primary_key: Any = None,
    merge_key: Any = None,
    schema_contract: Any = None,
    table_format: Any = None,
    file_format: Any = None,
    selected: bool = True,
    parallelized: bool = False,
    incremental: Any = None,
    section: str | None = None,
    **_: Any,
) -> Any:
    """Declare a resource: a named producer of rows or Arrow data for a table.

    Works as a decorator on generator functions, plain functions and async generators, or as a
    function on data (``quiver.resource(rows, name="items")``).

    Args:
        data: a function to decorate, or the data itself.
        name: the resource name (default: the function name); also the default table name.
        table_name: the table to load into; may be a callable of the item (dynamic tables).
        write_disposition: ``"append"``, ``"replace"``, ``"merge"``, ``"skip"`` or the dict form
            ``{"disposition": "merge", "strategy": "upsert"}``.
        columns: column hints as a dict, a list of column schemas or a pydantic model.
        primary_key: column name or names of the primary key.

    Returns:
        A :class:`Resource`, or a decorator that makes one.

    Examples:
        >>> @resource(name="numbers", write_disposition="replace")
        ... def numbers():
        ...     yield [{"n": 1}, {"n": 2}]
        >>> [row["n"] for row in numbers]
        [1, 2]
    """
    hints = _resource_hints(
        table_name,
        write_disposition,
        columns,
        primary_key,
        merge_key,
        schema_contract,
        table_format,
        file_format,
        max_table_nesting,
    )

    def make(target: Any) -> Resource:
        resource_name = name or getattr(target, "__name__", None)
        if resource_name is None or resource_name == "<lambda>":
            if isinstance(table_name, str):
                resource_name = table_name
            else:
                raise ValueError(
                    "A resource made from data needs a name: pass name=... (or table_name=...)."
                )
        return Resource(
            resource_name,
            target,
            hints=hints,
            selected=selected,
            section=section or getattr(target, "__module__", None),
            parallelized=parallelized,
        )

    if data is None:
        return make
    return make(data)


def transformer(
    f: Callable[..., Any] | None = None,
    /,
    data_from: Resource | None = None,
    name: str | None = None,
    table_name: Any = None,
    max_table_nesting: int | None = None,
    write_disposition: Any = None,
    columns: Any = None,
    primary_key: Any = None,
    merge_key: Any = None,
    schema_contract: Any = None,
    table_format: Any = None,
    file_format: Any = None,
    selected: bool = True,
    parallelized: bool = False,
    **_: Any,
) -> Any:
    """Declare a resource that receives each item (page) of another resource as first argument."""
    hints = _resource_hints(
        table_name,
        write_disposition,
        columns,
        primary_key,
        merge_key,
        schema_contract,
        table_format,
        file_format,
        max_table_nesting,
    )

    def make(function: Callable[..., Any]) -> Resource:
        return Resource(
            name or function.__name__,
            function,
            hints=hints,
            selected=selected,
            parallelized=parallelized,
            parent=data_from,
        )

    return make if f is None else make(f)


class SourceFactory:
    """What ``@quiver.source`` returns: call it to get a :class:`Source`."""

    def __init__(self, function: Callable[..., Any], options: dict[str, Any]) -> None:
        self._function = function
        self._options = options
        functools.update_wrapper(self, function)

    @property
    def name(self) -> str:
        return str(self._options.get("name") or self._function.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Source:
        produced = self._function(*args, **kwargs)
        if produced is None:
            raise ValueError(
                f"source {self.name!r} returned None. Hint: return or yield its resources."
            )
        return Source(
            self.name,
            list(_as_resources(produced, self.name)),
            section=self._options.get("section"),
            max_table_nesting=self._options.get("max_table_nesting"),
            root_key=bool(self._options.get("root_key")),
            schema_contract=self._options.get("schema_contract"),
            schema=self._options.get("schema"),
        )


def _as_resources(produced: Any, source_name: str) -> Iterable[Resource]:
    if isinstance(produced, Resource):
        yield produced
        return
    if isinstance(produced, list | tuple) and all(isinstance(r, Resource) for r in produced):
        yield from produced
        return
    if inspect.isgenerator(produced):
        items = list(produced)
        resources = [r for r in items if isinstance(r, Resource)]
        if items and len(resources) == len(items):
            yield from resources
            return
        produced = items
    if is_arrow_like(produced) or isinstance(produced, list | tuple | dict):
        yield Resource(source_name, produced)
        return
    raise TypeError(f"source {source_name!r} must return resources or data, got {type(produced)}")


def source(
    func: Callable[..., Any] | None = None,
    /,
    name: str | None = None,
    section: str | None = None,
    max_table_nesting: int | None = None,
    root_key: bool = False,
    schema: Any = None,
    schema_contract: Any = None,
    parallelized: bool = False,
    **_: Any,
) -> Any:
    """Declare a source: a function returning resources. Its name is the schema name."""
    if name is not None and schema is not None:
        raise ValueError("source(): pass either name or schema, not both")
    options = {
        "name": name or (getattr(schema, "name", None)),
        "section": section,
        "max_table_nesting": max_table_nesting,
        "root_key": root_key,
        "schema": schema,
        "schema_contract": schema_contract,
        "parallelized": parallelized,
    }

    def make(function: Callable[..., Any]) -> SourceFactory:
        return SourceFactory(function, options)

    return make if func is None else make(func)
