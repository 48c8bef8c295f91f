# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""The rest of issue 13's dlt surface: materialize_table_schema, nested hints, defer,
add_metrics, a destination's naming_convention and scd2 column names under other conventions.

Each test cites the dlt documentation page (``docs/website/docs/...`` in dlt-hub/dlt) or the
dlt module it is written from; tables are read back with deltalake/polars or pyiceberg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import quiver as dlt
from tests.readers import Lake

TABLE_FORMATS = ["delta", "iceberg"]


@pytest.fixture(params=TABLE_FORMATS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Delta and Iceberg on local disk (the S3 matrix runs in test_conformance)."""
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


# ---------------------------------------------------------------- scd2 under other namings
# general-usage/merge-loading.md "scd2": ``validity_column_names=["from", "to"]`` names the
# validity columns; ``row_version_column_name`` names the column whose value identifies a
# version ("if the row hash does not change, the record is not updated"). The names are the
# user's raw names: they become columns through the active naming convention like any other
# column (naming-convention.md: ``SCHEMA__NAMING``).


@pytest.mark.parametrize("convention", ["direct", "duck_case"])
def test_scd2_column_names_follow_the_active_naming_convention(
    lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, convention: str
) -> None:
    monkeypatch.setenv("SCHEMA__NAMING", convention)

    @dlt.resource(
        primary_key="Id",
        write_disposition={
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": ["Valid From", "ValidTo"],
            "row_version_column_name": "RowHash",
        },
    )
    def customers(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline = lake.pipeline(pipelines_dir, "scd2_naming")
    pipeline.run(
        customers(
            [{"Id": 1, "Name": "a", "RowHash": "h1"}, {"Id": 2, "Name": "b", "RowHash": "h2"}]
        )
    )
    # Id 1 keeps its row hash: no new version although Name changed. Id 2 gets a new version.
    pipeline.run(
        customers(
            [
                {"Id": 1, "Name": "a-renamed", "RowHash": "h1"},
                {"Id": 2, "Name": "b2", "RowHash": "h2b"},
            ]
        )
    )

    table = lake.read("ds", "customers")
    # both conventions keep these names as they are (direct: "minimal changes"; duck_case:
    # case and spaces kept)
    assert {"Id", "Name", "RowHash", "Valid From", "ValidTo"} <= set(table.columns)
    rows = table.sort(["Id", "Name"]).select("Id", "Name", "RowHash").to_dicts()
    assert rows == [
        {"Id": 1, "Name": "a", "RowHash": "h1"},
        {"Id": 2, "Name": "b", "RowHash": "h2"},
        {"Id": 2, "Name": "b2", "RowHash": "h2b"},
    ]
    retired = table.filter(table["ValidTo"].is_not_null())["Name"].to_list()
    assert retired == ["b"]


def test_a_raw_column_name_in_a_table_hint_is_normalized_with_the_schema_convention() -> None:
    """The table-hint form (``x-row-version-column-name`` holding a name) is matched with the
    schema's convention, not with snake_case: "Row Hash" is a column of its own under direct."""
    from quiver.schema.hints import column_name, row_version_column
    from quiver.schema.naming_conventions import naming_convention

    direct = naming_convention("direct")
    table = {"x-row-version-column-name": "Row Hash", "columns": {"Row Hash": {}, "row_hash": {}}}
    assert row_version_column(table, direct) == "Row Hash"
    assert column_name({}, "Row  Hash!", naming_convention("sql_ci_v1")) == "row_hash"
    assert column_name({}, "Row\nHash", direct) == "Row_Hash"
    assert column_name({}, "RowHash") == "row_hash"  # no convention given: snake_case


# ------------------------------------------------------------------ materialize_table_schema
# general-usage/resource.md "Materialize schema without rows": yielding
# ``dlt.mark.materialize_table_schema()`` with ``with_hints(make_hints(columns=[...]))``
# "works even if the schema contains non-nullable columns, since no data is written. Result:
# Table ``raw_events`` is created with the defined schema and no rows."


def _arrow_schema_of(lake: Lake, table: str) -> Any:
    """The table's Arrow schema and row count, read by deltalake or pyiceberg."""
    import pyarrow as pa

    if lake.table_format == "delta":
        from deltalake import DeltaTable

        delta = DeltaTable(lake.table_url("ds", table))
        actions = pa.table(delta.get_add_actions(flatten=True))
        rows = sum(actions.column("num_records").to_pylist()) if actions.num_rows else 0
        return pa.schema(delta.schema().to_arrow()), rows
    from pyiceberg.table import StaticTable

    static = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", table))
    return static.schema().as_arrow(), static.scan().to_arrow().num_rows


def _raw_events() -> Any:
    @dlt.resource(table_name="raw_events")
    def raw_events() -> Any:
        yield dlt.mark.with_hints(
            dlt.mark.materialize_table_schema(),
            dlt.mark.make_hints(
                columns=[
                    {"name": "id", "data_type": "bigint", "primary_key": True, "nullable": False},
                    {"name": "event_type", "data_type": "text", "nullable": True},
                    {"name": "Seen At", "data_type": "timestamp"},
                ]
            ),
        )

    return raw_events


def test_materialize_table_schema_creates_an_empty_table(lake: Lake, pipelines_dir: str) -> None:
    import pyarrow as pa

    pipeline = lake.pipeline(pipelines_dir, "materialize")
    pipeline.run(_raw_events()).raise_on_failed_jobs()

    assert lake.exists("ds", "raw_events")
    schema, rows = _arrow_schema_of(lake, "raw_events")
    assert rows == 0
    types = {f.name: f.type for f in schema}
    assert types["id"] == pa.int64()
    assert types["event_type"] in (pa.string(), pa.large_string())
    assert pa.types.is_timestamp(types["seen_at"]) and types["seen_at"].tz is not None
    assert pipeline.last_trace.last_extract_info.row_counts == {"raw_events": 0}

    # Rows loaded later go into the table created empty.
    more = dlt.resource([{"id": 1, "event_type": "click"}], name="raw_events")
    pipeline.run(more).raise_on_failed_jobs()
    assert lake.rows("ds", "raw_events", "id")[0]["event_type"] == "click"


def test_materialize_table_schema_writes_an_empty_file_for_plain_files(
    tmp_path: Path, pipelines_dir: str
) -> None:
    """A plain-files table is its files: dlt writes an empty file; so does quiver (parquet)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    pipeline = dlt.pipeline(
        "materialize_native",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.filesystem(
            f"file://{tmp_path / 'lake'}", table_format="native"
        ),
        dataset_name="ds",
    )
    pipeline.run(_raw_events()).raise_on_failed_jobs()
    table = ds.dataset(str(tmp_path / "lake" / "ds" / "raw_events"), format="parquet").to_table()
    assert table.num_rows == 0
    assert table.schema.field("id").type == pa.int64()
    assert {"id", "event_type", "seen_at"} <= set(table.schema.names)


def test_materialize_table_schema_leaves_an_existing_table_alone(
    lake: Lake, pipelines_dir: str
) -> None:
    pipeline = lake.pipeline(pipelines_dir, "materialize_existing")
    rows = [{"id": 1, "event_type": "click"}, {"id": 2, "event_type": "view"}]
    pipeline.run(dlt.resource(rows, name="raw_events")).raise_on_failed_jobs()
    before = lake.read("ds", "raw_events").sort("id")
    pipeline.run(_raw_events()).raise_on_failed_jobs()
    after = lake.read("ds", "raw_events").sort("id")
    assert after.select("id", "event_type").to_dicts() == rows
    assert after.height == before.height == 2


def test_materialize_table_schema_passes_an_incremental_and_a_plain_yield(
    lake: Lake, pipelines_dir: str
) -> None:
    """dlt's incremental lets the empty item through (``extract/incremental``: "example:
    MaterializedEmptyList"); yielding it bare uses the resource's own ``columns=``."""

    @dlt.resource(
        columns={"id": {"data_type": "bigint", "nullable": False}, "name": {"data_type": "text"}}
    )
    def people(updated: Any = dlt.sources.incremental("id", initial_value=0)) -> Any:
        yield dlt.mark.materialize_table_schema()

    pipeline = lake.pipeline(pipelines_dir, "materialize_incremental")
    pipeline.run(people()).raise_on_failed_jobs()
    schema, rows = _arrow_schema_of(lake, "people")
    assert rows == 0
    assert {"id", "name"} <= set(schema.names)


# ---------------------------------------------------------------------------------- defer
# verified-sources/chess.md: ``players_profiles`` yields ``_get_profile(username)`` where
# ``_get_profile`` is decorated with ``@dlt.defer``: "It uses the @dlt.defer decorator to enable
# parallel run in a thread pool." dlt's pipe submits every callable item to its thread pool
# (``extract/concurrency.py``) and continues the pipe with what the call returns.


def test_deferred_calls_run_concurrently_in_the_thread_pool(lake: Lake, pipelines_dir: str) -> None:
    import threading

    # Two calls meet at the barrier only if they run at the same time; serial calls would
    # break it (BrokenBarrierError fails the run).
    barrier = threading.Barrier(2, timeout=30)
    threads: set[str] = set()

    @dlt.resource(write_disposition="replace")
    def players_profiles(players: list[str]) -> Any:
        @dlt.defer
        def _get_profile(username: str) -> dict[str, Any]:
            threads.add(threading.current_thread().name)
            barrier.wait()
            return {"username": username, "length": len(username)}

        for username in players:
            yield _get_profile(username)

    pipeline = lake.pipeline(pipelines_dir, "defer")
    pipeline.run(players_profiles(["magnus", "hikaru"])).raise_on_failed_jobs()
    rows = lake.read("ds", "players_profiles").sort("username").select("username", "length")
    assert rows.to_dicts() == [
        {"username": "hikaru", "length": 6},
        {"username": "magnus", "length": 6},
    ]
    assert threading.current_thread().name not in threads


def test_a_transformer_returning_a_deferred_call(pipelines_dir: str, tmp_path: Path) -> None:
    """dlt's README pattern ``@dlt.transformer`` over ``@dlt.defer``: the transformer's return
    value is evaluated in the pool, then goes through the transformer's steps."""

    @dlt.resource
    def ids() -> Any:
        yield from [1, 2, 3]

    @dlt.transformer
    @dlt.defer
    def details(item: int) -> dict[str, Any]:
        return {"id": item, "square": item * item}

    resource = ids | details
    resource.add_map(lambda row: {**row, "mapped": True})
    assert sorted(list(resource), key=lambda r: r["id"]) == [
        {"id": 1, "square": 1, "mapped": True},
        {"id": 2, "square": 4, "mapped": True},
        {"id": 3, "square": 9, "mapped": True},
    ]


def test_an_error_in_a_deferred_call_names_the_resource(pipelines_dir: str) -> None:
    @dlt.resource
    def failing() -> Any:
        @dlt.defer
        def fetch() -> dict[str, Any]:
            raise ValueError("the API said no")

        yield fetch()

    pipeline = dlt.pipeline("defer_error", pipelines_dir=pipelines_dir, destination="filesystem")
    with pytest.raises(dlt.PipelineStepFailed, match="failing") as caught:
        pipeline.extract(failing())
    assert "the API said no" in str(caught.value)


# ----------------------------------------------------------------------------- add_metrics
# general-usage/resource.md "Using add_metrics as a transformation step": ``page_counter(items,
# meta, metrics)`` counts pages; after the run, ``trace.last_extract_info.metrics[load_id][0]
# ["resource_metrics"]["get_pokemons"].custom_metrics`` holds them. "Collects custom metrics
# from data flowing through the pipeline without modifying items" (transformations/add-map.md),
# and ``track_filtered`` placed before ``add_filter`` counts rows the filter then drops.


def test_add_metrics_are_reported_per_resource_in_the_extract_info(
    pipelines_dir: str, tmp_path: Path
) -> None:
    @dlt.resource
    def get_pokemons() -> Any:
        for page in range(3):
            yield [{"id": page * 10 + i, "name": "me" if i == 0 else f"p{i}"} for i in range(4)]

    def page_counter(items: Any, meta: Any, metrics: dict[str, Any]) -> None:
        metrics["page_count"] = metrics.get("page_count", 0) + 1

    def track_filtered(items: Any, meta: Any, metrics: dict[str, Any]) -> None:
        for row in items if isinstance(items, list) else [items]:
            if row["name"] == "me":
                metrics["filtered_me"] = metrics.get("filtered_me", 0) + 1

    pokemons = (
        get_pokemons()
        .add_metrics(page_counter)
        .add_metrics(track_filtered)
        .add_filter(lambda row: row["name"] != "me")
    )
    pipeline = dlt.pipeline(
        "metrics",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.filesystem(f"file://{tmp_path / 'lake'}"),
        dataset_name="ds",
    )
    load_info = pipeline.run(pokemons)
    load_id = load_info.loads_ids[0]
    trace = pipeline.last_trace
    resource_metrics = trace.last_extract_info.metrics[load_id][0]["resource_metrics"]
    assert resource_metrics["get_pokemons"].custom_metrics == {"page_count": 3, "filtered_me": 3}
    # items went through unchanged: the filter after the metrics still saw every row
    assert trace.last_normalize_info.row_counts["get_pokemons"] == 9

    # the trace is a file: a pipeline attached later reads the same metrics
    attached = dlt.attach("metrics", pipelines_dir=pipelines_dir)
    again = attached.last_trace.last_extract_info.metrics[load_id][0]["resource_metrics"]
    assert again["get_pokemons"].custom_metrics == {"page_count": 3, "filtered_me": 3}

    # each extract starts its metrics afresh
    second = pipeline.run(pokemons.add_limit(1))
    metrics = pipeline.last_trace.last_extract_info.metrics[second.loads_ids[0]][0]
    assert metrics["resource_metrics"]["get_pokemons"].custom_metrics == {
        "page_count": 1,
        "filtered_me": 1,
    }


def test_add_metrics_sees_the_meta_and_can_be_inserted_first() -> None:
    """``metrics_f`` receives items, meta and the metrics dict (``add_metrics(metrics_f,
    insert_at=None)``, dlt's ``extract/resource.py``)."""
    seen: list[Any] = []

    def record(items: Any, meta: Any, metrics: dict[str, Any]) -> None:
        seen.append((items, meta))
        metrics["calls"] = metrics.get("calls", 0) + 1

    @dlt.resource
    def marked() -> Any:
        yield dlt.mark.with_table_name({"id": 1}, "other")

    resource = marked().add_map(lambda row: {**row, "mapped": True})
    resource.add_metrics(record, insert_at=0)
    assert [getattr(item, "data", item) for item in resource] == [{"id": 1, "mapped": True}]
    assert seen[0][0] == {"id": 1}  # before the map
    assert seen[0][1].table_name == "other"
    assert resource.custom_metrics == {"calls": 1}


# --------------------------------------------------------- a destination's naming_convention
# general-usage/naming-convention.md: "You can set the naming convention in your code via
# destination factory ... ``dlt.destinations.postgres(naming_convention="sql_cs_v1")``". quiver
# does not apply it yet: it raises rather than load under another convention than asked.


def test_destination_naming_convention_is_refused_with_the_config_to_use() -> None:
    from quiver.errors import NotSupportedYet

    with pytest.raises(NotSupportedYet, match="SCHEMA__NAMING=sql_cs_v1") as caught:
        dlt.destinations.filesystem("file:///tmp/lake", naming_convention="sql_cs_v1")
    assert isinstance(caught.value, NotImplementedError)
    assert "naming_convention" in str(caught.value)


def test_nested_hints_other_than_columns_are_refused_naming_the_workaround() -> None:
    """resource.md: ``primary_key``/``merge_key`` on a nested table "will convert nested table
    into a regular table"; quiver does not do that yet, nor a contract of a nested table's own,
    and refuses rather than ignore them."""
    from quiver.errors import NotSupportedYet

    with pytest.raises(NotSupportedYet, match="make_nested_hints") as caught:
        dlt.mark.make_nested_hints(primary_key=["customer_id", "id"])
    assert "Hint: " in str(caught.value)
    with pytest.raises(NotSupportedYet, match="schema_contract"):
        dlt.resource([{"id": 1}], name="r").apply_hints(
            nested_hints={"items": {"schema_contract": "freeze"}}
        )
    with pytest.raises(NotSupportedYet, match="write_disposition"):
        dlt.mark.make_hints(nested_hints={"items": {"write_disposition": "replace"}})


# ---------------------------------------------------------------------------- nested hints
# general-usage/resource.md "Define schema of nested tables": ``nested_hints={"purchases":
# dlt.mark.make_nested_hints(columns=[{"name": "price", "data_type": "decimal"}])}`` "convert[s]
# the price field in list of purchases to decimal type"; the list is stored as table
# ``customers__purchases``; ``("purchases", "coupons")`` reaches ``customers__purchases__coupons``
# and sets ``registered_at`` to ``timestamp``.


def test_nested_hints_set_the_column_types_of_nested_tables(lake: Lake, pipelines_dir: str) -> None:
    import datetime
    from decimal import Decimal

    @dlt.resource(
        nested_hints={
            "purchases": dlt.mark.make_nested_hints(
                columns=[{"name": "price", "data_type": "decimal"}]
            ),
            ("purchases", "coupons"): {"columns": {"registered_at": {"data_type": "timestamp"}}},
        },
    )
    def customers() -> Any:
        yield [
            {
                "id": 1,
                "name": "simon",
                "city": "berlin",
                "purchases": [
                    {
                        "id": 1,
                        "name": "apple",
                        "price": "1.50",
                        "coupons": [{"code": "A", "registered_at": "2024-01-02T03:04:05+00:00"}],
                    }
                ],
            },
        ]

    pipeline = lake.pipeline(pipelines_dir, "nested_hints")
    pipeline.run(customers()).raise_on_failed_jobs()

    purchases = lake.rows("ds", "customers__purchases", "id")
    assert purchases[0]["price"] == Decimal("1.50")
    coupons = lake.rows("ds", "customers__purchases__coupons", "code")
    assert coupons[0]["registered_at"] == datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC
    )
    # the nested tables stay nested: linked to their parents, no table hints of the root's
    tables = pipeline.default_schema.tables
    assert tables["customers__purchases"]["parent"] == "customers"
    assert tables["customers__purchases__coupons"]["parent"] == "customers__purchases"
    assert "resource" not in tables["customers__purchases"]


def test_nested_hints_through_apply_hints_and_with_hints(pipelines_dir: str) -> None:
    """resource.md: "You can apply nested hints after the resource was created by using
    apply_hints"; ``make_hints(nested_hints=...)`` is the same for ``with_hints``."""

    @dlt.resource
    def orders() -> Any:
        yield {"id": 1, "lines": [{"qty": "2"}]}

    @dlt.resource
    def invoices() -> Any:
        yield dlt.mark.with_hints(
            {"id": 1, "lines": [{"amount": "3"}]},
            dlt.mark.make_hints(
                nested_hints={"lines": {"columns": {"amount": {"data_type": "double"}}}}
            ),
        )

    applied = orders().apply_hints(
        nested_hints={"lines": dlt.mark.make_nested_hints(columns={"qty": {"data_type": "bigint"}})}
    )
    pipeline = dlt.pipeline("nested_apply", pipelines_dir=pipelines_dir)
    pipeline.extract([applied, invoices()])
    tables = pipeline.default_schema.tables
    assert tables["orders__lines"]["columns"]["qty"]["data_type"] == "bigint"
    assert tables["invoices__lines"]["columns"]["amount"]["data_type"] == "double"
    # the root tables' own hints do not carry the nested hints
    assert "nested_hints" not in tables["orders"]
    assert "nested_hints" not in applied.compute_table_schema()
