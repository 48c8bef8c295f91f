"""quiver: Arrow-native loading of Python data into Delta Lake and Iceberg tables.

The public API has the shape of dlt's, so ``import quiver as dlt`` runs a dlt user's
filesystem/Delta/Iceberg script unchanged.
"""

import os as _os

# Arrow's default memory pool is mimalloc, which backs its arenas with transparent huge pages.
# quiver's buffers live for one batch: huge pages made the first run in a process fault in
# 2 MB at a time (system time 0.42-0.63 s per 500k nested rows in five runs, 0.20 and 0.27 s
# in two without them) and kept 12-36 MB more resident (docs/guide/performance.md, "Huge
# pages"). mimalloc reads this when pyarrow loads, so it applies when quiver is imported
# first; a value the user set is kept.
_os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

from quiver import current, destinations, mark, progress, sources
from quiver.configuration.accessors import config, secrets
from quiver.errors import (
    CannotRestorePipelineException,
    DataValidationError,
    PipelineStepFailed,
    QuiverError,
)
from quiver.extract.decorators import defer, resource, source, transformer
from quiver.extract.resource import Resource
from quiver.extract.source import Source
from quiver.pipeline.factory import attach, pipeline, run
from quiver.pipeline.infos import ExtractInfo, LoadInfo, NormalizeInfo
from quiver.pipeline.pipeline import Pipeline

__version__ = "0.1.0"

__all__ = [
    "CannotRestorePipelineException",
    "DataValidationError",
    "ExtractInfo",
    "LoadInfo",
    "NormalizeInfo",
    "Pipeline",
    "PipelineStepFailed",
    "QuiverError",
    "Resource",
    "Source",
    "__version__",
    "attach",
    "config",
    "current",
    "defer",
    "destinations",
    "mark",
    "pipeline",
    "progress",
    "resource",
    "run",
    "secrets",
    "source",
    "sources",
    "transformer",
]
