"""A contract that freezes tables rejects a new table at extract, so nothing is left pending.

From dlt's docs (general-usage/schema-contracts.md): ``tables`` applies "when a new table is
created"; ``freeze`` raises ``DataValidationError`` wrapped in ``PipelineStepFailed``, and for
``step == "extract"`` the error is ``PipelineStepFailed.__context__``; ``discard_row`` and
``discard_value`` on ``tables`` do not create the table ("silently ignore new subtables"). A
table is new when it is not in the schema or has only incomplete columns (no data type); a
table declared with complete column hints but not in the stored schema is new too
(``Schema.apply_schema_contract`` in dlt checks the stored table). dlt applies the ``tables``
contract in its extractor (``dlt/extract/extractors.py``), for every item type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import DataValidationError, PipelineStepFailed
from tests.readers import Lake


def users(ids: range) -> Any:
    return quiver.resource([{"id": i, "name": f"u{i}"} for i in ids], name="users")


def events(ids: range) -> Any:
    return quiver.resource([{"id": i, "kind": "click"} for i in ids], name="events")


@pytest.mark.slow
def test_frozen_tables_reject_a_new_table_at_extract_and_later_runs_go_through(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "frozen_tables")
    pipeline.run(users(range(1, 3)))

    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(events(range(3)), schema_contract={"tables": "freeze"})

    assert failed.value.step == "extract"
    error = failed.value.__context__
    assert isinstance(error, DataValidationError)
    assert (error.table_name, error.column_name, error.schema_entity, error.contract_mode) == (
        "events",
        None,
        "tables",
        "freeze",
    )
    message = str(error)
    assert "`events`" in message and "resource 'events'" in message
    assert "'tables': 'freeze'" in message and "Hint: " in message
    assert error.schema_contract == {  # type: ignore[attr-defined]
        "tables": "freeze",
        "columns": "evolve",
        "data_type": "evolve",
    }
    # Nothing pending, nothing in the schema or the lake.
    assert not pipeline.has_pending_data
    assert pipeline.list_extracted_load_packages() == []
    assert "events" not in pipeline.default_schema.tables
    assert not any_lake.exists("ds", "events")

    # The next run into an allowed (existing) table goes through, with the same contract.
    info = pipeline.run(users(range(3, 5)), schema_contract={"tables": "freeze"})
    assert info is not None and len(info.loads_ids) == 1
    assert [r["id"] for r in any_lake.rows("ds", "users", "id")] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "where", ["run", "resource", "source", "shorthand"], ids=lambda where: f"contract-on-{where}"
)
def test_freeze_from_every_place_a_contract_is_set(
    pipelines_dir: str, bucket: Path, where: str
) -> None:
    pipeline = quiver.pipeline(
        f"frozen_{where}",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )
    pipeline.run(users(range(2)), table_name="users")
    contract: Any = "freeze" if where == "shorthand" else {"tables": "freeze"}

    @quiver.source(
        name=pipeline.default_schema_name, schema_contract=contract if where == "source" else None
    )
    def app() -> Any:
        return quiver.resource(
            [{"id": 1}],
            name="events",
            schema_contract=contract if where in ("resource", "shorthand") else None,
        )

    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(app(), schema_contract=contract if where == "run" else None)
    assert failed.value.step == "extract"
    assert isinstance(failed.value.__context__, DataValidationError)
    assert not pipeline.has_pending_data


@pytest.mark.parametrize("mode", ["discard_row", "discard_value"])
def test_discard_drops_the_new_tables_rows_at_extract(
    pipelines_dir: str, bucket: Path, mode: str
) -> None:
    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, f"discard_{mode}")
    pipeline.run(users(range(2)))

    @quiver.source(name=pipeline.default_schema_name)
    def app() -> Any:
        return users(range(2, 4)), events(range(5))

    extracted = pipeline.extract(app(), schema_contract={"tables": mode})
    assert "events" not in extracted.row_counts  # the rows never reached a package
    pipeline.normalize()
    pipeline.load()
    assert "events" not in pipeline.default_schema.tables
    assert not lake.exists("ds", "events")
    assert [r["id"] for r in lake.rows("ds", "users", "id")] == [0, 1, 2, 3]


def test_a_table_with_only_incomplete_columns_is_new(pipelines_dir: str, bucket: Path) -> None:
    pipeline = quiver.pipeline(
        "incomplete",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )
    # A resource that declared its table (a key without a data type) but yielded nothing.
    pipeline.run(quiver.resource([], name="blocks", primary_key="number"))
    assert "blocks" in pipeline.default_schema.tables

    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(
            quiver.resource([{"number": 1}], name="blocks"), schema_contract={"tables": "freeze"}
        )
    assert isinstance(failed.value.__context__, DataValidationError)


def test_declared_complete_columns_do_not_make_a_table_known(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = quiver.pipeline(
        "declared",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )
    pipeline.run(users(range(2)))
    declared = quiver.resource([{"id": 1}], name="orders", columns={"id": {"data_type": "bigint"}})
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(declared, schema_contract={"tables": "freeze"})
    assert isinstance(failed.value.__context__, DataValidationError)
    assert failed.value.__context__.table_name == "orders"


def test_arrow_items_are_checked_the_same_way(pipelines_dir: str, bucket: Path) -> None:
    import pyarrow as pa

    pipeline = quiver.pipeline(
        "arrow_frozen",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )
    pipeline.run(users(range(2)))
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(
            quiver.resource(pa.table({"id": [1, 2]}), name="arrow_events"),
            schema_contract="freeze",
        )
    error = failed.value.__context__
    assert isinstance(error, DataValidationError) and error.example == {"id": 1}
    assert not pipeline.has_pending_data
