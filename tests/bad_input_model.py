"""The bad-input corpus of issue 14, its model: a case is an awkward input and what dlt's
documented behaviour says a user must find in the table afterwards.

Every expectation is written by hand from dlt's rules (docs and source of dlt 1.26, and the runs
noted in /work/shared/DLT_BEHAVIOUR.md), never copied from quiver's output:

- a later value that cannot be coerced to the column's type goes to a variant column
  ``<column>__v_<type>``; one that can (anything to text, int to double, ...) is coerced;
- keys are normalized with snake_case (``"a.b"`` -> ``a_b``, ``98765`` -> ``_98765``,
  ``""`` -> ``_empty``); nested dicts flatten to ``parent__child``; lists become child tables
  ``<table>__<key>`` (scalars under ``value``, lists of lists under an intermediate ``list``);
- ``None`` values are dropped: a column is not created from nulls alone; ``None`` items are no
  rows; naive datetimes are UTC and stored tz-aware, aware ones are converted to UTC;
- Arrow tables keep their types (no child tables); a ``null``-typed column is dropped;
- merge with a primary key keeps one row per key; append adds the rows again on a rerun.

Where the issue allows two outcomes (a value that cannot be stored exactly "goes to a variant
column or fails with an error naming table, column and value"), a case sets both ``tables`` (or
``check``) and ``error``; whichever happens is checked in full. Where quiver documents a
deliberate difference (docs/decisions.md: int and float unify to double), the case follows it
and says so.

The cases are in tests/bad_input_values.py and tests/bad_input_types.py (collected in
tests/bad_input_cases.py); the harness is tests/test_bad_input_corpus.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]

#: The case's table: a name that cannot appear by chance in an error message. Cases write
#: ``t`` for it (and ``t__v`` for its child tables); the harness renames.
TABLE = "corpus_items"
UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


@dataclass(frozen=True)
class Case:
    """One awkward input and what must come of it.

    Attributes:
        id: Stable name (the pytest id, the key of ``KNOWN_GAPS``).
        data: Builds the input afresh for every run (generators and resources are consumed).
        hints: Keyword arguments of ``Pipeline.run`` besides ``table_name``.
        tables: Expected rows per table after the first run, without ``_dlt_*`` columns (a key
            missing from a row reads as null). ``None``: the input must fail.
        error: Words every error message must contain (table, column, value), besides "hint".
        check: Extra check of the tables read back (for cases with several acceptable forms).
        rerun: Expected tables after the rerun; by default the rows twice for append and once
            for merge/replace.
        absent: Tables that must not exist after the runs (``tables={}`` implies ``table``).
        prepare: ``(data, hints)`` runs into the same pipeline before the case.
        targets: Where it runs: ``local``, ``s3`` (moto on loopback), ``sql`` (Iceberg
            SqlCatalog; Delta runs locally), or a bad location the harness builds.
        env: Environment for the case (config values).
        fast: In the fast subset (not marked slow).
        warns: Words a warning must contain when the input loads (a form of "say so").
    """

    id: str
    data: Callable[[], Any]
    hints: dict[str, Any] = field(default_factory=dict)
    tables: Tables | None = None
    error: tuple[str, ...] = ()
    check: Callable[[Tables], None] | None = None
    rerun: Tables | None = None
    absent: tuple[str, ...] = ()
    prepare: tuple[tuple[Any, dict[str, Any]], ...] = ()
    targets: tuple[str, ...] = ("local",)
    env: dict[str, str] = field(default_factory=dict)
    table: str = "t"
    dataset: str = "ds"
    read_dataset: str = "ds"
    fast: bool = False
    warns: tuple[str, ...] = ()
    force_reverse_file_order: bool = False

    @property
    def may_fail(self) -> bool:
        return bool(self.error)

    @property
    def may_load(self) -> bool:
        return self.tables is not None or self.check is not None


def rows(*items: dict[str, Any]) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [dict(item) for item in items]


def arrow(**columns: pa.Array) -> Callable[[], pa.Table]:
    return lambda: pa.table(columns)


def tables_of(*arrow_tables: Callable[[], pa.Table]) -> Callable[[], Iterator[pa.Table]]:
    def produce() -> Iterator[pa.Table]:
        for make in arrow_tables:
            yield make()

    return lambda: produce()


def values_in(tables: Tables, table: str) -> list[Any]:
    return [value for row in tables.get(table, []) for value in row.values()]


def keeps(value: Any, *forms: Any) -> Callable[[Tables], None]:
    """A check: some column of table ``t`` holds ``value`` (or an exact equivalent form)."""

    def check(tables: Tables) -> None:
        found = values_in(tables, "t")
        wanted = (value, *forms)
        assert any(_same(v, w) for v in found for w in wanted), (
            f"{value!r} was changed: table t holds {found!r}"
        )

    return check


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(found, Decimal) and isinstance(wanted, Decimal):
        if found.is_nan() or wanted.is_nan():
            return found.is_nan() and wanted.is_nan()
        return found == wanted
    if isinstance(found, float) and isinstance(wanted, float) and found != found:
        return wanted != wanted
    return type(found) is type(wanted) and bool(found == wanted)


def one_row_per_key(values: set[Any]) -> Callable[[Tables], None]:
    def check(tables: Tables) -> None:
        found = tables.get("t", [])
        assert len(found) == 1, f"merge left {len(found)} rows for one key: {found}"
        assert found[0]["v"] in values, found

    return check


def incremental_resource(
    items: Callable[[], list[dict[str, Any]] | pa.Table], **incremental: Any
) -> Callable[[], Any]:
    def build() -> Any:
        import quiver

        def t(
            ts: Any = quiver.sources.incremental("ts", **incremental),  # noqa: B008
        ) -> Iterator[Any]:
            yield items()

        return quiver.resource(t, name=TABLE)()

    return build


def yields(*items: Any) -> Callable[[], Iterator[Any]]:
    def produce() -> Iterator[Any]:
        yield from items

    return lambda: produce()


def zero_column_table() -> pa.Table:
    return pa.table({"gone": [1, 2, 3]}).drop_columns(["gone"])


def deep_dict(depth: int) -> dict[str, Any]:
    item: dict[str, Any] = {"a": 1}
    for _ in range(depth - 1):
        item = {"a": item}
    return item


NAIVE = dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
NAIVE_AS_UTC = NAIVE.replace(tzinfo=UTC)
AWARE = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS_TWO)
AWARE_AS_UTC = dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
LONG_TEXT = "x" * 200_000
LONG_NAME = "n" * 300
FINE_DECIMAL = Decimal("0.12345678901234567890123")
HUGE_INT = 2**70
ABOVE_INT64 = 2**63 + 5
