"""Progress bars drawn by tqdm, enlighten and alive-progress (optional: ``quiver[progress]``).

Each library is imported when its collector is created, so ``import quiver`` never loads one;
a library that is not installed raises :class:`~quiver.errors.MissingDependencyError` naming
the ``progress`` extra. Each counter of a step becomes one bar; the first bar's title starts
with the step's name (``"Extract my_source: Resources"``). With ``single_bar=True`` only that
first counter is drawn.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from quiver.errors import MissingDependencyError
from quiver.progress.base import Collector

_EXTRA = "progress"


def _import(module: str, package: str, feature: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(package, _EXTRA, feature) from error


def _title(step: str | None, name: str, label: str | None, first: bool) -> str:
    shown = f"{name}[{label}]" if label else name
    return f"{step}: {shown}" if first and step else shown


class TqdmCollector(Collector):
    """One tqdm bar per counter.

    Args:
        single_bar: draw only the first counter of each step.
        **tqdm_kwargs: passed to every ``tqdm(...)`` bar, e.g. ``colour="yellow"``,
            ``mininterval=0``, ``leave=True`` (bars are removed when the step ends unless
            ``leave=True``, as in dlt).

    Raises:
        MissingDependencyError: tqdm is not installed.
    """

    def __init__(self, single_bar: bool = False, **tqdm_kwargs: Any) -> None:
        self._tqdm = _import("tqdm", "tqdm", "quiver.progress.tqdm").tqdm
        self.single_bar = single_bar
        self.tqdm_kwargs = {"leave": False, **tqdm_kwargs}
        self._bars: dict[str, Any] = {}

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        key = f"{name}_{label or ''}"
        bar = self._bars.get(key)
        if bar is None:
            if self._bars and self.single_bar:
                return
            title = _title(self.step, name, label, first=not self._bars)
            bar = self._bars[key] = self._tqdm(desc=title, total=total, **self.tqdm_kwargs)
            bar.refresh()
        elif inc_total:
            bar.total = (bar.total or 0) + inc_total
            bar.refresh()
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.update(inc)

    def _start(self, step: str) -> None:
        self._bars = {}

    def _stop(self) -> None:
        for bar in self._bars.values():
            bar.refresh()
            bar.close()
        self._bars = {}


class EnlightenCollector(Collector):
    """Enlighten counters under a status bar with the step's name; prints stay above the bars.

    Args:
        single_bar: draw only the first counter of each step.
        **enlighten_kwargs: passed to every ``manager.counter(...)``, e.g. ``color="green"``.

    Raises:
        MissingDependencyError: enlighten is not installed.
    """

    def __init__(self, single_bar: bool = False, **enlighten_kwargs: Any) -> None:
        self._enlighten = _import("enlighten", "enlighten", "quiver.progress.enlighten")
        self.single_bar = single_bar
        self.enlighten_kwargs = enlighten_kwargs
        self._manager: Any = None
        self._status: Any = None
        self._bars: dict[str, Any] = {}

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        key = f"{name}_{label or ''}"
        bar = self._bars.get(key)
        if bar is None:
            if self._manager is None or (self._bars and self.single_bar):
                return
            options = {"leave": True, **self.enlighten_kwargs}
            title = f"{name}[{label}]" if label else name
            bar = self._bars[key] = self._manager.counter(desc=title, total=total, **options)
            bar.refresh()
        elif inc_total:
            bar.total = (bar.total or 0) + inc_total
        bar.update(inc)

    def _start(self, step: str) -> None:
        enlighten = self._enlighten
        self._bars = {}
        self._manager = enlighten.get_manager()
        self._status = self._manager.status_bar(
            step, leave=True, justify=enlighten.Justify.CENTER, fill="="
        )

    def _stop(self) -> None:
        for bar in self._bars.values():
            bar.refresh()
            bar.close()
        if self._status is not None:
            self._status.close()
        if self._manager is not None:
            self._manager.stop()
        self._bars, self._status, self._manager = {}, None, None


class AliveCollector(Collector):
    """alive-progress bars (animated); by default only the step's first counter is drawn.

    Args:
        single_bar: draw only the first counter of each step (default ``True``: alive-progress
            draws one bar at a time).
        **alive_kwargs: passed to every ``alive_bar(...)``, e.g. ``bar="smooth"``,
            ``force_tty=True``.

    Raises:
        MissingDependencyError: alive-progress is not installed.
    """

    def __init__(self, single_bar: bool = True, **alive_kwargs: Any) -> None:
        module = _import("alive_progress", "alive-progress", "quiver.progress.alive_progress")
        self._alive_bar = module.alive_bar
        self.single_bar = single_bar
        self.alive_kwargs = alive_kwargs
        self._bars: dict[str, Any] = {}
        self._contexts: list[AbstractContextManager[Any]] = []

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        key = f"{name}_{label or ''}"
        bar = self._bars.get(key)
        if bar is None:
            if self._bars and self.single_bar:
                return
            title = _title(self.step, name, label, first=not self._bars)
            context = self._alive_bar(total=total, title=title, **self.alive_kwargs)
            bar = self._bars[key] = context.__enter__()
            self._contexts.append(context)
        # alive-progress cannot change a bar's total once it is drawn: inc_total is ignored.
        if message:
            bar.text = message
        if inc > 0:
            bar(inc)

    def _start(self, step: str) -> None:
        self._bars, self._contexts = {}, []

    def _stop(self) -> None:
        # Innermost bar first, as nested ``with`` blocks would close them.
        for context in reversed(self._contexts):
            context.__exit__(None, None, None)
        self._bars, self._contexts = {}, []
