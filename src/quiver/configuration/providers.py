"""Config providers, in dlt's order: environment variables, ``secrets.toml``, ``config.toml``.

A provider answers one question: the value at exactly this path of sections and key, or
``None``. Which paths are tried, in which order, is decided in :mod:`quiver.configuration.lookup`.

* **Environment variables** (``Environment Variables``): the path joined with ``__`` and
  uppercased: ``("destination", "filesystem", "bucket_url")`` is
  ``DESTINATION__FILESYSTEM__BUCKET_URL``. Values are text.
* **secrets.toml** and **config.toml**: TOML files (read with :mod:`tomllib`) in the *project
  folder* and the *global folder*; keys are case-sensitive, sections are tables
  (``[destination.filesystem]``). A value may be a table, which is given as a ``dict``.
  ``config.toml`` cannot hold secrets: a secret looked up there is an error, as in dlt.

Folders, lowest priority first (a later file wins key by key within the same provider):

1. the global folder: ``~/.dlt/`` (``$XDG_DATA_HOME/dlt/`` when that variable is set and
   ``~/.dlt`` does not exist), then ``~/.quiver/``;
2. the project folder (``$QUIVER_PROJECT_DIR``, else ``$DLT_PROJECT_DIR``, else the current
   directory): its ``.dlt/`` (``$DLT_CONFIG_FOLDER`` renames it), then its ``.quiver/``.

Files are read again when they change (their size or modification time), so a test or a
notebook that writes ``.dlt/secrets.toml`` sees the new values without restarting.
"""

from __future__ import annotations

import os
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from quiver.errors import ConfigFileInvalid

__all__ = [
    "CONFIG_TOML",
    "ENVIRONMENT",
    "SECRETS_TOML",
    "EnvironProvider",
    "Provider",
    "TomlProvider",
    "current_providers",
    "global_dirs",
    "project_dir",
]

ENVIRONMENT: Final = "Environment Variables"
SECRETS_TOML: Final = "secrets.toml"
CONFIG_TOML: Final = "config.toml"

#: The quiver-named settings folder, read after (so winning over) dlt's ``.dlt``.
QUIVER_FOLDER: Final = ".quiver"


class Provider(ABC):
    """One source of configuration values (the environment, or one kind of TOML file)."""

    name: str = ""
    #: Whether the provider may hold secrets (``config.toml`` may not).
    supports_secrets: bool = True

    @abstractmethod
    def get(self, path: tuple[str, ...]) -> Any:
        """The value at exactly ``path`` (sections, then the key), or ``None``."""

    def key_name(self, path: tuple[str, ...]) -> str:
        """How a user writes ``path`` for this provider (for error messages)."""
        return ".".join(path)

    @property
    def locations(self) -> list[str]:
        """The files this provider looked at (empty for the environment)."""
        return []

    @property
    def present_locations(self) -> list[str]:
        """The files this provider found and read."""
        return []


class EnvironProvider(Provider):
    """Environment variables in dlt's ``SECTION__KEY`` form."""

    name = ENVIRONMENT

    def get(self, path: tuple[str, ...]) -> Any:
        return os.environ.get(self.key_name(path))

    def key_name(self, path: tuple[str, ...]) -> str:
        return "__".join(part for part in path if part).upper()


class TomlProvider(Provider):
    """``secrets.toml`` or ``config.toml``: the same file name in several folders, merged.

    Args:
        name: ``"secrets.toml"`` or ``"config.toml"``.
        paths: the files, lowest priority first; missing files are skipped.
        supports_secrets: ``False`` for ``config.toml``.
    """

    def __init__(self, name: str, paths: list[Path], *, supports_secrets: bool = True) -> None:
        self.name = name
        self.paths = paths
        self.supports_secrets = supports_secrets
        self.document: dict[str, Any] = {}
        self.found: list[Path] = []
        for path in paths:
            loaded = _read_toml(path)
            if loaded is not None:
                self.found.append(path)
                _deep_merge(self.document, loaded)

    def get(self, path: tuple[str, ...]) -> Any:
        node: Any = self.document
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    @property
    def locations(self) -> list[str]:
        return [str(path) for path in self.paths]

    @property
    def present_locations(self) -> list[str]:
        return [str(path) for path in self.found]


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileInvalid(str(path), str(error)) from None


def _deep_merge(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Merge ``update`` into ``target``: tables merge key by key, other values replace."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        elif isinstance(value, Mapping):
            target[key] = {}
            _deep_merge(target[key], value)
        else:
            target[key] = value


def project_dir() -> Path:
    """The project folder: ``$QUIVER_PROJECT_DIR``, else ``$DLT_PROJECT_DIR``, else the cwd."""
    configured = os.environ.get("QUIVER_PROJECT_DIR") or os.environ.get("DLT_PROJECT_DIR")
    return Path(configured) if configured else Path.cwd()


def _dlt_folder_name() -> str:
    return os.environ.get("DLT_CONFIG_FOLDER") or ".dlt"


def global_dirs() -> list[Path]:
    """The global settings folders, lowest priority first: dlt's, then ``~/.quiver``."""
    home = Path(os.path.expanduser("~"))
    dlt_global = home / ".dlt"
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and not dlt_global.is_dir():
        dlt_global = Path(xdg) / "dlt"
    return [dlt_global, home / QUIVER_FOLDER]


def settings_dirs() -> list[Path]:
    """Every folder a TOML file is read from, lowest priority first."""
    project = project_dir()
    return [*global_dirs(), project / _dlt_folder_name(), project / QUIVER_FOLDER]


_cache: dict[str, Any] = {"signature": None, "providers": None}


def _signature(files: list[Path]) -> tuple[Any, ...]:
    """What decides the providers' content: the files and their sizes and modification times."""
    stats: list[Any] = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            stats.append((str(path), None))
        else:
            stats.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stats)


def current_providers() -> list[Provider]:
    """The providers in lookup order: environment, ``secrets.toml``, ``config.toml``.

    Raises:
        ConfigFileInvalid: a TOML file cannot be parsed (names the file and the line).
    """
    dirs = settings_dirs()
    secrets = [folder / SECRETS_TOML for folder in dirs]
    configs = [folder / CONFIG_TOML for folder in dirs]
    signature = _signature([*secrets, *configs])
    if _cache["signature"] != signature:
        _cache["providers"] = [
            EnvironProvider(),
            TomlProvider(SECRETS_TOML, secrets, supports_secrets=True),
            TomlProvider(CONFIG_TOML, configs, supports_secrets=False),
        ]
        _cache["signature"] = signature
    providers: list[Provider] = _cache["providers"]
    return providers
