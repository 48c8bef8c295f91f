"""Arguments that dlt has and quiver does not act on yet: passing one raises, never silently.

``None`` (the default) is always accepted, so code written for dlt that does not use the
argument runs unchanged. Each entry says what the argument would do and what to do instead;
an issue that implements an argument removes its entry.
"""

from __future__ import annotations

from typing import Any

from quiver.errors import NotSupportedYet

#: argument → (what it would do, what to do instead).
_UNSUPPORTED: dict[str, tuple[str, str]] = {
    "schema": (
        "put every table of the data into the given Schema",
        "give the source its schema with @quiver.source(schema=...), or leave it out to use the "
        "pipeline's default schema.",
    ),
}


def refuse_unsupported(call: str, **arguments: Any) -> None:
    """Raise for the first argument that is given (not ``None``) but not supported yet.

    Args:
        call: the function the arguments were passed to, e.g. ``"quiver.pipeline()"``.
        **arguments: the arguments to check; each must have an entry in ``_UNSUPPORTED``.

    Raises:
        NotSupportedYet: an argument is not ``None``.
    """
    for name, value in arguments.items():
        if value is not None:
            would, instead = _UNSUPPORTED[name]
            raise NotSupportedYet(f"{call} argument {name}={value!r}", would, instead)
