# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""dlt's documented behaviour that issue 13 found missing, one test per documented example.

Each test cites the dlt documentation page it is written from (``docs/website/docs/...`` in
dlt-hub/dlt); where quiver deliberately differs, the test says so and ``docs/decisions.md``
lists the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, Union

import pytest

import quiver
import quiver as dlt
from tests.readers import Lake

TABLE_FORMATS = ["delta", "iceberg"]


@pytest.fixture(params=TABLE_FORMATS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Delta and Iceberg on local disk (the S3 matrix runs in test_conformance)."""
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


# ------------------------------------------------------------------------------ incremental
# general-usage/incremental/cursor.md, sql_database's ``sql_table(incremental=...)`` signature


@pytest.mark.parametrize(
    "annotation",
    [
        Optional[dlt.sources.incremental[Any]],  # noqa: UP045 - the shape of dlt's sql_table
        Union[dlt.sources.incremental[Any], None],  # noqa: UP007
        Annotated[Optional[dlt.sources.incremental[Any]], "doc"],  # noqa: UP045
        dlt.sources.incremental[Any] | None,
    ],
    ids=["Optional", "Union", "Annotated", "pipe"],
)
def test_incremental_passed_to_an_optional_parameter_is_bound(
    lake: Lake, pipelines_dir: str, annotation: Any
) -> None:
    """sql_database/advanced.md "split loading": ``sql_table(incremental=incremental("id",
    row_order="asc", range_start="open"))`` run with ``add_limit(2)`` ``while not
    pipeline.run(...).is_empty`` loads the table in chunks and then stops."""
    rows = [{"id": i} for i in range(10)]

    def chat_message(chunk_size: int = 3, incremental=None):  # type: ignore[no-untyped-def]
        start = incremental.start_value if incremental is not None else None
        selected = [r for r in rows if start is None or r["id"] > start]
        for i in range(0, len(selected), chunk_size):
            yield selected[i : i + chunk_size]

    chat_message.__annotations__["incremental"] = annotation
    sql_table = dlt.resource(chat_message)
    incremental_table = sql_table(
        incremental=dlt.sources.incremental("id", row_order="asc", range_start="open")
    )
    pipeline = lake.pipeline(pipelines_dir, "split_loading")
    runs = 0
    while not pipeline.run(incremental_table.add_limit(2)).is_empty:
        runs += 1
        assert runs <= 2, "the loop must end once everything is loaded"
    assert runs == 2  # 6 rows, then 4
    assert [r["id"] for r in lake.rows("ds", "chat_message", "id")] == list(range(10))
    state = pipeline.state["sources"][pipeline.default_schema_name]["resources"]
    assert state["chat_message"]["incremental"]["id"]["last_value"] == 9


def _paging_resource(pages_fetched: list[int], **incremental_args: Any) -> Any:
    @dlt.resource(primary_key="id")
    def tickets(
        updated_at=dlt.sources.incremental("updated_at", **incremental_args),
    ):  # type: ignore[no-untyped-def]
        for page in range(5):
            pages_fetched.append(page)
            yield [{"id": page * 10 + i, "updated_at": page * 10 + i} for i in range(10)]
            # cursor.md: "Stop loading when we reach the end value"
            if updated_at.end_out_of_range:
                return

    return tickets


def test_generator_that_stops_out_of_range_fetches_one_page(pipelines_dir: str) -> None:
    """cursor.md: end_out_of_range "is set when the resource yields an element with a ...
    cursor value" past the end value; the example returns right after the first such page."""
    fetched: list[int] = []
    tickets = _paging_resource(fetched, initial_value=0, end_value=5)
    pipeline = dlt.pipeline("paging", pipelines_dir=pipelines_dir)
    info = pipeline.extract(tickets())
    assert fetched == [0]
    assert info.row_counts["tickets"] == 5


def test_last_value_is_current_after_every_page_and_every_row(pipelines_dir: str) -> None:
    """cursor.md: last_value is "a 'real-time' updated_at value updated with each yielded item
    or page. Before the first yield, it equals start_value"."""
    seen: dict[str, list[Any]] = {"pages": [], "rows": []}

    @dlt.resource
    def pages(updated=dlt.sources.incremental("updated", initial_value=0)):  # type: ignore[no-untyped-def]
        seen["pages"].append(updated.last_value)
        for page in range(3):
            yield [{"updated": page * 10 + i} for i in range(10)]
            seen["pages"].append(updated.last_value)

    @dlt.resource
    def rows(updated=dlt.sources.incremental("updated", initial_value=0)):  # type: ignore[no-untyped-def]
        for i in range(1, 4):
            yield {"updated": i}
            seen["rows"].append(updated.last_value)

    pipeline = dlt.pipeline("realtime", pipelines_dir=pipelines_dir)
    pipeline.extract([pages(), rows()])
    assert seen == {"pages": [0, 9, 19, 29], "rows": [1, 2, 3]}


def test_start_out_of_range_stops_a_descending_generator(pipelines_dir: str) -> None:
    """getting-started snippets: ``if created_at.start_out_of_range: break`` on pages ordered
    newest first."""
    fetched: list[int] = []

    @dlt.resource(primary_key="id")
    def events(created=dlt.sources.incremental("created", initial_value=35)):  # type: ignore[no-untyped-def]
        for page in range(10):
            fetched.append(page)
            yield [
                {"id": 100 - (page * 10 + i), "created": 100 - (page * 10 + i)} for i in range(10)
            ]
            if created.start_out_of_range:
                break

    pipeline = dlt.pipeline("descending", pipelines_dir=pipelines_dir)
    info = pipeline.extract(events())
    assert fetched == [0, 1, 2, 3, 4, 5, 6]  # the page holding 40..31 is the first out of range
    assert info.row_counts["events"] == 66  # 100 down to 35


def test_cursor_path_dollar_is_the_whole_item(pipelines_dir: str) -> None:
    """cursor.md: ``dlt.sources.incremental("$", last_value_func=by_event_type)`` where the
    function receives ``(item,)`` or ``(item, last_value)``."""

    def by_event_type(event: tuple[Any, ...]) -> dict[str, str]:
        if len(event) == 1:
            (item,) = event
            last_value: dict[str, str] = {}
        else:
            item, last = event
            last_value = dict(last or {})
        kind = item["type"]
        last_value[kind] = max(item["created_at"], last_value.get(kind, "1970-01-01T00:00:00Z"))
        return last_value

    @dlt.resource(primary_key="id", table_name=lambda i: i["type"])
    def get_events(last_created_at=dlt.sources.incremental("$", last_value_func=by_event_type)):  # type: ignore[no-untyped-def]
        yield [
            {"id": 1, "type": "push", "created_at": "2024-01-01T00:00:00Z"},
            {"id": 2, "type": "watch", "created_at": "2024-01-03T00:00:00Z"},
            {"id": 3, "type": "push", "created_at": "2024-01-02T00:00:00Z"},
        ]

    pipeline = dlt.pipeline("dollar", pipelines_dir=pipelines_dir)
    info = pipeline.extract(get_events())
    assert info.row_counts == {"push": 2, "watch": 1}
    state = pipeline.state["sources"][pipeline.default_schema_name]["resources"]["get_events"]
    assert state["incremental"]["$"]["last_value"] == {
        "push": "2024-01-02T00:00:00Z",
        "watch": "2024-01-03T00:00:00Z",
    }


def test_dlt_exception_names_catch_cursor_errors(pipelines_dir: str) -> None:
    """cursor.md: a missing cursor field raises; dlt's classes are IncrementalCursorPathMissing
    and (for a value that does not compare) IncrementalCursorInvalidCoercion."""
    from quiver.extract.exceptions import (  # dlt: dlt.extract.incremental.exceptions
        IncrementalCursorInvalidCoercion,
        IncrementalCursorPathMissing,
    )

    @dlt.resource
    def some_data_without_cursor_path(updated_at=dlt.sources.incremental("updated_at")):  # type: ignore[no-untyped-def]
        yield [
            {"id": 1, "created_at": 1, "updated_at": 1},
            {"id": 2, "created_at": 2},  # cursor field is missing
        ]

    with pytest.raises(IncrementalCursorPathMissing):
        list(some_data_without_cursor_path())
    pipeline = dlt.pipeline("cursor_errors", pipelines_dir=pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.extract(some_data_without_cursor_path())
    assert isinstance(failed.value.__cause__, IncrementalCursorPathMissing)

    @dlt.resource
    def text_cursor(updated_at=dlt.sources.incremental("updated_at", initial_value=10)):  # type: ignore[no-untyped-def]
        yield [{"id": 1, "updated_at": "not a number"}]

    with pytest.raises(IncrementalCursorInvalidCoercion):
        list(text_cursor())


def test_incremental_from_config(
    lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cursor.md "Reading incremental loading parameters from configuration": ``[sources.id_after]
    cursor_path = "idAfter", initial_value = 10`` and ``id_after: incremental = config.value``."""
    monkeypatch.setenv("SOURCES__ID_AFTER__CURSOR_PATH", "idAfter")
    monkeypatch.setenv("SOURCES__ID_AFTER__INITIAL_VALUE", "10")

    @dlt.resource(table_name="incremental_records")
    def generate_incremental_records(id_after: dlt.sources.incremental = dlt.config.value):  # type: ignore[type-arg,assignment]
        for i in range(150):
            yield {"id": i, "idAfter": i, "name": "name-" + str(i)}

    pipeline = lake.pipeline(pipelines_dir, "pipeline_with_incremental")
    pipeline.run(generate_incremental_records)
    assert len(lake.rows("ds", "incremental_records", "id")) == 140
    state = pipeline.state["sources"][pipeline.default_schema_name]["resources"]
    cursor = state["generate_incremental_records"]["incremental"]["idAfter"]
    assert cursor["last_value"] == 149 and cursor["initial_value"] == 10


def test_incremental_config_under_the_resource_section(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The most specific key wins: ``sources.<section>.<resource>.<arg>.<field>``."""
    monkeypatch.setenv("SOURCES__ID_AFTER__CURSOR_PATH", "other")
    monkeypatch.setenv("SOURCES__MY_SECTION__RECORDS__ID_AFTER__CURSOR_PATH", "idAfter")
    monkeypatch.setenv("SOURCES__MY_SECTION__RECORDS__ID_AFTER__INITIAL_VALUE", "3")

    @dlt.resource(section="my_section")
    def records(id_after=dlt.sources.incremental("ignored")):  # type: ignore[no-untyped-def]
        yield [{"idAfter": i} for i in range(5)]

    assert [r["idAfter"] for r in records()] == [3, 4]


# ------------------------------------------------------------------ resources and sources
# general-usage/resource.md, general-usage/source.md


def test_two_instances_of_one_resource_load_into_its_table(lake: Lake, pipelines_dir: str) -> None:
    """dlt groups resources passed to run() so that same-named instances all load."""

    @dlt.resource
    def gen(n: int):  # type: ignore[no-untyped-def]
        yield from ({"i": i} for i in range(n))

    pipeline = lake.pipeline(pipelines_dir, "instances")
    pipeline.run([gen(10), gen(20)])
    assert len(lake.rows("ds", "gen", "i")) == 30


def test_resources_added_to_a_source(pipelines_dir: str) -> None:
    """source.md: ``source.resources.add(...)`` and ``source.<name> = source.<a> | transformer``."""

    @dlt.source
    def numbers_source():  # type: ignore[no-untyped-def]
        return dlt.resource([{"n": 1}, {"n": 2}], name="numbers")

    @dlt.transformer
    def doubled(item):  # type: ignore[no-untyped-def]
        yield {"n2": item["n"] * 2}

    source = numbers_source()
    source.resources.add(dlt.resource([{"x": 1}], name="extra"))
    source.doubled = source.numbers | doubled
    assert set(source.resources) == {"numbers", "extra", "doubled"}
    pipeline = dlt.pipeline("added", pipelines_dir=pipelines_dir)
    info = pipeline.extract(source)
    assert info.row_counts == {"numbers": 2, "extra": 1, "doubled": 2}


def test_calling_a_bound_resource_is_a_type_error() -> None:
    """dlt raises TypeError when a resource bound to arguments is called again."""

    @dlt.resource
    def gen(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    bound = gen(3).add_map(lambda x: x * 10)
    with pytest.raises(TypeError):
        bound(4)
    assert list(bound) == [0, 10, 20]  # the map is still there


def _table_schema(pipeline: Any, table: str) -> dict[str, Any]:
    return pipeline.default_schema.tables[table]


def test_primary_key_on_the_resource_replaces_column_flags(pipelines_dir: str) -> None:
    """resource.md: primary_key/merge_key are compound hints: given on the resource (or in
    apply_hints) they replace the key, ``""`` removes it."""

    @dlt.resource(
        columns={"a": {"primary_key": True}, "b": {"primary_key": True}},
        primary_key="c",
    )
    def items():  # type: ignore[no-untyped-def]
        yield {"a": 1, "b": 2, "c": 3, "d": 4}

    pipeline = dlt.pipeline("compound", pipelines_dir=pipelines_dir)
    pipeline.extract(items())
    columns = _table_schema(pipeline, "items")["columns"]
    assert [n for n, c in columns.items() if c.get("primary_key")] == ["c"]

    replaced = items().apply_hints(primary_key=["a", "d"], merge_key="b")
    pipeline.extract(replaced)
    columns = _table_schema(pipeline, "items")["columns"]
    assert sorted(n for n, c in columns.items() if c.get("primary_key")) == ["a", "d"]
    assert [n for n, c in columns.items() if c.get("merge_key")] == ["b"]

    pipeline.extract(items().apply_hints(primary_key="", merge_key="d"))
    columns = _table_schema(pipeline, "items")["columns"]
    assert [n for n, c in columns.items() if c.get("primary_key")] == []
    assert [n for n, c in columns.items() if c.get("merge_key")] == ["d"]


# ------------------------------------------------------------------ iceberg table properties
# dlt-ecosystem/destinations/iceberg.md "Table properties" / "Per-table properties with
# iceberg_adapter": properties are applied when the table is first created and are not updated
# on subsequent loads; keys and values must be strings (ValueError otherwise).


def _iceberg_properties(lake: Lake, table: str) -> dict[str, str]:
    from pyiceberg.table import StaticTable

    metadata = lake.newest_iceberg_metadata("ds", table)
    return dict(StaticTable.from_metadata(metadata).metadata.properties)


@pytest.mark.parametrize("disposition", ["append", "replace", "merge"])
def test_iceberg_adapter_table_properties_are_set_on_the_new_table(
    tmp_path: Path, pipelines_dir: str, disposition: str
) -> None:
    from quiver.destinations.adapters import iceberg_adapter, iceberg_partition

    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")

    @dlt.resource(table_format="iceberg", write_disposition=disposition, primary_key="id")
    def my_data(value: str = "a"):  # type: ignore[no-untyped-def]
        yield [{"id": 1, "value": value, "created_at": "2024-03-01T00:00:00Z"}]

    properties = {"write.format.default": "parquet", "write.target-file-size-bytes": "536870912"}
    data = iceberg_adapter(
        my_data(),
        partition=[iceberg_partition.month("created_at")],
        table_properties=properties,
    )
    pipeline = lake.pipeline(pipelines_dir, f"iceberg_props_{disposition}")
    pipeline.run(data)
    stored = _iceberg_properties(lake, "my_data")
    assert {k: stored[k] for k in properties} == properties
    assert lake.rows("ds", "my_data", "id")[0]["value"] == "a"

    # "not updated on subsequent loads": new properties on an existing table are not applied
    later = iceberg_adapter(my_data("b"), table_properties={"write.format.default": "orc"})
    pipeline.run(later)
    assert _iceberg_properties(lake, "my_data")["write.format.default"] == "parquet"


def test_iceberg_adapter_table_properties_must_be_strings() -> None:
    from quiver.destinations.adapters import iceberg_adapter

    with pytest.raises(ValueError, match=r"write\.target-file-size-bytes"):
        iceberg_adapter(
            dlt.resource([{"id": 1}], name="r"),
            table_properties={"write.target-file-size-bytes": 536870912},  # type: ignore[dict-item]
        )
    partitioned = iceberg_adapter(dlt.resource([{"id": 1}], name="r"), partition="id")
    iceberg_adapter(partitioned, table_properties={"k": "v"})  # adds, keeps the partition
    assert partitioned.hints["x-iceberg-partition"][0]["column"] == "id"
    assert partitioned.hints["x-iceberg-table-properties"] == {"k": "v"}


# ------------------------------------------------------------------ compute_table_schema
# general-usage/resource.md "Define schema": ``get_users().compute_table_schema()`` "gets the
# table schema generated by a resource"; "Dispatch data to many tables": with a table name
# function it "takes an optional data item to evaluate dynamic hints".


def test_compute_table_schema_returns_the_resource_table_schema() -> None:
    @dlt.resource(
        name="user",
        columns={"tags": {"data_type": "json"}},
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
    )
    def get_users():  # type: ignore[no-untyped-def]
        yield {"id": 1, "tags": ["a"]}

    schema = get_users().compute_table_schema()
    assert schema["name"] == "user"
    assert schema["resource"] == "user"
    assert schema["write_disposition"] == "merge"
    assert schema["x-merge-strategy"] == "upsert"
    assert schema["columns"]["tags"]["data_type"] == "json"
    assert schema["columns"]["id"]["primary_key"] is True
    assert schema["columns"]["id"]["nullable"] is False  # dlt: key columns are not nullable

    plain = dlt.resource([{"a": 1}], name="plain").compute_table_schema()
    assert (plain["name"], plain["write_disposition"], plain["columns"]) == ("plain", "append", {})


def test_compute_table_schema_evaluates_dynamic_hints_on_an_item() -> None:
    @dlt.resource(table_name=lambda event: event["type"], incremental=dlt.sources.incremental("id"))
    def repo_events():  # type: ignore[no-untyped-def]
        yield {"type": "WatchEvent", "id": 1}

    schema = repo_events().compute_table_schema({"type": "WatchEvent", "id": 1})
    assert schema["name"] == "WatchEvent"  # names are normalized later, by the pipeline
    assert schema["columns"]["id"]["incremental"] is True
    with pytest.raises(ValueError, match="data item"):
        repo_events().compute_table_schema()


def test_compute_table_schema_of_a_table_variant() -> None:
    from quiver.extract.items import TableNameMeta

    items = dlt.resource([{"id": 1}], name="items", primary_key="id")
    items.apply_hints(table_name="archive", primary_key="key", create_table_variant=True)
    variant = items.compute_table_schema(meta=TableNameMeta("archive"))
    assert variant["name"] == "archive"
    assert variant["columns"]["key"]["primary_key"] is True
    assert items.compute_table_schema()["columns"]["id"]["primary_key"] is True
