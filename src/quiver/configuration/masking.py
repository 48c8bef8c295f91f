"""Secrets never printed: a registry of known secret values and the helpers that hide them.

Every secret quiver resolves (``quiver.secrets.value`` arguments, ``quiver.secrets[...]``,
credential fields, the password in a ``bucket_url``) is registered here. :func:`mask_text`
replaces registered values in any text; the log filter installed by
:mod:`quiver.configuration.logs`, ``LoadInfo`` and the reprs of destinations and credentials use
it. :func:`mask_url` hides the user and password of a URL such as ``s3://KEY:SECRET@bucket``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Final

from quiver.errors.base import MESSAGE_FILTERS

__all__ = ["MASK", "mask", "mask_text", "mask_url", "register_secret", "split_userinfo"]

#: What a secret is replaced with.
MASK: Final = "***"

#: Shorter values are not registered: masking every "ab" in a log would hide everything.
_MIN_SECRET_LENGTH: Final = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: Any) -> None:
    """Remember a secret (a string, or the strings inside a mapping) so it is masked in output."""
    if isinstance(value, Mapping):
        for item in value.values():
            register_secret(item)
        return
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def mask(value: Any) -> str:
    """What to show instead of a secret value: ``***`` (``None`` stays ``None``)."""
    return "None" if value is None else MASK


def mask_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``.

    A secret is replaced where it stands alone (not inside a longer word or name), so that a
    short secret such as ``testing`` does not garble ``aws_testing_key`` or ``pytest-testing``.
    """
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", MASK, text)
    return text


# Messages of errors that quote other errors (PipelineStepFailed) are masked too.
if mask_text not in MESSAGE_FILTERS:
    MESSAGE_FILTERS.append(mask_text)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without user and password, user, password)`` of ``scheme://user:password@host/...``.

    Examples:
        >>> split_userinfo("s3://AKIA:s3cr3t@bucket/prefix")
        ('s3://bucket/prefix', 'AKIA', 's3cr3t')
        >>> split_userinfo("/tmp/lake")
        ('/tmp/lake', None, None)
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url, None, None
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{host}{slash}{path}", user or None, password if colon else None


def mask_url(url: str) -> str:
    """``url`` with its user and password (if any) shown as ``***``.

    Examples:
        >>> mask_url("s3://AKIA:s3cr3t@bucket/prefix")
        's3://***:***@bucket/prefix'
    """
    clean, user, password = split_userinfo(url)
    if user is None and password is None:
        return url
    scheme, _, rest = clean.partition("://")
    userinfo = MASK if password is None else f"{MASK}:{MASK}"
    return f"{scheme}://{userinfo}@{rest}"
