"""``@quiver.resource``, ``@quiver.source`` and ``@quiver.transformer``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from quiver.configuration.accessors import inject_config
from quiver.extract.hints import make_hints
from quiver.extract.incremental import Incremental
from quiver.extract.items import is_arrow_like
from quiver.extract.resource import Resource
from quiver.extract.source import Source, copy_resources
from quiver.extract.state import in_source


def _section_of(target: Any) -> str | None:
    module = getattr(target, "__module__", None)
    return module.rsplit(".", 1)[-1] if isinstance(module, str) else None


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
    references: Any = None,
    nested_hints: Any = None,
    selected: bool = True,
    spec: Any = None,
    parallelized: bool = False,
    incremental: Incremental[Any] | None = None,
    section: str | None = None,
    standalone: bool | None = None,
    data_from: Any = None,
    **_: Any,
) -> Any:
    """Declare a resource: a named producer of rows or Arrow data for a table.

    Works as a decorator on generator functions, plain functions and async generators, or as a
    function on data (``quiver.resource(rows, name="items")``).

    Args:
        data: a function to decorate, or the data itself (a list, a generator, an Arrow table,
            a polars or pandas frame...).
        name: the resource name (default: the function name); also the default table name.
        table_name: the table to load into; may be a callable of the item (dynamic tables).
        max_table_nesting: how deep nested data becomes child tables.
        write_disposition: ``"append"``, ``"replace"``, ``"merge"``, ``"skip"`` or the dict form
            ``{"disposition": "merge", "strategy": "upsert"}``; may be a callable of the item.
        columns: column hints as a dict, a list of column schemas or a pydantic model.
        primary_key: column name or names of the primary key.
        merge_key: column name or names of the merge key.
        schema_contract: ``"evolve"``, ``"freeze"``, ... or a dict per entity.
        table_format: ``"delta"``, ``"iceberg"`` or ``"native"``.
        file_format: the loader file format (``"parquet"``...).
        references: accepted for compatibility (table references are not used yet).
        nested_hints: accepted for compatibility.
        selected: whether a source extracts this resource by default.
        spec: accepted for compatibility.
        parallelized: run the generator in the extract thread pool.
        incremental: an incremental cursor for this resource (see
            :class:`quiver.sources.incremental`).
        section: the config section (default: the function's module name).
        standalone: accepted for compatibility (deprecated in dlt).
        data_from: makes this a transformer of that resource (as ``@quiver.transformer``).

    Returns:
        A :class:`Resource`, or a decorator that makes one.

    Examples:
        >>> @resource(name="numbers", write_disposition="replace")
        ... def numbers():
        ...     yield [{"n": 1}, {"n": 2}]
        >>> [row["n"] for row in numbers]
        [1, 2]
    """
    if data_from is not None:
        return transformer(
            data,
            data_from=data_from,
            name=name,
            table_name=table_name,
            max_table_nesting=max_table_nesting,
            write_disposition=write_disposition,
            columns=columns,
            primary_key=primary_key,
            merge_key=merge_key,
            schema_contract=schema_contract,
            table_format=table_format,
            file_format=file_format,
            selected=selected,
            parallelized=parallelized,
            section=section,
        )
    hints = make_hints(
        table_name=table_name,
        write_disposition=write_disposition,
        columns=columns,
        primary_key=primary_key,
        merge_key=merge_key,
        schema_contract=schema_contract,
        table_format=table_format,
        file_format=file_format,
        max_table_nesting=max_table_nesting,
    )

    def make(target: Any) -> Resource:
        resource_name = name or getattr(target, "__name__", None)
        if resource_name is None or str(resource_name).startswith("<"):
            if isinstance(table_name, str):
                resource_name = table_name
            else:
                raise ValueError(
                    "A resource made from data needs a name: pass name=... (or table_name=...)."
                )
        made = Resource(
            str(resource_name),
            target,
            hints=hints,
            selected=selected,
            section=section or _section_of(target),
            parallelized=parallelized,
            incremental=incremental,
        )
        if inspect.isfunction(target):
            functools.update_wrapper(made, target, updated=())
        return made

    if data is None:
        return make
    return make(data)


def transformer(
    f: Callable[..., Any] | None = None,
    /,
    data_from: Any = None,
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
    spec: Any = None,
    parallelized: bool = False,
    section: str | None = None,
    incremental: Incremental[Any] | None = None,
    **_: Any,
) -> Any:
    """Declare a resource that receives each item (page) of another resource as first argument.

    Args:
        f: the transformer function: ``f(item, *bound_args)``; it returns or yields items and
            may take a ``meta`` argument (the meta of items marked with ``quiver.mark``).
        data_from: the resource to read from; or pipe later with ``resource | transformer``.
        name: the resource name (default: the function name).
        selected: whether a source extracts this transformer by default.
        parallelized: run each call in the extract thread pool.

    The hint arguments are those of :func:`resource`.

    Examples:
        >>> import quiver
        >>> @quiver.resource
        ... def users():
        ...     yield [{"id": 1}, {"id": 2}]
        >>> @quiver.transformer(data_from=users)
        ... def details(page):
        ...     for user in page:
        ...         yield {"id": user["id"], "score": user["id"] * 10}
        >>> [row["score"] for row in details]
        [10, 20]
    """
    hints = make_hints(
        table_name=table_name,
        write_disposition=write_disposition,
        columns=columns,
        primary_key=primary_key,
        merge_key=merge_key,
        schema_contract=schema_contract,
        table_format=table_format,
        file_format=file_format,
        max_table_nesting=max_table_nesting,
    )
    parent = data_from if isinstance(data_from, Resource) or data_from is None else None
    if data_from is not None and parent is None:
        parent = resource(data_from, name=getattr(data_from, "__name__", None) or "data_from")

    def make(function: Callable[..., Any]) -> Resource:
        if not callable(function):
            raise TypeError(f"@transformer decorates a function, got {function!r}")
        made = Resource(
            name or function.__name__,
            function,
            hints=hints,
            selected=selected,
            section=section or _section_of(function),
            parallelized=parallelized,
            parent=parent,
            incremental=incremental,
            is_transformer=True,
        )
        functools.update_wrapper(made, function, updated=())
        return made

    return make if f is None else make(f)


class SourceFactory:
    """What ``@quiver.source`` returns: call it (with the function's arguments) to get a
    :class:`Source`."""

    def __init__(self, function: Callable[..., Any], options: dict[str, Any]) -> None:
        self._function = function
        self._options = options
        functools.update_wrapper(self, function)

    @property
    def name(self) -> str:
        return str(self._options.get("name") or self._function.__name__)

    @property
    def section(self) -> str | None:
        return self._options.get("section") or _section_of(self._function)

    def with_args(self, **options: Any) -> SourceFactory:
        """A copy of the factory with other decorator options (``name``, ``section``...)."""
        return SourceFactory(self._function, {**self._options, **options})

    def __call__(self, *args: Any, **kwargs: Any) -> Source:
        sections = tuple(s for s in ("sources", self.section, self.name) if s)
        kwargs = inject_config(self._function, args, kwargs, sections)
        with in_source(self.name):
            produced = self._function(*args, **kwargs)
            if produced is None:
                raise ValueError(
                    f"source {self.name!r} returned None. Hint: return or yield its resources."
                )
            resources = list(_as_resources(produced, self.name))
        return Source(
            self.name,
            copy_resources(resources),
            section=self.section,
            max_table_nesting=self._options.get("max_table_nesting"),
            root_key=bool(self._options.get("root_key")),
            schema_contract=self._options.get("schema_contract"),
            schema=self._options.get("schema"),
            parallelized=bool(self._options.get("parallelized")),
        )

    def __repr__(self) -> str:
        return f"SourceFactory(name={self.name!r})"


def _as_resources(produced: Any, source_name: str) -> Iterable[Resource]:
    if isinstance(produced, Resource):
        yield produced
        return
    if isinstance(produced, Source):
        yield from produced.resources.values()
        return
    if inspect.isgenerator(produced):
        produced = list(produced)
    if (
        isinstance(produced, list | tuple)
        and produced
        and all(isinstance(r, Resource) for r in produced)
    ):
        yield from produced
        return
    if is_arrow_like(produced) or isinstance(produced, Iterable):
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
    spec: Any = None,
    parallelized: bool = False,
    **_: Any,
) -> Any:
    """Declare a source: a function returning resources. Its name is the schema name.

    Args:
        func: the source function; it returns (or yields) resources, or plain data.
        name: the source and schema name (default: the function name).
        section: the config section (default: the function's module name).
        max_table_nesting: how deep nested data becomes child tables, for every resource.
        root_key: propagate the root ``_dlt_id`` into nested tables as ``_dlt_root_id``.
        schema: a :class:`quiver.schema.model.Schema` to start from (its name names the source).
        schema_contract: the default contract of the source's tables.
        spec: accepted for compatibility.
        parallelized: run every resource's generator in the extract thread pool.

    Returns:
        A :class:`SourceFactory`, or a decorator that makes one.

    Raises:
        ValueError: when both ``name`` and ``schema`` are given.

    Examples:
        >>> import quiver
        >>> @quiver.source
        ... def shop():
        ...     return quiver.resource([{"id": 1}], name="orders")
        >>> list(shop().resources)
        ['orders']
    """
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
