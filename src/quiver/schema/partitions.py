"""Partition keys: which columns and transforms split a table, and Iceberg's transforms on Arrow.

Normalize splits a partitioned table's rows into one file per partition value and the table
formats register those files with the values this module computed, so the arithmetic must be
the engines': Iceberg's spec (years/months/days/hours since 1970-01-01 UTC, ``bucket[N]`` =
``(murmur3_x86_32(binary form) & 0x7FFFFFFF) % N`` where ints, longs and dates hash as 8-byte
little-endian longs, timestamps as microseconds and strings as UTF-8, ``truncate[W]`` = ``v -
(v mod W)`` for integers and the first ``W`` code points of a string). Everything here is
vectorized (pyarrow kernels and numpy): no Python loop over rows.

A key value is kept in Iceberg's partition representation: dates as days since the epoch,
timestamps as microseconds, transforms as their integer results; identity strings, integers and
booleans as themselves. It is JSON, so a file records its key in its footer
(:data:`PARTITION_METADATA_KEY`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quiver.schema.hints import ICEBERG_PARTITION_HINT

__all__ = [
    "PARTITION_METADATA_KEY",
    "PartitionField",
    "file_partition_key",
    "partition_fields",
    "transform_array",
]

#: Parquet footer key holding a file's partition key (JSON: ``[[column, transform, value]]``).
PARTITION_METADATA_KEY: Final = b"quiver.partition"

_MICROS_PER_DAY: Final = 86_400_000_000
_MICROS_PER_HOUR: Final = 3_600_000_000


@dataclass(frozen=True)
class PartitionField:
    """One field of a table's partition key: a source column and an Iceberg transform name
    (``identity``, ``year``, ``month``, ``day``, ``hour``, ``bucket[N]``, ``truncate[W]``)."""

    column: str
    transform: str = "identity"

    @property
    def kind(self) -> str:
        """The transform without its argument (``bucket`` for ``bucket[16]``)."""
        return self.transform.split("[", 1)[0]

    @property
    def argument(self) -> int:
        """``N`` of ``bucket[N]``, ``W`` of ``truncate[W]``."""
        return int(self.transform.split("[", 1)[1].rstrip("]"))


def partition_fields(
    table_schema: Mapping[str, Any], identity_columns: Sequence[str]
) -> list[PartitionField]:
    """The partition key of a table from its hints, in the order its Iceberg spec gets them.

    ``x-iceberg-partition`` fields come first (``iceberg_adapter``), then the columns with the
    ``partition`` hint that the spec does not already name as identity fields. A repeated
    ``(column, transform)`` counts once.
    """
    fields: list[PartitionField] = []
    for spec_field in table_schema.get(ICEBERG_PARTITION_HINT) or []:
        field = PartitionField(str(spec_field["column"]), str(spec_field["transform"]))
        if field not in fields:
            fields.append(field)
    for column in identity_columns:
        if PartitionField(column) not in fields:
            fields.append(PartitionField(column))
    return fields


def transform_array(field: PartitionField, values: pa.Array) -> pa.Array | None:
    """``field``'s transform of ``values`` in Iceberg's partition representation, or ``None``
    when quiver does not compute it for this Arrow type (the table is then written unsplit and
    the engine partitions it)."""
    kind = values.type
    if field.kind == "identity":
        return _identity(values)
    if field.kind in ("year", "month", "day", "hour"):
        return _time_transform(field.kind, values)
    if field.kind == "bucket":
        hashes = _murmur3(values)
        if hashes is None:
            return None
        buckets = (hashes & np.uint32(0x7FFFFFFF)) % np.uint32(field.argument)
        return pa.array(buckets.astype(np.int32), mask=_null_mask(values))
    if field.kind == "truncate":
        if pa.types.is_integer(kind) and not pa.types.is_unsigned_integer(kind):
            ints = values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            truncated = ints - np.mod(ints, field.argument)
            return pa.array(truncated, mask=_null_mask(values)).cast(kind)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pc.utf8_slice_codeunits(values, 0, field.argument)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return pc.binary_slice(values, 0, field.argument)
    return None


def file_partition_key(metadata: Mapping[bytes, bytes] | None) -> dict[tuple[str, str], Any]:
    """The ``{(column, transform): value}`` a normalized file recorded in its footer; empty for
    a file that was not split by partition."""
    raw = (metadata or {}).get(PARTITION_METADATA_KEY)
    if raw is None:
        return {}
    return {(column, transform): value for column, transform, value in json.loads(raw)}


def _identity(values: pa.Array) -> pa.Array | None:
    kind = values.type
    if pa.types.is_timestamp(kind):
        return _micros(values)
    if pa.types.is_date32(kind):
        return values.cast(pa.int32())
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or (pa.types.is_integer(kind) and not pa.types.is_unsigned_integer(kind))
    ):
        return values
    return None  # floats, decimals, binary, nested: not split by quiver


def _micros(values: pa.Array) -> pa.Array:
    """Microseconds since the epoch (UTC for zone-aware timestamps, wall clock for naive)."""
    unit_type = pa.timestamp("us", values.type.tz)
    return values.cast(unit_type, safe=False).cast(pa.int64())


def _time_transform(kind: str, values: pa.Array) -> pa.Array | None:
    if pa.types.is_timestamp(values.type):
        micros = _micros(values).fill_null(0).to_numpy(zero_copy_only=False)
        if kind == "hour":
            hours = np.floor_divide(micros, _MICROS_PER_HOUR).astype(np.int32)
            return pa.array(hours, mask=_null_mask(values))
        days = np.floor_divide(micros, _MICROS_PER_DAY).astype(np.int32)
    elif pa.types.is_date32(values.type):
        if kind == "hour":
            return None
        days = values.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
    else:
        return None
    mask = _null_mask(values)
    if kind == "day":
        return pa.array(days, mask=mask)
    dates = pa.array(days.astype(np.int32)).cast(pa.date32())
    years = pc.subtract(pc.year(dates), 1970).cast(pa.int32())
    if kind == "year":
        return pa.array(years.to_numpy(), mask=mask)
    months = pc.add(pc.multiply(years, 12), pc.subtract(pc.month(dates), 1)).cast(pa.int32())
    return pa.array(months.to_numpy(), mask=mask)


def _null_mask(values: pa.Array) -> np.ndarray | None:
    if values.null_count == 0:
        return None
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)


# --------------------------------------------------------------- murmur3 (x86, 32 bit, seed 0)
_C1: Final = np.uint32(0xCC9E2D51)
_C2: Final = np.uint32(0x1B873593)


def _rotl(value: np.ndarray, bits: int) -> np.ndarray:
    return (value << np.uint32(bits)) | (value >> np.uint32(32 - bits))


def _mix_block(hashes: np.ndarray, block: np.ndarray) -> np.ndarray:
    block = _rotl(block * _C1, 15) * _C2
    hashes = _rotl(hashes ^ block, 13)
    return hashes * np.uint32(5) + np.uint32(0xE6546B64)


def _finish(hashes: Any, lengths: np.ndarray) -> np.ndarray:
    hashes = hashes ^ lengths.astype(np.uint32)
    hashes = (hashes ^ (hashes >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    hashes = (hashes ^ (hashes >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return hashes ^ (hashes >> np.uint32(16))  # type: ignore[no-any-return]


def _murmur3(values: pa.Array) -> np.ndarray | None:
    """murmur3 of every value's Iceberg binary form as unsigned 32-bit ints (nulls hash as 0)."""
    kind = values.type
    if pa.types.is_integer(kind) and not pa.types.is_unsigned_integer(kind):
        longs = values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    elif pa.types.is_date32(kind):
        longs = values.cast(pa.int32()).cast(pa.int64()).fill_null(0).to_numpy()
    elif pa.types.is_timestamp(kind):
        longs = _micros(values).fill_null(0).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(kind) or pa.types.is_binary(kind):
        return _murmur3_bytes(values, np.int32)
    elif pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        return _murmur3_bytes(values, np.int64)
    else:
        return None  # decimals, uuids, time: the engine computes these buckets
    words = np.ascontiguousarray(longs, dtype="<i8").view("<u4").reshape(-1, 2)
    hashes = np.zeros(len(longs), dtype=np.uint32)
    hashes = _mix_block(hashes, words[:, 0].copy())
    hashes = _mix_block(hashes, words[:, 1].copy())
    return _finish(hashes, np.full(len(longs), 8, dtype=np.uint32))


def _murmur3_bytes(values: pa.Array, offset_type: type[np.integer[Any]]) -> np.ndarray:
    """murmur3 of variable-length values, one 4-byte block position at a time for all rows."""
    count = len(values)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[
        values.offset : values.offset + count + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1].astype(np.int64)
    lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
    blocks = lengths // 4
    hashes = np.zeros(count, dtype=np.uint32)
    for block_no in range(int(blocks.max(initial=0))):
        rows = np.nonzero(blocks > block_no)[0]
        at = starts[rows] + 4 * block_no
        block = (
            data[at].astype(np.uint32)
            | (data[at + 1].astype(np.uint32) << np.uint32(8))
            | (data[at + 2].astype(np.uint32) << np.uint32(16))
            | (data[at + 3].astype(np.uint32) << np.uint32(24))
        )
        hashes[rows] = _mix_block(hashes[rows], block)
    remainder = lengths % 4
    tail_at = starts + 4 * blocks
    tail = np.zeros(count, dtype=np.uint32)
    for extra in (3, 2, 1):
        rows = np.nonzero(remainder >= extra)[0]
        byte = data[tail_at[rows] + extra - 1].astype(np.uint32)
        tail[rows] ^= byte << np.uint32(8 * (extra - 1))
    rows = np.nonzero(remainder > 0)[0]
    mixed = _rotl(tail[rows] * _C1, 15) * _C2
    hashes[rows] ^= mixed
    return _finish(hashes, lengths)
