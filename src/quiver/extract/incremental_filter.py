"""The vectorized core of incremental loading: one batch in, a boolean mask out.

For ``max``/``min`` cursors every comparison is a pyarrow.compute kernel over the cursor column;
Python touches only the rows *at* a boundary value (to hash them for de-duplication), and at most
:attr:`CursorFilter.max_unique_hashes` of them per boundary value. A custom ``last_value_func``
is a Python callable, so it runs per cursor value (never per whole row).

De-duplication (dlt's semantics): rows whose cursor equals the run's start value were possibly
loaded by the previous run; their hashes (of the primary key, or of the whole row without nulls)
are compared with the hashes stored in the state, and matches are dropped. At the end of a run
the state keeps the hashes of the rows at the new last value. When more rows than the cap share
that value, no hashes are kept (``unique_hashes: []``) and the next run re-includes every row at
the boundary: duplicates become possible, loss is not (a merge on a primary key absorbs them).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from quiver.errors import (
    IncrementalArgumentError,
    IncrementalCursorPathHasValueNone,
    IncrementalCursorPathMissing,
    IncrementalCursorTypeError,
    IncrementalPrimaryKeyMissing,
)
from quiver.extract.incremental_hashes import (
    Digest,
    dedup_digest,
    digests_matching,
    is_legacy,
    legacy_dedup_digest,
)

logger = logging.getLogger("quiver.extract.incremental")

#: The cursor path that makes each whole item its cursor value (dlt's JSONPath root).
WHOLE_ITEM = "$"
OnCursorValueMissing = Literal["raise", "include", "exclude"]
RowsAt = Callable[[list[int]], list[dict[str, Any]]]
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError)


def cursor_scalar(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    """``value`` as a scalar that compute kernels compare with a column of ``arrow_type``."""
    if pa.types.is_timestamp(arrow_type):
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            value = datetime.datetime.combine(value, datetime.time())
        if isinstance(value, datetime.datetime):
            if arrow_type.tz is None and value.tzinfo is not None:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            elif arrow_type.tz is not None and value.tzinfo is None:
                value = value.replace(tzinfo=datetime.UTC)
            return pa.scalar(value, pa.timestamp("us", arrow_type.tz))
    if pa.types.is_date(arrow_type) and isinstance(value, datetime.datetime):
        return pa.scalar(value.date(), arrow_type)
    # Numbers, strings, dates, decimals: let the kernel unify (pa.scalar(1.5, int64) truncates).
    return pa.scalar(value)


class CursorFilter:
    """Filters batches of one resource for one incremental run and tracks the new last value.

    Args:
        resource_name: named in errors.
        cursor_path: a column name, or a dotted path into struct columns (``"meta.updated"``).
        last_value_func: ``max``, ``min`` or a callable over a sequence of values.
        start_value: the lower (for ``max``) bound of this run, lag applied; ``None`` = open.
        last_value: the last value stored in the state (where the run's last value starts).
        end_value: the upper bound (exclusive unless ``range_end="closed"``), or ``None``.
        unique_key: columns hashed for de-duplication; ``None`` hashes the whole row; an empty
            sequence disables de-duplication.
        start_hashes: the hashes the previous run stored for rows at ``start_value``.
    """

    #: Hashes kept for rows sharing the last value; beyond it none are kept (see module doc).
    max_unique_hashes = 1000

    def __init__(
        self,
        *,
        resource_name: str | None,
        cursor_path: str,
        last_value_func: Callable[[Sequence[Any]], Any],
        start_value: Any,
        last_value: Any,
        end_value: Any,
        range_start: Literal["open", "closed"],
        range_end: Literal["open", "closed"],
        on_cursor_value_missing: OnCursorValueMissing,
        unique_key: Sequence[str] | None,
        dedup: bool,
        start_hashes: Sequence[str],
    ) -> None:
        self.resource_name = resource_name
        self.cursor_path = cursor_path
        self.func = last_value_func
        self.start_value = start_value
        self.last_value = last_value
        self.end_value = end_value
        self.range_start = range_start
        self.range_end = range_end
        self.on_missing = on_cursor_value_missing
        self.unique_key = None if unique_key is None else list(unique_key)
        self.dedup = dedup and (unique_key is None or len(unique_key) > 0)
        self.start_hashes = set(start_hashes)
        # Stored hashes may be in dlt's current or legacy form: rows at the start value are
        # hashed in each form present (see incremental_hashes).
        self._start_digests = digests_matching(self.start_hashes)
        # The hashes of rows at last_value: the previous run's while last_value has not moved.
        carried = last_value == start_value
        self.boundary_hashes: set[str] = set(start_hashes) if carried else set()
        # A carried legacy set grows in its own form (as dlt does); a rebuilt one is current.
        self._boundary_digest = (
            legacy_dedup_digest if carried and is_legacy(start_hashes) else dedup_digest
        )
        self.overflow = False
        self.start_out_of_range = False
        self.end_out_of_range = False
        self.rows_kept = 0

    @property
    def unique_hashes(self) -> list[str]:
        return [] if self.overflow or not self.dedup else sorted(self.boundary_hashes)

    # --------------------------------------------------------------------------- entry points
    def filter_batch(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
        """The rows of ``batch`` inside the range, not seen before; updates the last value."""
        if batch.num_rows == 0:
            return batch
        cursor = self._cursor_column(batch)

        def rows_at(indices: list[int]) -> list[dict[str, Any]]:
            taken = batch.take(pa.array(indices, pa.int64()))
            if self.unique_key is not None:
                missing = [k for k in self.unique_key if k not in taken.schema.names]
                if missing:
                    raise IncrementalPrimaryKeyMissing(self.resource_name, missing[0])
                taken = taken.select(self.unique_key)
            rows: list[dict[str, Any]] = taken.to_pylist()
            return rows

        if cursor is None:
            return self._missing(batch, batch.num_rows)
        mask = self._mask(cursor, rows_at)
        if mask is None:
            return batch
        return batch.filter(mask)

    def filter_rows(self, rows: list[Any]) -> list[Any]:
        """Python rows (dicts) of one page, filtered like :meth:`filter_batch`.

        Only the cursor values are turned into an Arrow array; rows at a boundary are converted
        through the batcher before hashing so they hash like the same rows in a batch.
        """
        from quiver.extract.batcher import as_row, rows_to_batch

        if self.cursor_path == WHOLE_ITEM:
            return self._filter_whole_items(rows)
        dicts = [row if isinstance(row, dict) else as_row(row) for row in rows]
        values, any_missing = _values_at(dicts, self.cursor_path)
        if any_missing and self.on_missing == "raise":
            raise IncrementalCursorPathMissing(self.resource_name, self.cursor_path)
        try:
            cursor = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise IncrementalCursorTypeError(
                self.resource_name, self.cursor_path, values[0], f"mixed ({error})"
            ) from error

        def rows_at(indices: list[int]) -> list[dict[str, Any]]:
            batch = rows_to_batch([dicts[i] for i in indices])
            if self.unique_key is not None:
                missing = [k for k in self.unique_key if k not in batch.schema.names]
                if missing:
                    raise IncrementalPrimaryKeyMissing(self.resource_name, missing[0])
                batch = batch.select(self.unique_key)
            selected: list[dict[str, Any]] = batch.to_pylist()
            return selected

        mask = self._mask(cursor, rows_at)
        if mask is None:
            return rows
        return [row for row, keep in zip(rows, mask.to_pylist(), strict=True) if keep]

    def _filter_whole_items(self, items: list[Any]) -> list[Any]:
        """Cursor path ``"$"``: each item is its own cursor value (dlt's rule), in Python.

        ``last_value_func`` is called as dlt calls it: with ``(item,)`` for the first value and
        ``(item, last_value)`` after it, so a function that folds items (e.g. the newest
        ``created_at`` per event type) works. There is no de-duplication on ``"$"``.
        """
        func, start, end = self.func, self.start_value, self.end_value
        kept: list[Any] = []
        for item in items:
            if item is None:
                if self.on_missing == "raise":
                    raise IncrementalCursorPathHasValueNone(self.resource_name, self.cursor_path)
                if self.on_missing == "include":
                    kept.append(item)
                continue
            if end is not None and (
                func((item, end)) != end or (self.range_end == "open" and item == end)
            ):
                self.end_out_of_range = True
                continue
            if start is not None and item != start and func((item, start)) == start:
                self.start_out_of_range = True
                continue
            if start is not None and item == start and self.range_start == "open":
                continue
            kept.append(item)
            last = self.last_value
            self.last_value = func((item,)) if last is None else func((item, last))
        self.rows_kept += len(kept)
        return kept

    # -------------------------------------------------------------------------------- cursor
    def _cursor_column(self, batch: pa.RecordBatch | pa.Table) -> Any:
        if self.cursor_path == WHOLE_ITEM:
            raise IncrementalArgumentError(
                f"The incremental on resource {self.resource_name!r} has cursor_path '$' (the "
                "whole item), which works for Python items, not for Arrow tables or data "
                "frames. Hint: name the cursor column instead."
            )
        names = batch.schema.names
        if self.cursor_path in names:
            return batch.column(self.cursor_path)
        parts = _path_parts(self.cursor_path)
        if parts[0] not in names:
            return None
        column = batch.column(parts[0])
        for part in parts[1:]:
            if not pa.types.is_struct(column.type) or column.type.get_field_index(part) < 0:
                return None
            column = pc.struct_field(column, [part])
        return column

    def _missing(self, batch: Any, num_rows: int) -> Any:
        if self.on_missing == "raise":
            raise IncrementalCursorPathMissing(self.resource_name, self.cursor_path)
        if self.on_missing == "include":
            self.rows_kept += num_rows
            return batch
        return batch.slice(0, 0)

    # ---------------------------------------------------------------------------------- mask
    def _mask(self, cursor: Any, rows_at: RowsAt) -> Any:
        """The keep-mask over ``cursor`` (``None`` = keep everything); updates the state."""
        if pa.types.is_null(cursor.type):
            if self.on_missing == "raise":
                raise IncrementalCursorPathHasValueNone(self.resource_name, self.cursor_path)
            keep_all = self.on_missing == "include"
            if keep_all:
                self.rows_kept += len(cursor)
                return None
            return _constant_mask(len(cursor), False)
        if cursor.null_count and self.on_missing == "raise":
            raise IncrementalCursorPathHasValueNone(self.resource_name, self.cursor_path)
        if self.func is max or self.func is min:
            keep = self._range_mask_vectorized(cursor, rows_at)
        else:
            keep = self._range_mask_custom(cursor, rows_at)
        if cursor.null_count:
            if keep is not None:
                keep = pc.fill_null(keep, self.on_missing == "include")
            elif self.on_missing == "exclude":
                keep = pc.is_valid(cursor)
        kept = cursor if keep is None else cursor.filter(keep)
        self.rows_kept += len(kept)
        self._advance(kept, cursor, keep, rows_at)
        if keep is not None and pc.all(keep).as_py():
            return None
        return keep

    def _scalar(self, value: Any, cursor: Any) -> pa.Scalar:
        try:
            scalar = cursor_scalar(value, cursor.type)
            pc.equal(cursor.slice(0, 0), scalar)  # fails early when the types do not compare
        except _ARROW_ERRORS as error:
            raise IncrementalCursorTypeError(
                self.resource_name, self.cursor_path, value, cursor.type
            ) from error
        return scalar

    def _range_mask_vectorized(self, cursor: Any, rows_at: RowsAt) -> Any:
        is_max = self.func is max
        keep = None
        if self.end_value is not None:
            end = self._scalar(self.end_value, cursor)
            if self.range_end == "open":
                in_end = pc.less(cursor, end) if is_max else pc.greater(cursor, end)
            else:
                in_end = pc.less_equal(cursor, end) if is_max else pc.greater_equal(cursor, end)
            if not pc.all(in_end).as_py():
                self.end_out_of_range = True
            keep = in_end
        if self.start_value is not None:
            start = self._scalar(self.start_value, cursor)
            if self.range_start == "closed":
                in_start = (
                    pc.greater_equal(cursor, start) if is_max else pc.less_equal(cursor, start)
                )
            else:
                in_start = pc.greater(cursor, start) if is_max else pc.less(cursor, start)
            if not pc.all(in_start).as_py():
                self.start_out_of_range = True
            keep = in_start if keep is None else pc.and_(keep, in_start)
            if self.dedup and self.start_hashes and self.range_start == "closed":
                at_start = pc.and_(keep, pc.equal(cursor, start))
                keep = self._drop_seen(keep, at_start, rows_at)
        return keep

    def _range_mask_custom(self, cursor: Any, rows_at: RowsAt) -> Any:
        func, start, end = self.func, self.start_value, self.end_value
        keep: list[bool | None] = []
        for value in cursor.to_pylist():
            if value is None:
                keep.append(None)
                continue
            if end is not None and (
                func((value, end)) != end or (self.range_end == "open" and value == end)
            ):
                self.end_out_of_range = True
                keep.append(False)
                continue
            if start is not None and value != start and func((value, start)) == start:
                self.start_out_of_range = True
                keep.append(False)
                continue
            keep.append(not (start is not None and value == start and self.range_start == "open"))
        mask = pa.array(keep, pa.bool_())
        if self.dedup and self.start_hashes and start is not None and self.range_start == "closed":
            at_start = pc.and_(mask, pc.equal(cursor, self._scalar(start, cursor)))
            mask = self._drop_seen(mask, at_start, rows_at)
        return mask

    def _drop_seen(self, keep: Any, at_start: Any, rows_at: RowsAt) -> Any:
        """Drop rows at the start value whose hash the previous run stored."""
        indices = _true_indices(at_start)
        if not indices:
            return keep
        rows = rows_at(indices)
        seen = [
            i
            for i, row in zip(indices, rows, strict=True)
            if any(
                self._row_hash(row, digest) in self.start_hashes for digest in self._start_digests
            )
        ]
        if not seen:
            return keep
        drop = pc.is_in(_positions(len(at_start)), value_set=pa.array(seen, pa.int64()))
        return pc.and_(keep, pc.invert(drop))

    def _row_hash(self, row: dict[str, Any], digest: Digest) -> str:
        if self.unique_key is not None and len(self.unique_key) == 1:
            return digest(row[self.unique_key[0]])
        if self.unique_key is not None:
            return digest([row[k] for k in self.unique_key])
        return digest(row)

    # ------------------------------------------------------------------------------- advance
    def _advance(self, kept: Any, cursor: Any, keep: Any, rows_at: RowsAt) -> None:
        """Move the last value forward and remember the rows at it (bounded)."""
        if len(kept) == 0 or kept.null_count == len(kept):
            return
        if self.func is max or self.func is min:
            newest = (pc.max if self.func is max else pc.min)(kept).as_py()
        else:
            candidates = [v for v in kept.to_pylist() if v is not None]
            if self.last_value is not None:
                candidates.append(self.last_value)
            newest = self.func(candidates)
        newest_scalar = self._scalar(newest, cursor)
        if self.last_value is None:
            moved, same = True, False
        else:
            last_scalar = self._scalar(self.last_value, cursor)
            ahead = pc.greater if self.func is not min else pc.less
            if self.func is max or self.func is min:
                moved = bool(ahead(newest_scalar, last_scalar).as_py())
            else:
                moved = self.func((newest, self.last_value)) != self.last_value
            same = bool(pc.equal(newest_scalar, last_scalar).as_py())
        if not moved and not same:
            return
        if moved:
            self.last_value = newest
            self.boundary_hashes = set()
            self._boundary_digest = dedup_digest
            self.overflow = False
        if not self.dedup or self.overflow:
            return
        at_last = pc.equal(cursor, newest_scalar)
        if keep is not None:
            at_last = pc.and_(at_last, keep)
        indices = _true_indices(at_last)
        if len(self.boundary_hashes) + len(indices) > self.max_unique_hashes:
            self.overflow = True
            self.boundary_hashes = set()
            logger.warning(
                "More than %d rows of resource %r share the cursor value %r of %r: no "
                "de-duplication hashes are kept for it, so the next run re-extracts those rows. "
                "Hint: use a cursor with a finer resolution, or a merge write disposition.",
                self.max_unique_hashes,
                self.resource_name,
                newest,
                self.cursor_path,
            )
            return
        digest = self._boundary_digest
        self.boundary_hashes.update(self._row_hash(row, digest) for row in rows_at(indices))


def _constant_mask(length: int, value: bool) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), value)


def _positions(length: int) -> pa.Array:
    """0, 1, ..., length - 1 without a Python loop."""
    ones = pc.fill_null(pa.nulls(length, pa.int64()), 1)
    return pc.subtract(pc.cumulative_sum(ones), 1)


def _true_indices(mask: Any) -> list[int]:
    filled = pc.fill_null(mask, False)
    indices: list[int] = pc.indices_nonzero(filled).to_pylist()
    return indices


def _path_parts(cursor_path: str) -> list[str]:
    path = cursor_path[2:] if cursor_path.startswith("$.") else cursor_path
    return [part.strip("'\"[]") for part in path.split(".")]


def _values_at(rows: list[dict[str, Any]], cursor_path: str) -> tuple[list[Any], bool]:
    """Cursor values of dict rows; whether any row lacks the path."""
    parts = _path_parts(cursor_path)
    if len(parts) == 1 or (rows and cursor_path in rows[0]):
        sentinel = _MISSING
        values = [row.get(cursor_path, sentinel) for row in rows]
    else:
        values = [_walk(row, parts) for row in rows]
    missing = any(v is _MISSING for v in values)
    if missing:
        values = [None if v is _MISSING else v for v in values]
    return values, missing


_MISSING: Any = object()


def _walk(row: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(row, dict) or part not in row:
            return _MISSING
        row = row[part]
    return row
