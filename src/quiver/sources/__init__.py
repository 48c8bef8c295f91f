"""``quiver.sources``: building blocks for sources (``quiver.sources.incremental``)."""

from __future__ import annotations

from quiver.extract.incremental import Incremental

#: ``quiver.sources.incremental(cursor_path, initial_value, ...)``, as ``dlt.sources.incremental``.
incremental = Incremental

__all__ = ["Incremental", "incremental"]
