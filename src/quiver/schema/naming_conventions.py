"""dlt's naming conventions other than ``snake_case``, and choosing one by name.

The rules follow dlt's modules of the same names (``dlt/common/normalizers/naming/``):

* ``direct``: case sensitive, minimal changes: newlines, carriage returns, single and double
  quotes and the path separator ``▶`` become ``_``; nested names join with ``▶``.
* ``sql_cs_v1``: case sensitive SQL-safe names: every run of characters outside
  ``[a-zA-Z0-9_]`` becomes ``_``, a leading digit gets a ``_`` prefix, trailing ``_`` are
  removed (unless the name is ``_``), runs of ``_`` contract. No camel-case splitting and no
  ``+-*@|`` stand-ins (those are ``snake_case``'s).
* ``sql_ci_v1``: ``sql_cs_v1`` lower-cased.
* ``duck_case``: case sensitive, keeps Unicode: newlines, carriage returns and ``"`` become
  ``_``, runs of ``_`` contract.

Every convention strips surrounding whitespace, refuses blank names and shortens long names with
the tag of :func:`~quiver.schema.naming.shorten_identifier`, as dlt's base class does.

The pipeline picks one per schema from ``SCHEMA__NAMING`` (see :mod:`quiver.pipeline.naming`).

Examples:
    >>> naming_convention("sql_ci_v1").normalize_identifier("Event Value!")
    'event_value'
    >>> naming_convention("direct").make_path("a", "b")
    'a▶b'
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import ClassVar, Final

from quiver.errors import InvalidIdentifier
from quiver.schema.naming import NamingConvention, SnakeCaseNaming, shorten_identifier

__all__ = [
    "NAMING_CONVENTIONS",
    "BaseNaming",
    "DirectNaming",
    "DuckCaseNaming",
    "SqlCiNaming",
    "SqlCsNaming",
    "naming_convention",
]

_RE_NON_ALPHANUMERIC: Final = re.compile(r"[^a-zA-Z\d_]+")
_RE_LEADING_DIGITS: Final = re.compile(r"^\d+")
_RE_ENDING_UNDERSCORES: Final = re.compile(r"_+$")
_RE_UNDERSCORES: Final = re.compile("__+")


@dataclass(frozen=True, slots=True)
class BaseNaming:
    """A naming convention: subclass and implement :meth:`_normalize` (a stripped, non-blank
    name in, the normalized name out); shortening, paths and errors come from here.

    A user's own convention module (``SCHEMA__NAMING=my_package.my_naming``) defines a class
    ``NamingConvention``, for example as a subclass of this one.

    Attributes:
        max_length: the longest name, or ``None`` for no limit.
    """

    max_length: int | None = None
    PATH_SEPARATOR: ClassVar[str] = "__"

    def _normalize(self, stripped: str) -> str:
        return stripped

    def normalize_identifier(self, name: str) -> str:
        """Normalizes one name (separators inside it are not kept as separators)."""
        if name is None:
            raise InvalidIdentifier.none("name")
        stripped = name.strip()
        if not stripped:
            raise InvalidIdentifier.blank(name)
        return shorten_identifier(self._normalize(stripped), stripped, self.max_length)

    def normalize_table_identifier(self, name: str) -> str:
        """Normalizes a dataset, table or schema name (as any name, in dlt's conventions)."""
        return self.normalize_identifier(name)

    def make_path(self, *components: str) -> str:
        """Joins names with the path separator, skipping blank ones."""
        return self.PATH_SEPARATOR.join(c for c in components if c.strip())

    def break_path(self, path: str) -> list[str]:
        """Splits a path on the separator, dropping blank parts."""
        return [c for c in path.split(self.PATH_SEPARATOR) if c.strip()]

    def normalize_path(self, path: str) -> str:
        """Normalizes each part of a path and joins them; the whole is shortened if needed."""
        if path is None:
            raise InvalidIdentifier.none("path")
        components = self.break_path(path)
        if not components:
            raise InvalidIdentifier.blank_path(path, self.PATH_SEPARATOR)
        joined = self.make_path(*(self.normalize_identifier(c) for c in components))
        return shorten_identifier(joined, path, self.max_length)

    def shorten_identifier(self, normalized: str, original: str, max_length: int | None) -> str:
        """Shortens a normalized name with dlt's tag (see :func:`shorten_identifier`)."""
        return shorten_identifier(normalized, original, max_length)


@dataclass(frozen=True, slots=True)
class DirectNaming(BaseNaming):
    """dlt's ``direct``: names as given, but for newlines, quotes and ``▶``."""

    PATH_SEPARATOR: ClassVar[str] = "▶"
    _CLEANUP: ClassVar[dict[int, int]] = str.maketrans("\n\r'\"▶", "_____")

    def _normalize(self, stripped: str) -> str:
        return stripped.translate(self._CLEANUP)


@dataclass(frozen=True, slots=True)
class SqlCsNaming(BaseNaming):
    """dlt's ``sql_cs_v1``: case sensitive SQL-safe names."""

    def _normalize(self, stripped: str) -> str:
        name = _RE_NON_ALPHANUMERIC.sub("_", stripped)
        if _RE_LEADING_DIGITS.match(name):
            name = "_" + name
        if name != "_":
            name = _RE_ENDING_UNDERSCORES.sub("", name)
        return _RE_UNDERSCORES.sub("_", name)


@dataclass(frozen=True, slots=True)
class SqlCiNaming(SqlCsNaming):
    """dlt's ``sql_ci_v1``: ``sql_cs_v1`` lower-cased."""

    def normalize_identifier(self, name: str) -> str:
        return SqlCsNaming.normalize_identifier(self, name).lower()


@dataclass(frozen=True, slots=True)
class DuckCaseNaming(BaseNaming):
    """dlt's ``duck_case``: keeps Unicode and case; newlines and ``"`` become ``_``."""

    _CLEANUP: ClassVar[dict[int, int]] = str.maketrans('\n\r"', "___")

    def _normalize(self, stripped: str) -> str:
        return _RE_UNDERSCORES.sub("_", stripped.translate(self._CLEANUP))


#: The conventions quiver ships, by dlt's names.
NAMING_CONVENTIONS: Final[dict[str, type[BaseNaming] | type[SnakeCaseNaming]]] = {
    "snake_case": SnakeCaseNaming,
    "direct": DirectNaming,
    "sql_cs_v1": SqlCsNaming,
    "sql_ci_v1": SqlCiNaming,
    "duck_case": DuckCaseNaming,
}


def naming_convention(name: str, max_length: int | None = None) -> NamingConvention:
    """The naming convention called ``name``: one of :data:`NAMING_CONVENTIONS` or the dotted
    path of a module with a ``NamingConvention`` class (constructed with ``max_length``).

    Args:
        name: ``"snake_case"``, ``"direct"``, ``"sql_cs_v1"``, ``"sql_ci_v1"``,
            ``"duck_case"`` or a module path such as ``"my_project.naming"``.
        max_length: the longest name the destination accepts.

    Returns:
        The convention.

    Raises:
        InvalidIdentifier: (a ``ValueError``) for an unknown name or a module without a
            ``NamingConvention`` class, with the closest known name.
    """
    known = NAMING_CONVENTIONS.get(name)
    if known is not None:
        return known(max_length)
    from quiver.errors import did_you_mean

    hint = (
        f"Hint: use one of {sorted(NAMING_CONVENTIONS)} or the dotted path of a module that "
        "defines a class NamingConvention."
    )
    if "." not in name:
        raise InvalidIdentifier(
            f"Unknown naming convention {name!r}.{did_you_mean(name, NAMING_CONVENTIONS)} {hint}"
        )
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        raise InvalidIdentifier(
            f"Naming convention module {name!r} cannot be imported ({error}). {hint}"
        ) from error
    convention = getattr(module, "NamingConvention", None)
    if not isinstance(convention, type):
        raise InvalidIdentifier(
            f"Naming convention module {name!r} has no class NamingConvention. {hint}"
        )
    instance: NamingConvention = convention(max_length)
    return instance
