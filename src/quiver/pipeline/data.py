"""Turn what ``run``/``extract`` accept into sources of resources."""

from __future__ import annotations

import inspect
from typing import Any

from quiver.errors import ResourceNameMissing
from quiver.extract.decorators import SourceFactory
from quiver.extract.items import is_arrow_like
from quiver.extract.resource import Resource
from quiver.extract.source import Source


def data_to_sources(data: Any, default_schema_name: str, table_name: str | None) -> list[Source]:
    """Group the data into sources; resources and plain data go into the default schema."""
    items = (
        data
        if isinstance(data, list)
        and data
        and all(isinstance(d, Source | Resource | SourceFactory) for d in data)
        else [data]
    )
    sources: dict[str, Source] = {}
    loose: list[Resource] = []
    for item in items:
        if isinstance(item, SourceFactory):
            item = item()
        if isinstance(item, Source):
            sources[item.name] = item
        elif isinstance(item, Resource):
            loose.append(item)
        else:
            loose.append(_data_to_resource(item, table_name))
    result = list(sources.values())
    if loose:
        result.append(Source(default_schema_name, loose, allow_instances=True))
    return sorted(result, key=lambda s: s.name)


def _data_to_resource(data: Any, table_name: str | None) -> Resource:
    name = table_name or _name_of(data)
    if name is None:
        raise ResourceNameMissing(data)
    return Resource(name, data)


def _name_of(data: Any) -> str | None:
    if inspect.isgenerator(data):
        return str(data.__name__)
    if inspect.isfunction(data):
        return data.__name__
    if is_arrow_like(data) or isinstance(data, list | tuple | dict):
        return None
    name = getattr(data, "__name__", None)
    return name if isinstance(name, str) else None


def with_run_hints(resource: Resource, hints: dict[str, Any]) -> Resource:
    """A copy of the resource with the run's hints applied (the resource itself is unchanged)."""
    clone = resource.with_name(resource.name)
    clone.apply_hints(**hints)
    return clone
