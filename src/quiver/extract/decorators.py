"""``@quiver.resource``, ``@quiver.source`` and ``@quiver.transformer``.

The table hints are the keywords of :class:`~quiver.schema.hints.TableHints`; they are checked
when the decorator is applied, so a typo (``primary_keys=``) or an unknown value
(``write_disposition="mege"``) fails at the decorated function and names the resource.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, Unpack, cast, overload

from quiver.configuration.accessors import collecting_missing_config, inject_config
from quiver.errors import (
    InvalidSourceDefinition,
    ResourceNameMissing,
    ResourceTypeError,
)
from quiver.extract.hints import build_hints, reject_unknown, reject_unsupported
from quiver.extract.incremental import Incremental
from quiver.extract.items import is_arrow_like
from quiver.extract.nested_hints import NestedHintsArgument, with_nested_hints
from quiver.extract.partitions import all_partitions, check_partitions
from quiver.extract.resource import Resource
from quiver.extract.source import Source, copy_resources
from quiver.extract.state import in_source
from quiver.schema.hints import (
    TABLE_HINT_NAMES,
    SchemaContractHint,
    TableHints,
    check_schema_contract,
)

P = ParamSpec("P")


def _section_of(target: Any) -> str | None:
    module = getattr(target, "__module__", None)
    return module.rsplit(".", 1)[-1] if isinstance(module, str) else None


# ------------------------------------------------------------------------------- resource
@overload
def resource(
    data: None = None,
    /,
    *,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    incremental: Incremental[Any] | None = None,
    section: str | None = None,
    standalone: bool | None = None,
    data_from: Resource | Any = None,
    partitions: Sequence[Any] | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Callable[[Callable[..., Any]], Resource]: ...


@overload
def resource(
    data: object,
    /,
    *,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    incremental: Incremental[Any] | None = None,
    section: str | None = None,
    standalone: bool | None = None,
    data_from: Resource | Any = None,
    partitions: Sequence[Any] | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Resource: ...


def resource(
    data: object = None,
    /,
    *,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    incremental: Incremental[Any] | None = None,
    section: str | None = None,
    standalone: bool | None = None,
    data_from: Resource | Any = None,
    partitions: Sequence[Any] | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Resource | Callable[[Callable[..., Any]], Resource]:
    """Declare a resource: a named producer of rows or Arrow data for a table.

    Works as a decorator on generator functions, plain functions and async generators, or as a
    function on data (``quiver.resource(rows, name="items")``). Calling a decorated function
    binds its arguments and returns a :class:`Resource`.

    Args:
        data: a function to decorate, or the data itself (a list, a generator, an Arrow table,
            a polars or pandas frame...).
        name: the resource name (default: the function name); also the default table name.
        selected: whether a source extracts this resource by default.
        parallelized: run the generator in the extract thread pool.
        incremental: an incremental cursor for this resource (see
            :class:`quiver.sources.incremental`).
        section: the config section (default: the function's module name).
        standalone: accepted for compatibility: quiver's resources always bind their
            arguments when called, which is what ``standalone=True`` did in dlt.
        data_from: makes this a transformer of that resource (as ``@quiver.transformer``).
        partitions: the units of parallel work: the function takes one value as its first
            parameter and is called once per value (in turn in one process, as tasks on
            workers with ``executor=``; see docs/scale-out.md).
        references: not supported yet (raises :class:`~quiver.errors.NotSupportedYet`).
        nested_hints: columns of nested tables by field path (``{"purchases": {"columns": ...}}``;
            see :func:`quiver.mark.make_nested_hints`).
        spec: not supported yet (raises); config is injected from the signature.
        **hints: the table hints of :class:`~quiver.schema.hints.TableHints`:
            ``table_name`` (may be a callable of the item, for dynamic tables),
            ``write_disposition`` (``"append"``, ``"replace"``, ``"merge"``, ``"skip"`` or
            ``{"disposition": "merge", "strategy": "upsert"}``), ``columns`` (a dict, a list
            of column schemas or a pydantic model), ``primary_key``, ``merge_key``,
            ``schema_contract``, ``table_format`` (``"delta"``, ``"iceberg"``, ``"native"``),
            ``file_format``, ``max_table_nesting``, ``parent_table_name``.

    Returns:
        A :class:`Resource`, or a decorator that makes one.

    Raises:
        UnknownArgument: for a keyword it does not take, with the closest one it does.
        InvalidHintValue: for an unknown write disposition, merge strategy or table format.
        ResourceNameMissing: for data without a name (pass ``name=``).

    Examples:
        >>> @resource(name="numbers", write_disposition="replace")
        ... def numbers():
        ...     yield [{"n": 1}, {"n": 2}]
        >>> [row["n"] for row in numbers]
        [1, 2]
    """
    if data_from is not None:
        decorate = transformer(
            data_from=data_from,
            name=name,
            selected=selected,
            parallelized=parallelized,
            section=section,
            incremental=incremental,
            standalone=standalone,
            references=references,
            nested_hints=nested_hints,
            spec=spec,
            **hints,
        )
        return decorate if data is None else decorate(cast(Callable[..., Any], data))

    def make(target: Any) -> Resource:
        resource_name = _resource_name(target, name, hints.get("table_name"))
        where = f"quiver.resource() for resource {resource_name!r}"
        reject_unknown(hints, RESOURCE_ARGUMENTS, where)
        reject_unsupported(where, references=references, spec=spec)
        values = None if partitions is None else check_partitions(resource_name, target, partitions)
        made = Resource(
            resource_name,
            target if values is None else all_partitions(target, values),
            hints=with_nested_hints(build_hints(hints, where=where), nested_hints, where),
            selected=selected,
            section=section or _section_of(target),
            parallelized=parallelized,
            incremental=incremental,
        )
        if inspect.isfunction(target):
            functools.update_wrapper(made, target, updated=())
        if values is not None:
            made.partitions, made.partition_function = values, target
        return made

    if data is None:
        return make
    return make(data)


def _resource_name(target: Any, name: str | None, table_name: Any) -> str:
    """The resource name: given, else the function's, else a static table name."""
    resource_name = name or getattr(target, "__name__", None)
    if resource_name is None or str(resource_name).startswith("<"):
        if isinstance(table_name, str):
            return table_name
        raise ResourceNameMissing(target)
    return str(resource_name)


# ---------------------------------------------------------------------------- transformer
@overload
def transformer(
    f: None = None,
    /,
    *,
    data_from: Resource | Any = None,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    section: str | None = None,
    incremental: Incremental[Any] | None = None,
    standalone: bool | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Callable[[Callable[..., Any]], Resource]: ...


@overload
def transformer(
    f: Callable[..., Any],
    /,
    *,
    data_from: Resource | Any = None,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    section: str | None = None,
    incremental: Incremental[Any] | None = None,
    standalone: bool | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Resource: ...


def transformer(
    f: Callable[..., Any] | None = None,
    /,
    *,
    data_from: Resource | Any = None,
    name: str | None = None,
    selected: bool = True,
    parallelized: bool = False,
    section: str | None = None,
    incremental: Incremental[Any] | None = None,
    standalone: bool | None = None,
    references: None = None,
    nested_hints: NestedHintsArgument | None = None,
    spec: None = None,
    **hints: Unpack[TableHints],
) -> Resource | Callable[[Callable[..., Any]], Resource]:
    """Declare a resource that receives each item (page) of another resource as first argument.

    Args:
        f: the transformer function: ``f(item, *bound_args)``; it returns or yields items and
            may take a ``meta`` argument (the meta of items marked with ``quiver.mark``).
        data_from: the resource to read from; or pipe later with ``resource | transformer``.
        name: the resource name (default: the function name).
        selected: whether a source extracts this transformer by default.
        parallelized: run each call in the extract thread pool.
        section: the config section (default: the function's module name).
        incremental: an incremental cursor for this transformer.
        standalone: accepted for compatibility (see :func:`resource`).
        references: not supported yet (raises).
        nested_hints: columns of nested tables by field path (``{"purchases": {"columns": ...}}``;
            see :func:`quiver.mark.make_nested_hints`).
        spec: not supported yet (raises).
        **hints: the table hints, as for :func:`resource`.

    Returns:
        A :class:`Resource` (a transformer), or a decorator that makes one.

    Raises:
        UnknownArgument: for a keyword it does not take, with the closest one it does.
        ResourceTypeError: when what it decorates is not a function.

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
    parent = data_from if isinstance(data_from, Resource) or data_from is None else None
    if data_from is not None and parent is None:
        parent = resource(data_from, name=getattr(data_from, "__name__", None) or "data_from")

    def make(function: Callable[..., Any]) -> Resource:
        if not callable(function):
            raise ResourceTypeError(
                f"@quiver.transformer decorates a function, got {type(function).__name__}. "
                "Hint: decorate a function whose first argument receives the items."
            )
        transformer_name = name or function.__name__
        where = f"quiver.transformer() for resource {transformer_name!r}"
        reject_unknown(hints, TRANSFORMER_ARGUMENTS, where)
        reject_unsupported(where, references=references, spec=spec)
        made = Resource(
            transformer_name,
            function,
            hints=with_nested_hints(build_hints(hints, where=where), nested_hints, where),
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


# --------------------------------------------------------------------------------- source
class SourceFactory(Generic[P]):
    """What ``@quiver.source`` returns: call it (with the function's arguments) to get a
    :class:`Source`."""

    def __init__(self, function: Callable[P, Any], options: dict[str, Any]) -> None:
        self._function = function
        self._options = options
        functools.update_wrapper(self, function)

    @property
    def name(self) -> str:
        return str(self._options.get("name") or self._function.__name__)

    @property
    def section(self) -> str | None:
        section = self._options.get("section")
        return str(section) if section else _section_of(self._function)

    def with_args(self, **options: Any) -> SourceFactory[P]:
        """A copy of the factory with other decorator options (``name``, ``section``...).

        Raises:
            UnknownArgument: for an option ``@quiver.source`` does not take.
        """
        where = f"with_args() of source {self.name!r}"
        reject_unknown(options, SOURCE_OPTIONS, where)
        _check_source_options(options, where)
        return SourceFactory(self._function, {**self._options, **options})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Source:
        sections = tuple(s for s in ("sources", self.section, self.name) if s)
        injected = inject_config(self._function, args, kwargs, sections)
        # Resources called in the source function, and those it returns uncalled, report their
        # missing config values in one error with the source's name.
        with collecting_missing_config(self.name), in_source(self.name):
            produced = self._function(*args, **injected)
            if produced is None:
                raise InvalidSourceDefinition(
                    f"source {self.name!r} returned None. Hint: return or yield its resources."
                )
            resources = list(_as_resources(produced, self.name))
            for uncalled in (r for r in resources if not r._args_bound):
                uncalled.check_config()
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
    raise ResourceTypeError(
        f"source {source_name!r} returned {type(produced).__name__}, which is neither "
        "resources nor data. Hint: return (or yield) resources, or a list/iterable of rows."
    )


@overload
def source(
    func: None = None,
    /,
    *,
    name: str | None = None,
    section: str | None = None,
    max_table_nesting: int | None = None,
    root_key: bool = False,
    schema: Any = None,
    schema_contract: SchemaContractHint | None = None,
    parallelized: bool = False,
    spec: None = None,
) -> Callable[[Callable[P, Any]], SourceFactory[P]]: ...


@overload
def source(
    func: Callable[P, Any],
    /,
    *,
    name: str | None = None,
    section: str | None = None,
    max_table_nesting: int | None = None,
    root_key: bool = False,
    schema: Any = None,
    schema_contract: SchemaContractHint | None = None,
    parallelized: bool = False,
    spec: None = None,
) -> SourceFactory[P]: ...


def source(
    func: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    section: str | None = None,
    max_table_nesting: int | None = None,
    root_key: bool = False,
    schema: Any = None,
    schema_contract: SchemaContractHint | None = None,
    parallelized: bool = False,
    spec: None = None,
    **unknown: Any,
) -> SourceFactory[P] | Callable[[Callable[P, Any]], SourceFactory[P]]:
    """Declare a source: a function returning resources. Its name is the schema name.

    Args:
        func: the source function; it returns (or yields) resources, or plain data.
        name: the source and schema name (default: the function name).
        section: the config section (default: the function's module name).
        max_table_nesting: how deep nested data becomes child tables, for every resource.
        root_key: propagate the root ``_dlt_id`` into nested tables as ``_dlt_root_id``.
        schema: a :class:`quiver.schema.model.Schema` to start from (its name names the source).
        schema_contract: the default contract of the source's tables.
        parallelized: run every resource's generator in the extract thread pool.
        spec: not supported yet (raises); config is injected from the signature.

    Returns:
        A :class:`SourceFactory`, or a decorator that makes one.

    Raises:
        UnknownArgument: for a keyword it does not take, with the closest one it does.
        InvalidSourceDefinition: when both ``name`` and ``schema`` are given.
        InvalidSchemaContract: for an unknown contract mode.

    Examples:
        >>> import quiver
        >>> @quiver.source
        ... def shop():
        ...     return quiver.resource([{"id": 1}], name="orders")
        >>> list(shop().resources)
        ['orders']
    """
    source_name = name or getattr(schema, "name", None) or getattr(func, "__name__", None)
    where = "quiver.source()" + (f" for source {source_name!r}" if source_name else "")
    reject_unknown(unknown, SOURCE_OPTIONS, where)
    if name is not None and schema is not None:
        raise InvalidSourceDefinition(
            f"{where}: got both name={name!r} and schema={schema!r}. Hint: pass one of them; "
            "a given schema names the source."
        )
    options: dict[str, Any] = {
        "name": name or (getattr(schema, "name", None)),
        "section": section,
        "max_table_nesting": max_table_nesting,
        "root_key": root_key,
        "schema": schema,
        "schema_contract": schema_contract,
        "parallelized": parallelized,
        "spec": spec,
    }
    _check_source_options(options, where)

    def make(function: Callable[P, Any]) -> SourceFactory[P]:
        return SourceFactory(function, options)

    return make if func is None else make(func)


def _check_source_options(options: dict[str, Any], where: str) -> None:
    reject_unsupported(where, spec=options.get("spec"))
    contract = options.get("schema_contract")
    if contract is not None:
        check_schema_contract(contract, where)


def _own_arguments(function: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword arguments ``function`` names in its signature."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(n for n, p in inspect.signature(function).parameters.items() if p.kind in kinds)


#: The keywords each decorator takes (the table hints plus its own), for "did you mean".
RESOURCE_ARGUMENTS = (*TABLE_HINT_NAMES, *_own_arguments(resource))
TRANSFORMER_ARGUMENTS = (*TABLE_HINT_NAMES, *_own_arguments(transformer))
SOURCE_OPTIONS = _own_arguments(source)


T = TypeVar("T")


def defer(function: Callable[P, T]) -> Callable[P, Callable[[], T]]:
    """Make calls of ``function`` run in the extract thread pool (dlt's ``@dlt.defer``).

    The decorated function returns a deferred call instead of running. A resource that yields
    it, or a transformer that returns it, has it run on one of the extract's worker threads;
    what it returns goes on through the resource's steps as if it had been yielded. Results
    arrive in the order the calls finish.

    Args:
        function: a function that fetches or computes one item (a row, a page, an Arrow table).

    Returns:
        ``function`` with the same arguments, returning a callable that takes none.

    Examples:
        >>> import quiver
        >>> @quiver.resource
        ... def profiles(names=("ada", "bob")):
        ...     @quiver.defer
        ...     def fetch(name):
        ...         return {"name": name}
        ...
        ...     for name in names:
        ...         yield fetch(name)
    """

    @functools.wraps(function)
    def deferred(*args: P.args, **kwargs: P.kwargs) -> Callable[[], T]:
        return functools.partial(function, *args, **kwargs)

    return deferred
