"""Evaluate resources: generators, transformer forks, a thread pool and an asyncio loop.

Resources form trees: a transformer hangs under the resource it reads from. Each tree's root
is pulled once; every item it yields goes through the root's steps, is emitted (if the root is
selected) and is fed to its transformers, depth first. So a resource that is both loaded and
read by a transformer runs once.

Plain roots run one after another on the calling thread (dlt's ``fifo`` order). Roots marked
``parallelized`` run in a thread pool of ``workers`` threads; async generators, coroutines and
awaitables yielded by generators run concurrently on one asyncio loop in a helper thread. Their
items come back through a queue and are processed on the calling thread, so the extractor, the
incremental filters and the state are only ever touched by one thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from quiver.errors import QuiverError, ResourceExtractionError
from quiver.extract.incremental import Incremental
from quiver.extract.items import (
    DataItemWithMeta,
    MaterializedEmptyList,
    as_item_iterator,
    is_arrow_like,
    to_arrow_table,
)
from quiver.extract.resource import Resource
from quiver.extract.state import (
    current_source_name,
    current_state,
    in_source,
    managed_state,
    reset_current_resource,
    resource_section,
    set_current_resource,
)
from quiver.extract.steps import run_steps

DEFAULT_WORKERS = 5
DEFAULT_MAX_PARALLEL_ITEMS = 20


@dataclass(eq=False)
class PipeNode:
    """One resource in one run: what it feeds, whether it is loaded, its bound incremental."""

    resource: Resource
    emit: bool
    children: list[PipeNode] = field(default_factory=list)
    is_root: bool = True
    incremental: Incremental[Any] | None = None
    #: Filter every single row as it comes (transformers read them one by one); else rows
    #: yielded one at a time wait in ``pending`` and are filtered in chunks (pages and Arrow
    #: items are always filtered as they come, so the cursor is current after each page).
    filter_each_row: bool = False
    pending: list[Any] = field(default_factory=list)
    closed: bool = False

    @property
    def name(self) -> str:
        return self.resource.name

    def walk(self) -> Iterator[PipeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def build_nodes(resources: Sequence[Resource]) -> list[PipeNode]:
    """The roots of the resource trees; ``resources`` are the ones to load (emit).

    A transformer's parent is looked up by name among ``resources`` first, so copies made for
    one run (``run(..., table_name=...)`` applies hints to copies) still share one parent.
    """
    by_name = {r.name: r for r in resources}
    nodes: dict[int, PipeNode] = {}

    def node_for(resource: Resource, emit: bool) -> PipeNode:
        existing = nodes.get(id(resource))
        if existing is not None:
            existing.emit = existing.emit or emit
            return existing
        node = nodes[id(resource)] = PipeNode(resource, emit)
        if resource.parent is not None:
            parent = by_name.get(resource.parent.name, resource.parent)
            if parent is resource:
                parent = resource.parent
            parent_node = node_for(parent, emit=False)
            parent_node.children.append(node)
            node.is_root = False
        return node

    for resource in resources:
        node_for(resource, emit=True)
    return [node for node in nodes.values() if node.is_root]


def bind_incrementals(
    roots: Sequence[PipeNode], state: dict[str, Any], source_name: str, *, in_pipe: bool
) -> None:
    """Give every node a fresh incremental bound to its resource's state (if it has one)."""
    for root in roots:
        for node in root.walk():
            incremental = node.resource._make_incremental()
            if incremental is None:
                continue
            section = resource_section(state, source_name, node.name)
            incremental.bind(node.name, section, resource_primary_key=node.resource.primary_key)
            node.incremental = incremental
            node.filter_each_row = in_pipe or bool(node.children) or not node.emit


def filter_item(incremental: Incremental[Any], item: Any) -> Any:
    """One item (row, page, Arrow object) filtered by an incremental; ``None`` if nothing is left."""
    if type(item) is DataItemWithMeta:
        inner = filter_item(incremental, item.data)
        return None if inner is None else DataItemWithMeta(item.meta, inner)
    if isinstance(item, list):
        if not item:
            return item if type(item) is MaterializedEmptyList else None
        if is_arrow_like(item[0]):
            kept = [f for f in (filter_item(incremental, x) for x in item) if f is not None]
            return kept or None
        rows = incremental.filter_rows(item)
        return rows or None
    if is_arrow_like(item):
        table = incremental.filter_batch(to_arrow_table(item))
        return table if table.num_rows else None
    rows = incremental.filter_rows([item])
    return rows[0] if rows else None


#: Rows yielded one at a time wait in a node's ``pending`` list up to this many before the
#: incremental filters them (one vectorized pass) and they go on, as one page.
PENDING_ROWS = 1_000


def _is_single_row(item: Any) -> bool:
    return not (
        isinstance(item, list | tuple) or type(item) is DataItemWithMeta or is_arrow_like(item)
    )


def _wrap(node: PipeNode, error: BaseException) -> BaseException:
    if isinstance(error, QuiverError):
        return error
    return ResourceExtractionError(node.name, error)


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _is_async_value(value: Any) -> bool:
    return inspect.isawaitable(value) or hasattr(value, "__aiter__")


Emit = Callable[[PipeNode, Any], None]


class PipeRunner:
    """Pull every tree to the end, calling ``emit(node, item)`` on the calling thread.

    Args:
        roots: from :func:`build_nodes`.
        emit: receives each item of a selected resource, after steps (and the incremental,
            when the node filters in the pipe).
        workers: threads for ``parallelized`` resources and transformers.
        as_pages: hand materialized lists over in pages (only to nodes without transformers).
    """

    def __init__(
        self,
        roots: Sequence[PipeNode],
        emit: Emit,
        *,
        workers: int = DEFAULT_WORKERS,
        max_parallel_items: int = DEFAULT_MAX_PARALLEL_ITEMS,
        as_pages: bool = True,
    ) -> None:
        self._roots = list(roots)
        self._emit = emit
        self._workers = max(1, workers)
        self._as_pages = as_pages
        self._queue: queue.Queue[tuple[str, PipeNode, Any]] = queue.Queue(
            maxsize=max(max_parallel_items, 2 * self._workers)
        )
        self._pending = 0
        self._stop = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._thread_id = threading.get_ident()

    def run(self) -> None:
        """Evaluate everything; the first error stops the run and is raised (wrapped)."""
        self._thread_id = threading.get_ident()
        nodes = [node for root in self._roots for node in root.walk()]
        for node in nodes:
            if node.incremental is not None and not node.filter_each_row:
                node.incremental._catch_up = functools.partial(self._catch_up, node)
        try:
            plain = []
            for root in self._roots:
                if root.resource.parallelized or root.resource._is_async():
                    self._start_concurrent(root)
                else:
                    plain.append(root)
            for root in plain:
                self._drive(root)
            while self._pending:
                self._handle(self._queue.get())
            for node in nodes:
                self._release_pending(node)
        finally:
            for node in nodes:
                if node.incremental is not None:
                    node.incremental._catch_up = None
            self._shutdown()

    # ------------------------------------------------------------------ plain evaluation
    def _open(self, node: PipeNode) -> Any:
        token = set_current_resource(node.name)
        try:
            as_pages = self._as_pages and not node.children and not node.resource._steps
            return node.resource._open(node.incremental, as_pages=as_pages)
        except Exception as error:
            raise _wrap(node, error) from error
        finally:
            reset_current_resource(token)

    def _drive(self, root: PipeNode) -> None:
        opened = self._open(root)
        if _is_async_value(opened):
            self._submit_async(root, opened, single=False)
            return
        token = set_current_resource(root.name)
        incremental = root.incremental
        closes = incremental is not None and incremental.row_order is not None
        process = self._process
        next_item = opened.__next__
        try:
            while True:
                try:
                    item = next_item()
                except StopIteration:
                    break
                except Exception as error:
                    raise _wrap(root, error) from error
                process(root, item)
                if closes and incremental is not None and incremental.closable():
                    break
                if self._pending:
                    self._drain()
            self._release_pending(root)
        finally:
            reset_current_resource(token)
            _close(opened)

    def _process(self, node: PipeNode, item: Any) -> None:
        """Steps → incremental (in pipe) → emit → transformers, for one raw item of ``node``."""
        if item is None:
            return
        if inspect.isawaitable(item):
            self._submit_async(node, item, single=True)
            return
        if callable(item) and not isinstance(item, type) and not is_arrow_like(item):
            self._submit_deferred(node, item)  # quiver.defer: dlt runs any callable item
            return
        resource = node.resource
        if resource._steps:
            try:
                items = run_steps(item, resource._steps)
            except Exception as error:
                raise _wrap(node, error) from error
        else:
            items = [item]
        incremental = node.incremental
        for current in items:
            if incremental is not None:
                if not node.filter_each_row and _is_single_row(current):
                    node.pending.append(current)
                    if len(node.pending) >= PENDING_ROWS:
                        self._release_pending(node)
                    continue
                if node.pending:
                    self._release_pending(node)  # keeps the order of rows and pages
                current = filter_item(incremental, current)
                if current is None:
                    continue
            self._deliver(node, current)

    def _deliver(self, node: PipeNode, item: Any) -> None:
        if node.emit:
            self._emit(node, item)
        for child in node.children:
            self._feed(child, item)

    def _release_pending(self, node: PipeNode) -> None:
        """Filter the rows waiting in ``node.pending`` (one pass) and pass them on as a page."""
        rows = node.pending
        if not rows or node.incremental is None:
            return
        node.pending = []
        kept = node.incremental.filter_rows(rows)
        if kept:
            self._deliver(node, kept)

    def _catch_up(self, node: PipeNode) -> None:
        """A resource reads its incremental's values: filter its waiting rows first.

        Only on the thread that drives the extract (a ``parallelized`` generator reads values
        as of the rows filtered so far).
        """
        if threading.get_ident() == self._thread_id:
            self._release_pending(node)

    def _feed(self, child: PipeNode, item: Any) -> None:
        """Call a transformer on one item of its parent."""
        resource = child.resource
        if resource.parallelized and not resource._is_async():
            self._pending += 1
            context = contextvars.copy_context()
            self._pool().submit(context.run, self._transform_in_thread, child, item)
            return
        token = set_current_resource(child.name)
        try:
            try:
                result = resource._transform(item, child.incremental)
            except Exception as error:
                raise _wrap(child, error) from error
            if result is None:
                return
            if _is_async_value(result):
                self._submit_async(child, result, single=True)
                return
            if not (inspect.isgenerator(result) or isinstance(result, Iterator)):
                self._process(child, result)
                return
            while True:
                try:
                    out = next(result)
                except StopIteration:
                    break
                except Exception as error:
                    raise _wrap(child, error) from error
                self._process(child, out)
        finally:
            reset_current_resource(token)

    # ---------------------------------------------------------------------- concurrency
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="quiver-extract")
        return self._executor

    def _start_concurrent(self, root: PipeNode) -> None:
        if root.resource._is_async():
            self._submit_async(root, self._open(root), single=False)
            return
        self._pending += 1
        context = contextvars.copy_context()
        self._pool().submit(context.run, self._produce_in_thread, root)

    def _put(self, message: tuple[str, PipeNode, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce_in_thread(self, root: PipeNode) -> None:
        """Worker thread: pull a parallelized root and queue its raw items."""
        set_current_resource(root.name)
        try:
            opened = root.resource._open(root.incremental, as_pages=False)
            if _is_async_value(opened):
                self._put(("async", root, opened))
            else:
                try:
                    for item in opened:
                        if (
                            self._stop.is_set()
                            or root.closed
                            or not self._put(("item", root, item))
                        ):
                            break
                finally:
                    _close(opened)
            self._put(("done", root, None))
        except BaseException as error:
            self._put(("error", root, error))

    def _transform_in_thread(self, child: PipeNode, item: Any) -> None:
        set_current_resource(child.name)
        try:
            result = child.resource._transform(item, child.incremental)
            if inspect.isgenerator(result) or isinstance(result, Iterator):
                outputs = list(result)
            else:
                outputs = [] if result is None else [result]
            self._put(("items", child, outputs))
            self._put(("done", child, None))
        except BaseException as error:
            self._put(("error", child, error))

    def _submit_deferred(self, node: PipeNode, call: Callable[[], Any]) -> None:
        self._pending += 1
        context = contextvars.copy_context()
        self._pool().submit(context.run, self._call_in_thread, node, call)

    def _call_in_thread(self, node: PipeNode, call: Callable[[], Any]) -> None:
        """Worker thread: run a deferred call; its result is processed as an item of ``node``."""
        set_current_resource(node.name)
        try:
            self._put(("item", node, call()))
            self._put(("done", node, None))
        except BaseException as error:
            self._put(("error", node, error))

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=context.run,
                args=(self._run_loop, loop),
                name="quiver-extract-async",
                daemon=True,
            )
            thread.start()
            self._loop, self._loop_thread = loop, thread
        return self._loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _submit_async(self, node: PipeNode, value: Any, *, single: bool) -> None:
        self._pending += 1
        asyncio.run_coroutine_threadsafe(self._drive_async(node, value, single), self._event_loop())

    async def _put_async(self, message: tuple[str, PipeNode, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put_nowait(message)
                return True
            except queue.Full:
                await asyncio.sleep(0.002)
        return False

    async def _drive_async(self, node: PipeNode, value: Any, single: bool) -> None:
        """On the loop: await a coroutine or drain an async generator into the queue."""
        set_current_resource(node.name)
        try:
            if inspect.isawaitable(value):
                result = await value
                if hasattr(result, "__aiter__"):
                    value = result
                elif single:
                    await self._put_async(("item", node, result))
                    value = None
                else:
                    for item in as_item_iterator(result):
                        if not await self._put_async(("item", node, item)):
                            break
                    value = None
            if value is not None:
                async for item in value:
                    if self._stop.is_set() or node.closed:
                        break
                    if not await self._put_async(("item", node, item)):
                        break
            await self._put_async(("done", node, None))
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            await self._put_async(("error", node, error))

    def _handle(self, message: tuple[str, PipeNode, Any]) -> None:
        kind, node, payload = message
        if kind == "done":
            self._pending -= 1
            self._release_pending(node)
            return
        if kind == "error":
            raise _wrap(node, payload) from payload
        token = set_current_resource(node.name)
        try:
            if kind == "item":
                self._process(node, payload)
                incremental = node.incremental
                if node.is_root and incremental is not None and incremental.closable():
                    node.closed = True
            elif kind == "items":
                for out in payload:
                    self._process(node, out)
            elif kind == "async":
                self._submit_async(node, payload, single=False)
        finally:
            reset_current_resource(token)

    def _drain(self) -> None:
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return
            self._handle(message)

    def _shutdown(self) -> None:
        self._stop.set()
        loop, thread = self._loop, self._loop_thread
        if loop is not None and thread is not None:
            try:
                asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout=30)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=30)
                if not loop.is_running():
                    loop.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


async def _cancel_tasks() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def evaluate_standalone(resources: Sequence[Resource], source_name: str | None) -> list[Any]:
    """Items of ``resources`` outside of an extract (``list(resource)``), incremental applied.

    The state is a copy of the active pipeline's (or an empty one): nothing is kept.
    """
    import copy

    state = copy.deepcopy(current_state(writable=False))
    source = source_name or current_source_name() or "standalone"
    items: list[Any] = []
    with managed_state(state), in_source(source):
        roots = build_nodes(resources)
        bind_incrementals(roots, state, source, in_pipe=True)
        PipeRunner(roots, lambda _node, item: items.append(item), as_pages=False).run()
    return items
