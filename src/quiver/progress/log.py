"""``quiver.progress.log``: progress as text lines, for production logs (dlt's ``LogCollector``).

Every ``log_period`` seconds (and when a step ends) the collector writes a block::

    ----------------------------- Extract my_source ------------------------------
    Resources: 1/1 (100.0%) | Time: 0.03s | Rate: 33.33/s
    items: 1000 | Time: 0.02s | Rate: 50000.00/s
    Memory usage: 120.50 MB (41.20%) | CPU usage: 0.00%

The memory line needs ``psutil`` (``dump_system_stats``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, TextIO

from quiver.errors import InvalidProgressOption
from quiver.progress.base import Collector

#: ``logger=`` values that are names rather than objects.
_STDOUT = "stdout"
_QUIVER_LOGGER = ("quiver_logger", "dlt_logger")
#: Width of the ``---- step ----`` header line.
_HEADER_WIDTH = 80


@dataclass
class _Counter:
    description: str
    started: float
    total: int | None
    count: int = 0
    message: str | None = None


class LogCollector(Collector):
    """Writes the step's counters to a logger or a text stream every ``log_period`` seconds.

    Args:
        log_period: seconds between two blocks of counters; a block is also written when a
            counter appears and when the step ends.
        logger: ``"stdout"`` (the current ``sys.stdout`` when writing), ``"quiver_logger"``
            (alias ``"dlt_logger"``: the ``quiver`` logging logger), a ``logging.Logger``
            (or ``LoggerAdapter``) or any text stream with ``write``.
        log_level: the level of the log records when ``logger`` is a logger.
        dump_system_stats: add a line with the process's memory and CPU use; needs ``psutil``
            (without it a warning says so and the line is left out).

    Raises:
        InvalidProgressOption: ``log_period`` is negative or ``logger`` is neither a logger, a
            stream nor one of the names above.

    Examples:
        >>> import io, quiver
        >>> out = io.StringIO()
        >>> collector = quiver.progress.log(logger=out, dump_system_stats=False)
        >>> with collector("Extract demo"):
        ...     collector.update("items", 10)
        >>> "items: 10" in out.getvalue()
        True
    """

    def __init__(
        self,
        log_period: float = 1.0,
        logger: logging.Logger | logging.LoggerAdapter[Any] | TextIO | str = _STDOUT,
        log_level: int = logging.INFO,
        dump_system_stats: bool = True,
    ) -> None:
        if not isinstance(log_period, int | float) or log_period < 0:
            raise InvalidProgressOption("log", "log_period", log_period, "a number >= 0")
        if isinstance(logger, str) and logger not in (_STDOUT, *_QUIVER_LOGGER):
            raise InvalidProgressOption(
                "log", "logger", logger, "'stdout', 'quiver_logger', a logging.Logger or a stream"
            )
        if not isinstance(logger, str | logging.Logger | logging.LoggerAdapter) and not hasattr(
            logger, "write"
        ):
            raise InvalidProgressOption(
                "log", "logger", logger, "'stdout', 'quiver_logger', a logging.Logger or a stream"
            )
        self.log_period = float(log_period)
        self.logger = logger
        self.log_level = log_level
        if dump_system_stats and not _has_psutil():
            warnings.warn(
                "quiver.progress.log(dump_system_stats=True) needs psutil for the memory and CPU "
                "line, which is not installed; the line is left out. Hint: pip install psutil, "
                "or pass dump_system_stats=False to silence this warning.",
                stacklevel=2,
            )
            dump_system_stats = False
        self.dump_system_stats = dump_system_stats
        self._counters: dict[str, _Counter] = {}
        self._last_log: float | None = None

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        key = f"{name}_{label}" if label else name
        counter = self._counters.get(key)
        if counter is None:
            description = f"{name} ({label})" if label else name
            counter = self._counters[key] = _Counter(description, time.monotonic(), total)
            self._last_log = None  # a new counter is shown right away
        elif inc_total:
            counter.total = (counter.total or 0) + inc_total
        counter.count += inc
        if message is not None:
            counter.message = message
        now = time.monotonic()
        if self._last_log is None or now - self._last_log >= self.log_period:
            self.dump_counters()

    def dump_counters(self) -> None:
        """Write the step header, one line per counter and (optionally) the system stats."""
        now = time.monotonic()
        lines = [f" {self.step} ".center(_HEADER_WIDTH, "-")]
        lines += [_counter_line(counter, now) for counter in self._counters.values()]
        if self.dump_system_stats:
            lines.append(_system_stats_line())
        self._write("\n".join(lines) + "\n")
        self._last_log = time.monotonic()

    def _write(self, text: str) -> None:
        logger = self.logger
        if isinstance(logger, str):
            if logger == _STDOUT:
                sys.stdout.write(text + "\n")
                return
            logger = logging.getLogger("quiver")
        if isinstance(logger, logging.Logger | logging.LoggerAdapter):
            logger.log(self.log_level, text)
        else:
            logger.write(text + "\n")

    def _start(self, step: str) -> None:
        self._counters = {}
        self._last_log = time.monotonic()

    def _stop(self) -> None:
        if self._counters:
            self.dump_counters()
        self._counters = {}
        self._last_log = None


def _counter_line(counter: _Counter, now: float) -> str:
    elapsed = now - counter.started
    rate = counter.count / elapsed if elapsed > 0 else 0.0
    progress = f"{counter.count}"
    if counter.total:
        progress += f"/{counter.total} ({counter.count / counter.total * 100:.1f}%)"
    line = f"{counter.description}: {progress} | Time: {elapsed:.2f}s | Rate: {rate:.2f}/s"
    if counter.message is not None:
        line += f" [{counter.message}]"
    return line


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def _system_stats_line() -> str:
    import psutil

    process = psutil.Process(os.getpid())
    memory_mb = process.memory_info().rss / (1024**2)
    return (
        f"Memory usage: {memory_mb:.2f} MB ({psutil.virtual_memory().percent:.2f}%) | "
        f"CPU usage: {process.cpu_percent():.2f}%"
    )
