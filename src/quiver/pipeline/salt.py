"""``pipeline_salt``: deterministic pseudonyms for values that must not reach the lake as they are.

A pipeline's salt defaults, as in dlt, to the base64 sha3-256 digest of the pipeline name, so two
runs (and two machines) of one pipeline give a value the same pseudonym, and joins over an
anonymized column keep working. This is anonymization, not cryptography: the default salt can be
computed by anyone who knows the pipeline name, and a value from a small set (an email of a known
person, a phone number) can be found again by hashing candidates with that salt. Pass a secret
salt (``quiver.pipeline(pipeline_salt=...)`` or the ``PIPELINE_SALT`` config value, e.g. from a
secret store) when the pseudonyms must not be reversible by guessing.

Examples:
    >>> anonymize("alice@example.com", "my-secret-salt") == anonymize(
    ...     "alice@example.com", "my-secret-salt"
    ... )
    True
    >>> anonymize(None, "my-secret-salt") is None
    True
    >>> len(anonymize(42, "my-secret-salt"))
    64
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from quiver.configuration import lookup as config


def default_pipeline_salt(pipeline_name: str) -> str:
    """dlt's default salt: base64 of the sha3-256 digest of the pipeline name."""
    digest = hashlib.sha3_256(pipeline_name.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def resolve_pipeline_salt(pipeline_name: str, explicit: str | None) -> str:
    """The salt: the argument, else config ``pipeline_salt`` (``PIPELINES__<NAME>__PIPELINE_SALT``,
    ``PIPELINES__PIPELINE_SALT`` or ``PIPELINE_SALT``), else :func:`default_pipeline_salt`."""
    if explicit:
        return str(explicit)
    configured = config.lookup(("pipelines", pipeline_name), "pipeline_salt")
    return configured or default_pipeline_salt(pipeline_name)


def anonymize(value: Any, salt: str) -> str | None:
    """A deterministic pseudonym of ``value``: HMAC-SHA256 keyed with ``salt``, as 64 hex digits.

    ``None`` stays ``None`` (a missing value is not made to look present). Other values are
    hashed as their text (``bytes`` as they are), so ``42`` and ``"42"`` get the same pseudonym
    and a key anonymized in two tables of different types still joins.

    Args:
        value: the value to hide.
        salt: the pipeline's salt (``Pipeline.pipeline_salt``).

    Returns:
        The pseudonym, or ``None`` for ``None``.
    """
    if value is None:
        return None
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return hmac.new(salt.encode("utf-8"), data, hashlib.sha256).hexdigest()
