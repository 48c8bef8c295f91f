"""``quiver.config`` and ``quiver.secrets``: the ``value`` sentinels for injected arguments.

A resource or source argument whose default is ``quiver.config.value`` or
``quiver.secrets.value`` is filled from configuration when the caller does not pass it:
``SOURCES__<SECTION>__<NAME>__<ARG>``, then ``SOURCES__<SECTION>__<ARG>``, ``SOURCES__<ARG>``
and ``<ARG>`` (environment variables, dlt's layout).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from quiver.configuration import lookup as config_lookup
from quiver.errors import ConfigValueMissing

__all__ = ["ConfigValueMissing", "config", "inject_config", "secrets"]


class _Sentinel:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"quiver.{self.kind}.value"


class _Accessor:
    """Reads configuration by dotted key: ``quiver.config["sources.my_source.page_size"]``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.value: Any = _Sentinel(kind)

    def get(self, key: str, default: Any = None) -> Any:
        *sections, name = key.split(".")
        found = config_lookup.lookup(tuple(sections), name)
        return default if found is None else found

    def __getitem__(self, key: str) -> Any:
        """The configured value.

        Raises:
            ConfigValueMissing: nothing configures ``key`` (it is a ``KeyError``).
        """
        value = self.get(key)
        if value is None:
            env = "__".join(key.split(".")).upper()
            raise ConfigValueMissing(
                key, f"{self.kind} value {key!r} is not set. Hint: set the {env} variable."
            )
        return value

    def __repr__(self) -> str:
        return f"quiver.{self.kind}"


config = _Accessor("config")
secrets = _Accessor("secrets")

#: Annotations (as objects, or as text under ``from __future__ import annotations``) whose
#: configured text is cast; other annotations get the text as it is.
_CASTS: dict[Any, type[Any]] = {
    int: int,
    "int": int,
    float: float,
    "float": float,
    bool: bool,
    "bool": bool,
}


def inject_config(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sections: tuple[str, ...],
) -> dict[str, Any]:
    """``kwargs`` plus values for sentinel-default parameters the call does not give."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return kwargs
    given = signature.bind_partial(*args, **kwargs).arguments
    injected = dict(kwargs)
    for parameter in signature.parameters.values():
        if not isinstance(parameter.default, _Sentinel) or parameter.name in given:
            continue
        raw = config_lookup.lookup(sections, parameter.name)
        key = ".".join((*sections, parameter.name))
        if raw is None:
            env = config_lookup.env_key(sections, parameter.name)
            raise ConfigValueMissing(
                key,
                f"Argument {parameter.name!r} of {getattr(function, '__name__', function)!r} is "
                f"{parameter.default!r} but no value is configured. Hint: pass it, or set {env}.",
            )
        kind = _CASTS.get(parameter.annotation)
        injected[parameter.name] = raw if kind is None else config_lookup.cast(raw, kind, key)
    return injected
