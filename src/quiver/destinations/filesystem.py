"""The ``filesystem`` destination: a bucket URL, credentials and a default table format.

Configuration is read, as in dlt, under ``destination.<destination name>`` (``filesystem``
unless named otherwise): ``DESTINATION__FILESYSTEM__BUCKET_URL`` or ``[destination.filesystem]``
in ``.dlt/config.toml``; credentials under ``destination.<name>.credentials``. A *named
destination* (``destination="my_lake"``) is a filesystem destination when
``destination.my_lake.destination_type`` is ``filesystem``; its settings are then read under
``destination.my_lake``.

Credentials embedded in the URL (``s3://KEY:SECRET@bucket/prefix``) are taken out of it: they
fill the credential fields not otherwise given, are masked in every printed form, and are never
stored in the pipeline state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from quiver.configuration import lookup as config
from quiver.configuration import masking
from quiver.destinations.credentials import AwsCredentials
from quiver.destinations.location import StorageLocation, resolve_location
from quiver.errors import (
    ConfigFieldMissingException,
    DestinationConfigError,
    DestinationConfigTypeError,
    NotSupportedYet,
)

TABLE_FORMATS = ("delta", "iceberg", "native", "none", "files")
DEFAULT_TABLE_FORMAT = "delta"
DESTINATION_TYPE = "filesystem"
#: dlt's default file layout below ``<bucket_url>/<dataset_name>``.
DEFAULT_LAYOUT = "{table_name}/{load_id}.{file_id}.{ext}"
_S3_SCHEMES = ("s3://", "s3a://", "s3n://")

#: Locations whose access was checked in this process (one cheap request per bucket).
_checked: set[tuple[str, Any]] = set()
_checked_lock = threading.Lock()


@dataclass(repr=False)
class FilesystemDestination:
    """Where and how a pipeline writes its tables.

    Args:
        bucket_url: a local path, ``file://``, ``s3://``, ``memory://`` or any fsspec URL. When
            not given, ``destination.<destination_name>.bucket_url`` is read from configuration
            (``DESTINATION__FILESYSTEM__BUCKET_URL``).
        credentials: a dict or :class:`AwsCredentials` (for s3); missing fields come from
            ``destination.<destination_name>.credentials.*`` and the standard ``AWS_*``
            variables.
        table_format: the default table format of tables that do not set one.
        destination_name: a name for LoadInfo and the state, and the configuration section.
    """

    bucket_url: str | None = None
    credentials: Any = None
    table_format: str = DEFAULT_TABLE_FORMAT
    destination_name: str = "filesystem"
    layout: str = DEFAULT_LAYOUT
    kwargs: dict[str, Any] = field(default_factory=dict)

    destination_type = DESTINATION_TYPE

    @property
    def config_sections(self) -> tuple[str, ...]:
        """Where this destination's settings are read: ``("destination", <destination_name>)``."""
        return ("destination", self.destination_name)

    def _raw_bucket_url(self) -> str | None:
        if self.bucket_url:
            return self.bucket_url
        configured = config.lookup(self.config_sections, "bucket_url")
        return None if configured is None else str(configured)

    def _split_bucket_url(self) -> tuple[str | None, dict[str, str]]:
        """The bucket URL without user and password, and the credentials they held."""
        raw = self._raw_bucket_url()
        if raw is None:
            return None, {}
        clean, user, password = masking.split_userinfo(raw)
        embedded = {}
        if user:
            masking.register_secret(user)
            embedded["aws_access_key_id"] = user
        if password:
            masking.register_secret(password)
            embedded["aws_secret_access_key"] = password
        return clean, embedded

    def resolved_bucket_url(self) -> str | None:
        """The bucket URL (given, else configured), without any user and password in it."""
        return self._split_bucket_url()[0]

    def location(self) -> StorageLocation:
        """The normalized location with its credentials.

        Raises:
            ConfigFieldMissingException: no ``bucket_url`` is given or configured (the message
                lists every key and file looked at).
            DestinationConfigError: the URL or the credentials are not usable.
        """
        bucket_url, embedded = self._split_bucket_url()
        if bucket_url is None:
            raise self.missing_bucket_url()
        return resolve_location(bucket_url, self._credentials(embedded))

    def missing_bucket_url(self) -> ConfigFieldMissingException:
        """The error for a destination without ``bucket_url``, with every key that was tried."""
        trace = config.Trace()
        config.resolve(self.config_sections, "bucket_url", trace=trace)
        env = config.env_key(self.config_sections, "bucket_url")
        return ConfigFieldMissingException(
            f"{self.destination_name} destination",
            {"bucket_url": trace.tried},
            config.provider_locations(),
            hint=f"pass quiver.destinations.filesystem(bucket_url=...), set {env}, or add "
            f"bucket_url to [{'.'.join(self.config_sections)}] in .dlt/config.toml.",
        )

    def _credentials(self, embedded: dict[str, str] | None = None) -> Any:
        given = self.credentials
        if not (isinstance(given, AwsCredentials | dict) or given is None):
            raise DestinationConfigTypeError(
                f"credentials of the filesystem destination must be a dict or AwsCredentials, "
                f"not {type(given).__name__}. Hint: pass credentials={{'aws_access_key_id': "
                "..., 'aws_secret_access_key': ...}} or set DESTINATION__FILESYSTEM__CREDENTIALS__*."
            )
        bucket_url = self.resolved_bucket_url() or ""
        if not bucket_url.lower().startswith(_S3_SCHEMES):
            return given  # only s3 takes credentials; other schemes ignore them
        return AwsCredentials.from_env_and_config(
            {**(embedded or {}), **_as_dict(given)}, sections=self.config_sections
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

        A missing ``bucket_url`` passes here (it may still be configured before the first
        load); :meth:`check_usable` refuses it.

        Raises:
            UnsupportedStorageError: e.g. Delta on ``memory://`` (delta-rs has no such store).
        """
        if self.resolved_bucket_url() is None:
            return
        if self.table_format == "delta":
            self.location().deltalake_uri_and_options()

    def check_usable(self, *, check_credentials: bool = True) -> None:
        """Refuse a destination that cannot be loaded into, before any work is done.

        Args:
            check_credentials: for ``s3://``, make one cheap request (does the bucket exist?)
                with the resolved credentials; done once per bucket and process.

        Raises:
            ConfigFieldMissingException: no ``bucket_url``.
            DestinationConfigError: the URL is malformed, the credentials are missing or
                refused, or the bucket does not exist.
        """
        self.validate()
        location = self.location()
        if check_credentials and location.scheme == "s3":
            _check_s3_access(location, self.destination_name)

    def displayable_location(self) -> str:
        """The location as shown in LoadInfo and logs: never with a user or password."""
        try:
            return self.location().url
        except ValueError:
            return masking.mask_url(str(self._raw_bucket_url()))

    def __str__(self) -> str:
        return self.destination_name

    def __repr__(self) -> str:
        url = self._raw_bucket_url()
        return (
            f"FilesystemDestination(destination_name={self.destination_name!r}, "
            f"bucket_url={None if url is None else masking.mask_url(url)!r}, "
            f"table_format={self.table_format!r}, credentials={_masked_credentials(self.credentials)}, "
            f"layout={self.layout!r}, kwargs={sorted(self.kwargs)!r})"
        )


def _as_dict(credentials: Any) -> dict[str, Any]:
    if credentials is None:
        return {}
    if isinstance(credentials, AwsCredentials):
        return {k: v for k, v in vars(credentials).items() if v is not None}
    return dict(credentials)


def _masked_credentials(credentials: Any) -> str:
    if credentials is None or isinstance(credentials, AwsCredentials):
        return repr(credentials)
    if isinstance(credentials, dict):
        return repr(AwsCredentials.masked_mapping(credentials))
    return f"<{type(credentials).__name__}>"


def _endpoint(filesystem: Any) -> str:
    """The endpoint the S3 client resolved (from credentials, config or the environment)."""
    client = getattr(filesystem, "s3", None)
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
    return masking.mask_url(str(endpoint)) if endpoint else "the default AWS endpoint"


def _check_s3_access(location: StorageLocation, destination_name: str) -> None:
    """One request to the bucket: are there credentials, and are they accepted?"""
    bucket = location.path.split("/", 1)[0]
    key = (bucket, location.credentials)
    with _checked_lock:
        if key in _checked:
            return
    hint = (
        "set DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID and "
        "..._AWS_SECRET_ACCESS_KEY (or [destination.filesystem.credentials] in "
        ".dlt/secrets.toml), or skip this check with "
        "DESTINATION__FILESYSTEM__VALIDATE_CREDENTIALS=false."
    )
    filesystem = location.filesystem()
    try:
        exists = filesystem.exists(bucket)
    except Exception as error:  # botocore/aiobotocore errors share no base
        message = masking.mask_text(f"{type(error).__name__}: {error}")
        raise DestinationConfigError(
            f"The {destination_name} destination cannot reach s3://{bucket} "
            f"at {_endpoint(filesystem)} ({message}). Hint: {hint}"
        ) from None
    if not exists:
        # s3fs answers "no" for an endpoint it cannot connect to, too: name the endpoint
        raise DestinationConfigError(
            f"The {destination_name} destination's bucket s3://{bucket} does not exist at "
            f"{_endpoint(filesystem)}, the credentials cannot see it, or the endpoint cannot "
            f"be reached. Hint: check the endpoint_url, create the bucket, or {hint}"
        )
    with _checked_lock:
        _checked.add(key)


def filesystem(
    bucket_url: str | None = None,
    credentials: Any = None,
    layout: str = DEFAULT_LAYOUT,
    destination_name: str | None = None,
    table_format: str = DEFAULT_TABLE_FORMAT,
    **kwargs: Any,
) -> FilesystemDestination:
    """The filesystem destination, as ``dlt.destinations.filesystem(bucket_url=...)``.

    Raises:
        DestinationConfigError: ``table_format`` is not one the destination writes.
        NotSupportedYet: ``naming_convention=`` (dlt's destination factories take it); the
            schema's convention is configured as ``SCHEMA__NAMING`` instead.
    """
    if kwargs.get("naming_convention") is not None:
        raise NotSupportedYet(
            "filesystem(naming_convention=...)",
            "make that naming convention the default of every schema the pipeline loads",
            f"set SCHEMA__NAMING={kwargs['naming_convention']} (or naming=... under [schema] "
            "in .dlt/config.toml) and remove naming_convention= from the destination.",
        )
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


def resolve_staging(staging: Any) -> FilesystemDestination | None:
    """Resolve ``staging`` (``pipeline(staging=...)``, ``run(staging=...)``) as dlt does.

    It takes the forms of ``destination``: ``"filesystem"`` (bucket from
    ``DESTINATION__FILESYSTEM__BUCKET_URL``), a named filesystem destination (bucket from
    ``DESTINATION__<NAME>__BUCKET_URL``) or ``quiver.destinations.filesystem(bucket_url=...)``.

    Raises:
        ConfigFieldMissingException: the staging location has no ``bucket_url``.
        DestinationConfigError: ``staging`` names no filesystem destination, or its ``layout``
            is not the default (files are staged as ``<dataset>/<table>/<load_id>.<file_id>
            .parquet``).
    """
    resolved = resolve_destination(staging)
    if resolved is None:
        return None
    if resolved.layout != DEFAULT_LAYOUT:
        raise DestinationConfigError(
            f"staging {resolved.destination_name!r} has layout={resolved.layout!r}; quiver "
            f"stages files only as {DEFAULT_LAYOUT!r} below <bucket_url>/<dataset_name>. "
            "Hint: leave layout out of the staging destination."
        )
    if resolved.resolved_bucket_url() is None:
        raise resolved.missing_bucket_url()
    return resolved


def resolve_destination(destination: Any) -> FilesystemDestination | None:
    """Accept ``"filesystem"``, a named destination, a destination object, or ``None``.

    A name other than ``filesystem`` is a *named destination* when
    ``destination.<name>.destination_type`` is configured as ``filesystem``
    (``DESTINATION__MY_LAKE__DESTINATION_TYPE=filesystem``), as in dlt.
    """
    if destination is None or isinstance(destination, FilesystemDestination):
        return destination
    if isinstance(destination, str):
        if destination == "filesystem" or destination.endswith(".filesystem"):
            return FilesystemDestination()
        configured = config.lookup_exact(("destination", destination), "destination_type")
        if configured is not None and str(configured).rsplit(".", 1)[-1] == DESTINATION_TYPE:
            return FilesystemDestination(destination_name=destination)
        env = config.env_key(("destination", destination), "destination_type")
        raise DestinationConfigError(
            f"Destination {destination!r} is not supported by quiver: it loads into Delta and "
            "Iceberg tables on filesystems. Hint: use destination='filesystem' with a "
            f"bucket_url, or name a filesystem destination by setting {env}=filesystem."
        )
    if callable(destination) and getattr(destination, "__name__", "") == "filesystem":
        return FilesystemDestination()
    raise DestinationConfigTypeError(
        f"Unsupported destination {destination!r} of type {type(destination).__name__}. Hint: "
        "pass destination='filesystem' or quiver.destinations.filesystem(bucket_url=...)."
    )
