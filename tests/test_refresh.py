"""``refresh``: drop_sources, drop_resources, drop_data, as dlt's pipeline page describes them.

From dlt's docs (general-usage/pipeline.md, "Refresh pipeline data and state"):

* ``drop_sources``: all tables of the sources being processed are dropped (from the pipeline's
  schema and the destination) and their source and resource state is wiped; the schema history
  is erased.
* ``drop_resources``: only the tables of the resources being processed are dropped and only
  their resource state (incremental included) is wiped; source-level state keys stay.
* ``drop_data``: the same tables are truncated instead and the same resource state is wiped; the
  schema is unchanged.
* ``refresh`` on ``dlt.pipeline`` applies to every run, on ``run``/``extract`` to that call; it
  has no effect on the first extract of a source (``dlt/pipeline/pipeline.py``); dlt modifies
  the destination only if extract and normalize succeeded.

Tables are read back with independent readers (polars for Delta, pyiceberg's StaticTable for
Iceberg) on local disk and on the S3 server.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.destinations.delta.format import DeltaFormat
from quiver.destinations.iceberg.format import IcebergFormat
from quiver.destinations.location import resolve_location
from quiver.errors import InvalidRefreshMode, PipelineStepFailed
from quiver.schema.model import Schema
from tests.readers import Lake


def make_source(ids: range, tag: str, *, fail: bool = False) -> Any:
    """Source ``shop`` with an incremental ``orders`` (nested ``lines``) and a plain ``customers``.

    ``orders`` counts its runs in the source state (``orders_runs``, a source-level key) and in
    its resource state (``runs``).
    """

    @quiver.source(name="shop")
    def shop() -> Any:
        @quiver.resource(primary_key="id")
        def orders(cursor: Any = quiver.sources.incremental("id", initial_value=0)) -> Any:  # noqa: B008
            source_state = quiver.current.source_state()
            source_state["orders_runs"] = source_state.get("orders_runs", 0) + 1
            resource_state = quiver.current.resource_state()
            resource_state["runs"] = resource_state.get("runs", 0) + 1
            if fail:
                raise RuntimeError("the API is down")
            extra = {"old_col": "only in the first run"} if tag == "first" else {}
            yield [{"id": i, "tag": tag, "lines": [{"sku": f"{tag}-{i}"}], **extra} for i in ids]

        @quiver.resource
        def customers() -> Any:
            yield [{"cid": i, "tag": tag} for i in ids]

        return orders, customers

    return shop()


def orders_state(pipeline: Any) -> dict[str, Any]:
    return dict(pipeline.state["sources"]["shop"])


# --------------------------------------------------------------------------- drop_sources
@pytest.mark.slow
def test_drop_sources_drops_every_table_and_wipes_source_state(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "refresh_sources")
    pipeline.run(make_source(range(1, 4), "first"))
    assert orders_state(pipeline)["orders_runs"] == 1
    old_schema = pipeline.schemas["shop"]
    # Versions the first run made (an empty schema has the same hash in both histories).
    old_hashes = {old_schema.version_hash, *old_schema.previous_hashes} - {
        Schema("shop").version_hash
    }

    pipeline.run(
        make_source(range(1, 6), "second").with_resources("orders"), refresh="drop_sources"
    )

    # customers was not processed but belongs to the source: dropped from lake and schema.
    assert not any_lake.exists("ds", "customers")
    assert "customers" not in pipeline.schemas["shop"].tables
    # orders: the incremental restarted from initial_value, nothing of the first run is left.
    assert [(r["id"], r["tag"]) for r in any_lake.rows("ds", "orders", "id")] == [
        (i, "second") for i in range(1, 6)
    ]
    assert "old_col" not in any_lake.read("ds", "orders").columns
    assert "old_col" not in pipeline.schemas["shop"].tables["orders"]["columns"]
    assert {r["sku"] for r in any_lake.rows("ds", "orders__lines", "sku")} == {
        f"second-{i}" for i in range(1, 6)
    }
    # The whole source state was wiped: source-level keys and resource state start again.
    state = orders_state(pipeline)
    assert state["orders_runs"] == 1
    assert state["resources"]["orders"]["runs"] == 1
    # The schema history is erased, but its version keeps growing.
    new_schema = pipeline.schemas["shop"]
    assert not old_hashes & set(new_schema.previous_hashes)
    assert new_schema.version > old_schema.version


# ------------------------------------------------------------------------- drop_resources
@pytest.mark.slow
def test_drop_resources_drops_only_processed_resources(any_lake: Lake, pipelines_dir: str) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "refresh_resources")
    pipeline.run(make_source(range(1, 4), "first"))

    pipeline.run(
        make_source(range(1, 6), "second").with_resources("orders"), refresh="drop_resources"
    )

    assert [(r["id"], r["tag"]) for r in any_lake.rows("ds", "orders", "id")] == [
        (i, "second") for i in range(1, 6)
    ]
    assert "old_col" not in any_lake.read("ds", "orders").columns  # the table was re-created
    assert "old_col" not in pipeline.schemas["shop"].tables["orders"]["columns"]
    assert len(any_lake.rows("ds", "orders__lines", "sku")) == 5
    # customers was not processed: its table, rows and schema stay.
    assert [r["tag"] for r in any_lake.rows("ds", "customers", "cid")] == ["first"] * 3
    assert "customers" in pipeline.schemas["shop"].tables
    # Resource state wiped, source-level keys kept.
    state = orders_state(pipeline)
    assert state["orders_runs"] == 2
    assert state["resources"]["orders"]["runs"] == 1


# ------------------------------------------------------------------------------ drop_data
@pytest.mark.slow
def test_drop_data_truncates_processed_tables_and_keeps_schema(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "refresh_data")
    pipeline.run(make_source(range(1, 4), "first"))
    version_before = pipeline.schemas["shop"].tables["orders"]["columns"].keys()

    pipeline.run(make_source(range(1, 6), "second").with_resources("orders"), refresh="drop_data")

    orders = any_lake.read("ds", "orders")
    assert sorted(zip(orders["id"], orders["tag"], strict=True)) == [
        (i, "second") for i in range(1, 6)
    ]
    # Truncated, not dropped: the column of the first run is still in the table and the schema.
    assert "old_col" in orders.columns and orders["old_col"].null_count() == 5
    assert pipeline.schemas["shop"].tables["orders"]["columns"].keys() == version_before
    assert len(any_lake.rows("ds", "orders__lines", "sku")) == 5
    assert [r["tag"] for r in any_lake.rows("ds", "customers", "cid")] == ["first"] * 3
    state = orders_state(pipeline)
    assert state["orders_runs"] == 2
    assert state["resources"]["orders"]["runs"] == 1


# ---------------------------------------------------------------------- when and how often
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_refresh_on_pipeline_applies_to_every_run(
    tmp_path: Path, pipelines_dir: str, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = quiver.pipeline(
        "every_run",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=lake.bucket_url, table_format=table_format
        ),
        dataset_name="ds",
        refresh="drop_data",
    )
    assert pipeline.refresh == "drop_data"
    for run, tag in enumerate(["first", "second", "third"], start=1):
        pipeline.run(make_source(range(1, 3), tag))
        assert [r["tag"] for r in lake.rows("ds", "customers", "cid")] == [tag, tag]
        assert orders_state(pipeline)["orders_runs"] == run  # drop_data keeps source keys


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_refresh_given_to_run_applies_once(
    tmp_path: Path, pipelines_dir: str, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "once")
    pipeline.run(make_source(range(1, 3), "first"))
    pipeline.run(make_source(range(1, 3), "second"), refresh="drop_data")
    pipeline.run(make_source(range(1, 3), "third"))  # no refresh: appends
    assert [r["tag"] for r in lake.rows("ds", "customers", ["tag", "cid"])] == [
        "second",
        "second",
        "third",
        "third",
    ]


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_refresh_has_no_effect_on_the_first_extract_of_a_source(
    tmp_path: Path, pipelines_dir: str, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "first_extract")
    pipeline.run([{"n": 1}], table_name="other")  # another source, loaded before
    pipeline.extract(make_source(range(1, 3), "first"), refresh="drop_sources")
    (load_id,) = pipeline.list_extracted_load_packages()
    assert "dropped_tables" not in _package_state(pipeline, "extracted", load_id)
    pipeline.normalize()
    pipeline.load()
    assert len(lake.rows("ds", "orders", "id")) == 2
    assert len(lake.rows("ds", "other", "n")) == 1


def _package_state(pipeline: Any, stage: str, load_id: str) -> dict[str, Any]:
    import json

    path = Path(pipeline.working_dir) / stage / load_id / "package_state.json"
    return dict(json.loads(path.read_text()))


# ------------------------------------------------------------- the destination waits for it
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_failed_extract_changes_nothing(
    tmp_path: Path, pipelines_dir: str, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "failed_extract")
    pipeline.run(make_source(range(1, 4), "first"))
    state_before = orders_state(pipeline)

    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(make_source(range(1, 6), "second", fail=True), refresh="drop_sources")

    assert failed.value.step == "extract"
    assert not pipeline.has_pending_data
    assert len(lake.rows("ds", "orders", "id")) == 3
    assert len(lake.rows("ds", "customers", "cid")) == 3
    assert orders_state(pipeline) == state_before
    assert "customers" in pipeline.schemas["shop"].tables


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_failed_normalize_changes_nothing_in_the_destination(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fault is injected into the package loop, which run() skips when it adopts the
    # package normalized during the extract (normalize.overlap_extract).
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    from quiver.pipeline import steps as steps_module

    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "failed_normalize")
    pipeline.run(make_source(range(1, 4), "first"))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(steps_module, "normalize_package", broken)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(make_source(range(1, 6), "second"), refresh="drop_sources")
    assert failed.value.step == "normalize"
    assert [r["tag"] for r in lake.rows("ds", "customers", "cid")] == ["first"] * 3
    assert len(lake.rows("ds", "orders", "id")) == 3


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_drops_happen_once_when_the_load_is_retried(
    tmp_path: Path, pipelines_dir: str, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """orders and customers are both dropped; customers' commit fails after orders committed.

    The retried load must not drop orders again: its jobs are completed and would not be
    loaded a second time.
    """
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "retried")
    pipeline.run(make_source(range(1, 4), "first"))

    format_class = DeltaFormat if table_format == "delta" else IcebergFormat
    real_commit = format_class.commit
    failures = {"customers": 1}

    def flaky_commit(self: Any, commit: Any) -> None:
        if failures.get(commit.table_name):
            failures[commit.table_name] -= 1
            raise RuntimeError("killed while committing")  # a bug: the package stays pending
        real_commit(self, commit)

    monkeypatch.setattr(format_class, "commit", flaky_commit)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(make_source(range(1, 6), "second"), refresh="drop_resources")
    assert failed.value.step == "load"
    (load_id,) = pipeline.list_normalized_load_packages()
    assert _package_state(pipeline, "normalized", load_id)["refreshed_at"]
    assert not lake.exists("ds", "customers")  # dropped, its new data not loaded yet

    pipeline.load()

    assert [r["tag"] for r in lake.rows("ds", "orders", "id")] == ["second"] * 5
    assert [r["tag"] for r in lake.rows("ds", "customers", "cid")] == ["second"] * 5


# ------------------------------------------------------------------ truncate, exactly once
def test_delta_truncate_is_tagged_with_the_load_id_and_done_once(tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable

    dataset = resolve_location(f"file://{tmp_path / 'lake'}").join("ds")
    delta = DeltaFormat(dataset, app_id="quiver/t")
    delta.append_rows("t", pa.table({"a": [1, 2]}), "1000.1")
    delta.truncate_table("t", "1000.2")
    delta.truncate_table("t", "1000.2")  # a retry: no second commit
    table = DeltaTable(str(tmp_path / "lake" / "ds" / "t"))
    assert table.version() == 1
    assert table.history(1)[0]["quiver.truncated_by"] == "1000.2"
    assert pa_rows(table) == 0
    # The data commit of the same package is not mistaken for done.
    assert not delta.is_committed("t", "1000.2")


def pa_rows(table: Any) -> int:
    import polars as pl

    return pl.read_delta(table.table_uri).height


def test_iceberg_truncate_is_tagged_with_the_load_id_and_done_once(tmp_path: Path) -> None:
    import pyarrow as pa

    dataset = resolve_location(f"file://{tmp_path / 'lake'}").join("ds")
    iceberg = IcebergFormat(dataset, app_id="quiver/t")
    iceberg.append_rows("t", pa.table({"a": [1, 2]}), "1000.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iceberg.truncate_table("t", "1000.2")
        iceberg.truncate_table("t", "1000.2")
    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    assert lake.read("ds", "t").height == 0
    table = iceberg.load_table("t")
    assert table is not None
    summaries = [s.summary for s in table.metadata.snapshots]
    assert [s.get("quiver.truncated_by") for s in summaries if s is not None].count("1000.2") == 1
    assert not iceberg.is_committed("t", "1000.2")


def test_plain_files_drop_data(tmp_path: Path, pipelines_dir: str) -> None:
    import polars as pl

    pipeline = quiver.pipeline(
        "files",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=f"file://{tmp_path / 'lake'}", table_format="native"
        ),
        dataset_name="ds",
    )
    pipeline.run(make_source(range(1, 4), "first"))
    pipeline.run(
        make_source(range(1, 3), "second").with_resources("customers"), refresh="drop_data"
    )
    customers = pl.read_parquet(tmp_path / "lake" / "ds" / "customers" / "*.parquet")
    assert customers["tag"].to_list() == ["second", "second"]
    assert pl.read_parquet(tmp_path / "lake" / "ds" / "orders" / "*.parquet").height == 3


# ------------------------------------------------------------------------------ bad modes
@pytest.mark.parametrize(
    ("call", "mode", "suggestion"),
    [
        ("pipeline", "drop_source", "drop_sources"),
        ("run", "drop_dat", "drop_data"),
        ("extract", "drop_resource", "drop_resources"),
    ],
)
def test_unknown_refresh_mode_raises_with_did_you_mean(
    pipelines_dir: str, bucket: Path, call: str, mode: str, suggestion: str
) -> None:
    destination = quiver.destinations.filesystem(bucket_url=str(bucket))
    with pytest.raises(InvalidRefreshMode) as raised:
        if call == "pipeline":
            quiver.pipeline("bad", pipelines_dir=pipelines_dir, refresh=mode)
        else:
            pipeline = quiver.pipeline("bad", pipelines_dir=pipelines_dir, destination=destination)
            getattr(pipeline, call)([{"a": 1}], table_name="t", refresh=mode)
    message = str(raised.value)
    assert f"Did you mean {suggestion!r}?" in message and "Hint: " in message
    assert isinstance(raised.value, ValueError)
