"""The ``snake_case`` naming convention, identical in output to dlt's default one.

Every table and column name that reaches a destination goes through here, so two loaders that
disagree on a single character would write two different tables. The rules, the shortening tag and
the path handling therefore follow dlt (``dlt/common/normalizers/naming/snake_case.py`` and
``naming.py``) exactly, including its quirks; where quiver is stricter it only raises where dlt would
have produced an unusable name.

Normalization runs once per distinct name, never per row, and its results are cached.

Examples:
    >>> naming = SnakeCaseNaming()
    >>> naming.normalize_identifier("HTTPRequest")
    'http_request'
    >>> naming.normalize_path("Small__Love__Potion")
    'small__love__potion'
    >>> SnakeCaseNaming(10).normalize_identifier("a_very_long_identifier_name")
    'a_ebfjtgme'
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Final, Protocol

from quiver.errors import InvalidIdentifier

__all__ = [
    "MAX_SCHEMA_NAME_LENGTH",
    "PATH_SEPARATOR",
    "TAG_LENGTH",
    "VERBATIM_NAMING",
    "NamingConvention",
    "SnakeCaseNaming",
    "default_schema_name",
    "shorten_identifier",
]

PATH_SEPARATOR: Final = "__"
"""Joins a parent and a child name: nested tables (``orders__items``) and flattened columns."""

MAX_SCHEMA_NAME_LENGTH: Final = 64
"""dlt caps schema names at 64 characters (``InvalidSchemaName.MAXIMUM_SCHEMA_NAME_LENGTH``)."""

# Characters that carry meaning in common source names get a readable stand-in instead of
# collapsing into "_" ("a+b" -> "axb", "user@host" -> "userahost"). Applied before the regexes.
_REDUCE_ALPHABET: Final = str.maketrans("+-*@|", "x_xal")

# `\d` is deliberately the Unicode-aware class (as in dlt): non-ASCII decimal digits such as
# Arabic-Indic "٣" survive normalization, and a name starting with one gets the "_" prefix.
_RE_NON_ALPHANUMERIC: Final = re.compile(r"[^a-zA-Z\d_]+")
_RE_LEADING_DIGITS: Final = re.compile(r"^\d+")
# A run of underscores is contracted so that a single name can never contain PATH_SEPARATOR.
_RE_UNDERSCORES: Final = re.compile("__+")
# "HTTPRequest" -> "HTTP_Request": an upper-case letter that starts a lower-case word.
_RE_CAMEL_WORD: Final = re.compile("([^_])([A-Z][a-z]+)")
# "fooBar" / "1A" -> "foo_Bar" / "1_A": a lower-case letter or digit followed by an upper-case one.
_RE_CAMEL_HUMP: Final = re.compile("([a-z0-9])([A-Z])")

_COLLISION_PROBABILITY: Final = 0.001
# dlt's derivation, kept verbatim so tags match byte for byte: treat shake_128 as ideal (birthday
# bound), then ask for 1.5x the bits because the tag is lower-cased base64, which loses case.
# For p = 0.001 this is 4 bytes -> 6 base64 characters.
_TAG_BYTES: Final = int((2 + 1) * math.log2(1 / _COLLISION_PROBABILITY) // 8 + 1)
# "/" and "+" are not valid in identifiers; dlt maps them to "a" and "b".
_TAG_ALPHABET: Final = bytes.maketrans(b"/+", b"ab")

_CACHE_SIZE: Final = 100_000
"""Bounded, unlike dlt's unbounded caches, so a source with ever-new keys cannot grow memory."""


def _compute_tag(original: str) -> str:
    digest = hashlib.shake_128(original.encode("utf-8")).digest(_TAG_BYTES)
    encoded = base64.b64encode(digest).rstrip(b"=").translate(_TAG_ALPHABET)
    return encoded.lower().decode("ascii")


TAG_LENGTH: Final = len(_compute_tag(""))
"""Length of the hash tag inserted by :func:`shorten_identifier`; also the smallest usable limit."""


def shorten_identifier(normalized: str, original: str, max_length: int | None) -> str:
    """Shortens a normalized name to ``max_length`` the way dlt does.

    The head and tail of ``normalized`` are kept and a tag, a lowercase base64 hash of ``original``,
    goes in the middle (an odd remainder goes to the head). The tag is computed from the original
    name, so two sources whose long names normalize to the same text still get different names.

    Args:
        normalized: The already normalized name.
        original: The name as the source gave it (stripped of surrounding whitespace); the tag is
            its hash.
        max_length: The longest allowed result; ``None`` means no limit.

    Returns:
        ``normalized`` itself when it fits, otherwise a name of exactly ``max_length`` characters.

    Raises:
        InvalidIdentifier: (a ``ValueError``) if shortening is needed but ``max_length`` cannot
            hold the tag.

    Examples:
        >>> shorten_identifier("a_very_long_identifier_name", "a_very_long_identifier_name", 10)
        'a_ebfjtgme'
        >>> shorten_identifier("short", "Short", 10)
        'short'
    """
    if max_length is None or len(normalized) <= max_length:
        return normalized
    if max_length < TAG_LENGTH:
        raise InvalidIdentifier.max_length_too_small(max_length, TAG_LENGTH, normalized)
    tag = _compute_tag(original)
    keep = max_length - TAG_LENGTH
    head = keep // 2 + keep % 2
    tail = keep // 2
    # Slice the tail by position, not `[-tail:]`, which would return the whole string for tail == 0.
    return normalized[:head] + tag + normalized[len(normalized) - tail :]


def _check_max_length(max_length: int | None) -> None:
    if max_length is not None and max_length < TAG_LENGTH:
        raise InvalidIdentifier.max_length_too_small(max_length, TAG_LENGTH)


def _to_snake_case(name: str) -> str:
    name = _RE_CAMEL_WORD.sub(r"\1_\2", name)
    name = _RE_CAMEL_HUMP.sub(r"\1_\2", name).lower()
    if _RE_LEADING_DIGITS.match(name):
        name = "_" + name
    # Trailing underscores become "x", one for one, so "a_" and "a" stay distinct and a name never
    # ends in "_" (which would merge with PATH_SEPARATOR when the name is a path component).
    stripped = name.rstrip("_")
    name = stripped + "x" * (len(name) - len(stripped))
    return _RE_UNDERSCORES.sub("_", name)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_identifier(name: str, max_length: int | None) -> str:
    if name is None:
        raise InvalidIdentifier.none("name")
    stripped = name.strip()
    if not stripped:
        raise InvalidIdentifier.blank(name)
    reduced = _RE_NON_ALPHANUMERIC.sub("_", stripped.translate(_REDUCE_ALPHABET))
    # The tag hashes the stripped name, as in dlt: " a " and "a" are the same name.
    return shorten_identifier(_to_snake_case(reduced), stripped, max_length)


def _break_path(path: str) -> list[str]:
    # Blank components ("a____b" splits to "a", "", "b") are dropped, as in dlt; this is also what
    # lets "x___y" read back as ["x", "_y"] after a name that starts with "_" was appended.
    return [component for component in path.split(PATH_SEPARATOR) if component.strip()]


def _make_path(components: tuple[str, ...]) -> str:
    return PATH_SEPARATOR.join(component for component in components if component.strip())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalize_path(path: str, max_length: int | None) -> str:
    if path is None:
        raise InvalidIdentifier.none("path")
    components = _break_path(path)
    if not components:
        # dlt returns "" here; an empty table or column name only fails later, and less clearly.
        raise InvalidIdentifier.blank_path(path, PATH_SEPARATOR)
    normalized = tuple(_normalize_identifier(component, max_length) for component in components)
    # Each part fits on its own, but the joined path may not; its tag hashes the raw path.
    return shorten_identifier(_make_path(normalized), path, max_length)


@dataclass(frozen=True, slots=True)
class SnakeCaseNaming:
    """dlt's default ``snake_case`` naming convention (case insensitive, reduced alphabet).

    In order: surrounding whitespace is stripped; ``+ - * @ |`` become ``x _ x a l``; every run of
    other characters outside ``[a-zA-Z0-9_]`` becomes one ``_`` (so accented letters and emoji
    vanish); CamelCase is split into words and everything is lower-cased; a leading digit gets a
    ``_`` prefix; each trailing ``_`` becomes ``x``; runs of ``_`` contract to one.

    Attributes:
        max_length: The longest name the destination accepts, or ``None`` for no limit. Longer names
            are shortened by :func:`shorten_identifier`. Must be at least :data:`TAG_LENGTH`.

    Examples:
        >>> naming = SnakeCaseNaming()
        >>> naming.normalize_identifier("123BaNaNa")
        '_123_ba_na_na'
        >>> naming.normalize_identifier("event-.!:*<>value")
        'event_x_value'
        >>> naming.normalize_identifier("BANANA_")
        'bananax'
    """

    max_length: int | None = None

    def __post_init__(self) -> None:
        _check_max_length(self.max_length)

    def normalize_identifier(self, name: str) -> str:
        """Normalizes one name; a ``__`` inside it is contracted, not kept as a path separator.

        Args:
            name: A table or column name as the source gave it.

        Returns:
            A name of ``a-z``, ``_`` and digits that does not start with a digit, end with ``_`` or
            contain ``__``, at most ``max_length`` long; normalizing it again changes nothing. (With
            a ``max_length`` of 6 or 7 a long name can shorten to the bare tag, which may start
            with a digit, exactly as in dlt.)

        Raises:
            InvalidIdentifier: (a ``ValueError``) if ``name`` is None, empty or only whitespace.

        Examples:
            >>> SnakeCaseNaming().normalize_identifier("event__value_value2____")
            'event_value_value2xxxx'
        """
        return _normalize_identifier(name, self.max_length)

    def normalize_table_identifier(self, name: str) -> str:
        """Normalizes a dataset, table or schema name; in ``snake_case`` the same as any name.

        Args:
            name: A table, dataset or schema name as the source gave it.

        Returns:
            The name normalized by :meth:`normalize_identifier`.

        Raises:
            InvalidIdentifier: (a ``ValueError``) if ``name`` is None, empty or only whitespace.
        """
        return _normalize_identifier(name, self.max_length)

    def normalize_path(self, path: str) -> str:
        """Normalizes each ``__``-separated part of a name on its own and joins them again.

        This is how dlt normalizes table and column names in new schemas: because the separators
        survive, normalizing an already normalized path changes nothing.

        Args:
            path: A name that may contain ``__`` separators, e.g. a flattened nested column.

        Returns:
            The normalized path, shortened as a whole to ``max_length`` if needed.

        Raises:
            InvalidIdentifier: (a ``ValueError``) if ``path`` is None or has no non-blank part
                (dlt returns ``""``).

        Examples:
            >>> SnakeCaseNaming().normalize_path("Small__Love__Potion")
            'small__love__potion'
            >>> SnakeCaseNaming().normalize_path("e_vent__value_value2___")
            'e_vent__value_value2__x'
        """
        return _normalize_path(path, self.max_length)

    def make_path(self, *components: str) -> str:
        """Joins names with ``__``, skipping blank ones; names are neither normalized nor shortened.

        Args:
            *components: The names to join, parent first.

        Returns:
            The joined path.

        Examples:
            >>> SnakeCaseNaming().make_path("orders", "", "items")
            'orders__items'
        """
        return _make_path(components)

    def break_path(self, path: str) -> list[str]:
        """Splits a path on ``__``, dropping blank parts; the inverse of :meth:`make_path`.

        Args:
            path: A path made by :meth:`make_path` or :meth:`normalize_path`.

        Returns:
            The non-blank parts, parent first.

        Examples:
            >>> SnakeCaseNaming().break_path("_a___b__C___D")
            ['_a', '_b', 'C', '_D']
        """
        return _break_path(path)

    @staticmethod
    def shorten_identifier(normalized: str, original: str, max_length: int | None) -> str:
        """Shortens a normalized name; see the module function :func:`shorten_identifier`.

        Args:
            normalized: The already normalized name.
            original: The name as the source gave it; the tag is its hash.
            max_length: The longest allowed result; ``None`` means no limit.

        Returns:
            ``normalized`` itself when it fits, otherwise a tagged name of exactly ``max_length``.

        Raises:
            InvalidIdentifier: (a ``ValueError``) if shortening is needed but ``max_length``
                cannot hold the tag.
        """
        return shorten_identifier(normalized, original, max_length)


class NamingConvention(Protocol):
    """What quiver needs of a naming convention (dlt's ``NamingConvention`` methods)."""

    @property
    def max_length(self) -> int | None: ...

    def normalize_identifier(self, name: str) -> str: ...

    def normalize_table_identifier(self, name: str) -> str: ...

    def normalize_path(self, path: str) -> str: ...

    def make_path(self, *components: str) -> str: ...

    def break_path(self, path: str) -> list[str]: ...

    def shorten_identifier(self, normalized: str, original: str, max_length: int | None) -> str: ...


@dataclass(frozen=True, slots=True)
class _VerbatimNaming:
    """Keeps names as given; for views of hints before the pipeline normalizes them."""

    max_length: int | None = None

    def normalize_identifier(self, name: str) -> str:
        return name

    def normalize_table_identifier(self, name: str) -> str:
        return name

    def normalize_path(self, path: str) -> str:
        return path

    def make_path(self, *components: str) -> str:
        return _make_path(components)

    def break_path(self, path: str) -> list[str]:
        return _break_path(path)

    def shorten_identifier(self, normalized: str, original: str, max_length: int | None) -> str:
        return normalized


#: Names as given (``Resource.compute_table_schema`` shows hints before normalization).
VERBATIM_NAMING: Final[NamingConvention] = _VerbatimNaming()


def default_schema_name(pipeline_name: str) -> str:
    """Derives the default schema name from a pipeline name, as dlt does.

    A trailing ``_pipeline`` is removed and the rest normalized with ``snake_case`` limited to
    :data:`MAX_SCHEMA_NAME_LENGTH` characters.

    Args:
        pipeline_name: The pipeline's name.

    Returns:
        The schema name.

    Raises:
        InvalidIdentifier: (a ``ValueError``) if nothing is left to name the schema with (e.g.
            the name is ``"_pipeline"``).

    Examples:
        >>> default_schema_name("exp_pipeline")
        'exp'
        >>> default_schema_name("Chess Games")
        'chess_games'
    """
    schema_name = pipeline_name.removesuffix("_pipeline")
    if not schema_name.strip():
        raise InvalidIdentifier.no_schema_name(pipeline_name)
    return SnakeCaseNaming(MAX_SCHEMA_NAME_LENGTH).normalize_identifier(schema_name)
