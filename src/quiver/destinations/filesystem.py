"""The ``filesystem`` destination: a bucket URL, credentials and a default table format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quiver.configuration import lookup as config
from quiver.destinations.location import AwsCredentials, StorageLocation, resolve_location

TABLE_FORMATS = ("delta", "iceberg", "native", "none", "files")
DEFAULT_TABLE_FORMAT = "delta"
_SECTIONS = ("destination", "filesystem")


@dataclass
class FilesystemDestination:
    """Where and how a pipeline writes its tables.

    Args:
        bucket_url: a local path, ``file://``, ``s3://``, ``memory://`` or any fsspec URL. When
            not given, ``DESTINATION__FILESYSTEM__BUCKET_URL`` is used.
        credentials: a dict or :class:`AwsCredentials` (for s3); missing fields come from
            ``DESTINATION__FILESYSTEM__CREDENTIALS__*`` and the standard ``AWS_*`` variables.
        table_format: the default table format of tables that do not set one.
        destination_name: a name for LoadInfo and the state.
    """

    bucket_url: str | None = None
    credentials: Any = None
    table_format: str = DEFAULT_TABLE_FORMAT
    destination_name: str = "filesystem"
    layout: str = "{table_name}/{load_id}.{file_id}.{ext}"
    kwargs: dict[str, Any] = field(default_factory=dict)

    destination_type = "filesystem"

    def resolved_bucket_url(self) -> str | None:
        return self.bucket_url or config.lookup(_SECTIONS, "bucket_url")

    def location(self) -> StorageLocation:
        bucket_url = self.resolved_bucket_url()
        if bucket_url is None:
            raise ValueError(
                "The filesystem destination needs bucket_url. Hint: pass "
                "quiver.destinations.filesystem(bucket_url=...) or set "
                "DESTINATION__FILESYSTEM__BUCKET_URL."
            )
        return resolve_location(bucket_url, self._credentials())

    def _credentials(self) -> Any:
        if isinstance(self.credentials, AwsCredentials | dict) or self.credentials is None:
            return self.credentials
        raise TypeError("credentials must be a dict or AwsCredentials")

    def validate(self) -> None:
        """Fail early, with a clear error, if the default table format cannot use the bucket.

        Raises:
            UnsupportedStorageError: e.g. Delta on ``memory://`` (delta-rs has no such store).
        """
        if self.resolved_bucket_url() is None:
            return  # may still come from config before the first load
        if self.table_format == "delta":
            self.location().deltalake_uri_and_options()

    def displayable_location(self) -> str:
        try:
            return self.location().url
        except ValueError:
            return str(self.resolved_bucket_url())

    def __str__(self) -> str:
        return self.destination_name


def filesystem(
    bucket_url: str | None = None,
    credentials: Any = None,
    layout: str = "{table_name}/{load_id}.{file_id}.{ext}",
    destination_name: str | None = None,
    table_format: str = DEFAULT_TABLE_FORMAT,
    **kwargs: Any,
) -> FilesystemDestination:
    """The filesystem destination, as ``dlt.destinations.filesystem(bucket_url=...)``."""
    if table_format not in TABLE_FORMATS:
        raise ValueError(f"table_format must be one of {TABLE_FORMATS}, got {table_format!r}")
    return FilesystemDestination(
        bucket_url=bucket_url,
        credentials=credentials,
        table_format=table_format,
        destination_name=destination_name or "filesystem",
        layout=layout,
        kwargs=kwargs,
    )


def resolve_destination(destination: Any) -> FilesystemDestination | None:
    """Accept ``"filesystem"``, a destination object, or ``None``."""
    if destination is None or isinstance(destination, FilesystemDestination):
        return destination
    if isinstance(destination, str):
        if destination == "filesystem" or destination.endswith(".filesystem"):
            return FilesystemDestination()
        raise ValueError(
            f"Destination {destination!r} is not supported by quiver: it loads into Delta and "
            "Iceberg tables on filesystems. Hint: use destination='filesystem' with a bucket_url."
        )
    if callable(destination) and getattr(destination, "__name__", "") == "filesystem":
        return FilesystemDestination()
    raise TypeError(f"Unsupported destination {destination!r}")
