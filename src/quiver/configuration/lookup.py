"""Configuration lookup: environment variables first (dlt's ``SECTION__KEY`` form), then defaults.

Lookups try the full section path, then drop the rightmost sections one by one, as dlt does:
``("normalize", "parquet_normalizer", "add_dlt_id")`` tries
``NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID``, then ``NORMALIZE__ADD_DLT_ID``, then ``ADD_DLT_ID``.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _env_keys(sections: tuple[str, ...], key: str) -> list[str]:
    keys = []
    for end in range(len(sections), -1, -1):
        keys.append("__".join((*sections[:end], key)).upper())
    return keys


def lookup(sections: tuple[str, ...], key: str) -> str | None:
    """The raw configured value for ``key`` under ``sections``, or ``None``."""
    for env_key in _env_keys(sections, key):
        value = os.environ.get(env_key)
        if value is not None:
            return value
    return None


def get(sections: tuple[str, ...], key: str, default: T) -> T:
    """A configured value cast to the type of ``default`` (bool, int, float or str)."""
    raw = lookup(sections, key)
    if raw is None:
        return default
    value: T = _cast(raw, default, ".".join((*sections, key)))
    return value


def _cast(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"config value {name}={raw!r} is not a boolean (use true or false)")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
