"""``quiver.common.schema``: dlt's ``dlt.common.schema`` import paths."""

from quiver.schema.model import Schema

__all__ = ["Schema"]
