"""Where a filesystem destination's tables live, and how each engine reaches them.

A filesystem destination is configured, as in dlt, with a ``bucket_url`` and optional
credentials. Three engines then need the same place spelled three different ways:

* fsspec (quiver's own file writes and listings) wants a filesystem object and a path without
  a protocol;
* deltalake uses its own Rust object stores and wants a URL plus ``storage_options``;
* pyiceberg wants a location plus FileIO properties (``s3.endpoint``, ...).

This module is the one place that does that translation. It holds no pipeline logic, and it
imports s3fs, deltalake and pyiceberg only inside the functions that need them.

Examples:
    >>> loc = resolve_location("memory://lake")
    >>> loc.join("dataset", "items").url
    'memory://lake/dataset/items'
    >>> resolve_location("s3://bucket/prefix/", {"aws_access_key_id": "AK"}).path
    'bucket/prefix'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "FSSPEC_FILE_IO_IMPL",
    "AwsCredentials",
    "StorageLocation",
    "UnsupportedStorageError",
    "resolve_location",
]

#: The table formats a filesystem destination can write.
TableFormat = Literal["delta", "iceberg"]

#: Prefix of the dlt-style environment variables that hold filesystem credentials.
CREDENTIALS_ENV_PREFIX: Final = "DESTINATION__FILESYSTEM__CREDENTIALS__"

#: Standard AWS environment variables read for each credential field, in order of preference.
_AWS_ENV_VARS: Final[Mapping[str, tuple[str, ...]]] = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "region_name": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "endpoint_url": ("AWS_ENDPOINT_URL",),
    "profile_name": (),
}

#: Region used with a custom endpoint (moto, MinIO, ...) when none is configured; the
#: object stores of deltalake and pyarrow insist on having one.
DEFAULT_REGION: Final = "us-east-1"

#: Dotted path of quiver's fsspec-based pyiceberg FileIO, for the ``py-io-impl`` property.
FSSPEC_FILE_IO_IMPL: Final = f"{__name__}.QuiverFsspecFileIO"

#: pyiceberg property listing extra fsspec protocols that QuiverFsspecFileIO should serve.
FSSPEC_SCHEMES_PROPERTY: Final = "quiver.fsspec-schemes"

# Spellings of the same protocol, mapped to the one quiver uses in URLs.
_SCHEME_ALIASES: Final[Mapping[str, str]] = {
    "local": "file",
    "s3a": "s3",
    "s3n": "s3",
    "gcs": "gs",
}

# deltalake 1.x reaches these through its own object stores; their credentials come from the
# environment (GOOGLE_*, AZURE_*, ...), which delta-rs reads by itself.
_DELTALAKE_NATIVE_SCHEMES: Final = frozenset(
    {"gs", "az", "adl", "azure", "abfs", "abfss", "hdfs", "viewfs"}
)

# pyiceberg picks a FileIO for these by itself (see pyiceberg.io.SCHEMA_TO_FILE_IO).
_PYICEBERG_NATIVE_SCHEMES: Final = frozenset(
    {"gs", "abfs", "abfss", "wasb", "wasbs", "hdfs", "viewfs", "oss", "hf"}
)


class UnsupportedStorageError(ValueError):
    """A table format cannot be stored at the requested location.

    Attributes:
        scheme: The URL scheme of the location, such as ``"memory"``.
        table_format: The table format that was asked for, such as ``"delta"``.
    """

    def __init__(self, message: str, *, scheme: str, table_format: TableFormat) -> None:
        super().__init__(message)
        self.scheme = scheme
        self.table_format = table_format

    @classmethod
    def for_deltalake(cls, location: StorageLocation, reason: str) -> UnsupportedStorageError:
        """Build the error for a location that deltalake cannot use.

        Args:
            location: The location that was asked for.
            reason: Why deltalake cannot use it, as one or more sentences.

        Returns:
            The error, with a hint that names the locations that work.
        """
        return cls(
            f"table_format='delta' cannot be stored at {location.url!r} "
            f"(scheme {location.scheme!r}): {reason} "
            "Hint: use a local path, a file:// URL or an s3:// URL as bucket_url for Delta "
            "tables, or table_format='iceberg', which works on any fsspec filesystem.",
            scheme=location.scheme,
            table_format="delta",
        )


@dataclass(frozen=True)
class AwsCredentials:
    """Credentials for S3 and S3-compatible servers, with dlt's field names.

    Secrets are left out of ``repr`` so that they do not end up in logs and tracebacks.

    Attributes:
        aws_access_key_id: The access key id.
        aws_secret_access_key: The secret access key.
        aws_session_token: A session token for temporary credentials.
        region_name: The AWS region, such as ``"eu-central-1"``.
        endpoint_url: The URL of an S3-compatible server, such as ``"http://127.0.0.1:9000"``;
            ``None`` for AWS itself.
        profile_name: A profile from the shared AWS config files.
    """

    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None

    @classmethod
    def from_env_and_config(
        cls, explicit: Mapping[str, str | None] | AwsCredentials | None = None
    ) -> AwsCredentials:
        """Resolve credentials the way dlt does: explicit values first, then the environment.

        Each field missing from ``explicit`` is read from
        ``DESTINATION__FILESYSTEM__CREDENTIALS__<FIELD>`` (for example
        ``DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID``), then from the standard AWS
        variable: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
        ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``. Empty strings count as
        missing.

        Args:
            explicit: Values given in code or config, as an ``AwsCredentials`` or a mapping with
                its field names.

        Returns:
            The resolved credentials; fields found nowhere stay ``None``.

        Raises:
            ValueError: If the mapping has a key that is not a credential field.

        Examples:
            >>> creds = AwsCredentials.from_env_and_config({"region_name": "eu-west-1"})
            >>> creds.region_name
            'eu-west-1'
        """
        given = _explicit_values(explicit)
        values: dict[str, str | None] = {}
        for name, aws_vars in _AWS_ENV_VARS.items():
            values[name] = given.get(name) or _first_env(
                CREDENTIALS_ENV_PREFIX + name.upper(), *aws_vars
            )
        return cls(**values)

    @property
    def region_or_default(self) -> str | None:
        """The region, or ``DEFAULT_REGION`` when a custom endpoint is set without one."""
        if self.region_name:
            return self.region_name
        return DEFAULT_REGION if self.endpoint_url else None

    def to_s3fs_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem``.

        The region goes into ``client_kwargs`` only for AWS itself: with a custom endpoint s3fs
        would send it as a bucket location constraint, which such servers reject for
        ``us-east-1``.

        Returns:
            ``key``, ``secret``, ``token``, ``endpoint_url``, ``profile`` and ``client_kwargs``,
            each only when set.
        """
        kwargs: dict[str, Any] = {
            "key": self.aws_access_key_id,
            "secret": self.aws_secret_access_key,
            "token": self.aws_session_token,
            "endpoint_url": self.endpoint_url,
            "profile": self.profile_name,
        }
        if self.region_name and not self.endpoint_url:
            kwargs["client_kwargs"] = {"region_name": self.region_name}
        return {key: value for key, value in kwargs.items() if value is not None}

    def to_deltalake_options(self) -> dict[str, str]:
        """``storage_options`` for deltalake's S3 object store.

        Returns:
            ``AWS_*`` options, each only when set; ``AWS_REGION`` defaults to
            ``DEFAULT_REGION`` with a custom endpoint, and ``AWS_ALLOW_HTTP`` is ``"true"``
            for an ``http://`` endpoint (delta-rs refuses plain HTTP otherwise).
        """
        options = {
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
            "AWS_SESSION_TOKEN": self.aws_session_token,
            "AWS_REGION": self.region_or_default,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_PROFILE": self.profile_name,
        }
        if self.endpoint_url and self.endpoint_url.lower().startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
        return {key: value for key, value in options.items() if value}

    def to_pyiceberg_properties(self) -> dict[str, str]:
        """FileIO properties for pyiceberg (``s3.*``).

        pyiceberg's default PyArrowFileIO ignores ``AWS_ENDPOINT_URL``, so the endpoint must be
        passed as a property.

        Returns:
            ``s3.*`` properties, each only when set; ``s3.region`` defaults to
            ``DEFAULT_REGION`` with a custom endpoint.
        """
        properties = {
            "s3.endpoint": self.endpoint_url,
            "s3.access-key-id": self.aws_access_key_id,
            "s3.secret-access-key": self.aws_secret_access_key,
            "s3.session-token": self.aws_session_token,
            "s3.region": self.region_or_default,
            "s3.profile-name": self.profile_name,
        }
        return {key: value for key, value in properties.items() if value}


@dataclass(frozen=True)
class StorageLocation:
    """A normalized place on a filesystem, with the credentials to reach it.

    Build one with ``resolve_location``. Instances are immutable and hashable.

    Attributes:
        url: The normalized URL: ``file:///abs/path``, ``s3://bucket/prefix``,
            ``memory://name``, ... without a trailing slash.
        scheme: The protocol, lowercase: ``"file"``, ``"s3"``, ``"memory"``, ...
        credentials: Credentials for ``s3``; ``None`` for other schemes.
    """

    url: str
    scheme: str
    credentials: AwsCredentials | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(f"{self.scheme}://"):
            raise ValueError(
                f"StorageLocation url {self.url!r} does not start with '{self.scheme}://'. "
                "Hint: build locations with resolve_location(bucket_url)."
            )

    def __str__(self) -> str:
        return self.url

    @property
    def is_local(self) -> bool:
        """Whether the location is on the local disk."""
        return self.scheme == "file"

    @property
    def path(self) -> str:
        """The path as the fsspec filesystem wants it.

        An absolute path for local locations, ``bucket/prefix`` for s3, ``/name`` for memory.
        """
        rest = self.url[len(self.scheme) + 3 :]
        if self.scheme in ("file", "s3"):
            return rest
        if self.scheme == "memory":
            return "/" + rest.lstrip("/")
        import fsspec.core

        try:
            return str(fsspec.core.strip_protocol(self.url))
        except (ImportError, ValueError):
            return rest

    def join(self, *parts: str) -> StorageLocation:
        """Return a location below this one.

        Args:
            *parts: Path segments; each may contain ``/``. Empty segments are skipped.

        Returns:
            The child location, with the same scheme and credentials.

        Raises:
            ValueError: If a segment is ``.`` or ``..``.

        Examples:
            >>> resolve_location("s3://bucket", {}).join("dataset/", "items").url
            's3://bucket/dataset/items'
        """
        segments = [segment for part in parts for segment in part.split("/") if segment]
        if bad := [segment for segment in segments if segment in (".", "..")]:
            raise ValueError(
                f"Cannot join {'/'.join(parts)!r} to {self.url!r}: segment {bad[0]!r} would "
                "leave the location. Hint: pass plain folder and file names."
            )
        if not segments:
            return self
        base = self.url if self.url.endswith("/") else self.url + "/"
        return StorageLocation(base + "/".join(segments), self.scheme, self.credentials)

    def filesystem(self) -> AbstractFileSystem:
        """The fsspec filesystem for this location.

        ``s3fs.S3FileSystem`` (listings cache off, because deltalake and pyiceberg write behind
        its back) for s3, ``LocalFileSystem(auto_mkdir=True)`` for local paths and
        ``fsspec.filesystem(scheme)`` otherwise. Instances are cached per scheme and
        credentials.

        Returns:
            The filesystem; pass it ``self.path`` (or ``self.join(...).path``).
        """
        return _filesystem(self.scheme, self.credentials)

    def deltalake_uri_and_options(self) -> tuple[str, dict[str, str]]:
        """The table URI and ``storage_options`` for deltalake.

        Returns:
            For local locations, the plain absolute path and no options; for s3, the
            ``s3://`` URL and ``AWS_*`` options (see ``AwsCredentials.to_deltalake_options``);
            for gs, az, abfs(s) and hdfs, the URL and no options (delta-rs reads their
            credentials from the environment).

        Raises:
            UnsupportedStorageError: For ``memory://`` and schemes deltalake has no object store
                for, and for local paths that contain ``%``.

        Examples:
            >>> resolve_location("/tmp/lake").deltalake_uri_and_options()
            ('/tmp/lake', {})
        """
        if self.scheme == "file":
            if "%" in self.path:
                raise UnsupportedStorageError.for_deltalake(
                    self,
                    "the local path contains '%', and delta-rs decodes percent escapes in "
                    "local paths twice: it writes the data files but then cannot find the "
                    "commit log. Rename the folder.",
                )
            return self.path, {}
        if self.scheme == "s3":
            credentials = self.credentials or AwsCredentials()
            return self.url, credentials.to_deltalake_options()
        if self.scheme in _DELTALAKE_NATIVE_SCHEMES:
            return self.url, {}
        if self.scheme == "memory":
            raise UnsupportedStorageError.for_deltalake(
                self,
                "deltalake does not use fsspec; it has its own memory store, and that store is "
                "new on every call, so a Delta table written there is gone before anything can "
                "read it.",
            )
        raise UnsupportedStorageError.for_deltalake(
            self,
            f"deltalake does not use fsspec and has no object store for {self.scheme}:// "
            "(it supports file, s3, gs, az/abfs(s) and hdfs URLs).",
        )

    def pyiceberg_properties(self) -> dict[str, str]:
        """FileIO properties for a pyiceberg catalog or table at this location.

        Returns:
            ``s3.*`` properties for s3; nothing for local paths and for schemes pyiceberg
            serves itself (gs, abfs(s), hdfs, ...); for ``memory://`` and any other fsspec
            protocol, ``py-io-impl`` set to quiver's fsspec FileIO (``FSSPEC_FILE_IO_IMPL``),
            which serves that protocol through fsspec.
        """
        if self.scheme == "s3":
            return (self.credentials or AwsCredentials()).to_pyiceberg_properties()
        if self.scheme == "file" or self.scheme in _PYICEBERG_NATIVE_SCHEMES:
            return {}
        return {"py-io-impl": FSSPEC_FILE_IO_IMPL, FSSPEC_SCHEMES_PROPERTY: self.scheme}


def resolve_location(
    bucket_url: str | os.PathLike[str],
    credentials: Mapping[str, str | None] | AwsCredentials | None = None,
) -> StorageLocation:
    """Turn a filesystem destination's ``bucket_url`` into a ``StorageLocation``.

    Args:
        bucket_url: A local path (relative paths are made absolute against the current
            directory, ``~`` is expanded), a ``file://`` URL, an ``s3://`` URL, ``memory://``
            or any other fsspec URL. ``s3a``/``s3n`` become ``s3``, ``gcs`` becomes ``gs``.
        credentials: For s3: explicit credentials, completed from the environment with
            ``AwsCredentials.from_env_and_config``. Ignored for other schemes.

    Returns:
        The normalized location.

    Raises:
        ValueError: If ``bucket_url`` is empty, chains protocols (``a::b://``) or is an s3 URL
            without a bucket.

    Examples:
        >>> resolve_location("file:///tmp/lake/").url
        'file:///tmp/lake'
        >>> resolve_location("S3A://bucket/key", {}).url
        's3://bucket/key'
    """
    url = os.fspath(bucket_url).strip()
    if not url:
        raise ValueError("bucket_url is empty. Hint: pass a local path or a URL such as s3://b.")
    if "::" in url:
        raise ValueError(
            f"bucket_url {url!r} chains fsspec protocols, which quiver does not support. "
            "Hint: pass a single URL such as s3://bucket/prefix."
        )
    scheme, separator, rest = url.partition("://")
    if not separator:
        if url.lower().startswith("file:"):
            return _local_location(url[len("file:") :])
        return _local_location(url)
    scheme = scheme.lower()
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    if scheme == "file":
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        return _local_location(rest)
    rest = rest.rstrip("/")
    if scheme == "s3":
        if not rest.split("/", 1)[0]:
            raise ValueError(
                f"bucket_url {url!r} has no bucket. Hint: use s3://<bucket>/<optional prefix>."
            )
        return StorageLocation(
            f"s3://{rest}", "s3", AwsCredentials.from_env_and_config(credentials)
        )
    return StorageLocation(f"{scheme}://{rest}", scheme)


def _local_location(path: str) -> StorageLocation:
    absolute = os.path.abspath(os.path.expanduser(path)).replace(os.sep, "/")
    if not absolute.startswith("/"):  # a Windows drive path such as C:/lake
        absolute = "/" + absolute
    return StorageLocation(f"file://{absolute}", "file")


def _explicit_values(explicit: Mapping[str, str | None] | AwsCredentials | None) -> dict[str, str]:
    if explicit is None:
        return {}
    if isinstance(explicit, AwsCredentials):
        pairs: Mapping[str, str | None] = {
            f.name: getattr(explicit, f.name) for f in fields(AwsCredentials)
        }
    else:
        pairs = explicit
        if unknown := sorted(set(pairs) - set(_AWS_ENV_VARS)):
            raise ValueError(
                f"Unknown S3 credential field(s) {', '.join(map(repr, unknown))}. "
                f"Hint: use {', '.join(_AWS_ENV_VARS)}."
            )
    return {name: value for name, value in pairs.items() if value}


def _first_env(*names: str) -> str | None:
    for name in names:
        if value := os.environ.get(name):
            return value
    return None


@functools.cache
def _filesystem(scheme: str, credentials: AwsCredentials | None) -> AbstractFileSystem:
    if scheme == "s3":
        import s3fs

        kwargs = (credentials or AwsCredentials()).to_s3fs_kwargs()
        filesystem: AbstractFileSystem = s3fs.S3FileSystem(
            use_listings_cache=False, skip_instance_cache=True, **kwargs
        )
        return filesystem
    if scheme == "file":
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(auto_mkdir=True)
    import fsspec

    return fsspec.filesystem(scheme)


def _fsspec_filesystem_for_iceberg(scheme: str, properties: Mapping[str, Any]) -> Any:
    import fsspec

    return fsspec.filesystem(scheme)


@functools.cache
def _fsspec_file_io_class() -> type[Any]:
    from pyiceberg.io.fsspec import FsspecFileIO
    from pyiceberg.typedef import Properties

    class QuiverFsspecFileIO(FsspecFileIO):
        """pyiceberg's FsspecFileIO, also serving ``memory://`` and other fsspec protocols.

        Select it with the catalog property ``py-io-impl`` = ``FSSPEC_FILE_IO_IMPL``; list
        further protocols, comma-separated, in the property ``quiver.fsspec-schemes``.
        """

        def __init__(self, properties: Properties) -> None:
            super().__init__(properties)
            extra = properties.get(FSSPEC_SCHEMES_PROPERTY, "")
            for scheme in {"memory", *filter(None, extra.split(","))}:
                self._scheme_to_fs.setdefault(
                    scheme, functools.partial(_fsspec_filesystem_for_iceberg, scheme)
                )

    # Make the class reachable by its dotted path, for py-io-impl and for pickling.
    QuiverFsspecFileIO.__module__ = __name__
    QuiverFsspecFileIO.__qualname__ = "QuiverFsspecFileIO"
    return QuiverFsspecFileIO


def __getattr__(name: str) -> Any:
    # PEP 562: build QuiverFsspecFileIO on first access, so importing this module does not
    # import pyiceberg.
    if name == "QuiverFsspecFileIO":
        return _fsspec_file_io_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
