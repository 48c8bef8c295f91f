"""Where a filesystem destination's tables live, and how each engine reaches them.

A filesystem destination is configured, as in dlt, with a ``bucket_url`` and optional
credentials (:mod:`quiver.destinations.credentials`). Three engines then need the same place spelled three different ways:

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from quiver.destinations.credentials import AwsCredentials
from quiver.errors import DestinationConfigError, UnsupportedStorageError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "FSSPEC_FILE_IO_IMPL",
    "StorageLocation",
    "resolve_location",
]

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
            raise DestinationConfigError(
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
            DestinationConfigError: If a segment is ``.`` or ``..`` (a ``ValueError``).

        Examples:
            >>> resolve_location("s3://bucket", {}).join("dataset/", "items").url
            's3://bucket/dataset/items'
        """
        segments = [segment for part in parts for segment in part.split("/") if segment]
        if bad := [segment for segment in segments if segment in (".", "..")]:
            raise DestinationConfigError(
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
                    self.url,
                    self.scheme,
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
                self.url,
                self.scheme,
                "deltalake does not use fsspec; it has its own memory store, and that store is "
                "new on every call, so a Delta table written there is gone before anything can "
                "read it.",
            )
        raise UnsupportedStorageError.for_deltalake(
            self.url,
            self.scheme,
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
        DestinationConfigError: If ``bucket_url`` is empty, chains protocols (``a::b://``) or is an s3 URL
            without a bucket.

    Examples:
        >>> resolve_location("file:///tmp/lake/").url
        'file:///tmp/lake'
        >>> resolve_location("S3A://bucket/key", {}).url
        's3://bucket/key'
    """
    url = os.fspath(bucket_url).strip()
    if not url:
        raise DestinationConfigError(
            "bucket_url is empty. Hint: pass a local path or a URL such as s3://b."
        )
    if "::" in url:
        raise DestinationConfigError(
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
            raise DestinationConfigError(
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
