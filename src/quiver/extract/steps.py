"""Steps a resource applies to each item it yields: maps, filters, yield-maps and limits.

A step sees one item as the resource yielded it: a row, a page (list) of rows or an Arrow
object. On a page, maps and filters apply to each row (dlt's semantics); on an Arrow object
they get the whole object. Items wrapped with ``quiver.mark`` keep their meta.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from quiver.extract.items import DataItemWithMeta


def _accepts_meta(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "meta" in parameters


class Step:
    """One processing step; returns the item (or ``None`` to drop it) or a list of items."""

    #: True when the step may turn one item into several (yield-maps).
    many = False

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self._with_meta = _accepts_meta(function)

    def _call(self, value: Any, meta: Any) -> Any:
        if self._with_meta:
            return self.function(value, meta=meta)
        return self.function(value)

    def __call__(self, item: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class MapStep(Step):
    """``add_map``: replace each row (or the Arrow object) by ``function(row)``."""

    def __call__(self, item: Any) -> Any:
        meta = None
        if type(item) is DataItemWithMeta:
            meta, item = item.meta, item.data
        if isinstance(item, list):
            result: Any = [self._call(row, meta) for row in item]
        else:
            result = self._call(item, meta)
        return result if meta is None else DataItemWithMeta(meta, result)


class FilterStep(Step):
    """``add_filter``: keep the rows for which ``function(row)`` is true."""

    def __call__(self, item: Any) -> Any:
        meta = None
        if type(item) is DataItemWithMeta:
            meta, item = item.meta, item.data
        if isinstance(item, list):
            kept: Any = [row for row in item if self._call(row, meta)]
            if not kept:
                return None
        else:
            kept = item if self._call(item, meta) else None
            if kept is None:
                return None
        return kept if meta is None else DataItemWithMeta(meta, kept)


class YieldMapStep(Step):
    """``add_yield_map``: ``function(row)`` is a generator; each thing it yields is an item."""

    many = True

    def __call__(self, item: Any) -> list[Any]:
        meta = None
        if type(item) is DataItemWithMeta:
            meta, item = item.meta, item.data
        out: list[Any] = []
        for row in item if isinstance(item, list) else [item]:
            produced = self._call(row, meta)
            if produced is None:
                continue
            if inspect.isgenerator(produced) or isinstance(produced, Iterator):
                out.extend(produced)
            else:
                out.append(produced)
        return out


class MetricsStep(Step):
    """``add_metrics``: ``function(items, meta, metrics)`` updates ``metrics``; items pass as
    they are. ``metrics`` is reported per resource in ``ExtractInfo.metrics`` (dlt's
    ``custom_metrics``)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        super().__init__(function)
        self.custom_metrics: dict[str, Any] = {}

    def __call__(self, item: Any) -> Any:
        if type(item) is DataItemWithMeta:
            self.function(item.data, item.meta, self.custom_metrics)
        else:
            self.function(item, None, self.custom_metrics)
        return item


def run_steps(item: Any, steps: list[Step]) -> list[Any]:
    """Apply ``steps`` in order; the items that come out (none, one or several)."""
    items = [item]
    for step in steps:
        next_items: list[Any] = []
        for current in items:
            result = step(current)
            if step.many:
                next_items.extend(r for r in result if r is not None)
            elif result is not None:
                next_items.append(result)
        items = next_items
        if not items:
            break
    return items


@dataclass(frozen=True)
class Limit:
    """``add_limit``: stop after ``max_items`` yields (rows with ``count_rows``) or ``max_time`` s."""

    max_items: int | None = None
    max_time: float | None = None
    count_rows: bool = False

    def _count(self, item: Any) -> int:
        if self.count_rows:
            data = item.data if type(item) is DataItemWithMeta else item
            if isinstance(data, list):
                return len(data)
            num_rows = getattr(data, "num_rows", None)
            if isinstance(num_rows, int):
                return num_rows
        return 1

    def apply(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """The first items of ``iterator`` within the limit; closes ``iterator`` when done."""
        try:
            if self.max_items is not None and self.max_items <= 0:
                return
            started = time.monotonic()
            count = 0
            for item in iterator:
                yield item
                count += self._count(item)
                if self.max_items is not None and count >= self.max_items:
                    return
                if self.max_time is not None and time.monotonic() - started >= self.max_time:
                    return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    async def apply_async(self, iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """:meth:`apply` for async iterators."""
        try:
            if self.max_items is not None and self.max_items <= 0:
                return
            started = time.monotonic()
            count = 0
            async for item in iterator:
                yield item
                count += self._count(item)
                if self.max_items is not None and count >= self.max_items:
                    return
                if self.max_time is not None and time.monotonic() - started >= self.max_time:
                    return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
