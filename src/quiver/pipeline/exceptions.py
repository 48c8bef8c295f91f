"""The pipeline's exceptions at dlt's import path (``dlt.pipeline.exceptions``).

Defined in :mod:`quiver.errors`; re-exported here so that
``from quiver.pipeline.exceptions import PipelineStepFailed`` works as it does with dlt.
"""

from quiver.errors import (
    CannotRestorePipelineException,
    DestinationHasFailedJobs,
    InvalidDropArgument,
    InvalidPipelineName,
    NotSupportedYet,
    PipelineConfigMissing,
    PipelineException,
    PipelineHasPendingDataException,
    PipelineNeverRan,
    PipelineStepFailed,
)

__all__ = [
    "CannotRestorePipelineException",
    "DestinationHasFailedJobs",
    "InvalidDropArgument",
    "InvalidPipelineName",
    "NotSupportedYet",
    "PipelineConfigMissing",
    "PipelineException",
    "PipelineHasPendingDataException",
    "PipelineNeverRan",
    "PipelineStepFailed",
]
