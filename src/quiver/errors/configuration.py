"""Configuration values that are missing or cannot be read."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError


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
        return str(self.args[0]) if self.args else ""


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
    def configured(cls, key: str, raw: str, expected: str, example: str) -> ConfigValueInvalid:
        """A configured text that cannot be read as the setting's type."""
        env = key.replace(".", "__").upper()
        return cls(key, raw, expected, f"set {env} to {expected}, e.g. {env}={example}.")
