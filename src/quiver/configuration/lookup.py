"""Configuration lookup: the one entry point through which quiver reads configured values.

Values come from environment variables in dlt's ``SECTION__KEY`` form (a later provider, e.g. a
TOML file, plugs in behind :func:`lookup` and :func:`lookup_exact`; nothing else in quiver reads
the environment for configuration).

:func:`lookup` tries the full section path, then drops the rightmost sections one by one, as dlt
does: ``("normalize", "parquet_normalizer", "add_dlt_id")`` tries
``NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID``, then ``NORMALIZE__ADD_DLT_ID``, then ``ADD_DLT_ID``.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from quiver.errors import ConfigValueInvalid

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
#: Text that means "no value" for a setting that may be ``None`` (e.g. no file size limit).
NONE_VALUES = frozenset({"", "none", "null"})


def env_key(sections: tuple[str, ...], key: str) -> str:
    """The environment variable of a key under sections: ``("load",), "workers"`` → ``LOAD__WORKERS``."""
    return "__".join((*sections, key)).upper()


def _read(sections: tuple[str, ...], key: str) -> str | None:
    """The value at exactly this path, from the providers (today: the environment)."""
    return os.environ.get(env_key(sections, key))


def lookup_exact(sections: tuple[str, ...], key: str) -> str | None:
    """The raw configured value at exactly ``sections`` + ``key`` (no fallback), or ``None``."""
    return _read(sections, key)


def find(sections: tuple[str, ...], key: str) -> tuple[str, str] | None:
    """``(dotted key where found, raw value)`` for ``key`` under ``sections`` or a shorter
    prefix of them, or ``None``; the dotted key lets an error name what was actually set."""
    for end in range(len(sections), -1, -1):
        value = _read(sections[:end], key)
        if value is not None:
            return ".".join((*sections[:end], key)), value
    return None


def lookup(sections: tuple[str, ...], key: str) -> str | None:
    """The raw configured value for ``key`` under ``sections`` or a shorter prefix, or ``None``."""
    found = find(sections, key)
    return None if found is None else found[1]


def get(sections: tuple[str, ...], key: str, default: T) -> T:
    """A configured value cast to the type of ``default`` (bool, int, float or str).

    Raises:
        ConfigValueInvalid: the configured text is not a value of that type.
    """
    found = find(sections, key)
    if found is None:
        return default
    value: T = cast(found[1], type(default), found[0])
    return value


def cast(raw: str, kind: type[Any], key: str) -> Any:
    """``raw`` as a ``bool``, ``int``, ``float`` or ``str`` (any other ``kind``: unchanged).

    Args:
        raw: the configured text.
        kind: the type the setting needs.
        key: the dotted key, named in the error.

    Raises:
        ConfigValueInvalid: ``raw`` is not a value of ``kind``.
    """
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigValueInvalid.configured(key, raw, "a boolean (true or false)", "true")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigValueInvalid.configured(key, raw, "an integer", "4") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigValueInvalid.configured(key, raw, "a number", "0.5") from None
    return raw
