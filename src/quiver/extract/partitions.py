"""Partitioned resources: one function called once per partition value (docs/scale-out.md).

``@quiver.resource(partitions=[...])`` declares the units of parallel work of a resource. The
function takes the partition value as its first parameter; the other parameters (arguments,
config values, an incremental) work as on any resource. Run in one process, the resource calls
the function for each partition in turn; with ``executor=`` each partition is a task on a worker
(:mod:`quiver.scaleout`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from quiver.errors import ResourceTypeError


def check_partitions(name: str, function: Any, partitions: Sequence[Any]) -> tuple[Any, ...]:
    """The partition values as a tuple, after checking the function can take them.

    Raises:
        ResourceTypeError: the resource is not a plain or generator function with at least one
            parameter, or ``partitions`` is a string or empty.
    """
    where = f"quiver.resource(partitions=...) for resource {name!r}"
    if isinstance(partitions, str | bytes) or not isinstance(partitions, Sequence | set):
        raise ResourceTypeError(
            f"{where}: partitions={partitions!r} is not a list of partition values. Hint: pass "
            "a list, e.g. partitions=['2024-01', '2024-02'] or partitions=range(8)."
        )
    values = tuple(partitions)
    if not values:
        raise ResourceTypeError(
            f"{where}: partitions is empty, so the resource would yield nothing. Hint: pass at "
            "least one partition value."
        )
    if not callable(function) or inspect.isasyncgenfunction(function):
        raise ResourceTypeError(
            f"{where}: partitions need a (generator) function, got {type(function).__name__}. "
            "Hint: decorate a def that takes the partition value as its first parameter."
        )
    if inspect.iscoroutinefunction(function) or not _parameters(function):
        raise ResourceTypeError(
            f"{where}: the function must be synchronous and take the partition value as its "
            "first parameter. Hint: def my_resource(partition, ...): yield ..."
        )
    return values


def all_partitions(function: Callable[..., Any], partitions: tuple[Any, ...]) -> Callable[..., Any]:
    """The resource's function when it runs in one process: every partition, in order."""

    @functools.wraps(function)
    def each_partition(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for value in partitions:
            yield from _items(function(value, *args, **kwargs))

    each_partition.__signature__ = _without_first(function)  # type: ignore[attr-defined]
    return each_partition


def one_partition(function: Callable[..., Any], value: Any) -> Callable[..., Any]:
    """The resource's function for one partition (what a worker runs)."""

    @functools.wraps(function)
    def this_partition(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from _items(function(value, *args, **kwargs))

    this_partition.__signature__ = _without_first(function)  # type: ignore[attr-defined]
    return this_partition


def _items(result: Any) -> Iterator[Any]:
    """A generator's items, or a returned value (a page, an Arrow table) as one item."""
    if inspect.isgenerator(result) or isinstance(result, Iterator):
        yield from result
    elif result is not None:
        yield result


def _parameters(function: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []


def _without_first(function: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(function)
    return signature.replace(parameters=list(signature.parameters.values())[1:])
