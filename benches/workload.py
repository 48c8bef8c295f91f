"""The benchmark workload: deterministic "event" records, as dict pages and as flat Arrow batches.

Every record is a pure function of ``(seed, id)``: rows are generated in blocks of
:data:`PAGE_SIZE` ids, each block from its own seeded RNG, so any id range yields the same records
whatever the page or batch size, and the dict pages and the Arrow batches of a range hold the same
records. Generation is vectorized (numpy → Arrow); the dicts come from ``RecordBatch.to_pylist()``,
which gives exactly the Python objects an API client would hand over (``int``, ``str``, ``float``,
``bool``, ``datetime`` with ``datetime.UTC``, ``Decimal``, nested ``dict`` and ``list``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEED = 20_260_601
PAGE_SIZE = 10_000
ARROW_BATCH_SIZE = 100_000

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "refund", "signup")
COUNTRIES = ("PL", "DE", "US", "JP", "BR", "IN", "FR", "NG")
_LATS = np.array([52.23, 52.52, 40.71, 35.68, -23.55, 19.08, 48.86, 6.52])
_LONS = np.array([21.01, 13.40, -74.01, 139.69, -46.63, 72.88, 2.35, 3.38])
NOTES = tuple(f"customer said: {w}" for w in ("great", "late delivery", "gift", "repeat", "promo"))
_EPOCH_US = int(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp() * 1_000_000)
#: Seconds between consecutive ids in ``created_at``: the incremental cursor grows with ``id``.
_SECONDS_PER_ID = 3

ITEM_TYPE = pa.struct([("sku", pa.string()), ("qty", pa.int64()), ("price", pa.float64())])
EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_name", pa.string()),
        ("amount", pa.float64()),
        ("is_active", pa.bool_()),
        ("event_ts", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        (
            "geo",
            pa.struct([("country", pa.string()), ("lat", pa.float64()), ("lon", pa.float64())]),
        ),
        ("items", pa.list_(ITEM_TYPE)),
        ("note", pa.string()),
        ("price", pa.decimal128(10, 2)),
        ("event_uuid", pa.string()),
        ("event_type", pa.string()),
    ]
)
#: The flat 10-column projection used by the Arrow scenarios (``geo.country`` → ``country``).
FLAT_COLUMNS = (
    "id",
    "user_name",
    "amount",
    "is_active",
    "created_at",
    "country",
    "note",
    "price",
    "event_uuid",
    "event_type",
)


@dataclass(frozen=True)
class RowRange:
    """A contiguous range of ids, optionally with some existing rows changed (for merges).

    Args:
        start: the first id.
        count: how many ids.
        updated_below: ids below this value that are multiples of ``update_every`` carry changed
            ``amount``, ``is_active`` and ``note`` (an update of a row loaded before); ``None``
            means no updates.
        update_every: see ``updated_below``.
    """

    start: int
    count: int
    updated_below: int | None = None
    update_every: int = 9

    @property
    def stop(self) -> int:
        return self.start + self.count


def _fixed_width_strings(data: bytes, width: int, count: int) -> pa.Array:
    """A string array of ``count`` values of ``width`` bytes each, without a Python loop."""
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _uuids(rng: np.random.Generator, count: int) -> pa.Array:
    """Random UUID-4-looking strings (8-4-4-4-12 hex), vectorized."""
    hex_digits = np.frombuffer(rng.bytes(16 * count).hex().encode(), dtype="S1").reshape(count, 32)
    dash = np.full((count, 1), b"-", dtype="S1")
    parts = [hex_digits[:, :8], hex_digits[:, 8:12], hex_digits[:, 12:16], hex_digits[:, 16:20]]
    joined = np.hstack(
        [parts[0], dash, parts[1], dash, parts[2], dash, parts[3], dash, hex_digits[:, 20:]]
    )
    return _fixed_width_strings(joined.tobytes(), 36, count)


def _decimals(cents: np.ndarray) -> pa.Array:
    """``decimal128(10, 2)`` from non-negative integer cents: the unscaled value IS the cents."""
    words = np.zeros((len(cents), 2), dtype="<i8")
    words[:, 0] = cents
    return pa.Array.from_buffers(
        pa.decimal128(10, 2), len(cents), [None, pa.py_buffer(words.tobytes())]
    )


def _pick(pool: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(pool), pa.array(index))


def event_block(block_no: int, *, seed: int = SEED) -> pa.RecordBatch:
    """The ``PAGE_SIZE`` events with ids ``[block_no * PAGE_SIZE, (block_no + 1) * PAGE_SIZE)``."""
    rng = np.random.default_rng([seed, block_no])
    n = PAGE_SIZE
    ids = np.arange(block_no * n, (block_no + 1) * n, dtype=np.int64)
    created_us = _EPOCH_US + ids * _SECONDS_PER_ID * 1_000_000 + rng.integers(0, 1_000_000, n)
    event_us = created_us - rng.integers(0, 86_400_000_000, n)
    event_ts = np.char.add(
        np.datetime_as_string(event_us.astype("datetime64[us]"), unit="ms").astype("U23"), "Z"
    )
    country = rng.integers(0, len(COUNTRIES), n)
    item_counts = rng.integers(0, 4, n)
    n_items = int(item_counts.sum())
    items = pa.StructArray.from_arrays(
        [
            pc.binary_join_element_wise(
                "SKU-", pa.array(rng.integers(0, 5_000, n_items).astype(str)), ""
            ),
            pa.array(rng.integers(1, 6, n_items)),
            pa.array(np.round(rng.uniform(0.5, 300.0, n_items), 2)),
        ],
        fields=list(ITEM_TYPE),
    )
    offsets = np.concatenate([[0], np.cumsum(item_counts)]).astype(np.int32)
    note_missing = rng.random(n) < 0.3
    notes = _pick(NOTES, rng.integers(0, len(NOTES), n))
    columns = [
        pa.array(ids),
        pc.binary_join_element_wise("user_", pa.array(rng.integers(0, 50_000, n).astype(str)), ""),
        pa.array(np.round(rng.uniform(1.0, 1_000.0, n), 2)),
        pa.array(rng.random(n) < 0.8),
        pa.array(event_ts),
        pa.array(created_us, type=pa.timestamp("us", tz="UTC")),
        pa.StructArray.from_arrays(
            [
                _pick(COUNTRIES, country),
                pa.array(np.round(_LATS[country] + rng.uniform(-1, 1, n), 4)),
                pa.array(np.round(_LONS[country] + rng.uniform(-1, 1, n), 4)),
            ],
            fields=list(EVENT_SCHEMA.field("geo").type),
        ),
        pa.ListArray.from_arrays(pa.array(offsets), items),
        pc.if_else(pa.array(note_missing), pa.scalar(None, pa.string()), notes),
        _decimals(rng.integers(100, 10_000_000, n)),
        _uuids(rng, n),
        _pick(EVENT_TYPES, rng.integers(0, len(EVENT_TYPES), n)),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)


def _apply_updates(batch: pa.RecordBatch, rows: RowRange) -> pa.RecordBatch:
    """Change ``amount``, ``is_active`` and ``note`` of the rows that ``rows`` marks as updated."""
    if rows.updated_below is None:
        return batch
    ids = batch.column("id").to_numpy()
    updated = pa.array((ids < rows.updated_below) & (ids % rows.update_every == 0))
    changes = {
        "amount": pc.if_else(updated, pc.add(batch.column("amount"), 10.0), batch.column("amount")),
        "is_active": pc.if_else(
            updated, pc.invert(batch.column("is_active")), batch.column("is_active")
        ),
        "note": pc.if_else(updated, pa.scalar("updated"), batch.column("note")),
    }
    arrays = [changes.get(name, batch.column(name)) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def iter_event_batches(
    rows: RowRange, batch_size: int, *, seed: int = SEED
) -> Iterator[pa.RecordBatch]:
    """Nested 12-field event batches covering ``rows``, ``batch_size`` rows each (last one shorter)."""
    if rows.count <= 0:
        return
    blocks = range(rows.start // PAGE_SIZE, (rows.stop - 1) // PAGE_SIZE + 1)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for block_no in blocks:
        block = event_block(block_no, seed=seed)
        lo = max(rows.start - block_no * PAGE_SIZE, 0)
        hi = min(rows.stop - block_no * PAGE_SIZE, PAGE_SIZE)
        pending.append(_apply_updates(block.slice(lo, hi - lo), rows))
        pending_rows += hi - lo
        while pending_rows >= batch_size:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, batch_size).to_batches()[0]
            rest = table.slice(batch_size)
            pending = rest.to_batches() if rest.num_rows else []
            pending_rows = rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _to_dicts(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """Python rows; ``created_at`` gets ``datetime.UTC`` as its tzinfo, as Python code writes it.

    (A "UTC" Arrow column would come back with ``ZoneInfo("UTC")``; "+00:00" gives ``datetime.UTC``.)
    """
    index = batch.schema.get_field_index("created_at")
    arrays = list(batch.columns)
    arrays[index] = arrays[index].cast(pa.timestamp("us", tz="+00:00"))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names).to_pylist()


def iter_event_pages(rows: RowRange, *, seed: int = SEED) -> Iterator[list[dict[str, Any]]]:
    """The events of ``rows`` as Python dicts, page by page, generated as they are asked for."""
    for batch in iter_event_batches(rows, PAGE_SIZE, seed=seed):
        yield _to_dicts(batch)


def event_pages(rows: RowRange, *, seed: int = SEED) -> list[list[dict[str, Any]]]:
    """The events of ``rows`` as Python dicts, in pages of ``PAGE_SIZE`` (as an API client yields)."""
    return list(iter_event_pages(rows, seed=seed))


def flatten_events(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The flat 10-column projection of a nested event batch."""
    columns = {name: batch.column(name) for name in batch.schema.names if name in FLAT_COLUMNS}
    columns["country"] = pc.struct_field(batch.column("geo"), "country")
    return pa.RecordBatch.from_pydict({name: columns[name] for name in FLAT_COLUMNS})


#: The schema of the flat projection (what :func:`flatten_events` returns).
FLAT_SCHEMA = pa.schema(
    [
        EVENT_SCHEMA.field(name)
        if name != "country"
        else pa.field("country", EVENT_SCHEMA.field("geo").type.field("country").type)
        for name in FLAT_COLUMNS
    ]
)


def iter_flat_batches(rows: RowRange, *, seed: int = SEED) -> Iterator[pa.RecordBatch]:
    """The events of ``rows`` as flat Arrow batches of ``ARROW_BATCH_SIZE``, generated lazily."""
    for batch in iter_event_batches(rows, ARROW_BATCH_SIZE, seed=seed):
        yield flatten_events(batch)


def flat_batches(rows: RowRange, *, seed: int = SEED) -> list[pa.RecordBatch]:
    """The events of ``rows`` as flat 10-column Arrow batches of ``ARROW_BATCH_SIZE`` rows."""
    return list(iter_flat_batches(rows, seed=seed))


def iter_flat_dict_pages(rows: RowRange, *, seed: int = SEED) -> Iterator[list[dict[str, Any]]]:
    """The flat 10-column projection of ``rows`` as dicts, page by page, generated lazily."""
    for batch in iter_event_batches(rows, PAGE_SIZE, seed=seed):
        yield _to_dicts(flatten_events(batch))


def flat_dict_pages(rows: RowRange, *, seed: int = SEED) -> list[list[dict[str, Any]]]:
    """The flat 10-column projection of ``rows`` as dicts, in pages of ``PAGE_SIZE``."""
    return list(iter_flat_dict_pages(rows, seed=seed))
