"""The progress collector seam: one small ABC, the null collector and a thread-safe wrapper.

A collector counts what a pipeline step does. The pipeline opens it once per step and package
(``with collector("Extract my_source"):``) and the steps report through :meth:`Collector.update`:
extract reports rows per table and a ``Resources`` counter, normalize ``Files`` and rows per
table, load ``Jobs`` (job files) and ``Commits`` (table commits). Steps report once per record
batch, file or commit, never per row, so a collector may draw on every update.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self


class TraceHooks:
    """What a collector hears of the run trace; each hook does nothing unless overridden.

    A collector that also reports runs (to a monitoring service, say) overrides these.
    ``trace`` is a :class:`quiver.pipeline.trace.PipelineTrace`.
    """

    def on_start_trace(self, trace: Any, step: str, pipeline: Any) -> None:
        """A run trace starts (``step`` is the outermost call: ``run``, ``extract``, ...)."""

    def on_start_trace_step(self, trace: Any, step: str, pipeline: Any) -> None:
        """A step of the trace starts."""

    def on_end_trace_step(
        self, trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool
    ) -> None:
        """A step ended; ``step`` is its :class:`~quiver.pipeline.trace.PipelineStepTrace`."""

    def on_end_trace(self, trace: Any, pipeline: Any, send_state: bool) -> None:
        """The run trace ended."""


class Collector(TraceHooks, ABC):
    """Counts the progress of a pipeline step; subclass it to send progress anywhere.

    Implement :meth:`update`, :meth:`_start` and :meth:`_stop`. The trace hooks
    (``on_start_trace`` ...) are called by the pipeline's run trace and do nothing by default.

    Attributes:
        step: the name of the step being counted, e.g. ``"Extract my_source"`` (set by
            calling the collector).
    """

    step: str | None = None

    @abstractmethod
    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        """Create or advance the counter ``name``.

        Args:
            name: the counter, e.g. a table name, ``"Resources"``, ``"Files"``, ``"Jobs"``.
            inc: how much to add (``0`` creates the counter without advancing it).
            total: the counter's end value when it is created (``None``: open-ended).
            inc_total: how much to raise the total of an existing counter.
            message: a short text shown with the counter.
            label: a sub-counter of ``name``, e.g. ``"Failed"``.
        """

    @abstractmethod
    def _start(self, step: str) -> None:
        """Start counting a step: counters start from zero."""

    @abstractmethod
    def _stop(self) -> None:
        """Stop counting: close the counters and release the screen or the log."""

    def __call__(self, step: str) -> Self:
        """Name the step that the next ``with`` block counts."""
        self.step = step
        return self

    def __enter__(self) -> Self:
        self._start(self.step or "")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self._stop()


class NullCollector(Collector):
    """The default collector: counts nothing."""

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        pass

    def _start(self, step: str) -> None:
        pass

    def _stop(self) -> None:
        pass


NULL_COLLECTOR = NullCollector()


class ThreadSafeCollector(Collector):
    """Forwards to ``collector`` under a lock: load commits and normalize files run on threads.

    Progress libraries draw on the terminal from the calling thread; two threads drawing at
    once garble the screen, so every call into the wrapped collector is serialized.
    """

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._lock = threading.Lock()

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        with self._lock:
            self.collector.update(name, inc, total, inc_total, message, label)

    def __call__(self, step: str) -> Self:
        with self._lock:
            self.collector(step)
        self.step = step
        return self

    def _start(self, step: str) -> None:
        with self._lock:
            self.collector._start(step)

    def _stop(self) -> None:
        with self._lock:
            self.collector._stop()

    def on_start_trace(self, trace: Any, step: str, pipeline: Any) -> None:
        self.collector.on_start_trace(trace, step, pipeline)

    def on_start_trace_step(self, trace: Any, step: str, pipeline: Any) -> None:
        self.collector.on_start_trace_step(trace, step, pipeline)

    def on_end_trace_step(
        self, trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool
    ) -> None:
        self.collector.on_end_trace_step(trace, step, pipeline, step_info, send_state)

    def on_end_trace(self, trace: Any, pipeline: Any, send_state: bool) -> None:
        self.collector.on_end_trace(trace, pipeline, send_state)
