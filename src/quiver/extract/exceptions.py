"""``quiver.extract.exceptions``: the extract errors under dlt's names.

dlt spreads them over ``dlt.extract.exceptions`` and ``dlt.extract.incremental.exceptions``;
both sets are here. Each dlt name is quiver's class for the same failure (quiver's own names
are in :mod:`quiver.errors`), so ``except`` clauses written for dlt catch what quiver raises.
"""

from quiver.errors import (
    InconsistentTableTemplate,
    IncrementalCursorInvalidCoercion,
    IncrementalCursorPathHasValueNone,
    IncrementalCursorPathMissing,
    IncrementalPrimaryKeyMissing,
    IncrementalUnboundError,
    ResourceExtractionError,
    ResourceNameMissing,
    ResourceNotFound,
    ResourcesNotFound,
    ResourceTypeError,
    SourceExhausted,
    UnboundResourceError,
)

ResourceNotFoundError = ResourceNotFound
ResourcesNotFoundError = ResourcesNotFound
ParametrizedResourceUnbound = UnboundResourceError
InvalidResourceDataType = ResourceTypeError

__all__ = [
    "InconsistentTableTemplate",
    "IncrementalCursorInvalidCoercion",
    "IncrementalCursorPathHasValueNone",
    "IncrementalCursorPathMissing",
    "IncrementalPrimaryKeyMissing",
    "IncrementalUnboundError",
    "InvalidResourceDataType",
    "ParametrizedResourceUnbound",
    "ResourceExtractionError",
    "ResourceNameMissing",
    "ResourceNotFoundError",
    "ResourcesNotFoundError",
    "SourceExhausted",
]
