"""The bad-input corpus of issue 14: awkward inputs and what dlt's documented behaviour says a
user must find in the table afterwards.

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
column or fails with an error naming table, column and value"), a case sets both ``rows`` (or
``check``) and ``error``; whichever happens is checked in full.

The harness is tests/test_bad_input_corpus.py.
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


def _types() -> list[Case]:
    return [
        Case(
            "int_then_str",
            rows({"id": 1, "v": 10}, {"id": 2, "v": "x"}),
            tables={"t": [{"id": 1, "v": 10}, {"id": 2, "v__v_text": "x"}]},
            targets=("local", "s3"),
            fast=True,
        ),
        Case(
            "str_then_int",
            rows({"id": 1, "v": "x"}, {"id": 2, "v": 10}),
            tables={"t": [{"id": 1, "v": "x"}, {"id": 2, "v": "10"}]},
        ),
        Case(
            # quiver's documented decision (docs/decisions.md): int and float unify to double;
            # dlt would make a variant v__v_double. Either way no value changes.
            "int_then_float",
            rows({"id": 1, "v": 1}, {"id": 2, "v": 1.5}),
            tables={"t": [{"id": 1, "v": 1.0}, {"id": 2, "v": 1.5}]},
        ),
        Case(
            "float_then_int",
            rows({"id": 1, "v": 1.5}, {"id": 2, "v": 2}),
            tables={"t": [{"id": 1, "v": 1.5}, {"id": 2, "v": 2.0}]},
        ),
        Case(
            "int_then_bool",
            rows({"id": 1, "v": 5}, {"id": 2, "v": True}),
            tables={"t": [{"id": 1, "v": 5}, {"id": 2, "v__v_bool": True}]},
        ),
        Case(
            "int_then_dict",
            rows({"id": 1, "v": 1}, {"id": 2, "v": {"a": 1}}),
            tables={"t": [{"id": 1, "v": 1}, {"id": 2, "v__a": 1}]},
        ),
        Case(
            # Each row its own extract file, the files named so that a name order processes
            # the last one first: the first row extracted must still decide the type.
            "types_across_files",
            rows({"id": 1, "v": 10}, {"id": 2, "v": "x"}, {"id": 3, "v": "y"}),
            env={"DATA_WRITER__BUFFER_MAX_ITEMS": "1", "DATA_WRITER__FILE_MAX_ITEMS": "1"},
            force_reverse_file_order=True,
            tables={
                "t": [{"id": 1, "v": 10}, {"id": 2, "v__v_text": "x"}, {"id": 3, "v__v_text": "y"}]
            },
        ),
        Case(
            "arrow_int_then_str_tables",
            tables_of(
                arrow(id=pa.array([1]), v=pa.array([10], pa.int64())),
                arrow(id=pa.array([2]), v=pa.array(["x"])),
            ),
            force_reverse_file_order=True,
            tables={"t": [{"id": 1, "v": 10}, {"id": 2, "v__v_text": "x"}]},
        ),
        Case(
            "decimal_fine_scale",
            rows({"id": 1, "v": FINE_DECIMAL}),
            tables={"t": [{"id": 1, "v": FINE_DECIMAL}]},
            error=("t", "v", str(FINE_DECIMAL)),
            fast=True,
        ),
        Case(
            "decimal_plain",
            rows({"id": 1, "v": Decimal("123.45")}, {"id": 2, "v": Decimal("-0.5")}),
            tables={"t": [{"id": 1, "v": Decimal("123.45")}, {"id": 2, "v": Decimal("-0.5")}]},
            targets=("local", "sql"),
        ),
        Case(
            "decimal_nan",
            rows({"id": 1, "v": Decimal("1.5")}, {"id": 2, "v": Decimal("NaN")}),
            check=keeps(Decimal("NaN"), "NaN", float("nan")),
            error=("t", "v", "NaN"),
        ),
        Case(
            "decimal_infinity",
            rows({"id": 1, "v": Decimal("1.5")}, {"id": 2, "v": Decimal("Infinity")}),
            check=keeps(Decimal("Infinity"), "Infinity", float("inf")),
            error=("t", "v", "Infinity"),
        ),
        Case(
            "decimal_beyond_38_digits",
            rows({"id": 1, "v": Decimal("1E-50")}),
            check=keeps(Decimal("1E-50"), "1E-50"),
            error=("t", "v", "1E-50"),
        ),
        Case(
            "float_nan_inf",
            rows(
                {"id": 1, "v": float("nan")},
                {"id": 2, "v": float("inf")},
                {"id": 3, "v": float("-inf")},
                {"id": 4, "v": 1.5},
            ),
            tables={
                "t": [
                    {"id": 1, "v": float("nan")},
                    {"id": 2, "v": float("inf")},
                    {"id": 3, "v": float("-inf")},
                    {"id": 4, "v": 1.5},
                ]
            },
        ),
        Case(
            "int_above_int64",
            rows({"id": 1, "v": HUGE_INT}),
            check=keeps(HUGE_INT, Decimal(HUGE_INT), str(HUGE_INT)),
            error=("t", "v", str(HUGE_INT)),
        ),
        Case(
            "int64_bounds",
            rows({"id": 1, "v": 2**63 - 1}, {"id": 2, "v": -(2**63)}),
            tables={"t": [{"id": 1, "v": 2**63 - 1}, {"id": 2, "v": -(2**63)}]},
        ),
        Case(
            "bytes",
            rows({"id": 1, "v": b"\x00\xffabc"}),
            tables={"t": [{"id": 1, "v": b"\x00\xffabc"}]},
        ),
        Case(
            "bytes_then_text",
            rows({"id": 1, "v": b"ab"}, {"id": 2, "v": "not base64!"}),
            tables={"t": [{"id": 1, "v": b"ab"}, {"id": 2, "v__v_text": "not base64!"}]},
        ),
        Case(
            "date_and_time",
            rows({"id": 1, "d": dt.date(2024, 2, 29), "tm": dt.time(12, 30, 1, 5)}),
            tables={"t": [{"id": 1, "d": dt.date(2024, 2, 29), "tm": dt.time(12, 30, 1, 5)}]},
        ),
        Case(
            "naive_datetime",
            rows({"id": 1, "v": NAIVE}),
            tables={"t": [{"id": 1, "v": NAIVE_AS_UTC}]},
            fast=True,
        ),
        Case(
            "aware_datetime",
            rows({"id": 1, "v": AWARE}),
            tables={"t": [{"id": 1, "v": AWARE_AS_UTC}]},
        ),
        Case(
            "naive_then_aware",
            rows({"id": 1, "v": NAIVE}, {"id": 2, "v": AWARE}),
            tables={"t": [{"id": 1, "v": NAIVE_AS_UTC}, {"id": 2, "v": AWARE_AS_UTC}]},
        ),
        Case(
            "aware_then_naive",
            rows({"id": 1, "v": AWARE}, {"id": 2, "v": NAIVE}),
            tables={"t": [{"id": 1, "v": AWARE_AS_UTC}, {"id": 2, "v": NAIVE_AS_UTC}]},
        ),
        Case(
            "iso_string_is_timestamp",
            rows({"id": 1, "v": "2024-01-02T03:04:05Z"}),
            tables={"t": [{"id": 1, "v": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}]},
        ),
        Case(
            "iso_string_then_text",
            rows({"id": 1, "v": "2024-01-02T03:04:05Z"}, {"id": 2, "v": "hello"}),
            tables={
                "t": [
                    {"id": 1, "v": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)},
                    {"id": 2, "v__v_text": "hello"},
                ]
            },
        ),
        Case(
            "bool_then_int",
            rows({"id": 1, "v": True}, {"id": 2, "v": 5}),
            # dlt coerces a number to bool (non-zero is true)
            tables={"t": [{"id": 1, "v": True}, {"id": 2, "v": True}]},
        ),
        Case(
            "null_then_value",
            rows({"id": 1, "v": None}, {"id": 2, "v": "a"}),
            tables={"t": [{"id": 1}, {"id": 2, "v": "a"}]},
        ),
        Case(
            "only_nulls_column",
            rows({"id": 1, "v": None}),
            tables={"t": [{"id": 1}]},
        ),
    ]


def _strings() -> list[Case]:
    return [
        Case(
            "unicode_text",
            rows({"id": 1, "v": "żółć 🦆 中文 \u200f"}),
            tables={"t": [{"id": 1, "v": "żółć 🦆 中文 \u200f"}]},
            targets=("local", "s3"),
            fast=True,
        ),
        Case("empty_text", rows({"id": 1, "v": ""}), tables={"t": [{"id": 1, "v": ""}]}),
        Case("nul_text", rows({"id": 1, "v": "a\x00b"}), tables={"t": [{"id": 1, "v": "a\x00b"}]}),
        Case(
            "long_text", rows({"id": 1, "v": LONG_TEXT}), tables={"t": [{"id": 1, "v": LONG_TEXT}]}
        ),
        Case(
            "control_characters",
            rows({"id": 1, "v": 'a\n"b"\t\\c\r'}),
            tables={"t": [{"id": 1, "v": 'a\n"b"\t\\c\r'}]},
        ),
        Case(
            # Not encodable as UTF-8: no format can store it; the error must say where it is.
            "lone_surrogate",
            rows({"id": 1, "v": "a\ud800"}),
            error=("t", "v"),
            absent=("t",),
        ),
        Case(
            "arrow_large_string",
            arrow(id=pa.array([1, 2]), v=pa.array(["a", "ü"], pa.large_string())),
            tables={"t": [{"id": 1, "v": "a"}, {"id": 2, "v": "ü"}]},
        ),
    ]


def _names() -> list[Case]:
    return [
        Case(
            # dlt silently keeps one of the two values; the issue keeps refusing (item 5)
            "collision_within_item",
            rows({"id": 1, "Name": "a", "name": "b"}),
            error=("t", "name"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "collision_by_normalization",
            rows({"id": 1, "a.b": 1, "a_b": 2}),
            error=("t", "a_b"),
            absent=("t",),
        ),
        Case(
            "same_name_across_rows",
            rows({"id": 1, "Name": "a"}, {"id": 2, "name": "b"}),
            tables={"t": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]},
            targets=("local", "s3"),
        ),
        Case(
            "int_key",
            rows({"id": 1, 98765: "x"}),
            tables={"t": [{"id": 1, "_98765": "x"}]},
        ),
        Case("empty_key", rows({"id": 1, "": "x"}), tables={"t": [{"id": 1, "_empty": "x"}]}),
        Case(
            "dots_and_spaces",
            rows({"id": 1, "a.b": 1, "my col": 2}),
            tables={"t": [{"id": 1, "a_b": 1, "my_col": 2}]},
        ),
        Case(
            "unicode_keys",
            rows({"id": 1, "żółw": 1, "📆 Schedule": 2, "ÄÖÜ": 3}),
            tables={"t": [{"id": 1, "_w": 1, "_schedule": 2, "x": 3}]},
        ),
        Case(
            "camel_and_digits",
            rows({"id": 1, "HTTPRequest": 1, "1st": 2, "-1": 3}),
            tables={"t": [{"id": 1, "http_request": 1, "_1st": 2, "_1": 3}]},
        ),
        Case("long_name", rows({"id": 1, LONG_NAME: 1}), tables={"t": [{"id": 1, LONG_NAME: 1}]}),
        Case(
            "double_underscore_path",
            rows({"id": 1, "a__b": 1, "c": {"d": 2}}),
            tables={"t": [{"id": 1, "a__b": 1, "c__d": 2}]},
        ),
        Case(
            # dlt overwrites a user's _dlt_load_id with the package's load id (checked by the
            # harness: every _dlt_load_id read back is a load id); a user's _dlt_id is kept
            "user_dlt_load_id",
            rows({"id": 1, "_dlt_load_id": "mine"}),
            tables={"t": [{"id": 1}]},
        ),
        Case(
            "user_dlt_id",
            rows({"id": 1, "_dlt_id": "my-row-id"}),
            tables={"t": [{"id": 1}]},
            check=lambda tables: _row_ids_are(tables, {"my-row-id"}),
        ),
        Case(
            "arrow_colliding_columns",
            lambda: pa.table([pa.array([1]), pa.array([2])], names=["A", "a"]),
            error=("t", "a"),
            absent=("t",),
        ),
        Case(
            "arrow_odd_names",
            lambda: pa.table([pa.array([1]), pa.array([2])], names=["My Col", "x.y"]),
            tables={"t": [{"my_col": 1, "x_y": 2}]},
        ),
        Case(
            "odd_table_name",
            rows({"id": 1}),
            table="My Table!",
            tables={"my_tablex": [{"id": 1}]},
        ),
    ]


def _empty() -> list[Case]:
    return [
        Case("empty_list", lambda: [], tables={}, absent=("t",), fast=True),
        Case("none_item", lambda: [None], tables={}, absent=("t",)),
        Case("none_items", lambda: [None, None], tables={}, absent=("t",), fast=True),
        Case("empty_generator", yields(), tables={}, absent=("t",)),
        Case("empty_dict", rows({}), tables={"t": [{}]}),
        Case("empty_dict_and_row", rows({}, {"id": 1}), tables={"t": [{}, {"id": 1}]}),
        Case(
            # three rows and no column: nothing can be stored; say so (item 7)
            "zero_column_arrow",
            zero_column_table,
            tables={},
            absent=("t",),
            error=("t", "column"),
            warns=("t", "column"),
        ),
        Case(
            "empty_arrow_with_schema",
            arrow(id=pa.array([], pa.int64())),
            check=lambda tables: _no_rows(tables),
        ),
        Case(
            "empty_record_batch",
            lambda: pa.RecordBatch.from_pydict({"id": pa.array([], pa.int64())}),
            check=lambda tables: _no_rows(tables),
        ),
    ]


def _row_ids_are(tables: Tables, ids: set[str]) -> None:
    found = {row.get("_dlt_id") for row in tables.get("t", [])}
    assert found == ids, f"_dlt_id read back: {found}, given: {ids}"


def _no_rows(tables: Tables) -> None:
    assert not tables.get("t"), tables


def _nesting() -> list[Case]:
    deep_column = "__".join(["a"] * 40)
    return [
        Case(
            "deep_dict",
            lambda: [{"id": 1, **deep_dict(40)}],
            tables={"t": [{"id": 1, deep_column: 1}]},
        ),
        Case(
            "list_of_lists",
            rows({"id": 1, "v": [[1, 2], [3]]}),
            tables={
                "t": [{"id": 1}],
                "t__v": [{}, {}],
                "t__v__list": [{"value": 1}, {"value": 2}, {"value": 3}],
            },
            fast=True,
        ),
        Case(
            "three_level_lists",
            rows({"id": 1, "v": [[[1]]]}),
            tables={
                "t": [{"id": 1}],
                "t__v": [{}],
                "t__v__list": [{}],
                "t__v__list__list": [{"value": 1}],
            },
        ),
        Case("empty_list_value", rows({"id": 1, "v": []}), tables={"t": [{"id": 1}]}),
        Case("empty_dict_value", rows({"id": 1, "v": {}}), tables={"t": [{"id": 1}]}),
        Case(
            "list_scalars_and_dicts",
            rows({"id": 1, "v": [1, {"a": 2}]}),
            tables={"t": [{"id": 1}], "t__v": [{"value": 1}, {"a": 2}]},
        ),
        Case(
            "list_mixed_scalars",
            rows({"id": 1, "v": [1, "a"]}),
            tables={"t": [{"id": 1}], "t__v": [{"value": 1}, {"value__v_text": "a"}]},
        ),
        Case(
            "list_of_dicts",
            rows({"id": 1, "v": [{"a": 1}, {"a": 2, "b": "x"}]}),
            tables={"t": [{"id": 1}], "t__v": [{"a": 1}, {"a": 2, "b": "x"}]},
        ),
        Case(
            "tuple_value",
            rows({"id": 1, "v": (1, 2)}),
            tables={"t": [{"id": 1}], "t__v": [{"value": 1}, {"value": 2}]},
        ),
        Case(
            # a yielded tuple is one row holding a list (dlt), not two items
            "yielded_tuple",
            yields((1, 2)),
            tables={"t": [{}], "t__value": [{"value": 1}, {"value": 2}]},
        ),
        Case(
            "arrow_struct_with_nulls",
            arrow(
                id=pa.array([1, 2, 3]),
                v=pa.array(
                    [{"a": 1, "b": None}, None, {"a": None, "b": "x"}],
                    pa.struct([("a", pa.int64()), ("b", pa.string())]),
                ),
            ),
            tables={
                "t": [
                    {"id": 1, "v": {"a": 1, "b": None}},
                    {"id": 2, "v": None},
                    {"id": 3, "v": {"a": None, "b": "x"}},
                ]
            },
        ),
        Case(
            "arrow_list_column",
            arrow(id=pa.array([1, 2, 3]), v=pa.array([[1, 2], [], None], pa.list_(pa.int64()))),
            tables={"t": [{"id": 1, "v": [1, 2]}, {"id": 2, "v": []}, {"id": 3, "v": None}]},
        ),
    ]


def _arrow_types() -> list[Case]:
    return [
        Case(
            "arrow_duration",
            arrow(id=pa.array([1]), v=pa.array([dt.timedelta(seconds=90)], pa.duration("us"))),
            check=keeps(dt.timedelta(seconds=90), 90_000_000),
            error=("t", "v", "duration"),
            fast=True,
        ),
        Case(
            "arrow_union",
            lambda: pa.table(
                {
                    "id": pa.array([1, 2]),
                    "v": pa.UnionArray.from_sparse(
                        pa.array([0, 1], pa.int8()),
                        [pa.array([1, 2], pa.int64()), pa.array(["a", "b"])],
                    ),
                }
            ),
            error=("t", "v", "sparse_union"),
            absent=("t",),
        ),
        Case(
            "arrow_decimal256_fits",
            arrow(id=pa.array([1]), v=pa.array([Decimal("12345.67")], pa.decimal256(20, 2))),
            tables={"t": [{"id": 1, "v": Decimal("12345.67")}]},
        ),
        Case(
            "arrow_decimal256_wide",
            arrow(
                id=pa.array([1]),
                v=pa.array(
                    [Decimal("1234567890123456789012345678901234567890.5")], pa.decimal256(50, 1)
                ),
            ),
            check=keeps(Decimal("1234567890123456789012345678901234567890.5")),
            error=("t", "v", "decimal256"),
        ),
        Case(
            "arrow_dictionary",
            arrow(id=pa.array([1, 2, 3]), v=pa.array(["a", "b", "a"]).dictionary_encode()),
            tables={"t": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "a"}]},
        ),
        Case(
            "arrow_fixed_size_list",
            arrow(id=pa.array([1]), v=pa.array([[1, 2]], pa.list_(pa.int64(), 2))),
            tables={"t": [{"id": 1, "v": [1, 2]}]},
        ),
        Case(
            "arrow_map",
            arrow(id=pa.array([1]), v=pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))),
            tables={"t": [{"id": 1, "v": [("k", 1)]}]},
        ),
        Case(
            "arrow_null_type",
            arrow(id=pa.array([1, 2]), v=pa.nulls(2)),
            tables={"t": [{"id": 1}, {"id": 2}]},
        ),
        Case(
            "arrow_uint64_above_int64",
            arrow(id=pa.array([1]), v=pa.array([ABOVE_INT64], pa.uint64())),
            check=keeps(ABOVE_INT64, Decimal(ABOVE_INT64)),
            error=("t", "v", str(ABOVE_INT64)),
        ),
        Case(
            "arrow_uint64_in_range",
            arrow(id=pa.array([1]), v=pa.array([7], pa.uint64())),
            tables={"t": [{"id": 1, "v": 7}]},
        ),
        Case(
            "arrow_float16",
            arrow(id=pa.array([1]), v=pa.array([1.5], pa.float16())),
            check=keeps(1.5),
            error=("t", "v", "float16"),
        ),
        Case(
            "arrow_timestamp_ns_whole_us",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_123_456_000], pa.timestamp("ns", tz="UTC")),
            ),
            tables={"t": [{"id": 1, "v": dt.datetime(2023, 11, 14, 22, 13, 20, 123456, UTC)}]},
        ),
        Case(
            # a nanosecond cannot be stored in a microsecond column: keep it or say so
            "arrow_timestamp_ns_fraction",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="UTC")),
            ),
            check=keeps(1_700_000_000_123_456_789),
            error=("t", "v", "nanosecond"),
        ),
        Case(
            "arrow_timestamp_new_york",
            arrow(
                id=pa.array([1]),
                v=pa.array([1_700_000_000_000_000], pa.timestamp("us", tz="America/New_York")),
            ),
            tables={"t": [{"id": 1, "v": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)}]},
        ),
        Case(
            # dlt keeps it naive (timezone: false); read as UTC is the same instant
            "arrow_naive_timestamp",
            arrow(id=pa.array([1]), v=pa.array([NAIVE], pa.timestamp("us"))),
            check=keeps(NAIVE, NAIVE_AS_UTC),
        ),
        Case(
            "arrow_date64_time32",
            arrow(
                id=pa.array([1]),
                d=pa.array([dt.date(2024, 2, 29)], pa.date64()),
                tm=pa.array([dt.time(1, 2, 3)], pa.time32("s")),
            ),
            tables={"t": [{"id": 1, "d": dt.date(2024, 2, 29), "tm": dt.time(1, 2, 3)}]},
        ),
        Case(
            "arrow_large_binary",
            arrow(id=pa.array([1]), v=pa.array([b"\x00\x01"], pa.large_binary())),
            tables={"t": [{"id": 1, "v": b"\x00\x01"}]},
        ),
        Case(
            "arrow_small_ints",
            arrow(
                id=pa.array([1]),
                a=pa.array([-128], pa.int8()),
                b=pa.array([32767], pa.int16()),
            ),
            tables={"t": [{"id": 1, "a": -128, "b": 32767}]},
        ),
        Case(
            "arrow_small_unsigned_ints",
            arrow(
                id=pa.array([1, 2]),
                a=pa.array([255, 0], pa.uint8()),
                b=pa.array([65535, 1], pa.uint16()),
                c=pa.array([4294967295, 2], pa.uint32()),
            ),
            tables={
                "t": [
                    {"id": 1, "a": 255, "b": 65535, "c": 4294967295},
                    {"id": 2, "a": 0, "b": 1, "c": 2},
                ]
            },
        ),
        Case(
            "arrow_bool_nulls",
            arrow(id=pa.array([1, 2, 3]), v=pa.array([True, None, False])),
            tables={"t": [{"id": 1, "v": True}, {"id": 2}, {"id": 3, "v": False}]},
        ),
        Case(
            "arrow_record_batch",
            lambda: pa.RecordBatch.from_pydict({"id": [1, 2], "v": ["a", None]}),
            tables={"t": [{"id": 1, "v": "a"}, {"id": 2}]},
            targets=("local", "sql"),
        ),
    ]


def _hints() -> list[Case]:
    return [
        Case(
            "unknown_data_type",
            rows({"id": 1, "v": 1}),
            hints={"columns": {"v": {"data_type": "integr"}}},
            error=("t", "v", "integr"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "bad_write_disposition",
            rows({"id": 1}),
            hints={"write_disposition": "appendd"},
            error=("appendd",),
            absent=("t",),
        ),
        Case(
            "bad_merge_strategy",
            rows({"id": 1}),
            hints={
                "write_disposition": {"disposition": "merge", "strategy": "upsertt"},
                "primary_key": "id",
            },
            error=("upsertt",),
            absent=("t",),
        ),
        Case(
            "primary_key_missing_column",
            rows({"id": 1, "v": "a"}),
            hints={"write_disposition": "merge", "primary_key": "nope"},
            error=("t", "nope"),
            absent=("t",),
        ),
        Case(
            "not_nullable_with_null",
            rows({"id": 1, "v": "a"}, {"id": 2, "v": None}),
            hints={"columns": {"v": {"data_type": "text", "nullable": False}}},
            error=("t", "v", "None"),
            absent=("t",),
            targets=("local", "sql"),
        ),
        Case(
            "decimal_hint_scale_too_small",
            rows({"id": 1, "v": Decimal("1.234")}),
            hints={"columns": {"v": {"data_type": "decimal", "precision": 5, "scale": 2}}},
            check=keeps(Decimal("1.234"), "1.234"),
            error=("t", "v", "1.234"),
        ),
        Case(
            "decimal_hint_fits",
            rows({"id": 1, "v": Decimal("123.45")}),
            hints={"columns": {"v": {"data_type": "decimal", "precision": 5, "scale": 2}}},
            tables={"t": [{"id": 1, "v": Decimal("123.45")}]},
        ),
        Case(
            "bigint_hint_with_text",
            rows({"id": 1, "v": "12"}),
            hints={"columns": {"v": {"data_type": "bigint"}}},
            tables={"t": [{"id": 1, "v": 12}]},
        ),
        Case(
            "text_hint_with_ints",
            rows({"id": 1, "v": 1}, {"id": 2, "v": "x"}),
            hints={"columns": {"v": {"data_type": "text"}}},
            tables={"t": [{"id": 1, "v": "1"}, {"id": 2, "v": "x"}]},
        ),
        Case(
            "int16_hint_overflow",
            rows({"id": 1, "v": 40000}),
            hints={"columns": {"v": {"data_type": "bigint", "precision": 16}}},
            check=keeps(40000),
            error=("t", "v", "40000"),
        ),
        Case(
            "timezone_false_hint",
            rows({"id": 1, "v": AWARE}),
            hints={"columns": {"v": {"data_type": "timestamp", "timezone": False}}},
            tables={"t": [{"id": 1, "v": AWARE_AS_UTC.replace(tzinfo=None)}]},
        ),
        Case(
            "hinted_column_without_data",
            rows({"id": 1}),
            hints={"columns": {"w": {"data_type": "text"}}},
            tables={"t": [{"id": 1, "w": None}]},
        ),
        Case(
            "primary_key_on_append",
            rows({"id": 1, "v": "a"}),
            hints={"primary_key": "id"},
            tables={"t": [{"id": 1, "v": "a"}]},
        ),
    ]


def _merge() -> list[Case]:
    merge = {"write_disposition": "merge", "primary_key": "id"}
    return [
        Case(
            "merge_null_key",
            rows({"id": 1, "v": "a"}, {"id": None, "v": "b"}),
            hints=merge,
            error=("t", "id", "null"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "merge_compound_key_null",
            rows({"a": 1, "b": 1, "v": "x"}, {"a": 1, "b": None, "v": "y"}),
            hints={"write_disposition": "merge", "primary_key": ("a", "b")},
            error=("t", "b", "null"),
            absent=("t",),
        ),
        Case(
            "merge_duplicate_keys_in_load",
            rows({"id": 1, "v": "a"}, {"id": 1, "v": "b"}),
            hints=merge,
            check=one_row_per_key({"a", "b"}),
            targets=("local", "sql"),
        ),
        Case(
            "merge_updates",
            rows({"id": 1, "v": "z"}),
            hints=merge,
            prepare=((rows({"id": 1, "v": "a"}, {"id": 2, "v": "b"}), merge),),
            tables={"t": [{"id": 1, "v": "z"}, {"id": 2, "v": "b"}]},
        ),
        Case(
            "replace",
            rows({"id": 1, "v": "a"}),
            hints={"write_disposition": "replace"},
            prepare=((rows({"id": 9, "v": "old"}), {}),),
            tables={"t": [{"id": 1, "v": "a"}]},
        ),
    ]


def _incremental() -> list[Case]:
    return [
        Case(
            "cursor_null",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": None}]),
            error=("t", "ts", "None"),
            absent=("t",),
            fast=True,
        ),
        Case(
            "cursor_missing",
            incremental_resource(lambda: [{"id": 1}]),
            error=("t", "ts"),
            absent=("t",),
        ),
        Case(
            "cursor_mixed_types",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": "2"}]),
            error=("t", "ts", "'2'"),
            absent=("t",),
        ),
        Case(
            "cursor_null_included",
            incremental_resource(
                lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": None}],
                on_cursor_value_missing="include",
            ),
            tables={"t": [{"id": 1, "ts": 1}, {"id": 2}]},
            # the rerun filters ts=1 (seen) and includes the null row again
            rerun={"t": [{"id": 1, "ts": 1}, {"id": 2}, {"id": 2}]},
        ),
        Case(
            "cursor_rerun_deduplicates",
            incremental_resource(lambda: [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]),
            tables={"t": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]},
            rerun={"t": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}]},
        ),
        Case(
            "arrow_cursor_null",
            incremental_resource(
                lambda: pa.table({"id": [1, 2], "ts": pa.array([1, None], pa.int64())})
            ),
            error=("t", "ts"),
            absent=("t",),
        ),
    ]


def _locations() -> list[Case]:
    return [
        Case(
            "dataset_name_with_spaces",
            rows({"id": 1}),
            dataset="My Dataset",
            read_dataset="my_dataset",
            tables={"t": [{"id": 1}]},
        ),
        Case(
            # dlt normalizes it to `_x`, inside the bucket; refusing it clearly is fine too.
            # The harness checks that nothing was written outside the bucket.
            "dataset_name_escapes",
            rows({"id": 1}),
            dataset="../../x",
            read_dataset="_x",
            tables={"t": [{"id": 1}]},
            error=("../../x",),
            targets=("escape",),
        ),
        Case(
            "missing_bucket",
            rows({"id": 1}),
            error=("no-such-bucket",),
            targets=("missing_bucket",),
        ),
        Case(
            "unreachable_endpoint",
            rows({"id": 1}),
            error=("127.0.0.1:9",),
            targets=("unreachable",),
        ),
        Case(
            "bucket_is_a_file",
            rows({"id": 1}),
            error=("not_a_folder",),
            targets=("file_bucket",),
        ),
        Case(
            # s3://KEY:SECRET@bucket: loads (moto takes any key) or fails clearly; either way
            # the harness finds the secret in no error, warning, output or working-folder file
            "secret_in_bucket_url",
            rows({"id": 1}),
            tables={"t": [{"id": 1}]},
            error=("hint",),
            targets=("secret_url",),
        ),
        Case(
            # the lake on a 2 MB tmpfs; 3 MB of incompressible text cannot fit
            "disk_full",
            lambda: [{"id": i, "v": _noise(i)} for i in range(3)],
            error=("space",),
            targets=("disk_full",),
        ),
    ]


def _noise(seed: int) -> str:
    import random

    return random.Random(seed).randbytes(500_000).hex()  # 1 MB that does not compress


CASES: list[Case] = [
    *_types(),
    *_strings(),
    *_names(),
    *_empty(),
    *_nesting(),
    *_arrow_types(),
    *_hints(),
    *_merge(),
    *_incremental(),
    *_locations(),
]
