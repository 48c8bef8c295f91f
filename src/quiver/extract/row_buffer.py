"""A table's buffer of Python rows, converted to Arrow a chunk at a time.

The extractor used to keep every row of a buffer (``buffer_max_items``, 100k) alive as Python
dicts until the buffer converted at once: kilobytes per nested row, ~300 MB per buffer. Here the
rows convert as each chunk of at least ``chunk_rows`` arrives (a page of a paged API, or single
rows collected to that size) and only the Arrow arrays are kept, one per column and chunk.

The batch of a full buffer must be exactly the one :func:`quiver.extract.batcher.rows_to_batch`
infers for all its rows at once (a column's type, its variants and its errors are decided over
the whole buffer), so a chunk's column is only converted early when its Arrow type follows from
the Python types of its values alone (:func:`pure_type`): one Python type among ``int``,
``float``, ``bool``, ``str``, ``bytes``, ``date``, ``datetime`` with a single ``tzinfo``, or
dicts and lists whose members are pure in turn (all ``None`` counts as pure, type ``null``).
Such a column converts with its type given (``pa.array(values, type)``), which skips Arrow's
inference pass (about 40% of a nested column's conversion; checking the Python types, at C
speed, costs about as much, so the gain here is memory, not time). A value the given type rejects
(an int outside 64 bits, text that is not Unicode) makes the column's chunk keep its Python
values instead. Every other column (mixed types, decimals whose inferred precision depends on
the values, UUIDs, enums, ...) keeps its Python values — the values, not the rows.

When the buffer is complete, a column whose chunks all have the same type (or are all ``None``)
is their concatenation, which is what inference over the whole column gives. Otherwise the
column goes through ``rows_to_batch``'s per-column inference over all its values, the
early-converted chunks read back with ``to_pylist`` (pure values read back as equal values of
the same Python types, so inference sees what it would have seen). Rows that are not dicts go
through :func:`~quiver.extract.batcher.as_row` as they arrive; the first failure there is kept
and raised when the buffer is converted, where ``rows_to_batch`` would raise it.
"""

from __future__ import annotations

import datetime
import itertools
import operator
from collections.abc import Iterable
from typing import Any, TypeAlias

import pyarrow as pa

from quiver.extract.batcher import (
    as_row,
    column_arrays,
    empty_rows_batch,
    gc_paused,
    key_name,
    to_plain,
)

#: Rows collected before a chunk converts: a typical API page; single rows gather up to it.
DEFAULT_CHUNK_ROWS = 10_000

_NONE_TYPE = type(None)
_SCALAR_TYPES: dict[type, pa.DataType] = {
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    str: pa.string(),
    bytes: pa.binary(),
    datetime.date: pa.date32(),
}
_tzinfo = operator.attrgetter("tzinfo")

#: One column's chunks, in row order: an Arrow array of pure values, the Python values of a
#: chunk that is not pure, or a count of rows that lacked the key.
_Chunk: TypeAlias = pa.Array | list[Any] | int


def pure_type(values: Iterable[Any]) -> pa.DataType | None:
    """The type Arrow infers for ``values`` when it follows from their Python types alone.

    Returns ``None`` when the type could depend on the values themselves (decimal precision),
    on their order (several ``tzinfo``), or when the values mix types (the batcher decides
    variants and unifications over the whole buffer).
    """
    if not isinstance(values, list):
        values = list(values)
    kinds = set(map(type, values))
    kinds.discard(_NONE_TYPE)
    if len(kinds) != 1:
        return pa.null() if not kinds else None
    (kind,) = kinds
    scalar = _SCALAR_TYPES.get(kind)
    if scalar is not None:
        return scalar
    # Empty dicts and lists add no keys or items, and datetimes are always true: ``filter``
    # drops the Nones at C speed.
    present = list(filter(None, values))
    if kind is dict:
        return _pure_struct(present)
    if kind is list:
        item_type = pure_type(itertools.chain.from_iterable(present))
        return None if item_type is None else pa.list_(item_type)
    if kind is datetime.datetime and len(set(map(_tzinfo, present))) == 1:
        try:
            inferred: pa.DataType = pa.array(present[:1]).type
        except (pa.ArrowException, ValueError, TypeError):
            return None  # a tzinfo Arrow cannot name
        return inferred
    return None


def _pure_struct(dicts: list[dict[Any, Any]]) -> pa.DataType | None:
    # Arrow orders a struct's fields by first appearance, as ``dict.fromkeys`` does.
    keys = dict.fromkeys(itertools.chain.from_iterable(dicts))
    if not keys or set(map(type, keys)) != {str}:
        return None
    fields = []
    for key in keys:
        field_values = map(dict.get, dicts, itertools.repeat(key))
        kinds = set(map(type, field_values))
        kinds.discard(_NONE_TYPE)
        if len(kinds) == 1 and (scalar := _SCALAR_TYPES.get(next(iter(kinds)))) is not None:
            field_type: pa.DataType | None = scalar  # the common case, without a list
        elif not kinds:
            field_type = pa.null()
        else:
            field_type = pure_type(map(dict.get, dicts, itertools.repeat(key)))
        if field_type is None:
            return None
        fields.append(pa.field(key, field_type))
    return pa.struct(fields)


def _early_chunk(values: list[Any]) -> _Chunk:
    """An Arrow array when the values are pure and their type accepts them; else the values."""
    kind = pure_type(values)
    if kind is None:
        return values
    try:
        return pa.array(values, kind)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return values  # out of range, not Unicode: inference over the buffer decides and says


class RowBuffer:
    """The rows of one table buffered for one batch, held as Arrow chunks where that is exact.

    Args:
        chunk_rows: rows collected before they convert (a larger page converts at once).
    """

    def __init__(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self._chunk_rows = max(1, chunk_rows)
        self._pending: list[Any] = []
        self._columns: dict[Any, list[_Chunk]] = {}
        self._converted = 0
        # Some row was not a dict: ``rows_to_batch`` would have made every row plain.
        self._made_plain = False
        self._error: Exception | None = None

    def __len__(self) -> int:
        return self._converted + len(self._pending)

    def extend(self, rows: list[Any]) -> None:
        """Add rows; a full chunk converts now."""
        self._pending.extend(rows)
        if len(self._pending) >= self._chunk_rows:
            self._convert_pending()

    def to_batch(self) -> pa.RecordBatch:
        """The record batch ``rows_to_batch`` gives for every row added, in order.

        Raises:
            Exception: what ``rows_to_batch`` raises for these rows (a row that cannot become a
                dict, a value no table format stores).
        """
        self._convert_pending()
        if self._error is not None:
            raise self._error
        with gc_paused():
            names: list[str] = []
            arrays: list[pa.Array] = []
            for key, chunks in self._columns.items():
                for name, array in self._column(key_name(key), chunks):
                    names.append(name)
                    arrays.append(array)
        if not names:
            return empty_rows_batch(self._converted)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _convert_pending(self) -> None:
        rows, self._pending = self._pending, []
        if not rows or self._error is not None:
            self._converted += len(rows)
            return
        with gc_paused():
            if set(map(type, rows)) != {dict}:
                self._made_plain = True
                try:
                    rows = [as_row(row) for row in rows]
                except Exception as error:  # raised with the buffer, where rows_to_batch would
                    self._error = error
                    self._columns.clear()
                    self._converted += len(rows)
                    return
            seen = self._converted
            keys = dict.fromkeys(itertools.chain.from_iterable(rows))
            for key, earlier in self._columns.items():
                if key not in keys:
                    earlier.append(len(rows))  # the key is missing from every row of the chunk
            for key in keys:
                chunks = self._columns.get(key)
                if chunks is None:
                    chunks = self._columns[key] = [seen] if seen else []
                chunks.append(_early_chunk(list(map(dict.get, rows, itertools.repeat(key)))))
            self._converted += len(rows)

    def _column(self, name: str, chunks: list[_Chunk]) -> list[tuple[str, pa.Array]]:
        arrays = [c for c in chunks if isinstance(c, pa.Array) and not pa.types.is_null(c.type)]
        kinds = {a.type for a in arrays}
        if len(kinds) <= 1 and not any(isinstance(c, list) for c in chunks):
            kind = kinds.pop() if kinds else pa.null()
            parts = [_as_array(c, kind) for c in chunks]
            return [(name, parts[0] if len(parts) == 1 else pa.concat_arrays(parts))]
        values: list[Any] = []
        for chunk in chunks:
            if isinstance(chunk, int):
                values.extend(itertools.repeat(None, chunk))
            elif isinstance(chunk, list):
                values.extend(map(to_plain, chunk) if self._made_plain else chunk)
            else:
                values.extend(chunk.to_pylist())
        return column_arrays(name, values)


def _as_array(chunk: _Chunk, kind: pa.DataType) -> pa.Array:
    if isinstance(chunk, int):
        return pa.nulls(chunk, kind)
    assert isinstance(chunk, pa.Array)
    return chunk if chunk.type == kind else pa.nulls(len(chunk), kind)
