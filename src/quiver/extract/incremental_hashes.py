"""De-duplication hashes of the rows at an incremental cursor's boundary value.

The incremental state keeps, under ``unique_hashes``, one hash per row that has the cursor's
last value, so the next run can drop those rows when it sees them again. Two forms exist:

- **current** (dlt ≥ 1.29, and quiver from now on): base64 of a 9-byte shake-128 digest
  (12 characters) of the compact, sorted-key JSON of the primary key value(s) — or of the
  whole row when there is no key — with every datetime written as whole microseconds since the
  Unix epoch (a naive datetime is taken as UTC), so one instant hashes alike in any zone;
- **legacy** (dlt < 1.29 and earlier quiver versions): base64 of a 15-byte digest
  (20 characters). dlt hashed compact JSON with ISO datetimes (UTC as ``Z``); earlier quiver
  versions spaced JSON with ASCII escapes and ISO datetimes in UTC (``+00:00``). Both agree for
  an int, ASCII string, date or decimal key; a legacy set is checked in both renderings.

Hashes in a state are told apart by their length. Reading accepts both; a set that is
rebuilt (the cursor moved) is written in the current form; a legacy set carried over while the
cursor stays put grows in the legacy form, as dlt does, so dlt can continue the state too.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

#: Digest length of the current form: 9 bytes, 12 base64 characters (dlt ≥ 1.29).
DIGEST_BYTES = 9
#: Digest length of the legacy form: 15 bytes, 20 base64 characters.
LEGACY_DIGEST_BYTES = 15
LEGACY_HASH_LENGTH = 20

Digest = Callable[[Any], str]
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def dedup_digest(value: Any) -> str:
    """The current-form hash of a primary key value, a list of them, or a whole row."""
    text = json.dumps(
        canonical(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_current_default,
    )
    return _shake(text, DIGEST_BYTES)


def legacy_dedup_digest(value: Any) -> str:
    """The legacy-form hash, exactly as earlier quiver versions wrote it (20 characters)."""
    text = json.dumps(canonical(value), sort_keys=True, default=_legacy_default)
    return _shake(text, LEGACY_DIGEST_BYTES)


def dlt_legacy_dedup_digest(value: Any) -> str:
    """The legacy-form hash as dlt < 1.29 wrote it (the value as dlt saw it, no canonical)."""
    text = json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_dlt_legacy_default,
    )
    return _shake(text, LEGACY_DIGEST_BYTES)


def is_legacy(hashes: Iterable[str]) -> bool:
    """Whether a stored hash set holds legacy-form hashes (dlt's test: any of 20 characters)."""
    return any(len(h) == LEGACY_HASH_LENGTH for h in hashes)


def digests_matching(hashes: Iterable[str]) -> list[Digest]:
    """The digest functions whose form occurs in ``hashes`` (both for a mixed set)."""
    lengths = {len(h) for h in hashes}
    digests: list[Digest] = []
    if lengths - {LEGACY_HASH_LENGTH}:
        digests.append(dedup_digest)
    if LEGACY_HASH_LENGTH in lengths:
        digests.extend((legacy_dedup_digest, dlt_legacy_dedup_digest))
    return digests


def canonical(value: Any) -> Any:
    """The same row hashes the same whether it went through the batcher or not.

    Fields that are ``None`` are left out (an Arrow batch has them where a dict lacks them),
    integral floats become ints (a column that mixes ints and floats is a float column), and
    naive datetimes are UTC.
    """
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


def _shake(text: str, length: int) -> str:
    digest = hashlib.shake_128(text.encode("utf-8")).digest(length)
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def _current_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        # Floor division, like dlt: an instant before the epoch rounds towards the past.
        moment = value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
        return (moment - _EPOCH) // _MICROSECOND
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _dlt_legacy_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
    return _current_default(value)


def _legacy_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.date | datetime.time | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
