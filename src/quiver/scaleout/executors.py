"""Executors: where the tasks of a step run (threads, processes, Dask, Ray).

quiver does not schedule: each executor hands a list of tasks to an engine that exists and
returns their results in order. Dask and Ray are imported only when chosen (``pip install
'quiver[scale]'``); both retry a task whose worker died, so a task must be safe to run twice
(:mod:`quiver.scaleout.tasks` writes each attempt into a folder of its own).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import importlib
import importlib.util
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from quiver.errors import ExecutorNotSupported, MissingDependencyError, WorkerTaskNotSerializable
from quiver.settings import ScaleOutConfig, resolve

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs tasks on workers and returns their results in the order of the tasks.

    Attributes:
        name: ``threads``, ``processes``, ``dask`` or ``ray``.
        parallelism: how many tasks run at once (normalize splits a package into that many
            groups of files, at most).
    """

    name: str
    parallelism: int

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``[function(task) for task in tasks]``, run on the workers."""
        ...


class ThreadsExecutor:
    """A thread pool in this process (Arrow and parquet release the GIL; Python rows do not)."""

    name = "threads"

    def __init__(self, workers: int) -> None:
        self.parallelism = workers

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        with ThreadPoolExecutor(self.parallelism, thread_name_prefix="quiver-task") as pool:
            return list(pool.map(function, tasks))


class ProcessesExecutor:
    """Fresh (spawned) processes on this machine; tasks travel with cloudpickle when installed.

    A worker that dies fails the step (``concurrent.futures`` does not retry); nothing of the
    package is committed and a rerun starts over.
    """

    name = "processes"

    def __init__(self, workers: int) -> None:
        self.parallelism = workers

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        payloads = [_dumps(function, task) for task in tasks]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.parallelism, mp_context=context) as pool:
            return list(pool.map(_run_pickled, payloads))


class DaskExecutor:
    """A ``dask.distributed`` client: tasks are submitted once, gathered in order."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        self._client = client
        workers = client.scheduler_info().get("workers", {})
        self.parallelism = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        futures = self._client.map(function, list(tasks), pure=False)
        return list(self._client.gather(futures))


class RayExecutor:
    """Ray tasks (Ray retries a task whose worker died, ``max_retries`` times)."""

    name = "ray"

    def __init__(self, max_retries: int = 3) -> None:
        ray: Any = importlib.import_module("ray")
        if not ray.is_initialized():
            # RAY_ADDRESS (if set) joins a running cluster; otherwise a local one starts.
            ray.init(include_dashboard=False)
        self._ray = ray
        self._max_retries = max_retries
        self.parallelism = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        remote = self._ray.remote(max_retries=self._max_retries)(function)
        return list(self._ray.get([remote.remote(task) for task in tasks]))


#: The ``executor=`` of the running ``run()``/``normalize()`` step (``None``: not given).
_step_executor: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "quiver_step_executor", default=None
)


@contextlib.contextmanager
def executor_of_step(executor: Any) -> Iterator[None]:
    """Make ``executor`` the default of :func:`resolve_executor` while a step runs (the step's
    package loops call the stages without passing it through)."""
    # ``run()`` sets it and then calls ``normalize()`` without one: keep the outer executor.
    token = _step_executor.set(_step_executor.get() if executor is None else executor)
    try:
        yield
    finally:
        _step_executor.reset(token)


def resolve_executor(executor: Any) -> Executor | None:
    """The executor for ``executor=``: given, else the step's (:func:`executor_of_step`), else
    the ``scale_out.executor`` config.

    ``executor`` is a name (``threads``, ``processes``, ``dask``, ``ray``), a
    ``dask.distributed.Client``, or any object with ``name``, ``parallelism`` and ``map`` (the
    :class:`Executor` protocol).

    Returns:
        ``None`` to run in this process as without ``executor=``.

    Raises:
        ExecutorNotSupported: an unknown name or object.
        MissingDependencyError: ``dask`` or ``ray`` is not installed.
    """
    config = resolve(ScaleOutConfig)
    if executor is None:
        executor = _step_executor.get()
    chosen = config.executor if executor is None else executor
    workers = config.workers or os.cpu_count() or 1
    if chosen is None or chosen == "" or chosen is False:
        return None
    if isinstance(chosen, str):
        if chosen == "threads":
            return ThreadsExecutor(workers)
        if chosen == "processes":
            return ProcessesExecutor(workers)
        if chosen == "dask":
            return DaskExecutor(_default_dask_client(workers))
        if chosen == "ray":
            _require("ray", "executor='ray'")
            return RayExecutor()
        raise ExecutorNotSupported(chosen)
    if type(chosen).__module__.startswith("distributed") and hasattr(chosen, "gather"):
        return DaskExecutor(chosen)
    if all(hasattr(chosen, name) for name in ("name", "parallelism", "map")):
        return chosen  # type: ignore[no-any-return]
    raise ExecutorNotSupported(chosen)


_started_clusters: list[Any] = []


def start_local_dask_cluster(workers: int) -> tuple[Any, Any]:
    """A client on a new local cluster: ``workers`` single-threaded worker processes on
    loopback, no dashboard. The caller closes both (client first)."""
    _require("distributed", "executor='dask'")
    distributed: Any = importlib.import_module("distributed")
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return distributed.Client(cluster), cluster


def _default_dask_client(workers: int) -> Any:
    """The current ``dask.distributed`` client, or one on a local cluster started once."""
    _require("distributed", "executor='dask'")
    distributed: Any = importlib.import_module("distributed")
    try:
        return distributed.get_client()
    except ValueError:  # no client yet
        pass
    client, cluster = start_local_dask_cluster(workers)
    if not _started_clusters:
        atexit.register(_close_started_clusters)
    _started_clusters.extend([client, cluster])
    return client


def _close_started_clusters() -> None:
    while _started_clusters:
        _started_clusters.pop().close()


def _require(module: str, feature: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(module, "scale", feature)


def _dumps(function: Callable[..., Any], task: Any) -> bytes:
    """``(function, task)`` pickled for a spawned process: by value where plain pickle cannot."""
    try:
        import cloudpickle

        dumps: Callable[[Any], bytes] = cloudpickle.dumps
    except ImportError:
        dumps = pickle.dumps
    try:
        return dumps((function, task))
    except Exception as error:
        raise WorkerTaskNotSerializable(str(getattr(task, "label", task)), error) from error


def _run_pickled(payload: bytes) -> Any:
    function, task = pickle.loads(payload)
    return function(task)
