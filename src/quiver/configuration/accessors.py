"""``quiver.config`` and ``quiver.secrets``: dict-like access, and ``value`` for injected arguments.

``quiver.config["sources.my_source.page_size"]`` and ``quiver.secrets["sources.my_source.token"]``
read configuration by dotted key (see :mod:`quiver.configuration.lookup` for the rules);
``quiver.secrets`` asks only the providers that may hold secrets and registers what it finds for
masking.

A source or resource argument whose default is ``quiver.config.value`` or
``quiver.secrets.value`` is filled from configuration when the caller does not pass it, under
the sections ``sources.<section>.<name>`` (``<section>`` is the module of the function; the
file stem for a script run as ``python myjob.py``, as dlt names it):
``SOURCES__MYJOB__USERS__TOKEN``, ``SOURCES__MYJOB__TOKEN``, ``SOURCES__USERS__TOKEN``,
``SOURCES__TOKEN``, ``TOKEN``, each first under the active pipeline's name. The annotation
decides the type: ``int``/``float``/``bool``/``str`` are cast, ``dict`` takes a TOML table (or
JSON text from an environment variable), and a dataclass (such as ``AwsCredentials`` or your own
credentials class) is built from a table or from one key per field
(``SOURCES__MYJOB__USERS__CREDENTIALS__PASSWORD``). Every missing value of one call is reported
in one :class:`~quiver.errors.ConfigFieldMissingException`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import json
import os
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from quiver.configuration import lookup as config_lookup
from quiver.configuration import masking
from quiver.errors import (
    ConfigFieldMissingException,
    ConfigValueInvalid,
    ConfigValueMissing,
    NotSupportedYet,
    did_you_mean,
)

__all__ = [
    "ConfigFieldMissingException",
    "ConfigValueMissing",
    "check_config",
    "collecting_missing_config",
    "config",
    "inject_config",
    "missing_config_error",
    "secrets",
]

#: Field names of a credentials dataclass whose values are masked wherever they could be printed.
_SECRET_FIELD = re.compile(r"secret|password|token|private_key|api_key|access_key", re.IGNORECASE)


class _Sentinel:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    @property
    def secret(self) -> bool:
        return self.kind == "secrets"

    def __repr__(self) -> str:
        return f"quiver.{self.kind}.value"


class _Accessor:
    """Reads configuration by dotted key: ``quiver.config["sources.my_source.page_size"]``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.value: Any = _Sentinel(kind)

    def _resolve(
        self, key: str, trace: config_lookup.Trace | None = None
    ) -> config_lookup.Found | None:
        *sections, name = key.split(".")
        return config_lookup.resolve(
            tuple(sections), name, secret=self.kind == "secrets", trace=trace
        )

    def get(self, key: str, expected_type: type[Any] | None = None) -> Any:
        """The value of the dotted ``key`` (cast to ``expected_type`` if given), or ``None``."""
        found = self._resolve(key)
        if found is None:
            return None
        return found.value if expected_type is None else coerce(found.value, expected_type, key)

    def __getitem__(self, key: str) -> Any:
        """The configured value.

        Raises:
            ConfigFieldMissingException: nothing configures ``key`` (it is a ``KeyError``); the
                message lists every key and file that was looked at.
        """
        trace = config_lookup.Trace()
        found = self._resolve(key, trace)
        if found is None:
            env = "__".join(key.split(".")).upper()
            raise ConfigFieldMissingException(
                f"quiver.{self.kind}[{key!r}]",
                {key: trace.tried},
                config_lookup.provider_locations(),
                hint=f"set the {env} variable, or {key} in .dlt/"
                + ("secrets.toml." if self.kind == "secrets" else "config.toml."),
            )
        return found.value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._resolve(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        raise NotSupportedYet(
            f"quiver.{self.kind}[{key!r}] = ...",
            "write the value to a config provider",
            f"set the {'__'.join(key.split('.')).upper()} environment variable instead.",
        )

    def __repr__(self) -> str:
        return f"quiver.{self.kind}"


config = _Accessor("config")
secrets = _Accessor("secrets")


# ------------------------------------------------------------------------------ injection
def main_module_stem() -> str | None:
    """The file stem of the script run as ``__main__`` (dlt's section for its sources)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.splitext(os.path.basename(main_file))[0] if main_file else None


def _section_names(sections: tuple[str, ...]) -> tuple[str, ...]:
    """``sections`` with ``__main__`` replaced by the script's file stem, as dlt does."""
    stem = main_module_stem()
    return tuple((stem or s) if s == "__main__" else s for s in sections if s)


def inject_config(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sections: tuple[str, ...],
) -> dict[str, Any]:
    """``kwargs`` plus values for ``config.value``/``secrets.value`` parameters not given.

    Raises:
        ConfigFieldMissingException: one or more values are configured nowhere (all listed).
        ConfigValueInvalid: a configured value is not of the parameter's type.
    """
    injected, missing = _inject(function, args, kwargs, sections)
    if missing:
        raise missing_config_error(getattr(function, "__name__", str(function)), missing)
    return injected


def check_config(
    spec_name: str,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sections: tuple[str, ...],
) -> None:
    """Fail now if a ``config.value``/``secrets.value`` parameter of the call is configured nowhere.

    The values themselves are looked up again when the function runs (at extract, as dlt
    does, so the running pipeline's name scopes them); this check only moves the error to the
    call. Inside :func:`collecting_missing_config` (a source being created) the missing fields
    are added to the source's one error instead of raised here.

    Raises:
        ConfigFieldMissingException: one or more values are configured nowhere (all listed).
        ConfigValueInvalid: a configured value is not of the parameter's type.
    """
    _, missing = _inject(function, args, kwargs, sections)
    if not missing:
        return
    collector = _missing_collector.get()
    if collector is None:
        raise missing_config_error(spec_name, missing)
    collector.update({f"{spec_name}.{field}": tried for field, tried in missing.items()})


#: The missing fields of the source being created (``None`` outside a source call).
_missing_collector: contextvars.ContextVar[dict[str, list[tuple[str, str]]] | None] = (
    contextvars.ContextVar("quiver_missing_config", default=None)
)


@contextlib.contextmanager
def collecting_missing_config(
    spec_name: str, missing: dict[str, list[tuple[str, str]]] | None = None
) -> Iterator[dict[str, list[tuple[str, str]]]]:
    """Collect the missing fields of every :func:`check_config` in the block into one error.

    Args:
        spec_name: what the error names (the source).
        missing: fields already known to be missing (the source function's own).

    Raises:
        ConfigFieldMissingException: at the end of the block, if any field is missing.
    """
    collected = dict(missing or {})
    token = _missing_collector.set(collected)
    try:
        yield collected
    finally:
        _missing_collector.reset(token)
    if collected:
        raise missing_config_error(spec_name, collected)


def missing_config_error(
    spec_name: str, missing: dict[str, list[tuple[str, str]]]
) -> ConfigFieldMissingException:
    """One error for every missing field of ``spec_name``, with every key and file looked at."""
    return ConfigFieldMissingException(
        spec_name,
        missing,
        config_lookup.provider_locations(),
        hint=f"pass the argument(s) to {spec_name}(), or set one of the keys above "
        "(secrets in .dlt/secrets.toml, other values in .dlt/config.toml).",
    )


def _inject(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sections: tuple[str, ...],
) -> tuple[dict[str, Any], dict[str, list[tuple[str, str]]]]:
    """``kwargs`` with the values found, and the ``(provider, key)`` pairs tried for each missing."""
    missing: dict[str, list[tuple[str, str]]] = {}
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return kwargs, missing
    try:
        hints = get_type_hints(function)
    except Exception:  # unresolvable annotations: the raw ones
        hints = {}
    given = signature.bind_partial(*args, **kwargs).arguments
    sections = _section_names(sections)
    injected = dict(kwargs)
    for parameter in signature.parameters.values():
        default = parameter.default
        if not isinstance(default, _Sentinel) or parameter.name in given:
            continue
        kind = hints.get(parameter.name, parameter.annotation)
        value = _inject_one(parameter.name, kind, sections, default.secret, missing)
        if value is not None:
            injected[parameter.name] = value
    return injected, missing


def _inject_one(
    name: str,
    kind: Any,
    sections: tuple[str, ...],
    secret: bool,
    missing: dict[str, list[tuple[str, str]]],
) -> Any:
    kind = _unwrap_optional(kind)
    trace = config_lookup.Trace()
    found = config_lookup.resolve(sections, name, secret=secret, trace=trace)
    key = ".".join((*sections, name)) if found is None else found.key
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        base = {} if found is None else _as_mapping(found.value, key)
        return _build_dataclass(kind, name, sections, base, secret, trace, missing)
    if found is None:
        missing[name] = trace.tried
        return None
    return coerce(found.value, kind, key, secret=secret)


def _build_dataclass(
    cls: type[Any],
    name: str,
    sections: tuple[str, ...],
    base: Mapping[str, Any],
    secret: bool,
    trace: config_lookup.Trace,
    missing: dict[str, list[tuple[str, str]]],
) -> Any:
    """A dataclass from a table at ``name`` and one key per field (``<name>.<field>``)."""
    fields = {item.name: item for item in dataclasses.fields(cls) if item.init}
    if unknown := sorted(set(base) - set(fields)):
        raise ConfigValueInvalid(
            ".".join((*sections, name)),
            masking.MASK if secret else dict(base),
            f"a table of {cls.__name__} fields ({', '.join(fields)})",
            f"remove or rename {unknown[0]!r}.{did_you_mean(unknown[0], fields)}",
        )
    values: dict[str, Any] = {}
    hints = get_type_hints(cls)
    for field_name, item in fields.items():
        field_kind = _unwrap_optional(hints.get(field_name, Any))
        is_secret = bool(item.metadata.get("secret")) or bool(_SECRET_FIELD.search(field_name))
        if field_name in base:
            raw, key = base[field_name], ".".join((*sections, name, field_name))
        else:
            field_trace = config_lookup.Trace()
            found = config_lookup.resolve(
                sections, field_name, config_section=name, trace=field_trace
            )
            if found is None:
                has_default = (
                    item.default is not dataclasses.MISSING
                    or item.default_factory is not dataclasses.MISSING
                )
                if not has_default:
                    missing[f"{name}.{field_name}"] = trace.tried + field_trace.tried
                continue
            raw, key = found.value, found.key
        if is_secret or secret:
            masking.register_secret(raw)
        values[field_name] = coerce(raw, field_kind, key, secret=is_secret or secret)
    if any(k.startswith(f"{name}.") for k in missing):
        return None
    return cls(**values)


def _as_mapping(value: Any, key: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, Mapping):
            return parsed
    raise ConfigValueInvalid(
        key,
        masking.MASK,
        "a table (a TOML [section] or a JSON object)",
        f"write it as a table in .dlt/secrets.toml, e.g. [{key}], or set one key per field.",
    )


def _unwrap_optional(kind: Any) -> Any:
    if get_origin(kind) in (Union, types.UnionType):
        options = [arg for arg in get_args(kind) if arg is not type(None)]
        if len(options) == 1:
            return options[0]
    return kind


#: Annotations given as text (``from __future__ import annotations`` without resolvable hints).
_TEXT_KINDS: dict[str, type[Any]] = {"int": int, "float": float, "bool": bool, "str": str}


def coerce(value: Any, kind: Any, key: str, *, secret: bool = False) -> Any:
    """A configured value as the type a parameter is annotated with.

    ``int``/``float``/``bool``/``str`` are cast; ``dict``/``list`` take a TOML value or JSON text;
    other annotations get the value as it is.

    Raises:
        ConfigValueInvalid: the value is not of the type (a secret value is shown as ``***``).
    """
    kind = _TEXT_KINDS.get(kind, kind) if isinstance(kind, str) else _unwrap_optional(kind)
    origin = get_origin(kind) or kind
    try:
        if kind in (int, float, bool, str):
            return config_lookup.cast(value, kind, key)
        if origin in (dict, Mapping, list, tuple) and isinstance(value, str):
            value = json.loads(value)
        if origin in (dict, Mapping) and not isinstance(value, Mapping):
            raise ConfigValueInvalid(key, value, "a table", f"write [{key}] in a TOML file.")
        if origin in (list, tuple) and not isinstance(value, list | tuple):
            raise ConfigValueInvalid(key, value, "a list", f'set {key} = ["a", "b"].')
        return tuple(value) if origin is tuple else value
    except (ConfigValueInvalid, json.JSONDecodeError) as error:
        if not secret:
            if isinstance(error, ConfigValueInvalid):
                raise
            raise ConfigValueInvalid(key, value, "valid JSON", str(error)) from None
        raise ConfigValueInvalid(
            key, masking.MASK, f"a value of type {getattr(kind, '__name__', kind)}", "fix it."
        ) from None
