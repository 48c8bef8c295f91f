"""Credentials for S3 and S3-compatible servers, resolved the way dlt resolves them.

Explicit values (code) win; each missing field is read from configuration under
``destination.filesystem.credentials`` (``DESTINATION__FILESYSTEM__CREDENTIALS__<FIELD>``, or
``[destination.filesystem.credentials]`` in ``.dlt/secrets.toml``; the secret fields only from
providers that may hold secrets), then from the standard ``AWS_*`` variable. Secrets are
registered for masking and never shown by ``repr``.
:mod:`quiver.destinations.location` turns them into what each engine wants (s3fs keyword
arguments, deltalake ``storage_options``, pyiceberg FileIO properties).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from quiver.configuration import lookup as config
from quiver.configuration import masking
from quiver.errors import DestinationConfigError

__all__ = ["CREDENTIALS_ENV_PREFIX", "DEFAULT_REGION", "AwsCredentials"]

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

#: Fields that are secrets: only secret providers may hold them, and they are never printed.
SECRET_FIELDS: Final = frozenset({"aws_secret_access_key", "aws_session_token"})
#: Fields shown partly (their first characters) in reprs.
_PARTLY_SHOWN: Final = frozenset({"aws_access_key_id"})

#: Region used with a custom endpoint (moto, MinIO, ...) when none is configured; the
#: object stores of deltalake and pyarrow insist on having one.
DEFAULT_REGION: Final = "us-east-1"


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
    aws_secret_access_key: str | None = field(default=None, metadata={"secret": True})
    aws_session_token: str | None = field(default=None, metadata={"secret": True})
    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None

    def __post_init__(self) -> None:
        for name in SECRET_FIELDS:
            masking.register_secret(getattr(self, name))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.masked_mapping(vars(self)).items())
        return f"AwsCredentials({shown})"

    @staticmethod
    def masked_mapping(values: Mapping[str, Any]) -> dict[str, str]:
        """``repr`` of each value, secrets as ``'***'`` and the key id cut to its start."""
        shown: dict[str, str] = {}
        for name, value in values.items():
            if value is None:
                shown[name] = "None"
            elif name in SECRET_FIELDS or name not in _AWS_ENV_VARS:
                shown[name] = repr(masking.MASK)
            elif name in _PARTLY_SHOWN:
                shown[name] = repr(str(value)[:4] + masking.MASK)
            else:
                shown[name] = repr(value)
        return shown

    @classmethod
    def from_env_and_config(
        cls,
        explicit: Mapping[str, str | None] | AwsCredentials | None = None,
        *,
        sections: tuple[str, ...] = ("destination", "filesystem"),
    ) -> AwsCredentials:
        """Resolve credentials the way dlt does: explicit values, then config, then ``AWS_*``.

        Each field missing from ``explicit`` is looked up under ``<sections>.credentials``
        (dlt's rules: ``DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID``,
        ``[destination.filesystem.credentials]`` in ``.dlt/secrets.toml``, then
        ``destination.credentials.*`` and ``credentials.*``), then in the standard AWS
        variable: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
        ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``. Empty strings count as
        missing.

        Args:
            explicit: Values given in code, as an ``AwsCredentials`` or a mapping with its field
                names.
            sections: the destination's configuration section (``("destination", name)``).

        Returns:
            The resolved credentials; fields found nowhere stay ``None``.

        Raises:
            DestinationConfigError: If the mapping has a key that is not a credential field
                (a ``ValueError``).

        Examples:
            >>> creds = AwsCredentials.from_env_and_config({"region_name": "eu-west-1"})
            >>> creds.region_name
            'eu-west-1'
        """
        given = _explicit_values(explicit)
        values: dict[str, str | None] = {}
        for name, aws_vars in _AWS_ENV_VARS.items():
            values[name] = given.get(name) or _configured(sections, name) or _first_env(*aws_vars)
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
            raise DestinationConfigError(
                f"Unknown S3 credential field(s) {', '.join(map(repr, unknown))}. "
                f"Hint: use {', '.join(_AWS_ENV_VARS)}."
            )
    return {name: value for name, value in pairs.items() if value}


def _configured(sections: tuple[str, ...], name: str) -> str | None:
    found = config.resolve(
        sections, name, config_section="credentials", secret=name in SECRET_FIELDS
    )
    return None if found is None or found.value == "" else str(found.value)


def _first_env(*names: str) -> str | None:
    for name in names:
        if value := os.environ.get(name):
            return value
    return None
