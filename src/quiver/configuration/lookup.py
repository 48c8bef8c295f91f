"""Configuration lookup: the one entry point through which quiver reads configured values.

Values come from the providers of :mod:`quiver.configuration.providers`, in dlt's order:
environment variables, ``secrets.toml``, ``config.toml`` (project folder over global folder);
a default written in code comes last. For one key, dlt's rules apply:

* **Providers first, then paths.** Each provider is asked for every path before the next
  provider is asked: ``API_KEY`` in the environment wins over ``sources.my_source.api_key`` in
  ``secrets.toml``.
* **Section fallback.** The full section path is tried, then the rightmost section is dropped
  one by one: ``("normalize", "parquet_normalizer"), "add_dlt_id"`` tries
  ``NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID``, ``NORMALIZE__ADD_DLT_ID``, ``ADD_DLT_ID``.
  A *config section* (``credentials``) is never dropped:
  ``destination.filesystem.credentials.aws_access_key_id``, then
  ``destination.credentials.aws_access_key_id``, then ``credentials.aws_access_key_id``.
* **Source name.** Under ``sources.<section>.<name>``, ``sources.<name>`` is tried right after
  ``sources.<section>`` (dlt's compact layout): ``SOURCES__MYJOB__USERS__TOKEN``,
  ``SOURCES__MYJOB__TOKEN``, ``SOURCES__USERS__TOKEN``, ``SOURCES__TOKEN``, ``TOKEN``.
* **Pipeline name.** While a pipeline is active (:func:`set_pipeline_name`), everything above
  is first tried with the pipeline name as the outermost section:
  ``MY_PIPELINE__DESTINATION__FILESYSTEM__BUCKET_URL`` or ``[my_pipeline.destination.filesystem]``.
* **Secrets** are looked up only in providers that may hold them; a secret found in
  ``config.toml`` is an error (:class:`~quiver.errors.ConfigValueNotSecret`). Every secret
  found is registered for masking (:mod:`quiver.configuration.masking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from quiver.configuration import masking
from quiver.configuration.providers import Provider, current_providers
from quiver.errors import ConfigValueInvalid, ConfigValueNotSecret

T = TypeVar("T")

__all__ = [
    "NONE_VALUES",
    "Found",
    "Trace",
    "active_pipeline_name",
    "cast",
    "env_key",
    "find",
    "get",
    "lookup",
    "lookup_exact",
    "provider_locations",
    "resolve",
    "section_paths",
    "set_pipeline_name",
]

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
#: Text that means "no value" for a setting that may be ``None`` (e.g. no file size limit).
NONE_VALUES = frozenset({"", "none", "null"})

#: Top-level sections with dlt's compact layout (``sources.<name>`` after ``sources.<section>``).
_COMPACT_SECTIONS = frozenset({"sources"})

_active: dict[str, str | None] = {"pipeline_name": None}


def set_pipeline_name(pipeline_name: str | None) -> None:
    """Make ``pipeline_name`` the outermost section tried first (the active pipeline's name)."""
    _active["pipeline_name"] = pipeline_name


def active_pipeline_name() -> str | None:
    """The pipeline name lookups are scoped by first, if any."""
    return _active["pipeline_name"]


def env_key(sections: tuple[str, ...], key: str) -> str:
    """The environment variable of a key under sections: ``("load",), "workers"`` → ``LOAD__WORKERS``."""
    return "__".join(part for part in (*sections, key) if part).upper()


@dataclass(frozen=True)
class Found:
    """A configured value and where it was found.

    Attributes:
        key: the dotted key that held it (with the pipeline name if scoped), e.g.
            ``destination.filesystem.bucket_url``.
        value: the value: text from the environment, any TOML value (a table is a ``dict``).
        provider: the provider's name (``Environment Variables``, ``secrets.toml``, ...).
    """

    key: str
    value: Any
    provider: str


@dataclass
class Trace:
    """Every ``(provider, key as written for it)`` that a lookup tried, in order."""

    tried: list[tuple[str, str]] = field(default_factory=list)


def section_paths(
    sections: tuple[str, ...], config_section: str | None = None
) -> list[tuple[str, ...]]:
    """The section paths tried for a key, most specific first (without the pipeline name).

    Examples:
        >>> section_paths(("sources", "myjob", "users"))
        [('sources', 'myjob', 'users'), ('sources', 'myjob'), ('sources', 'users'), ('sources',), ()]
        >>> section_paths(("destination", "filesystem"), "credentials")[-1]
        ('credentials',)
    """
    sections = tuple(s for s in sections if s)
    tail = (config_section,) if config_section else ()
    paths = [(*sections[:end], *tail) for end in range(len(sections), -1, -1)]
    if len(sections) >= 3 and sections[0] in _COMPACT_SECTIONS and sections[1] != sections[2]:
        compact = (sections[0], sections[2], *tail)
        if compact not in paths:
            paths.insert(2, compact)
    return paths


def resolve(
    sections: tuple[str, ...],
    key: str,
    *,
    secret: bool = False,
    config_section: str | None = None,
    exact: bool = False,
    trace: Trace | None = None,
    providers: list[Provider] | None = None,
) -> Found | None:
    """Find ``key`` by dlt's rules (see the module docstring).

    Args:
        sections: the sections of the key, outermost first.
        key: the key.
        secret: only providers that may hold secrets answer; the value is registered for
            masking.
        config_section: a section that is never dropped (``credentials``).
        exact: try only the full path (with and without the pipeline name).
        trace: collects every ``(provider, key)`` tried, for a missing-value error.
        providers: the providers to ask (default: the current ones).

    Returns:
        Where the value was found, or ``None``.

    Raises:
        ConfigValueNotSecret: a secret is found in ``config.toml``.
    """
    paths = section_paths(sections, config_section)
    if exact:
        paths = paths[:1]
    scopes: list[tuple[str, ...]] = []
    pipeline_name = active_pipeline_name()
    if pipeline_name:
        scopes.append((pipeline_name,))
    scopes.append(())
    # Once per lookup, not once per scope: finding the providers stats every TOML file.
    asked = providers if providers is not None else current_providers()
    for scope in scopes:
        for provider in asked:
            for path in paths:
                full = (*scope, *path, key)
                value = provider.get(full)
                if secret and not provider.supports_secrets:
                    if value is not None:
                        raise ConfigValueNotSecret(provider.name, ".".join(full))
                    continue
                if trace is not None:
                    trace.tried.append((provider.name, provider.key_name(full)))
                if value is not None:
                    if secret:
                        masking.register_secret(value)
                    return Found(".".join(full), value, provider.name)
    return None


def provider_locations() -> dict[str, tuple[list[str], list[str]]]:
    """For each provider with files: ``(files read, files looked for but absent)``."""
    result: dict[str, tuple[list[str], list[str]]] = {}
    for provider in current_providers():
        if provider.locations:
            present = provider.present_locations
            absent = [path for path in provider.locations if path not in present]
            result[provider.name] = (present, absent)
    return result


def lookup_exact(
    sections: tuple[str, ...], key: str, *, providers: list[Provider] | None = None
) -> Any:
    """The configured value at exactly ``sections`` + ``key`` (no fallback), or ``None``.

    ``providers``: ask these (from :func:`current_providers`, fetched once for many keys).
    """
    found = resolve(sections, key, exact=True, providers=providers)
    return None if found is None else found.value


def find(
    sections: tuple[str, ...], key: str, *, providers: list[Provider] | None = None
) -> tuple[str, Any] | None:
    """``(dotted key where found, value)`` for ``key`` under ``sections`` or a shorter
    prefix of them, or ``None``; the dotted key lets an error name what was actually set.

    ``providers``: ask these (from :func:`current_providers`, fetched once for many keys).
    """
    found = resolve(sections, key, providers=providers)
    return None if found is None else (found.key, found.value)


def lookup(sections: tuple[str, ...], key: str) -> Any:
    """The configured value for ``key`` under ``sections`` or a shorter prefix, or ``None``."""
    found = resolve(sections, key)
    return None if found is None else found.value


def get(sections: tuple[str, ...], key: str, default: T) -> T:
    """A configured value cast to the type of ``default`` (bool, int, float or str).

    Raises:
        ConfigValueInvalid: the configured value is not a value of that type.
    """
    found = find(sections, key)
    if found is None:
        return default
    value: T = cast(found[1], type(default), found[0])
    return value


def cast(raw: Any, kind: type[Any], key: str) -> Any:
    """``raw`` (text from the environment, or a TOML value) as a ``bool``, ``int``, ``float`` or
    ``str``; any other ``kind``: unchanged.

    Args:
        raw: the configured value.
        kind: the type the setting needs.
        key: the dotted key, named in the error.

    Raises:
        ConfigValueInvalid: ``raw`` is not a value of ``kind``.
    """
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigValueInvalid.configured(key, raw, "a boolean (true or false)", "true")
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw))
        except ValueError:
            raise ConfigValueInvalid.configured(key, raw, "an integer", "4") from None
    if kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(str(raw))
        except ValueError:
            raise ConfigValueInvalid.configured(key, raw, "a number", "0.5") from None
    if kind is str:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, bool | int | float):
            return str(raw).lower() if isinstance(raw, bool) else str(raw)
        raise ConfigValueInvalid.configured(key, raw, "a text value", "value")
    return raw
