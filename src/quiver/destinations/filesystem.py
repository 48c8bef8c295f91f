"""The ``filesystem`` destination: a bucket URL, credentials and a default table format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quiver.configuration import lookup as config
from quiver.destinations.credentials import AwsCredentials
from quiver.destinations.location import StorageLocation, resolve_location
from quiver.errors import DestinationConfigError, DestinationConfigTypeError

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
            raise DestinationConfigError(
                "The filesystem destination needs bucket_url. Hint: pass "
                "quiver.destinations.filesystem(bucket_url=...) or set "
                "DESTINATION__FILESYSTEM__BUCKET_URL."
            )
        return resolve_location(bucket_url, self._credentials())

    def _credentials(self) -> Any:
        if isinstance(self.credentials, AwsCredentials | dict) or self.credentials is None:
            return self.credentials
        raise DestinationConfigTypeError(
            f"credentials of the filesystem destination must be a dict or AwsCredentials, not "
            f"{type(self.credentials).__name__}. Hint: pass credentials={{'aws_access_key_id': "
            "..., 'aws_secret_access_key': ...}} or set DESTINATION__FILESYSTEM__CREDENTIALS__*."
        )

    def table_format_options(self, table_format: str) -> dict[str, Any]:
        """Constructor options for a table format from this destination's settings.

        Args:
            table_format: The format's registry name (``"delta"``, ``"iceberg"``, ``"native"``).

        Returns:
            ``layout`` for plain files, ``catalog`` for Iceberg when ``iceberg_catalog`` was
            given, else nothing.
        """
        if table_format == "native":
            return {"layout": self.layout}
        if table_format == "iceberg" and self.kwargs.get("iceberg_catalog") is not None:
            return {"catalog": self.kwargs["iceberg_catalog"]}
        return {}

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
        raise DestinationConfigError(
            f"table_format={table_format!r} is not supported by the filesystem destination. "
            f"Hint: use one of {', '.join(map(repr, TABLE_FORMATS))}."
        )
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
        raise DestinationConfigError(
            f"Destination {destination!r} is not supported by quiver: it loads into Delta and "
            "Iceberg tables on filesystems. Hint: use destination='filesystem' with a bucket_url."
        )
    if callable(destination) and getattr(destination, "__name__", "") == "filesystem":
        return FilesystemDestination()
    raise DestinationConfigTypeError(
        f"Unsupported destination {destination!r} of type {type(destination).__name__}. Hint: "
        "pass destination='filesystem' or quiver.destinations.filesystem(bucket_url=...)."
    )
