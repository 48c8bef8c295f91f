"""Errors of the load step and of destinations: commits, storage, merges, retries."""

from __future__ import annotations

from quiver.errors.base import QuiverError


class LoadError(QuiverError):
    """Loading a table of a package failed; the original exception is kept and chained.

    Attributes:
        table_name: the table whose commit failed (a ``_dlt_*`` sidecar for sidecar commits).
        load_id: the package.
        exception: the original exception object (also ``__cause__``), so that
            ``except SchemaMismatchError`` works on ``error.exception``.
        retryable: whether the package stays pending for the next run (``False``: aborted,
            see ``Pipeline.retry_failed_package``).
    """

    def __init__(
        self, table_name: str, load_id: str, cause: BaseException, *, retryable: bool
    ) -> None:
        self.table_name = table_name
        self.load_id = load_id
        self.exception = cause
        self.retryable = retryable
        hint = (
            "the package stays pending and the next run() retries it"
            if retryable
            else f"the package was aborted (kept, it blocks nothing); fix the cause, then "
            f"pipeline.retry_failed_package({load_id!r}) loads it again"
        )
        super().__init__(
            f"Loading table {table_name!r} of package {load_id} failed with "
            f"{type(cause).__name__}: {str(cause).rstrip('.')}. Hint: {hint}."
        )


class DestinationCapabilitiesError(QuiverError, ValueError):
    """The destination or table format cannot do what was asked (e.g. merge on plain files)."""


class SchemaMismatchError(QuiverError, ValueError):
    """The destination table has a column with another type than the data to load."""


class UnsupportedStorageError(DestinationCapabilitiesError):
    """A table format cannot be stored at the location given by ``bucket_url``.

    Attributes:
        scheme: The URL scheme of the location, such as ``"memory"``.
        table_format: The table format that was asked for, such as ``"delta"``.
    """

    def __init__(self, message: str, *, scheme: str, table_format: str) -> None:
        super().__init__(message)
        self.scheme = scheme
        self.table_format = table_format

    @classmethod
    def for_deltalake(cls, url: str, scheme: str, reason: str) -> UnsupportedStorageError:
        """The error for a location that deltalake cannot use; ``reason`` says why."""
        return cls(
            f"table_format='delta' cannot be stored at {url!r} (scheme {scheme!r}): {reason} "
            "Hint: use a local path, a file:// URL or an s3:// URL as bucket_url for Delta "
            "tables, or table_format='iceberg', which works on any fsspec filesystem.",
            scheme=scheme,
            table_format="delta",
        )


class DestinationConfigError(QuiverError, ValueError):
    """A destination setting (bucket_url, credentials, layout, table_format, catalog) is invalid."""


class DestinationConfigTypeError(DestinationConfigError, TypeError):
    """A destination setting has the wrong type (e.g. credentials that are not a mapping)."""


class MergeConfigError(DestinationCapabilitiesError):
    """A merge table's hints do not describe a merge that can run (terminal: fix the hints)."""


class CommitConflictError(QuiverError, RuntimeError):
    """A concurrent writer committed to the table first; retrying on the new version may succeed.

    Raised by a table format for the engine's conflict errors (deltalake ``CommitFailedError``,
    pyiceberg ``CommitFailedException``). The load id in every commit makes the retry a no-op if
    the commit did land.

    Attributes:
        table_format: ``"delta"`` or ``"iceberg"``.
        table_name: the table.
        load_id: the package whose commit conflicted, if known.
    """

    retryable = True

    def __init__(
        self, table_format: str, table_name: str, load_id: str | None, detail: str
    ) -> None:
        self.table_format = table_format
        self.table_name = table_name
        self.load_id = load_id
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Committing{package} to {table_format} table {table_name!r} conflicted with a "
            f"concurrent writer: {detail}. Hint: this is retried; if it keeps failing, the "
            "package stays pending: run again when the other writers are done."
        )


class TransientStorageError(QuiverError, OSError):
    """Storage could not be reached for a moment (connection reset, timeout, server error).

    Raised by a table format for an engine's transient I/O errors that are not builtin
    ``OSError``s (botocore and aiohttp errors that s3fs lets through). Retryable.
    """

    retryable = True

    def __init__(self, table_name: str, load_id: str | None, cause: BaseException) -> None:
        self.table_name = table_name
        self.load_id = load_id
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Storage of table {table_name!r}{package} failed for a moment with "
            f"{type(cause).__name__}: {cause}. Hint: this is retried; if it keeps failing, "
            "check the network and the storage service, then run again."
        )


class InvalidRetryPolicy(QuiverError, ValueError):
    """A ``RetryPolicy`` with attempts below 1, a negative delay or a jitter outside [0, 1]."""
