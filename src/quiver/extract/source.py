"""Sources: named groups of resources. A source's name is its schema's name."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from quiver.errors import (
    InvalidSourceDefinition,
    ResourceNotFound,
    ResourcesNotFound,
    did_you_mean,
)
from quiver.extract.resource import Resource
from quiver.schema.hints import SchemaContractHint


def copy_resources(resources: list[Resource]) -> list[Resource]:
    """Copies of ``resources``; a transformer whose parent is among them gets the parent's copy."""
    copies = {id(resource): resource._clone() for resource in resources}
    for resource in resources:
        copied = copies[id(resource)]
        if resource.parent is not None and id(resource.parent) in copies:
            copied.parent = copies[id(resource.parent)]
    return list(copies.values())


class ResourceDict(dict[str, Resource]):
    """The resources of a source by name, with the selection helpers dlt has."""

    def __init__(self, source: Source | None = None) -> None:
        super().__init__()
        self._source = source

    def add(self, *resources: Resource) -> None:
        """Add resources to the source (dlt's ``source.resources.add``).

        Raises:
            InvalidSourceDefinition: a resource of that name is already in the source.
        """
        for resource in resources:
            if self._source is None:
                self[resource.name] = resource
            else:
                self._source._add(resource)

    @property
    def selected(self) -> dict[str, Resource]:
        """The resources that will be extracted."""
        return {name: r for name, r in self.items() if r.selected}

    @property
    def pipes(self) -> list[Resource]:
        return list(self.values())


class Source:
    """A named group of resources; its name is the schema name.

    Created by calling a function decorated with ``@quiver.source``.

    Args:
        name: the source (and schema) name.
        resources: the resources, in order.
        section: the config section of the source.
        max_table_nesting: depth of nested tables for every resource of the source.
        root_key: propagate the root ``_dlt_id`` into nested tables as ``_dlt_root_id``.
        schema_contract: the default contract of the source's tables.
        schema: a :class:`quiver.schema.model.Schema` to start from.
        parallelized: run every resource's generator in the extract thread pool.
    """

    def __init__(
        self,
        name: str,
        resources: Iterable[Resource],
        *,
        section: str | None = None,
        max_table_nesting: int | None = None,
        root_key: bool = False,
        schema_contract: SchemaContractHint | None = None,
        schema: Any = None,
        parallelized: bool = False,
        allow_instances: bool = False,
    ) -> None:
        self.name = name
        # ``run([gen(10), gen(20)])``: several instances of one resource load into its table
        # (dlt's rule for resources passed as data; a declared source keeps names unique).
        self._allow_instances = allow_instances
        self.section = section
        self.max_table_nesting = max_table_nesting
        self.root_key = root_key
        self.schema_contract = schema_contract
        self._schema = schema
        self._resources = ResourceDict(self)
        for resource in resources:
            self._add(resource)
        if parallelized:
            self.parallelize()

    def _add(self, resource: Resource) -> None:
        key = resource.name
        if key in self._resources and self._resources[key] is not resource:
            if not self._allow_instances:
                raise InvalidSourceDefinition(
                    f"source {self.name!r} has two resources named {resource.name!r}. "
                    "Hint: rename one with .with_name(...)."
                )
            instance = 2
            while f"{key}#{instance}" in self._resources:
                instance += 1
            key = f"{key}#{instance}"
        resource.source_name = self.name
        self._resources[key] = resource

    # -------------------------------------------------------------------------- resources
    @property
    def resources(self) -> ResourceDict:
        """All resources by name (the live objects: setting ``.selected`` selects)."""
        return self._resources

    @property
    def selected_resources(self) -> dict[str, Resource]:
        """The resources that will be extracted."""
        return self._resources.selected

    def with_resources(self, *names: str) -> Source:
        """A clone of the source with only ``names`` selected."""
        unknown = [n for n in names if n not in self._resources]
        if unknown:
            closest = did_you_mean(unknown[0], self._resources)
            raise ResourcesNotFound(
                f"source {self.name!r} has no resources {unknown}.{closest} "
                f"Hint: pick from {list(self._resources)}."
            )
        clone = self.clone()
        for name, resource in clone._resources.items():
            resource.selected = name in names
        return clone

    def add_limit(
        self, max_items: int | None = None, max_time: float | None = None, count_rows: bool = False
    ) -> Source:
        """``add_limit`` on every resource that is not a transformer; returns ``self``."""
        for resource in self._resources.values():
            resource.add_limit(max_items, max_time, count_rows)
        return self

    def parallelize(self) -> Source:
        """Run every resource's generator in the extract thread pool; returns ``self``."""
        for resource in self._resources.values():
            resource.parallelize()
        return self

    def clone(self, with_name: str | None = None) -> Source:
        """A copy with copied resources (transformers re-linked to the copied parents)."""
        clone = copy.copy(self)
        clone.name = with_name or self.name
        clone._resources = ResourceDict(clone)
        for copied in copy_resources(list(self._resources.values())):
            clone._add(copied)
        return clone

    @property
    def exhausted(self) -> bool:
        """True when a selected resource wraps a generator object that was already consumed."""
        return any(r.exhausted for r in self.selected_resources.values())

    # ----------------------------------------------------------------------- schema, state
    @property
    def schema(self) -> Any:
        """The source's schema (a new empty one unless the source was given one)."""
        if self._schema is None:
            from quiver.schema.model import Schema

            self._schema = Schema(self.name)
        return self._schema

    @schema.setter
    def schema(self, value: Any) -> None:
        self._schema = value

    @property
    def has_given_schema(self) -> bool:
        return self._schema is not None and bool(getattr(self._schema, "data_tables", None))

    @property
    def state(self) -> dict[str, Any]:
        """The source's state dict (writes are kept only during a pipeline's extract)."""
        from quiver.extract.state import source_state

        return source_state(self.name)

    @property
    def run(self) -> Any:
        """``source.run(...)``: run this source on the active (or a default) pipeline."""
        from quiver.extract.state import default_pipeline

        active = default_pipeline()

        def run(*args: Any, **kwargs: Any) -> Any:
            return active.run(self, *args, **kwargs)

        return run

    # -------------------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[Any]:
        """Items of the selected resources, pages unpacked (runs outside of a pipeline)."""
        from quiver.extract.pipe import evaluate_standalone

        for item in evaluate_standalone(list(self.selected_resources.values()), self.name):
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def __getattr__(self, name: str) -> Resource:
        resources = self.__dict__.get("_resources", {})
        if name in resources:
            return resources[name]  # type: ignore[no-any-return]
        raise ResourceNotFound(
            f"source {self.__dict__.get('name')!r} has no resource {name!r}."
            f"{did_you_mean(name, resources)} Hint: pick from {list(resources)}."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        """``source.<name> = resource`` adds or replaces a resource (dlt's rule)."""
        if not isinstance(value, Resource):
            super().__setattr__(name, value)
            return
        if value.name != name:
            raise InvalidSourceDefinition(
                f"source {self.name!r}: attribute {name!r} cannot hold resource "
                f"{value.name!r}. Hint: name them alike, e.g. "
                f"source.{value.name} = ... or resource.with_name({name!r})."
            )
        value.source_name = self.name
        self._resources[name] = value

    def __repr__(self) -> str:
        return f"Source(name={self.name!r}, resources={list(self._resources)})"
