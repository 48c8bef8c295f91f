"""The benchmark workload: deterministic "event" records, as dict pages and as flat Arrow batches.

Every record is a pure function of ``(seed, id)``: rows are generated in blocks of
:data:`PAGE_SIZE` ids, each block from its own seeded RNG, so any id range yields the same records
whatever the page or batch size, and the dict pages and the Arrow batches of a range hold the same
records. A block's random draws are numpy columns (:func:`_draw_block`); the Arrow batches are
built from them vectorized, and the dicts straight from them too: ``.tolist()`` columns, pools
of the repeated strings, one dict comprehension per block. The dicts hold exactly the Python
objects an API client would hand over (``int``, ``str``, ``float``, ``bool``, ``datetime`` with
``datetime.UTC``, ``Decimal`` with 2 places, nested ``dict`` and ``list``), the same records as
``RecordBatch.to_pylist()`` of the Arrow batches (``tests/test_bench_workload.py``), at a
fraction of its cost: the streamed scenarios time the generator alone and subtract it, so its
cost must stay small next to the load it feeds.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
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


_USER_NAMES = np.array([f"user_{n}" for n in range(50_000)], dtype=object)
_SKUS = np.array([f"SKU-{n}" for n in range(5_000)], dtype=object)
_COUNTRY_POOL = np.array(COUNTRIES, dtype=object)
_NOTE_POOL = np.array(NOTES, dtype=object)
_EVENT_TYPE_POOL = np.array(EVENT_TYPES, dtype=object)
#: An aware epoch: adding a ``timedelta`` keeps its ``tzinfo`` (``datetime.UTC``, as Python code
#: writes it; a "UTC" Arrow column would come back with ``ZoneInfo("UTC")`` instead).
_UNIX_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class _BlockDraws:
    """The random draws of one block, as numpy columns: the Arrow batch and the dicts are both
    built from these, so they hold the same records. Item columns have one entry per item, rows
    ``i`` owning items ``item_offsets[i]:item_offsets[i + 1]``.
    """

    ids: np.ndarray
    created_us: np.ndarray
    event_us: np.ndarray
    country: np.ndarray
    item_offsets: np.ndarray
    sku: np.ndarray
    qty: np.ndarray
    item_price: np.ndarray
    note_missing: np.ndarray
    note: np.ndarray
    user: np.ndarray
    amount: np.ndarray
    is_active: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    cents: np.ndarray
    uuid_bytes: bytes
    event_type: np.ndarray


def _draw_block(block_no: int, seed: int) -> _BlockDraws:
    """Draw block ``block_no``. The order of the draws defines the records: never reorder them."""
    rng = np.random.default_rng([seed, block_no])
    n = PAGE_SIZE
    ids = np.arange(block_no * n, (block_no + 1) * n, dtype=np.int64)
    created_us = _EPOCH_US + ids * _SECONDS_PER_ID * 1_000_000 + rng.integers(0, 1_000_000, n)
    event_us = created_us - rng.integers(0, 86_400_000_000, n)
    country = rng.integers(0, len(COUNTRIES), n)
    item_counts = rng.integers(0, 4, n)
    n_items = int(item_counts.sum())
    sku = rng.integers(0, 5_000, n_items)
    qty = rng.integers(1, 6, n_items)
    item_price = np.round(rng.uniform(0.5, 300.0, n_items), 2)
    note_missing = rng.random(n) < 0.3
    note = rng.integers(0, len(NOTES), n)
    user = rng.integers(0, 50_000, n)
    amount = np.round(rng.uniform(1.0, 1_000.0, n), 2)
    is_active = rng.random(n) < 0.8
    lat = np.round(_LATS[country] + rng.uniform(-1, 1, n), 4)
    lon = np.round(_LONS[country] + rng.uniform(-1, 1, n), 4)
    cents = rng.integers(100, 10_000_000, n)
    uuid_bytes = rng.bytes(16 * n)
    event_type = rng.integers(0, len(EVENT_TYPES), n)
    return _BlockDraws(
        ids=ids,
        created_us=created_us,
        event_us=event_us,
        country=country,
        item_offsets=np.concatenate([[0], np.cumsum(item_counts)]),
        sku=sku,
        qty=qty,
        item_price=item_price,
        note_missing=note_missing,
        note=note,
        user=user,
        amount=amount,
        is_active=is_active,
        lat=lat,
        lon=lon,
        cents=cents,
        uuid_bytes=uuid_bytes,
        event_type=event_type,
    )


def _fixed_width_strings(data: bytes, width: int, count: int) -> pa.Array:
    """A string array of ``count`` values of ``width`` bytes each, without a Python loop."""
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _uuid_chars(uuid_bytes: bytes) -> np.ndarray:
    """UUID-4-looking strings (8-4-4-4-12 hex) of 16 random bytes each: one row of 36 chars each."""
    count = len(uuid_bytes) // 16
    hex_digits = np.frombuffer(uuid_bytes.hex().encode(), dtype="S1").reshape(count, 32)
    dash = np.full((count, 1), b"-", dtype="S1")
    parts = [hex_digits[:, :8], hex_digits[:, 8:12], hex_digits[:, 12:16], hex_digits[:, 16:20]]
    return np.hstack(
        [parts[0], dash, parts[1], dash, parts[2], dash, parts[3], dash, hex_digits[:, 20:]]
    )


def _iso_millis(event_us: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC strings with milliseconds and a ``Z``, e.g. ``2026-01-01T00:00:01.234Z``."""
    text = np.datetime_as_string(event_us.astype("datetime64[us]"), unit="ms").astype("U23")
    return np.char.add(text, "Z")


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
    draws = _draw_block(block_no, seed)
    n = PAGE_SIZE
    items = pa.StructArray.from_arrays(
        [
            pc.binary_join_element_wise("SKU-", pa.array(draws.sku.astype(str)), ""),
            pa.array(draws.qty),
            pa.array(draws.item_price),
        ],
        fields=list(ITEM_TYPE),
    )
    notes = _pick(NOTES, draws.note)
    columns = [
        pa.array(draws.ids),
        pc.binary_join_element_wise("user_", pa.array(draws.user.astype(str)), ""),
        pa.array(draws.amount),
        pa.array(draws.is_active),
        pa.array(_iso_millis(draws.event_us)),
        pa.array(draws.created_us, type=pa.timestamp("us", tz="UTC")),
        pa.StructArray.from_arrays(
            [_pick(COUNTRIES, draws.country), pa.array(draws.lat), pa.array(draws.lon)],
            fields=list(EVENT_SCHEMA.field("geo").type),
        ),
        pa.ListArray.from_arrays(pa.array(draws.item_offsets.astype(np.int32)), items),
        pc.if_else(pa.array(draws.note_missing), pa.scalar(None, pa.string()), notes),
        _decimals(draws.cents),
        _fixed_width_strings(_uuid_chars(draws.uuid_bytes).tobytes(), 36, n),
        _pick(EVENT_TYPES, draws.event_type),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)


def _updated_rows(ids: np.ndarray, rows: RowRange) -> np.ndarray | None:
    """Which of ``ids`` carry an update in ``rows`` (``None``: no updates at all)."""
    if rows.updated_below is None:
        return None
    return (ids < rows.updated_below) & (ids % rows.update_every == 0)


def _apply_updates(batch: pa.RecordBatch, rows: RowRange) -> pa.RecordBatch:
    """Change ``amount``, ``is_active`` and ``note`` of the rows that ``rows`` marks as updated."""
    marked = _updated_rows(batch.column("id").to_numpy(), rows)
    if marked is None:
        return batch
    updated = pa.array(marked)
    changes = {
        "amount": pc.if_else(updated, pc.add(batch.column("amount"), 10.0), batch.column("amount")),
        "is_active": pc.if_else(
            updated, pc.invert(batch.column("is_active")), batch.column("is_active")
        ),
        "note": pc.if_else(updated, pa.scalar("updated"), batch.column("note")),
    }
    arrays = [changes.get(name, batch.column(name)) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _block_slices(rows: RowRange) -> Iterator[tuple[int, int, int]]:
    """``(block_no, lo, hi)``: the blocks covering ``rows`` and the part of each inside it."""
    for block_no in range(rows.start // PAGE_SIZE, (rows.stop - 1) // PAGE_SIZE + 1):
        lo = max(rows.start - block_no * PAGE_SIZE, 0)
        hi = min(rows.stop - block_no * PAGE_SIZE, PAGE_SIZE)
        yield block_no, lo, hi


def iter_event_batches(
    rows: RowRange, batch_size: int, *, seed: int = SEED
) -> Iterator[pa.RecordBatch]:
    """Nested 12-field event batches covering ``rows``, ``batch_size`` rows each (last one shorter)."""
    if rows.count <= 0:
        return
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for block_no, lo, hi in _block_slices(rows):
        block = event_block(block_no, seed=seed)
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


def _flat_columns(draws: _BlockDraws, part: slice, rows: RowRange) -> dict[str, list[Any]]:
    """The flat projection's columns of rows ``part`` of a block, as lists of Python values."""
    ids = draws.ids[part]
    amount, is_active = draws.amount[part], draws.is_active[part]
    notes = _NOTE_POOL[draws.note[part]]  # a copy: fancy indexing
    notes[draws.note_missing[part]] = None
    updated = _updated_rows(ids, rows)
    if updated is not None:  # the same changes as _apply_updates makes to the Arrow batches
        amount = np.where(updated, amount + 10.0, amount)
        is_active = is_active ^ updated
        notes[updated] = "updated"
    created = draws.created_us[part].astype("timedelta64[us]").tolist()
    uuid_chars = _uuid_chars(draws.uuid_bytes)[part]  # one row of 36 single bytes per uuid
    return {
        "id": ids.tolist(),
        "user_name": _USER_NAMES[draws.user[part]].tolist(),
        "amount": amount.tolist(),
        "is_active": is_active.tolist(),
        "created_at": list(map(_UNIX_EPOCH_UTC.__add__, created)),
        "country": _COUNTRY_POOL[draws.country[part]].tolist(),
        "note": notes.tolist(),
        # Decimal(cents).scaleb(-2) keeps every digit: Decimal("1.00"), exponent -2, as Arrow's.
        "price": list(map(Decimal.scaleb, map(Decimal, draws.cents[part].tolist()), repeat(-2))),
        "event_uuid": uuid_chars.view("S36").ravel().astype("U36").tolist(),
        "event_type": _EVENT_TYPE_POOL[draws.event_type[part]].tolist(),
    }


def _event_records(draws: _BlockDraws, part: slice, rows: RowRange) -> list[dict[str, Any]]:
    """Rows ``part`` of a block as nested event dicts (the 12 fields of :data:`EVENT_SCHEMA`)."""
    flat = _flat_columns(draws, part, rows)
    first, last = int(draws.item_offsets[part.start]), int(draws.item_offsets[part.stop])
    item_dicts = [
        {"sku": sku, "qty": qty, "price": price}
        for sku, qty, price in zip(
            _SKUS[draws.sku[first:last]].tolist(),
            draws.qty[first:last].tolist(),
            draws.item_price[first:last].tolist(),
            strict=True,
        )
    ]
    bounds = draws.item_offsets[part.start : part.stop + 1] - first
    items = [
        item_dicts[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]
    return [
        {
            "id": id_,
            "user_name": user_name,
            "amount": amount,
            "is_active": is_active,
            "event_ts": event_ts,
            "created_at": created_at,
            "geo": {"country": country, "lat": lat, "lon": lon},
            "items": row_items,
            "note": note,
            "price": price,
            "event_uuid": event_uuid,
            "event_type": event_type,
        }
        for (
            id_,
            user_name,
            amount,
            is_active,
            event_ts,
            created_at,
            country,
            lat,
            lon,
            row_items,
            note,
            price,
            event_uuid,
            event_type,
        ) in zip(
            flat["id"],
            flat["user_name"],
            flat["amount"],
            flat["is_active"],
            _iso_millis(draws.event_us[part]).tolist(),
            flat["created_at"],
            flat["country"],
            draws.lat[part].tolist(),
            draws.lon[part].tolist(),
            items,
            flat["note"],
            flat["price"],
            flat["event_uuid"],
            flat["event_type"],
            strict=True,
        )
    ]


def _flat_records(draws: _BlockDraws, part: slice, rows: RowRange) -> list[dict[str, Any]]:
    """Rows ``part`` of a block as flat dicts (the 10 :data:`FLAT_COLUMNS`).

    ``dict(zip(...))`` per row is slower than a literal, but flat dicts only feed the 1,000-row
    fixed-cost scenarios.
    """
    flat = _flat_columns(draws, part, rows)
    columns = [flat[name] for name in FLAT_COLUMNS]
    return [dict(zip(FLAT_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]


_Records = Callable[[_BlockDraws, slice, RowRange], list[dict[str, Any]]]


def _iter_record_pages(
    rows: RowRange, records: _Records, seed: int
) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``PAGE_SIZE`` dicts covering ``rows``, made block by block by ``records``."""
    if rows.count <= 0:
        return
    pending: list[dict[str, Any]] = []
    for block_no, lo, hi in _block_slices(rows):
        pending += records(_draw_block(block_no, seed), slice(lo, hi), rows)
        while len(pending) >= PAGE_SIZE:
            yield pending[:PAGE_SIZE]
            pending = pending[PAGE_SIZE:]
    if pending:
        yield pending


def iter_event_pages(rows: RowRange, *, seed: int = SEED) -> Iterator[list[dict[str, Any]]]:
    """The events of ``rows`` as Python dicts, page by page, generated as they are asked for."""
    return _iter_record_pages(rows, _event_records, seed)


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
    return _iter_record_pages(rows, _flat_records, seed)


def flat_dict_pages(rows: RowRange, *, seed: int = SEED) -> list[list[dict[str, Any]]]:
    """The flat 10-column projection of ``rows`` as dicts, in pages of ``PAGE_SIZE``."""
    return list(iter_flat_dict_pages(rows, seed=seed))
