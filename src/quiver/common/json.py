"""``quiver.common.json``: dlt's ``json`` object (``from dlt.common import json``).

``dumps``/``loads`` write the values dlt's encoder writes for what the standard library cannot:
decimals and UUIDs as strings, dates, times and datetimes in ISO format, bytes as base64,
dataclasses, named tuples and pydantic models as dicts, enums as their value. ``typed_dumps`` /
``typed_loads`` round-trip those types (the typed JSON of the pipeline state).

Examples:
    >>> from quiver.common import json
    >>> import datetime, decimal
    >>> json.dumps({"at": datetime.date(2024, 1, 2), "amount": decimal.Decimal("1.50")})
    '{"at": "2024-01-02", "amount": "1.50"}'
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json as _json
import uuid
from typing import IO, Any

from quiver.errors import UnserializableValue
from quiver.package import typed_json

__all__ = [
    "dump",
    "dumpb",
    "dumps",
    "load",
    "loadb",
    "loads",
    "typed_dumpb",
    "typed_dumps",
    "typed_loadb",
    "typed_loads",
]


def _encode(value: Any) -> Any:
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "_asdict"):
        return value._asdict()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise UnserializableValue(
        f"{value!r} ({type(value).__name__}) is not JSON serializable. Hint: convert it to a "
        "str, number, list or dict first."
    )


def dumps(obj: Any, sort_keys: bool = False, pretty: bool = False) -> str:
    """``obj`` as JSON text (see the module for the types beyond JSON's)."""
    return _json.dumps(
        obj, default=_encode, sort_keys=sort_keys, indent=2 if pretty else None, ensure_ascii=False
    )


def dumpb(obj: Any, sort_keys: bool = False, pretty: bool = False) -> bytes:
    """:func:`dumps` as UTF-8 bytes."""
    return dumps(obj, sort_keys=sort_keys, pretty=pretty).encode("utf-8")


def dump(obj: Any, fp: IO[Any], sort_keys: bool = False, pretty: bool = False) -> None:
    """Write :func:`dumps` of ``obj`` to a text or binary file."""
    text = dumps(obj, sort_keys=sort_keys, pretty=pretty)
    try:
        fp.write(text)
    except TypeError:
        fp.write(text.encode("utf-8"))


def loads(s: str | bytes | bytearray) -> Any:
    """Parse JSON text or bytes."""
    return _json.loads(s)


def loadb(s: bytes | bytearray | memoryview) -> Any:
    """Parse JSON bytes."""
    return _json.loads(bytes(s))


def load(fp: IO[Any]) -> Any:
    """Parse JSON from a text or binary file."""
    return _json.loads(fp.read())


def typed_dumps(obj: Any, sort_keys: bool = False, pretty: bool = False) -> str:
    """JSON that keeps datetimes, dates, times, decimals, UUIDs and bytes (dlt's typed JSON)."""
    return typed_json.dumps(obj, sort_keys=sort_keys, indent=2 if pretty else None)


def typed_dumpb(obj: Any, sort_keys: bool = False, pretty: bool = False) -> bytes:
    """:func:`typed_dumps` as UTF-8 bytes."""
    return typed_dumps(obj, sort_keys=sort_keys, pretty=pretty).encode("utf-8")


def typed_loads(s: str | bytes) -> Any:
    """Parse typed JSON back into the typed values."""
    return typed_json.loads(s)


def typed_loadb(s: bytes) -> Any:
    """Parse typed JSON bytes back into the typed values."""
    return typed_json.loads(s)
