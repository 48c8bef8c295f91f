"""Engine errors translated at the table-format boundary.

deltalake, pyiceberg and s3fs raise their own exception classes. A table format runs its engine
calls inside :func:`translated`, so what leaves a format is either a quiver error whose
``retryable`` attribute says whether trying again may help, or a builtin exception (``OSError``,
``ValueError``, ...) that the load step classifies itself (:mod:`quiver.load.retry`, the one
place that decides what is retried).

* commit conflicts (deltalake ``CommitFailedError``, pyiceberg ``CommitFailedException`` and a
  ``TableAlreadyExistsError`` from a racing create) become :class:`CommitConflictError`
  (retryable; the load id in the commit makes a retry that finds its commit a no-op);
* schema mismatches (deltalake ``SchemaMismatchError``, pyiceberg ``ValidationException``)
  become :class:`SchemaMismatchError` (terminal: the data does not fit the table);
* a Delta protocol the engine cannot write becomes :class:`DestinationCapabilitiesError`;
* connection errors that s3fs lets through without making them ``OSError``s (botocore, aiohttp)
  become :class:`TransientStorageError` (retryable).

The engines' exception classes are looked up in ``sys.modules``: an engine that was never
imported cannot have raised, and this module must not import the engines itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from quiver.errors import (
    CommitConflictError,
    DestinationCapabilitiesError,
    QuiverError,
    SchemaMismatchError,
    TransientStorageError,
)

__all__ = ["translate", "translated"]

_CONFLICTS = (
    ("deltalake.exceptions", "CommitFailedError"),
    ("pyiceberg.exceptions", "CommitFailedException"),
    ("pyiceberg.exceptions", "TableAlreadyExistsError"),
)
_SCHEMA_MISMATCHES = (
    ("deltalake.exceptions", "SchemaMismatchError"),
    ("pyiceberg.exceptions", "ValidationException"),
)
_PROTOCOL_ERRORS = (("deltalake.exceptions", "DeltaProtocolError"),)
_TRANSIENT_IO = (
    ("botocore.exceptions", "HTTPClientError"),
    ("botocore.exceptions", "ConnectionError"),
    ("aiohttp", "ClientError"),
)


def _is_one_of(error: BaseException, classes: tuple[tuple[str, str], ...]) -> bool:
    for module_name, class_name in classes:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(error, cls):
            return True
    return False


def _lost_create_race(error: BaseException) -> bool:
    """Another writer created the Delta table between our look and our create.

    delta-rs reports it as a generic ``DeltaError``, so only its message tells it apart; a retry
    finds the table and appends, and the load id in the commit keeps that retry exactly-once.
    """
    return _is_one_of(error, (("deltalake.exceptions", "DeltaError"),)) and (
        "table already exists" in str(error)
    )


def translate(
    error: BaseException, table_format: str, table_name: str, load_id: str | None = None
) -> QuiverError | None:
    """The quiver error for an engine's exception, or ``None`` to let it pass unchanged.

    Args:
        error: What the engine raised.
        table_format: The format that called the engine (for the message).
        table_name: The table the call was about.
        load_id: The package, if the call was part of one.

    Returns:
        A :class:`CommitConflictError`, :class:`SchemaMismatchError`,
        :class:`DestinationCapabilitiesError` or :class:`TransientStorageError`; ``None`` for
        errors that are not an engine's (they are classified by the load step).
    """
    if isinstance(error, QuiverError):
        return None
    package = f" of package {load_id}" if load_id else ""
    if _is_one_of(error, _CONFLICTS) or _lost_create_race(error):
        return CommitConflictError(table_format, table_name, load_id, f"{error}")
    if _is_one_of(error, _SCHEMA_MISMATCHES):
        return SchemaMismatchError(
            f"The data{package} does not fit {table_format} table {table_name!r}: {error}. "
            "Hint: the local schema no longer matches the table (was the pipeline folder or the "
            "table recreated?); load into a new dataset, drop the table, or cast the column in "
            "your resource."
        )
    if _is_one_of(error, _PROTOCOL_ERRORS):
        return DestinationCapabilitiesError(
            f"Delta table {table_name!r} cannot be written{package}: {error}. Hint: the table "
            "uses a Delta protocol feature that delta-rs cannot write; load into a new table "
            "or upgrade deltalake."
        )
    if _is_one_of(error, _TRANSIENT_IO):
        return TransientStorageError(table_name, load_id, error)
    return None


@contextmanager
def translated(table_format: str, table_name: str, load_id: str | None = None) -> Iterator[None]:
    """Run engine calls; re-raise their exceptions as quiver errors where :func:`translate` knows
    them, chained to the original (``__cause__``).

    Examples:
        >>> with translated("delta", "items", "1700000000.1"):
        ...     pass
    """
    try:
        yield
    except Exception as error:
        translation = translate(error, table_format, table_name, load_id)
        if translation is None:
            raise
        raise translation from error
