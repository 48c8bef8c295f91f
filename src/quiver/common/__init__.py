"""``quiver.common``: the names dlt users import from ``dlt.common``, implemented by quiver.

``from quiver.common import json, Decimal, pendulum`` works where a dlt script has
``from dlt.common import json, Decimal, pendulum``. ``pendulum`` is not a dependency of quiver:
it is imported when asked for, and a missing install is a
:class:`~quiver.errors.MissingDependencyError` that says so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quiver.common import json

__all__ = ["Decimal", "json", "pendulum"]


def __getattr__(name: str) -> Any:
    if name == "pendulum":
        try:
            import pendulum
        except ImportError:
            from quiver.errors import MissingDependencyError

            raise MissingDependencyError(
                "pendulum",
                "pendulum",
                "quiver.common.pendulum (dlt's re-export of pendulum; quiver does not depend "
                "on it, and datetime works everywhere quiver takes a date)",
            ) from None
        return pendulum
    raise AttributeError(f"module 'quiver.common' has no attribute {name!r}")
