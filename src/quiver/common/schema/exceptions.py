"""``quiver.common.schema.exceptions``: the schema errors under dlt's names.

Each dlt name is quiver's class for the same failure, so ``except`` clauses written for dlt
catch what quiver raises.
"""

from quiver.errors import (
    CannotCoerceColumnError,
    CannotCoerceNullError,
    DataValidationError,
    InvalidIdentifier,
    InvalidSchemaFile,
    NameCollisionError,
    SchemaError,
    TableIdentifiersFrozen,
)

SchemaException = SchemaError
CannotCoerceColumnException = CannotCoerceColumnError
CannotCoerceNullException = CannotCoerceNullError
SchemaIdentifierNormalizationCollision = NameCollisionError
InvalidSchemaName = InvalidIdentifier
SchemaCorruptedException = InvalidSchemaFile

__all__ = [
    "CannotCoerceColumnException",
    "CannotCoerceNullException",
    "DataValidationError",
    "InvalidSchemaName",
    "SchemaCorruptedException",
    "SchemaException",
    "SchemaIdentifierNormalizationCollision",
    "TableIdentifiersFrozen",
]
