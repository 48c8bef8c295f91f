"""Resources and sources: named producers of items, with the table hints that go with them."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from quiver.exceptions import SourceExhausted
from quiver.extract.items import is_arrow_like

TTableHint = Any
_HINT_NAMES = (
    "table_name",
    "write_disposition",
    "columns",
    "primary_key",
    "merge_key",
    "schema_contract",
    "table_format",
    "file_format",
    "max_table_nesting",
)


def normalize_columns_hint(columns: Any) -> dict[str, dict[str, Any]] | None:
    """``columns=`` as a dict name → column schema (accepts a dict, a list, or a pydantic model)."""
    if columns is None:
        return None
    if isinstance(columns, Mapping):
        return {name: {"name": name, **dict(col)} for name, col in columns.items()}
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        return {col["name"]: dict(col) for col in columns}
    fields = getattr(columns, "model_fields", None)
    if fields is not None:
        from quiver.extract.pydantic_columns import pydantic_to_columns

        return pydantic_to_columns(columns)
    raise TypeError(
        f"columns must be a dict, a list of column schemas or a pydantic model, got {columns!r}"
    )


def write_disposition_hints(write_disposition: Any) -> dict[str, Any]:
    """The dict form ``{"disposition": "merge", "strategy": ...}`` → shorthand + table hints."""
    if write_disposition is None or isinstance(write_disposition, str):
        return {"write_disposition": write_disposition}
    hints: dict[str, Any] = {"write_disposition": write_disposition["disposition"]}
    if "strategy" in write_disposition:
        hints["x-merge-strategy"] = write_disposition["strategy"]
    return hints


class Resource:
    """A named producer of items for one table (or several, with a callable ``table_name``).

    Created by ``@quiver.resource`` on a function, or by ``quiver.resource(data, name=...)``.
    Calling a resource made from a function binds the arguments and returns a new resource.
    """

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
    ) -> None:
        self.name = name
        self._data = data
        self._hints: dict[str, Any] = dict(hints or {})
        self.selected = selected
        self.section = section
        self.parallelized = parallelized
        self.parent = parent
        self._bound = not (callable(data) and inspect.isfunction(data)) or _takes_no_args(data)
        self._consumed = False

    # ----------------------------------------------------------------- hints
    @property
    def table_name(self) -> TTableHint:
        return self._hints.get("table_name") or self.name

    @property
    def write_disposition(self) -> str:
        return str(self._hints.get("write_disposition") or "append")

    @property
    def hints(self) -> dict[str, Any]:
        return dict(self._hints)

    def apply_hints(
        self,
        table_name: TTableHint = None,
        write_disposition: Any = None,
        columns: Any = None,
        primary_key: Any = None,
        merge_key: Any = None,
        schema_contract: Any = None,
        table_format: Any = None,
        file_format: Any = None,
        max_table_nesting: int | None = None,
        **_: Any,
    ) -> Resource:
        """Set table hints in place (the same keywords as ``@resource``); returns ``self``."""
        given = {
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
        for key, value in given.items():
            if value is not None:
                if key == "columns" and "columns" in self._hints:
                    merged = dict(self._hints["columns"])
                    for col, props in value.items():
                        merged[col] = {**merged.get(col, {}), **props}
                    value = merged
                self._hints[key] = value
        return self

    def with_name(self, new_name: str) -> Resource:
        clone = self._clone()
        clone.name = new_name
        return clone

    # -------------------------------------------------------------- binding
    def __call__(self, *args: Any, **kwargs: Any) -> Resource:
        if not callable(self._data):
            raise TypeError(
                f"resource {self.name!r} wraps data, not a function; it cannot be called"
            )
        clone = self._clone()
        function = self._data
        clone._data = lambda: function(*args, **kwargs)
        clone._bound = True
        return clone

    def _clone(self) -> Resource:
        clone = copy.copy(self)
        clone._hints = copy.deepcopy(self._hints)
        return clone

    # ------------------------------------------------------------ iteration
    def pages(self) -> Iterator[Any]:
        """The items exactly as the resource yields them (rows, pages or Arrow objects)."""
        if self.parent is not None:
            yield from self._transform(self.parent.pages())
            return
        data = self._data
        if callable(data) and not is_arrow_like(data):
            if not self._bound:
                raise TypeError(
                    f"resource {self.name!r} needs arguments: call it first, e.g. {self.name}(...)"
                )
            data = data()
        elif inspect.isgenerator(data) or isinstance(data, Iterator):
            if self._consumed:
                raise SourceExhausted(self.name)
            self._consumed = True
        if data is None:
            return
        if isinstance(data, dict) or is_arrow_like(data) or isinstance(data, str | bytes):
            yield data
        elif inspect.isasyncgen(data):
            yield from _drain_async(data)
        elif isinstance(data, Iterable):
            yield from data
        else:
            yield data

    def _transform(self, pages: Iterator[Any]) -> Iterator[Any]:
        function = self._data
        for page in pages:
            result = function(page)
            if result is None:
                continue
            if inspect.isgenerator(result) or (
                isinstance(result, Iterator) and not isinstance(result, dict)
            ):
                yield from result
            else:
                yield result

    def __iter__(self) -> Iterator[Any]:
        """Items one at a time, pages unpacked (as ``list(resource)`` does in dlt)."""
        for page in self.pages():
            if isinstance(page, list | tuple):
                yield from page
            else:
                yield page

    def __or__(self, transformer: Resource) -> Resource:
        clone = transformer._clone()
        clone.parent = self
        return clone

    def __repr__(self) -> str:
        return f"Resource(name={self.name!r}, table_name={self.table_name!r})"


def _takes_no_args(function: Callable[..., Any]) -> bool:
    parameters = inspect.signature(function).parameters.values()
    return all(
        p.default is not inspect.Parameter.empty
        or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in parameters
    )


def _drain_async(agen: Any) -> Iterator[Any]:
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


class Source:
    """A named group of resources; its name is the schema name."""

    def __init__(
        self,
        name: str,
        resources: Sequence[Resource],
        *,
        section: str | None = None,
        max_table_nesting: int | None = None,
        root_key: bool = False,
        schema_contract: Any = None,
        schema: Any = None,
    ) -> None:
        self.name = name
        self.section = section
        self.max_table_nesting = max_table_nesting
        self.root_key = root_key
        self.schema_contract = schema_contract
        self.schema = schema
        self._resources: dict[str, Resource] = {r.name: r for r in resources}

    @property
    def resources(self) -> dict[str, Resource]:
        return dict(self._resources)

    @property
    def selected_resources(self) -> dict[str, Resource]:
        return {name: r for name, r in self._resources.items() if r.selected}

    def with_resources(self, *names: str) -> Source:
        unknown = [n for n in names if n not in self._resources]
        if unknown:
            raise KeyError(
                f"source {self.name!r} has no resources {unknown}; it has {list(self._resources)}"
            )
        for name, resource in self._resources.items():
            resource.selected = name in names
        return self

    def __getattr__(self, name: str) -> Resource:
        resources = self.__dict__.get("_resources", {})
        if name in resources:
            return resources[name]  # type: ignore[no-any-return]
        raise AttributeError(f"source {self.__dict__.get('name')!r} has no resource {name!r}")

    def __repr__(self) -> str:
        return f"Source(name={self.name!r}, resources={list(self._resources)})"
