"""Configuration values that are missing or cannot be read."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError, filter_message


class ConfigValueMissing(QuiverError, KeyError, ValueError):
    """A configuration value that is needed is not set.

    Raised for an argument marked ``quiver.config.value``/``quiver.secrets.value`` that nothing
    configures, and by ``quiver.config[key]`` for a key that is not set. It is a ``KeyError``
    (as dlt's ``ConfigFieldMissingException``) and a ``ValueError`` (as quiver raised before).

    Attributes:
        key: the dotted configuration key, e.g. ``sources.my_source.api_key``.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message.
        return filter_message(str(self.args[0])) if self.args else ""


class ConfigValueInvalid(QuiverError, ValueError):
    """A setting's value (configured, or passed as an argument) is not one it can take.

    Attributes:
        key: the dotted configuration key, e.g. ``load.workers``.
        value: the value as configured (text from an environment variable) or passed.
    """

    def __init__(self, key: str, value: Any, expected: str, hint: str) -> None:
        self.key = key
        self.value = value
        super().__init__(f"Setting {key}={value!r} is not {expected}. Hint: {hint}")

    @classmethod
    def configured(cls, key: str, raw: Any, expected: str, example: str) -> ConfigValueInvalid:
        """A configured text that cannot be read as the setting's type."""
        env = key.replace(".", "__").upper()
        return cls(key, raw, expected, f"set {env} to {expected}, e.g. {env}={example}.")


class ConfigFieldMissingException(ConfigValueMissing):
    """Required configuration values are missing: one error lists every key that was looked at.

    dlt's ``ConfigFieldMissingException`` (a ``KeyError``): raised when a source, a resource or
    a pipeline is created and a value marked ``quiver.config.value``/``quiver.secrets.value``
    (or a destination's ``bucket_url``) is found nowhere. The message lists, for each missing
    field, every ``(provider, key)`` tried in order, then every file each provider read or
    looked for.

    Attributes:
        spec_name: what needed the values (the source or resource function, the destination).
        fields: the missing field names.
        traces: for each field, the ``(provider name, key as written for it)`` pairs tried.
        locations: for each provider, ``(files read, files looked for but absent)``.
    """

    def __init__(
        self,
        spec_name: str,
        traces: dict[str, list[tuple[str, str]]],
        locations: dict[str, tuple[list[str], list[str]]] | None = None,
        hint: str = "",
    ) -> None:
        self.spec_name = spec_name
        self.traces = traces
        self.fields = list(traces)
        self.locations = locations or {}
        lines = [
            f"Missing {len(self.fields)} field(s) in configuration `{spec_name}`: "
            + ", ".join(f"`{name}`" for name in self.fields)
        ]
        for name, tried in traces.items():
            lines.append(
                f"for field `{name}` the following (config provider, key) were tried in order:"
            )
            lines += [f"  ({provider}, {key})" for provider, key in tried]
        for provider, (present, absent) in self.locations.items():
            if present:
                lines.append(f"Provider `{provider}` loaded values from locations:")
                lines += [f"\t- {path}" for path in present]
            if absent:
                lines.append(f"Provider `{provider}` probed but not found the following locations:")
                lines += [f"\t- {path}" for path in absent]
        lines.append(
            "Hint: "
            + (
                hint
                or "set one of the keys above as an environment variable, or add it to "
                ".dlt/secrets.toml (secrets) or .dlt/config.toml (other values)."
            )
        )
        key = self.fields[0] if self.fields else spec_name
        super().__init__(key, "\n".join(lines))


class ConfigValueNotSecret(QuiverError, ValueError):
    """A secret was found in ``config.toml``, which must not hold secrets (dlt refuses it too)."""

    def __init__(self, provider: str, key: str) -> None:
        self.provider = provider
        self.key = key
        super().__init__(
            f"Secret value {key!r} was found in {provider}, which cannot hold secrets. "
            "Hint: move it to .dlt/secrets.toml or an environment variable."
        )


class ConfigFileInvalid(QuiverError, ValueError):
    """A ``secrets.toml``/``config.toml`` file is not valid TOML."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"Configuration file {path} is not valid TOML: {reason}. "
            "Hint: fix the file (keys are case-sensitive; sections look like [sources.my_source])."
        )
