"""The exception tree of quiver: one package, one root.

Every error quiver raises derives from :class:`QuiverError`; leaves also derive from the builtin they
resemble so that ``except ValueError`` keeps working. Messages name the step, table, column, an
example value and the load id where those are known, and end with a hint of what to do.
Retryability is an attribute (``retryable``), not a base class.

The classes live in one module per area (``base``, ``configuration``, ``schema``, ``extract``,
``normalize``, ``load``, ``pipeline``); import them from here.
"""

from quiver.errors.base import (
    InternalError,
    MissingDependencyError,
    NotSupportedYet,
    QuiverError,
    StateNotAvailable,
    did_you_mean,
)
from quiver.errors.configuration import (
    ConfigValueInvalid,
    ConfigValueMissing,
)
from quiver.errors.extract import (
    InconsistentTableTemplate,
    IncrementalArgumentError,
    IncrementalCursorPathHasValueNone,
    IncrementalCursorPathMissing,
    IncrementalCursorTypeError,
    IncrementalError,
    IncrementalPrimaryKeyMissing,
    IncrementalUnboundError,
    InvalidHintValue,
    InvalidSourceDefinition,
    ResourceExtractionError,
    ResourceNameMissing,
    ResourceNotFound,
    ResourcesNotFound,
    ResourceTypeError,
    SourceExhausted,
    UnboundResourceError,
    UnknownArgument,
)
from quiver.errors.load import (
    CommitConflictError,
    DestinationCapabilitiesError,
    DestinationConfigError,
    DestinationConfigTypeError,
    InvalidRetryPolicy,
    LoadError,
    MergeConfigError,
    SchemaMismatchError,
    TransientStorageError,
    UnsupportedStorageError,
)
from quiver.errors.normalize import (
    CannotCoerceColumnError,
    CannotCoerceNullError,
    DataValidationError,
    MissingPrimaryKeyColumn,
    NameCollisionError,
    NormalizeError,
    NormalizeJobFailed,
)
from quiver.errors.pipeline import (
    CannotRestorePipelineException,
    DestinationHasFailedJobs,
    InvalidPipelineName,
    PipelineConfigMissing,
    PipelineException,
    PipelineStepFailed,
)
from quiver.errors.schema import (
    InvalidIdentifier,
    InvalidSchemaContract,
    InvalidSchemaFile,
    SchemaError,
    UnserializableValue,
    UnsupportedDataType,
)

__all__ = [
    "CannotCoerceColumnError",
    "CannotCoerceNullError",
    "CannotRestorePipelineException",
    "CommitConflictError",
    "ConfigValueInvalid",
    "ConfigValueMissing",
    "DataValidationError",
    "DestinationCapabilitiesError",
    "DestinationConfigError",
    "DestinationConfigTypeError",
    "DestinationHasFailedJobs",
    "InconsistentTableTemplate",
    "IncrementalArgumentError",
    "IncrementalCursorPathHasValueNone",
    "IncrementalCursorPathMissing",
    "IncrementalCursorTypeError",
    "IncrementalError",
    "IncrementalPrimaryKeyMissing",
    "IncrementalUnboundError",
    "InternalError",
    "InvalidHintValue",
    "InvalidIdentifier",
    "InvalidPipelineName",
    "InvalidRetryPolicy",
    "InvalidSchemaContract",
    "InvalidSchemaFile",
    "InvalidSourceDefinition",
    "LoadError",
    "MergeConfigError",
    "MissingDependencyError",
    "MissingPrimaryKeyColumn",
    "NameCollisionError",
    "NormalizeError",
    "NormalizeJobFailed",
    "NotSupportedYet",
    "PipelineConfigMissing",
    "PipelineException",
    "PipelineStepFailed",
    "QuiverError",
    "ResourceExtractionError",
    "ResourceNameMissing",
    "ResourceNotFound",
    "ResourceTypeError",
    "ResourcesNotFound",
    "SchemaError",
    "SchemaMismatchError",
    "SourceExhausted",
    "StateNotAvailable",
    "TransientStorageError",
    "UnboundResourceError",
    "UnknownArgument",
    "UnserializableValue",
    "UnsupportedDataType",
    "UnsupportedStorageError",
    "did_you_mean",
]
