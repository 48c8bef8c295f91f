"""Typed JSON: JSON that round-trips datetimes, dates, times, decimals, UUIDs and bytes.

Values JSON cannot hold are written as strings that start with a character from Unicode's
private use area, the same prefixes dlt uses (U+F026 decimal, U+F027 datetime, U+F028 date,
U+F029 UUID, U+F02B base64 bytes, U+F02D time), so a state document written by either tool
decodes in the other.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

from quiver.errors import UnserializableValue

_DECIMAL = "\uf026"
_DATETIME = "\uf027"
_DATE = "\uf028"
_UUID = "\uf029"
_HEXBYTES = "\uf02a"
_B64BYTES = "\uf02b"
_WEI = "\uf02c"
_TIME = "\uf02d"


def _decode_datetime(text: str) -> datetime.datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


_DECODERS: dict[str, Any] = {
    _DECIMAL: decimal.Decimal,
    _DATETIME: _decode_datetime,
    _DATE: datetime.date.fromisoformat,
    _UUID: uuid.UUID,
    _HEXBYTES: bytes.fromhex,
    _B64BYTES: base64.b64decode,
    _WEI: lambda text: int(decimal.Decimal(text)),
    _TIME: datetime.time.fromisoformat,
}


def _encode(value: Any) -> Any:
    """``json.dumps(default=...)`` hook: the typed string of a value JSON cannot hold."""
    if isinstance(value, decimal.Decimal):
        return _DECIMAL + str(value)
    if isinstance(value, datetime.datetime):
        return _DATETIME + value.isoformat()
    if isinstance(value, datetime.date):
        return _DATE + value.isoformat()
    if isinstance(value, datetime.time):
        return _TIME + value.isoformat()
    if isinstance(value, uuid.UUID):
        return _UUID + str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _B64BYTES + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump()
    raise UnserializableValue(value)


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > 1 and "\uf026" <= value[0] <= "\uf02d":
            return _DECODERS[value[0]](value[1:])
        return value
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dumps(value: Any, *, sort_keys: bool = False, indent: int | None = None) -> str:
    """Serialize to typed JSON text.

    Raises:
        UnserializableValue: a value typed JSON cannot hold (a ``TypeError``).
    """
    return json.dumps(value, default=_encode, sort_keys=sort_keys, indent=indent)


def dumpb(value: Any, *, sort_keys: bool = False) -> bytes:
    """Serialize to compact typed JSON bytes (UTF-8).

    Raises:
        UnserializableValue: a value typed JSON cannot hold (a ``TypeError``).
    """
    return json.dumps(
        value, default=_encode, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def loads(text: str | bytes) -> Any:
    """Parse typed JSON, restoring the typed values."""
    return _decode(json.loads(text))
