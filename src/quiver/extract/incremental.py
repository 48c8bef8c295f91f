"""``quiver.sources.incremental``: load only new rows, with a cursor kept in the pipeline state.

An :class:`Incremental` is declared as the default of a resource argument, passed as
``incremental=`` to ``@resource``/``apply_hints``, or both. At extract time it is *bound* to the
resource's state at ``sources.<source>.resources.<resource>.incremental.<cursor_path>``::

    {"initial_value": ..., "last_value": ..., "unique_hashes": [...], "start_value": ...}

and filters the resource's items vectorized (see :mod:`quiver.extract.incremental_filter`):
Python rows are filtered after the batcher turned a buffer into a record batch, Arrow items as
they come.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

import pyarrow as pa

from quiver.errors import (
    IncrementalArgumentError,
    IncrementalUnboundError,
    NotSupportedYet,
    did_you_mean,
)
from quiver.extract.incremental_filter import (
    WHOLE_ITEM,
    CursorFilter,
    OnCursorValueMissing,
    _path_parts,
)

__all__ = ["Incremental"]

logger = logging.getLogger("quiver.extract.incremental")

TCursorValue = TypeVar("TCursorValue")
LastValueFunc = Callable[[Sequence[Any]], Any]
RangeBound = Literal["open", "closed"]


class Incremental(Generic[TCursorValue]):
    """An incremental cursor on a field of a resource's items.

    Args:
        cursor_path: the field holding the cursor, by its name in the data as yielded (before
            normalization); a dotted path reaches into nested dicts / struct columns.
        initial_value: the cursor value to start from when the state has none.
        last_value_func: ``max`` (default), ``min``, ``"max"``, ``"min"`` or a callable over a
            sequence of values returning the "newest" one. ``max``/``min`` run vectorized.
        primary_key: the columns identifying a row, for de-duplicating rows at the boundary
            value; default: the resource's primary key, else the whole row; ``()`` disables it.
        end_value: the end of the range (exclusive unless ``range_end="closed"``). With an
            end value the run is stateless: the state is neither read nor written.
        row_order: ``"asc"`` or ``"desc"`` when the source yields rows ordered by the cursor;
            lets quiver stop reading once rows are out of range.
        allow_external_schedulers: not supported yet: ``True`` raises
            :class:`~quiver.errors.NotSupportedYet` (no scheduler is consulted).
        on_cursor_value_missing: ``"raise"`` (default), ``"include"`` or ``"exclude"`` rows
            without a cursor value.
        lag: re-read a window before the last value: seconds for datetime cursors, days for
            date cursors, units for numbers. Disables de-duplication.
        range_start: ``"closed"`` (default: rows at the start value are re-read and
            de-duplicated) or ``"open"`` (excluded).
        range_end: ``"open"`` (default) or ``"closed"``.

    Examples:
        >>> import quiver
        >>> @quiver.resource(primary_key="id")
        ... def events(updated=quiver.sources.incremental("updated", initial_value=0)):
        ...     yield [{"id": 1, "updated": 1}, {"id": 2, "updated": 5}]
    """

    #: Hashes kept for rows sharing the last cursor value (see ``docs/extract.md``).
    max_unique_hashes: ClassVar[int] = CursorFilter.max_unique_hashes

    def __init__(
        self,
        cursor_path: str | None = None,
        initial_value: TCursorValue | None = None,
        last_value_func: LastValueFunc | Literal["max", "min"] = max,
        primary_key: Any = None,
        end_value: TCursorValue | None = None,
        row_order: Literal["asc", "desc"] | None = None,
        allow_external_schedulers: bool = False,
        on_cursor_value_missing: OnCursorValueMissing = "raise",
        lag: float | None = None,
        range_start: RangeBound = "closed",
        range_end: RangeBound = "open",
    ) -> None:
        if isinstance(last_value_func, str):
            if last_value_func not in ("max", "min"):
                raise IncrementalArgumentError(
                    f"last_value_func={last_value_func!r} is not 'max' or 'min'."
                    f"{did_you_mean(last_value_func, ('max', 'min'))} Hint: use 'max', 'min' "
                    "or a callable over a sequence of values."
                )
            last_value_func = max if last_value_func == "max" else min
        if allow_external_schedulers:
            raise NotSupportedYet(
                "incremental(allow_external_schedulers=True)",
                "take the cursor range from an external scheduler (e.g. Airflow's data interval)",
                "pass initial_value and end_value explicitly.",
            )
        _check_choice(
            "on_cursor_value_missing", on_cursor_value_missing, ("raise", "include", "exclude")
        )
        _check_choice("row_order", row_order, (None, "asc", "desc"))
        _check_choice("range_start", range_start, ("open", "closed"))
        _check_choice("range_end", range_end, ("open", "closed"))
        self.cursor_path = cursor_path
        self.initial_value = initial_value
        self.last_value_func: LastValueFunc = last_value_func
        self._primary_key = primary_key
        self.end_value = end_value
        self.row_order = row_order
        self.allow_external_schedulers = allow_external_schedulers
        self.on_cursor_value_missing: OnCursorValueMissing = on_cursor_value_missing
        self.lag = lag
        self.range_start: RangeBound = range_start
        self.range_end: RangeBound = range_end
        self.resource_name: str | None = None
        self._state: dict[str, Any] | None = None
        self._filter: CursorFilter | None = None
        self._bound_start_last_value: Any = None
        #: Set by the extract while bound: filters rows the resource yielded one at a time
        #: and that wait in a small buffer, so the values read below are current.
        self._catch_up: Callable[[], None] | None = None

    # ------------------------------------------------------------------------ configuration
    @property
    def primary_key(self) -> Any:
        return self._primary_key

    @primary_key.setter
    def primary_key(self, value: Any) -> None:
        self._primary_key = value

    def get_cursor_column_name(self) -> str | None:
        """The cursor's column when the path is a single field, else ``None``."""
        if not self.cursor_path or self.cursor_path == WHOLE_ITEM:
            return None
        parts = _path_parts(self.cursor_path)
        return parts[0] if len(parts) == 1 else None

    def merge(self, other: Incremental[Any]) -> Incremental[TCursorValue]:
        """A new incremental: this one's settings overridden by ``other``'s non-``None`` ones."""
        merged: Incremental[TCursorValue] = Incremental(**self._settings())
        for name, value in other._settings().items():
            if value is not None and (name not in _DEFAULTS or value != _DEFAULTS[name]):
                setattr(merged, "_primary_key" if name == "primary_key" else name, value)
        merged.resource_name = other.resource_name or self.resource_name
        return merged

    def copy(self) -> Incremental[TCursorValue]:
        """An unbound copy with the same settings."""
        clone: Incremental[TCursorValue] = Incremental(**self._settings())
        clone.resource_name = self.resource_name
        return clone

    def _settings(self) -> dict[str, Any]:
        return {
            "cursor_path": self.cursor_path,
            "initial_value": self.initial_value,
            "last_value_func": self.last_value_func,
            "primary_key": self._primary_key,
            "end_value": self.end_value,
            "row_order": self.row_order,
            "allow_external_schedulers": self.allow_external_schedulers,
            "on_cursor_value_missing": self.on_cursor_value_missing,
            "lag": self.lag,
            "range_start": self.range_start,
            "range_end": self.range_end,
        }

    # ------------------------------------------------------------------------------ binding
    def bind(
        self,
        resource_name: str,
        resource_state: dict[str, Any] | None,
        *,
        resource_primary_key: Any = None,
    ) -> Incremental[TCursorValue]:
        """Attach to a resource's state for one run (in place); returns ``self``.

        Args:
            resource_name: named in errors and logs.
            resource_state: the resource's state dict; ignored (stateless) with ``end_value``.
            resource_primary_key: the resource's ``primary_key`` hint, used for de-duplication
                when the incremental has none.
        """
        if not self.cursor_path:
            raise IncrementalUnboundError(
                f"The incremental on resource {resource_name!r} has no cursor_path. Hint: "
                "quiver.sources.incremental('updated_at', ...)."
            )
        self._validate_range(resource_name)
        self.resource_name = resource_name
        fresh: dict[str, Any] = {
            "initial_value": self.initial_value,
            "last_value": self.initial_value,
            "unique_hashes": [],
            "start_value": self.initial_value,
        }
        if self.end_value is not None or resource_state is None:
            state = fresh  # stateless: a mock state that is never persisted
        else:
            cursors = resource_state.setdefault("incremental", {})
            state = cursors.setdefault(self.cursor_path, {})
            if not state:
                state.update(fresh)
        self._state = state
        last_value = state.get("last_value")
        self._bound_start_last_value = last_value
        start_value = self._lagged(last_value)
        dedup = self.range_start == "closed" and self.end_value is None and not self.lag
        unique_key = self._unique_key(resource_primary_key)
        self._filter = CursorFilter(
            resource_name=resource_name,
            cursor_path=self.cursor_path,
            last_value_func=self.last_value_func,
            start_value=start_value,
            last_value=last_value,
            end_value=self.end_value,
            range_start=self.range_start,
            range_end=self.range_end,
            on_cursor_value_missing=self.on_cursor_value_missing,
            unique_key=unique_key,
            dedup=dedup,
            start_hashes=list(state.get("unique_hashes") or []) if dedup else [],
        )
        self._filter.max_unique_hashes = self.max_unique_hashes
        return self

    def _unique_key(self, resource_primary_key: Any) -> list[str] | None:
        key = self._primary_key if self._primary_key is not None else resource_primary_key
        if key is None or callable(key):
            return None
        return [key] if isinstance(key, str) else list(key)

    def _validate_range(self, resource_name: str) -> None:
        if self.end_value is None:
            return
        if self.initial_value is None:
            raise IncrementalArgumentError(
                f"The incremental on resource {resource_name!r} has end_value="
                f"{self.end_value!r} but no initial_value. Hint: a range needs both; pass "
                "initial_value too."
            )
        try:
            newest = self.last_value_func((self.end_value, self.initial_value))
        except TypeError as error:
            raise IncrementalArgumentError(
                f"The incremental on resource {resource_name!r}: initial_value="
                f"{self.initial_value!r} and end_value={self.end_value!r} are not comparable. "
                "Hint: give both in the cursor's type."
            ) from error
        if newest != self.end_value:
            raise IncrementalArgumentError(
                f"The incremental on resource {resource_name!r}: end_value={self.end_value!r} "
                f"must come after initial_value={self.initial_value!r} by last_value_func. "
                "Hint: swap them, or use last_value_func=min for a descending cursor."
            )

    def _lagged(self, value: Any) -> Any:
        if not self.lag or value is None or self.end_value is not None:
            return value
        if self.last_value_func not in (max, min):
            logger.warning(
                "lag on %r needs last_value_func max or min; ignored", self.resource_name
            )
            return value
        lagged = _apply_lag(self.lag, value, self.last_value_func)
        initial = self.initial_value
        if initial is not None and self.last_value_func((initial, lagged)) == initial:
            return initial  # the lag never reaches back before initial_value
        return lagged

    # ------------------------------------------------------------------------------- values
    def get_state(self) -> dict[str, Any]:
        """The bound cursor state (a mock one for a stateless ``end_value`` run)."""
        if self._state is None:
            raise IncrementalUnboundError(
                f"The incremental on {self.cursor_path!r} is not bound to a resource yet."
            )
        return self._state

    @property
    def start_value(self) -> Any:
        """The cursor value this run started from (lag applied)."""
        if self._filter is None:
            return self.initial_value
        return self._filter.start_value

    @property
    def last_value(self) -> Any:
        """The newest cursor value seen so far, current after every yielded item or page (at
        the start of a run: the stored one, lagged)."""
        self._current()
        if self._filter is None:
            return self.initial_value
        if self._filter.rows_kept == 0:
            return self._filter.start_value
        return self._filter.last_value

    @property
    def start_out_of_range(self) -> bool:
        """Whether an item before the start value was yielded (current after every yield)."""
        self._current()
        return self._filter is not None and self._filter.start_out_of_range

    @property
    def end_out_of_range(self) -> bool:
        """Whether an item at or past the end value was yielded (current after every yield)."""
        self._current()
        return self._filter is not None and self._filter.end_out_of_range

    def can_close(self) -> bool:
        """With ``row_order`` known, whether every later row is out of range too."""
        self._current()
        return self.closable()

    def closable(self) -> bool:
        """:meth:`can_close` on the items filtered so far (the extract's own check)."""
        cursor = self._filter
        if cursor is None:
            return False
        return (self.row_order == "asc" and cursor.end_out_of_range) or (
            self.row_order == "desc" and cursor.start_out_of_range
        )

    def _current(self) -> None:
        if self._catch_up is not None:
            self._catch_up()

    # ----------------------------------------------------------------------------- filtering
    def filter_batch(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
        """The rows of an Arrow batch or table that this run should load."""
        result = self._bound_filter().filter_batch(batch)
        self._write_back()
        return result

    def filter_rows(self, rows: list[Any]) -> list[Any]:
        """The Python rows (dicts, models) of a page that this run should load."""
        result = self._bound_filter().filter_rows(rows)
        self._write_back()
        return result

    def _bound_filter(self) -> CursorFilter:
        if self._filter is None:
            raise IncrementalUnboundError(
                f"The incremental on {self.cursor_path!r} filters only while bound to a resource."
            )
        return self._filter

    def _write_back(self) -> None:
        cursor = self._filter
        state = self._state
        assert cursor is not None and state is not None
        if self.lag and state.get("last_value") is not None and cursor.last_value is not None:
            # A lagged run re-reads old rows; the stored value only ever moves forward.
            cursor.last_value = self.last_value_func((cursor.last_value, state["last_value"]))
        state["last_value"] = cursor.last_value
        state["unique_hashes"] = cursor.unique_hashes
        if cursor.rows_kept:
            state["start_value"] = self._bound_start_last_value

    def __repr__(self) -> str:
        func = getattr(self.last_value_func, "__name__", repr(self.last_value_func))
        return (
            f"quiver.sources.incremental(cursor_path={self.cursor_path!r}, "
            f"initial_value={self.initial_value!r}, last_value_func={func}, "
            f"end_value={self.end_value!r}, resource_name={self.resource_name!r})"
        )


_DEFAULTS: dict[str, Any] = {
    "last_value_func": max,
    "on_cursor_value_missing": "raise",
    "range_start": "closed",
    "range_end": "open",
    "allow_external_schedulers": False,
}


def _check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise IncrementalArgumentError(
            f"incremental: {name}={value!r} is not one of {list(choices)}."
            f"{did_you_mean(value, [str(c) for c in choices])} Hint: pass one of those values."
        )


def _apply_lag(lag: float, value: Any, func: LastValueFunc) -> Any:
    """Move ``value`` back by ``lag`` (forward for ``min``): seconds, days or units."""
    sign = -1 if func is max else 1
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        shifted = value + sign * lag
        return int(shifted) if isinstance(value, int) else shifted
    if isinstance(value, datetime.datetime):
        return value + datetime.timedelta(seconds=sign * lag)
    if isinstance(value, datetime.date):
        return value + datetime.timedelta(days=sign * lag)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise IncrementalArgumentError(
                f"lag needs a numeric, date or ISO datetime cursor, got {value!r}. Hint: "
                "convert the cursor with add_map, or drop lag."
            ) from None
        is_date = len(value) <= 10
        shifted_dt = (
            parsed + datetime.timedelta(days=sign * lag)
            if is_date
            else parsed + datetime.timedelta(seconds=sign * lag)
        )
        return shifted_dt.date().isoformat() if is_date else shifted_dt.isoformat()
    raise IncrementalArgumentError(
        f"lag is not supported for cursor values of type {type(value).__name__}. Hint: use a "
        "numeric, date or datetime cursor, or drop lag."
    )
