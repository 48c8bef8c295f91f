"""Row ids (``_dlt_id``) made for whole arrays at once.

Root rows get random ids; nested rows get ids derived from the parent id, the table name and the
list position, so that normalizing the same data again gives the same ids. The derivation is our
own fixed arithmetic on numpy arrays (splitmix64 finalizers over the bytes of the parent id), so it
is stable across processes, machines and library versions, unlike ``polars.Series.hash``.
Ids are 14 characters of the base64 alphabet (84 bits), the length dlt uses.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ID_LENGTH = 14
_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8
)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN_INT = 0x9E3779B97F4A7C15
_GOLDEN = np.uint64(_GOLDEN_INT)
_MASK64 = (1 << 64) - 1
# Every twelve-bit value as its two base64 characters (low six bits first), little-endian.
_PAIRS = _ALPHABET[np.arange(4096) & 63].astype("<u2") | (
    _ALPHABET[np.arange(4096) >> 6].astype("<u2") << np.uint16(8)
)


def random_row_ids(count: int) -> pa.StringArray:
    """``count`` random 14-character ids (84 random bits each)."""
    rng = np.random.default_rng(secrets.randbits(128))
    # The low six bits of a uniform byte are uniform over the 64-letter alphabet.
    sextets = np.frombuffer(rng.bytes(count * ID_LENGTH), dtype=np.uint8) & np.uint8(63)
    return _fixed_width_strings(_ALPHABET[sextets].reshape(count, ID_LENGTH))


def child_row_ids(parent_ids: pa.Array, table_name: str, list_idx: np.ndarray) -> pa.StringArray:
    """Deterministic ids of nested rows from (parent id, table name, position in the list)."""
    count = len(parent_ids)
    if count == 0:
        return pa.array([], pa.string())
    words, lengths = _string_words(parent_ids)
    seed = int.from_bytes(hashlib.blake2b(table_name.encode(), digest_size=16).digest(), "little")
    lane_a = _hash_lanes(words, lengths, list_idx, np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    lane_b = _hash_lanes(words, lengths, list_idx, np.uint64(seed >> 64))
    return _encode_lanes(lane_a, lane_b)


def _encode_lanes(lane_a: np.ndarray, lane_b: np.ndarray) -> pa.StringArray:
    """84 of the 128 hashed bits as 14 base64 characters.

    Characters 0-9 are the six-bit groups of ``lane_a`` from the lowest, 10-13 those of
    ``lane_b``; two characters (twelve bits) are looked up at a time.
    """
    count = len(lane_a)
    pairs = np.empty((count, ID_LENGTH // 2), dtype="<u2")
    mask = np.uint64(0xFFF)
    for i in range(5):
        pairs[:, i] = _PAIRS[(lane_a >> np.uint64(12 * i)) & mask]
    for i in range(2):
        pairs[:, 5 + i] = _PAIRS[(lane_b >> np.uint64(12 * i)) & mask]
    return _fixed_width_strings(pairs.view(np.uint8))


def _mix(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def hash_row_ids(columns: list[pa.Array], table_name: str) -> pa.StringArray:
    """Deterministic ids from the values of some columns (dlt's key hash and row hash).

    Used for ``_dlt_id`` of merge tables: the id of a row with primary key ``k`` is the same in
    every load, so its child rows get the same ids too and can be matched. Null is distinct
    from every value (see ``_hash_words`` for how values are hashed).
    """
    count = len(columns[0]) if columns else 0
    if count == 0:
        return pa.array([], pa.string())
    seed = int.from_bytes(hashlib.blake2b(table_name.encode(), digest_size=16).digest(), "little")
    lane_a: np.ndarray | np.uint64 = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    lane_b: np.ndarray | np.uint64 = np.uint64(seed >> 64)
    for position, column in enumerate(columns):
        words, lengths, nulls = _hash_words(column)
        # Position and null flag take part, so (null, "a") and ("a", null) differ.
        extra = nulls + np.uint64(2 * (position + 1))
        lane_a = _hash_lanes(words, lengths, extra, lane_a)
        lane_b = _hash_lanes(words, lengths, extra, lane_b)
    return _encode_lanes(np.asarray(lane_a), np.asarray(lane_b))


def _hash_words(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column as rows of uint64 words, their byte lengths and a null flag per row.

    Numbers, booleans, dates and timestamps are hashed by their 8-byte value after widening to
    one canonical type (int64, float64, UTC microseconds), so int32 and int64 keys, or naive and
    aware timestamps of the same instant, give the same id; this is 10x faster than hashing
    their text. Everything else is hashed as text.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    canonical: pa.Array | None = None
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        canonical = pc.cast(column, pa.int64())
    elif pa.types.is_floating(kind):
        canonical = pc.cast(column, pa.float64())
    elif pa.types.is_timestamp(kind):
        utc = pc.cast(column, pa.timestamp("us", "UTC"), safe=False)
        canonical = pc.cast(utc, pa.int64())
    elif pa.types.is_date(kind):
        canonical = pc.cast(pc.cast(column, pa.date32()), pa.int32()).cast(pa.int64())
    if canonical is None:
        text = _as_text_for_hash(column)
        words, lengths = _string_words(text)
        nulls = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=np.uint64)
        return words, lengths, nulls
    nulls = np.asarray(pc.is_null(canonical).to_numpy(zero_copy_only=False), dtype=np.uint64)
    filled = pc.fill_null(canonical, pa.scalar(0, canonical.type))
    values = np.ascontiguousarray(filled.to_numpy(zero_copy_only=False)).view(np.uint64)
    return values.reshape(-1, 1), np.full(len(values), 8, dtype=np.int64), nulls


def _as_text_for_hash(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Nested values: their Python repr is stable for equal values (rare: hashed once).
        return pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string())


def _hash_lanes(
    words: np.ndarray,
    lengths: np.ndarray,
    list_idx: np.ndarray,
    seed: np.uint64 | np.ndarray,
) -> np.ndarray:
    h = (
        seed.copy()
        if isinstance(seed, np.ndarray) and seed.ndim == 1
        else np.full(words.shape[0], seed, dtype=np.uint64)
    )
    # Fixed-width ids (the common case) need no per-row choice of words.
    uniform_length = int(lengths[0]) if len(lengths) and (lengths == lengths[0]).all() else -1
    for j in range(words.shape[1]):
        # Python ints wrap explicitly here: numpy warns on scalar (not array) overflow.
        salt = np.uint64((_GOLDEN_INT * (j + 1)) & _MASK64)
        # Only words that hold bytes of this row's string: an id must not depend on how long
        # the other strings in the batch are.
        mixed = _mix(h ^ (words[:, j] + salt))
        h = mixed if uniform_length > 8 * j else np.where(lengths > 8 * j, mixed, h)
    h = _mix(h ^ lengths.astype(np.uint64))
    return _mix(h ^ (list_idx.astype(np.uint64) * _GOLDEN))


def _string_words(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of each string, zero-padded to a multiple of 8, as rows of uint64 words."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count:
        strings = pc.fill_null(strings, "")
    if not (pa.types.is_large_string(strings.type) or pa.types.is_string(strings.type)):
        strings = strings.cast(pa.large_string())
    count = len(strings)
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    offsets = np.frombuffer(strings.buffers()[1], dtype=offset_type)[
        strings.offset : strings.offset + count + 1
    ].astype(np.int64)
    data_buffer = strings.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    width = max(8, int(-(-int(lengths.max()) // 8) * 8))
    start = int(offsets[0])
    matrix = np.zeros((count, width), dtype=np.uint8)
    if (lengths == lengths[0]).all():
        length = int(lengths[0])
        matrix[:, :length] = data[start : start + count * length].reshape(count, length)
    else:
        total = int(offsets[-1]) - start
        rows = np.repeat(np.arange(count), lengths)
        cols = np.arange(total) - np.repeat(offsets[:-1] - start, lengths)
        matrix[rows, cols] = data[start : start + total]
    return matrix.view("<u8"), lengths


def _fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    count, width = chars.shape
    data = pa.py_buffer(np.ascontiguousarray(chars))  # zero copy for a contiguous array
    if (count + 1) * width < 2**31:
        offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
        return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), data])
    large_offsets = np.arange(0, (count + 1) * width, width, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_string(), count, [None, pa.py_buffer(large_offsets), data]
    )
    return array.cast(pa.string())
