"""Resources: named producers of items, with their table hints and processing steps."""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

from quiver.configuration.accessors import check_config, inject_config
from quiver.errors import ResourceTypeError, SourceExhausted, UnboundResourceError
from quiver.extract.hints import reject_unknown
from quiver.extract.incremental import Incremental
from quiver.extract.incremental_config import apply_config
from quiver.extract.items import DataItemWithMeta, TableNameMeta, as_item_iterator, is_arrow_like
from quiver.extract.resource_hints import ResourceHints
from quiver.extract.steps import FilterStep, Limit, MapStep, MetricsStep, Step, YieldMapStep


class Resource(ResourceHints):
    """A named producer of items for one table (or several, with a callable ``table_name``).

    Created by ``@quiver.resource`` on a function, by ``quiver.resource(data, name=...)`` or by
    ``@quiver.transformer``. Calling a resource made from a function binds the arguments and
    returns a new resource; nothing runs until the pipeline extracts it (or it is iterated).
    """

    #: ``@quiver.resource(partitions=...)``: the partition values and the undecorated function.
    partitions: tuple[Any, ...] | None = None
    partition_function: Callable[..., Any] | None = None

    def __init__(
        self,
        name: str,
        data: Any,
        *,
        hints: dict[str, Any] | None = None,
        selected: bool = True,
        section: str | None = None,
        parallelized: bool = False,
        parent: Resource | None = None,
        incremental: Incremental[Any] | None = None,
        is_transformer: bool = False,
    ) -> None:
        super().__init__(name, hints, incremental)
        self._data = data
        self._args: tuple[Any, ...] = ()
        self._kwargs: dict[str, Any] = {}
        self.selected = selected
        self.section = section
        self.parallelized = parallelized
        self.parent = parent
        self._is_transformer = is_transformer or parent is not None
        self._steps: list[Step] = []
        self._limit: Limit | None = None
        # Shared by copies: a generator object can be consumed once, whichever copy runs it.
        self._consumed = [False]
        self.source_name: str | None = None
        function = data if _is_function(data) else None
        self._incremental_param = _incremental_param(function) if function else None
        self._bound = self._is_transformer or function is None or _takes_no_args(function)
        #: ``bind``/``__call__`` ran: a second call is a ``TypeError``, as in dlt.
        self._args_bound = False

    @property
    def is_transformer(self) -> bool:
        return self._is_transformer

    @property
    def has_parent(self) -> bool:
        return self.parent is not None

    @property
    def incremental(self) -> Incremental[Any] | None:
        """The incremental this resource would use in the next run (unbound), if any."""
        return self._make_incremental()

    def table_name_of(self, item: Any) -> str:
        """The (raw) table name an item goes to."""
        if type(item) is DataItemWithMeta:
            if isinstance(item.meta, TableNameMeta):
                return item.meta.table_name
            item = item.data
        hint = self.table_name
        return str(hint(item) if callable(hint) else hint)

    def with_name(self, new_name: str) -> Resource:
        """A copy of the resource under another name (its default table name changes too)."""
        clone = self._clone()
        clone.name = new_name
        return clone

    # -------------------------------------------------------------------------- steps
    def add_map(self, item_map: Callable[..., Any], insert_at: int | None = None) -> Resource:
        """Transform each row (each whole Arrow object) with ``item_map``; returns ``self``."""
        return self._add_step(MapStep(item_map), insert_at)

    def add_yield_map(self, item_map: Callable[..., Any], insert_at: int | None = None) -> Resource:
        """Replace each row by the items the generator ``item_map(row)`` yields."""
        return self._add_step(YieldMapStep(item_map), insert_at)

    def add_filter(self, item_filter: Callable[..., Any], insert_at: int | None = None) -> Resource:
        """Keep only the rows (Arrow objects) for which ``item_filter`` returns true."""
        return self._add_step(FilterStep(item_filter), insert_at)

    def add_metrics(
        self, metrics_f: Callable[[Any, Any, dict[str, Any]], None], insert_at: int | None = None
    ) -> Resource:
        """Collect custom metrics from the items at this point of the pipe; returns ``self``.

        ``metrics_f(items, meta, metrics)`` sees each item (a row, a page or an Arrow object)
        and its ``quiver.mark`` meta (or ``None``) and updates the dict ``metrics`` in place;
        items pass through unchanged. The metrics of every such step of a resource are reported
        by the extract: ``ExtractInfo.metrics[load_id][0]["resource_metrics"][name]
        .custom_metrics`` (dlt's place). They start empty in each extract.

        Examples:
            >>> import quiver
            >>> def count_pages(items, meta, metrics):
            ...     metrics["pages"] = metrics.get("pages", 0) + 1
            >>> pages = quiver.resource([[{"id": 1}], [{"id": 2}]], name="pages")
            >>> pages = pages.add_metrics(count_pages)
        """
        return self._add_step(MetricsStep(metrics_f), insert_at)

    @property
    def custom_metrics(self) -> dict[str, Any]:
        """The metrics the resource's ``add_metrics`` steps collected (merged, later steps'
        keys over earlier ones)."""
        merged: dict[str, Any] = {}
        for step in self._steps:
            if isinstance(step, MetricsStep):
                merged.update(step.custom_metrics)
        return merged

    def _reset_metrics(self) -> None:
        for step in self._steps:
            if isinstance(step, MetricsStep):
                step.custom_metrics.clear()

    def add_limit(
        self, max_items: int | None = None, max_time: float | None = None, count_rows: bool = False
    ) -> Resource:
        """Stop after ``max_items`` yields (pages count once; rows with ``count_rows``) or after
        ``max_time`` seconds. Has no effect on transformers (dlt's rule); returns ``self``."""
        if not self._is_transformer:
            self._limit = Limit(max_items, max_time, count_rows)
        return self

    def select_tables(self, *table_names: str) -> Resource:
        """Keep only the items that go to these tables (for dynamic table names)."""
        wanted = set(table_names)
        return self.add_filter(lambda item: self.table_name_of(item) in wanted)

    def _add_step(self, step: Step, insert_at: int | None) -> Resource:
        if insert_at is None:
            self._steps.append(step)
        else:
            self._steps.insert(insert_at, step)
        return self

    def for_partition(self, value: Any) -> Resource:
        """A copy that runs one partition of a partitioned resource (its bound arguments kept)."""
        if self.partition_function is None:
            raise ResourceTypeError(f"resource {self.name!r} has no partitions.")
        from quiver.extract.partitions import one_partition

        clone = self._clone()
        clone._data = one_partition(self.partition_function, value)
        clone.partitions = None
        return clone

    def parallelize(self) -> Resource:
        """Run this resource's generator in the extract thread pool; returns ``self``."""
        self.parallelized = True
        return self

    # ------------------------------------------------------------------------ binding
    def __call__(self, *args: Any, **kwargs: Any) -> Resource:
        """Bind arguments of the resource function; returns a new resource."""
        if not _is_function(self._data):
            raise ResourceTypeError(
                f"resource {self.name!r} wraps data, not a function; it cannot be called. "
                "Hint: pass the resource itself to the pipeline."
            )
        clone = self._clone()
        return clone.bind(*args, **kwargs)

    def bind(self, *args: Any, **kwargs: Any) -> Resource:
        """Bind arguments of the resource function in place; returns ``self``.

        Raises:
            ResourceTypeError: (a ``TypeError``, as dlt's) the arguments are already bound
                (``my_resource(1)(2)``), or do not fit the function.
        """
        if self._args_bound:
            raise ResourceTypeError(
                f"resource {self.name!r} is already bound to its arguments and cannot be "
                "called again. Hint: call the decorated function (the unbound resource) "
                "instead, e.g. my_resource(...) once per set of arguments."
            )
        function = self._data
        signature = inspect.signature(function)
        if self._is_transformer:
            # The first parameter receives the items; the rest may be bound now.
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        try:
            signature.bind_partial(*args, **kwargs)
        except TypeError as error:
            parameters = signature.parameters
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
                where = f"resource {self.name!r} ({getattr(function, '__name__', 'function')})"
                reject_unknown(kwargs, parameters, where)
            raise ResourceTypeError(
                f"resource {self.name!r} cannot take these arguments: {error}. Hint: call it "
                f"with the arguments of its function, {getattr(function, '__name__', '')}"
                f"{signature}."
            ) from error
        self._args, self._kwargs = args, kwargs
        self._bound = True
        self._args_bound = True
        self.check_config()
        return self

    def check_config(self) -> None:
        """Fail now if a ``config.value``/``secrets.value`` argument is configured nowhere.

        Runs when the resource is called (and, for resources a source returns uncalled, when
        the source is created); the values are read again when the resource runs.

        Raises:
            ConfigFieldMissingException: every missing field, key and file in one error.
        """
        if _is_function(self._data) and self._bound:
            check_config(
                self.name, self._data, self._signature_args(), self._kwargs, self._sections()
            )

    def _sections(self) -> tuple[str, ...]:
        return tuple(s for s in ("sources", self.section or "", self.name) if s)

    def _signature_args(self) -> tuple[Any, ...]:
        """The bound positional arguments as the function's signature sees them: a transformer's
        first parameter (the item) is not among them."""
        return (None, *self._args) if self._is_transformer else self._args

    def _clone(self) -> Resource:
        clone = copy.copy(self)
        clone._copy_hints_from(self)
        clone._steps = list(self._steps)
        return clone

    # -------------------------------------------------------------------- incremental
    def _make_incremental(self) -> Incremental[Any] | None:
        """A fresh, unbound incremental for one run: argument default < hints < bound argument."""
        template: Incremental[Any] | None = None
        explicit: Any = None
        param = self._incremental_param
        if param is not None:
            parameter = inspect.signature(self._data).parameters[param]
            if isinstance(parameter.default, Incremental):
                template = parameter.default.copy()
            template = apply_config(template, self.section, self.name, param)
            explicit = self._explicit_argument(param)
            if explicit is _NOT_GIVEN:
                explicit = None
            elif explicit is None:
                return None  # passing None switches the incremental off (dlt's rule)
        if self._incremental is not None:
            template = template.merge(self._incremental) if template else self._incremental.copy()
        if isinstance(explicit, Incremental):
            template = template.merge(explicit) if template else explicit.copy()
        elif explicit is not None and template is not None:
            template.initial_value = explicit
        return template

    def _explicit_argument(self, param: str) -> Any:
        if param in self._kwargs:
            return self._kwargs[param]
        names = list(inspect.signature(self._data).parameters)
        offset = 1 if self._is_transformer else 0
        position = names.index(param) - offset
        if 0 <= position < len(self._args):
            return self._args[position]
        return _NOT_GIVEN

    def _call_kwargs(self, incremental: Incremental[Any] | None) -> dict[str, Any]:
        kwargs = dict(self._kwargs)
        param = self._incremental_param
        if param is not None and incremental is not None:
            position = self._explicit_argument(param)
            if param in kwargs or position is _NOT_GIVEN:
                kwargs[param] = incremental
        return inject_config(self._data, self._signature_args(), kwargs, self._sections())

    def _call_args(self, incremental: Incremental[Any] | None) -> tuple[Any, ...]:
        param = self._incremental_param
        if param is None or incremental is None or param in self._kwargs:
            return self._args
        names = list(inspect.signature(self._data).parameters)
        position = names.index(param) - (1 if self._is_transformer else 0)
        if 0 <= position < len(self._args):
            args = list(self._args)
            args[position] = incremental
            return tuple(args)
        return self._args

    # ---------------------------------------------------------------------- evaluation
    def _is_async(self) -> bool:
        data = self._data
        if _is_function(data):
            function = inspect.unwrap(data)
            return inspect.isasyncgenfunction(function) or inspect.iscoroutinefunction(function)
        return inspect.isasyncgen(data) or inspect.iscoroutine(data) or hasattr(data, "__aiter__")

    def _open(self, incremental: Incremental[Any] | None, *, as_pages: bool) -> Any:
        """Start the resource: an iterator of items, an async iterator, or a coroutine.

        For plain functions this runs user code (the caller attributes errors).
        """
        data = self._data
        if _is_function(data):
            if not self._bound:
                raise UnboundResourceError(
                    f"Resource {self.name!r} needs arguments: call it first, e.g. "
                    f"{self.name}(...), then pass the result to the pipeline."
                )
            data = data(*self._call_args(incremental), **self._call_kwargs(incremental))
        elif inspect.isgenerator(data) or isinstance(data, Iterator) or inspect.isasyncgen(data):
            if self._consumed[0] or (
                inspect.isgenerator(data) and inspect.getgeneratorstate(data) == inspect.GEN_CLOSED
            ):
                raise SourceExhausted(self.name)
            self._consumed[0] = True
        if inspect.iscoroutine(data) or inspect.isasyncgen(data) or hasattr(data, "__aiter__"):
            if self._limit is not None and not inspect.iscoroutine(data):
                return self._limit.apply_async(data)
            return data
        iterator = as_item_iterator(data, as_pages=as_pages and self._limit is None)
        if self._limit is not None:
            return self._limit.apply(iterator)
        return iterator

    def _transform(self, item: Any, incremental: Incremental[Any] | None) -> Any:
        """Call the transformer function on one item of its parent (user code)."""
        meta = None
        if type(item) is DataItemWithMeta:
            meta, item = item.meta, item.data
        kwargs = self._call_kwargs(incremental)
        if meta is not None and "meta" in inspect.signature(self._data).parameters:
            kwargs["meta"] = meta
        return self._data(item, *self._call_args(incremental), **kwargs)

    @property
    def exhausted(self) -> bool:
        """True when the resource wraps a generator object that was already consumed."""
        return self._consumed[0]

    # ----------------------------------------------------------------- iteration, piping
    def __iter__(self) -> Iterator[Any]:
        """Items one at a time, pages unpacked, incremental applied (as ``list(resource)``).

        Runs outside of a pipeline's extract: state writes are not kept.
        """
        from quiver.extract.pipe import evaluate_standalone

        for item in evaluate_standalone([self], self.source_name):
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def __or__(self, transformer: Resource) -> Resource:
        """``resource | transformer``: feed this resource's items to the transformer."""
        if not isinstance(transformer, Resource) or not transformer.is_transformer:
            raise ResourceTypeError(
                f"{transformer!r} is not a transformer; only transformers can be piped. Hint: "
                "declare the right-hand side with @quiver.transformer."
            )
        clone = transformer._clone()
        clone.parent = self
        return clone

    def __ror__(self, data: Any) -> Resource:
        """``data | transformer`` for plain data (a list, a generator)."""
        if not self._is_transformer:
            return NotImplemented
        name = getattr(data, "__name__", None) or f"{self.name}_data"
        return Resource(str(name), data) | self

    def __repr__(self) -> str:
        kind = "transformer" if self._is_transformer else "resource"
        return f"Resource(name={self.name!r}, table_name={self.table_name!r}, kind={kind})"

    # -------------------------------------------------------------------------- state
    @property
    def state(self) -> dict[str, Any]:
        """This resource's state dict (writes are kept only during a pipeline's extract)."""
        from quiver.extract.state import resource_state

        return resource_state(self.name, self.source_name)


_NOT_GIVEN: Any = object()


def _is_function(data: Any) -> bool:
    return (
        callable(data)
        and not isinstance(data, type)
        and not is_arrow_like(data)
        and not isinstance(data, Resource)
    )


def _takes_no_args(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return all(
        p.default is not inspect.Parameter.empty
        or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in parameters
    )


def _incremental_param(function: Callable[..., Any]) -> str | None:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    for parameter in parameters:
        if isinstance(parameter.default, Incremental) or _mentions_incremental(
            parameter.annotation
        ):
            return parameter.name
    return None


def _mentions_incremental(annotation: Any) -> bool:
    """Whether an annotation contains ``Incremental`` anywhere: ``incremental[int]``,
    ``Optional[incremental[Any]]`` (dlt's ``sql_table``), ``Union``, ``Annotated``, or the
    text of any of them under ``from __future__ import annotations``."""
    if isinstance(annotation, str):
        return "incremental" in annotation.lower()
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, Incremental):
        return True
    return any(_mentions_incremental(arg) for arg in typing.get_args(annotation))


def __getattr__(name: str) -> Any:
    # ``Source`` used to live here; keep ``from quiver.extract.resource import Source`` working.
    if name == "Source":
        from quiver.extract.source import Source

        return Source
    raise AttributeError(name)
