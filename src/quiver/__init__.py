"""quiver: Arrow-native loading of Python data into Delta Lake and Iceberg tables.

The public API has the shape of dlt's, so ``import quiver as dlt`` runs a dlt user's
filesystem/Delta/Iceberg script unchanged.
"""

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
