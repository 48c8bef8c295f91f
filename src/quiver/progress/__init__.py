"""See a pipeline's progress: ``quiver.pipeline(..., progress="log")`` (dlt's ``dlt.progress``).

``progress=`` takes a collector's name - ``"log"``, ``"tqdm"``, ``"enlighten"``,
``"alive_progress"`` - or a collector object with options, e.g.
``quiver.progress.log(log_period=10, logger=my_logger)`` or
``quiver.progress.tqdm(colour="yellow")``. The bar libraries are optional:
``pip install 'quiver[progress]'``. Subclass :class:`Collector` to send progress elsewhere.

Examples:
    >>> import quiver
    >>> type(quiver.progress.collector_from("log")).__name__
    'LogCollector'
"""

from __future__ import annotations

from typing import Any

from quiver.errors import UnknownProgressCollector
from quiver.progress.bars import AliveCollector, EnlightenCollector, TqdmCollector
from quiver.progress.base import NULL_COLLECTOR, Collector, NullCollector, ThreadSafeCollector
from quiver.progress.log import LogCollector

# dlt's spelling: ``dlt.progress.log(...)`` etc. are the collector classes.
log = LogCollector
tqdm = TqdmCollector
enlighten = EnlightenCollector
alive_progress = AliveCollector

_BY_NAME: dict[str, type[Collector]] = {
    "log": LogCollector,
    "tqdm": TqdmCollector,
    "enlighten": EnlightenCollector,
    "alive_progress": AliveCollector,
}


def collector_from(progress: Any) -> Collector:
    """The collector ``progress=`` asks for.

    Args:
        progress: ``None`` (count nothing), a collector object, or one of ``"log"``,
            ``"tqdm"``, ``"enlighten"``, ``"alive_progress"`` (created with default options).

    Returns:
        The collector.

    Raises:
        UnknownProgressCollector: an unknown name (with a "did you mean") or another object.
        MissingDependencyError: the named bar library is not installed.
    """
    if progress is None:
        return NULL_COLLECTOR
    if isinstance(progress, Collector):
        return progress
    if isinstance(progress, str) and progress in _BY_NAME:
        return _BY_NAME[progress]()
    raise UnknownProgressCollector(progress)


__all__ = [
    "NULL_COLLECTOR",
    "AliveCollector",
    "Collector",
    "EnlightenCollector",
    "LogCollector",
    "NullCollector",
    "ThreadSafeCollector",
    "TqdmCollector",
    "alive_progress",
    "collector_from",
    "enlighten",
    "log",
    "tqdm",
]
